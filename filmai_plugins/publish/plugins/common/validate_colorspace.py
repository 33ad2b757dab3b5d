"""Validate: the colourspace of the frames is recorded (in the files, or asserted with --colorspace)."""
import pyblish.api

from filmai_plugins.errors import BadInput
from filmai_plugins.publish import lib


def run_colour_config(instance):
    """The OCIO config the frames were made under: the one their run was given (``--ocio-config``, in the
    manifest's io options), else the app's (``$OCIO`` or the pinned built-in config). Names are checked in it."""
    from filmai_plugins.app import default_app
    from filmai_plugins.color import ColourConfig

    manifests = instance.context.data.get("filmai_manifests", {})
    sources = {(manifests.get(m) or {}).get("io", {}).get("ocio_config") or "" for m in instance.data.get("manifests", [])}
    sources.discard("")
    if len(sources) > 1:
        raise lib.ValidationFailed([f"the runs of these frames used different OCIO configs: {', '.join(sorted(sources))}"])
    return ColourConfig.load(sources.pop()) if sources else default_app().colour()


class FilmAIValidateColorspace(pyblish.api.InstancePlugin):
    """Each frame declares its colourspace (EXR ``colorInteropID`` or ``chromaticities``), all frames
    declare the same one, and the OCIO config knows it. ``--colorspace NAME`` records it for frames
    that do not say; it may not contradict frames that do."""

    label = "FilmAI: colourspace recorded"
    order = pyblish.api.ValidatorOrder + 0.14
    families = ["render"]

    def process(self, instance):
        infos = [i for _, i in sorted(instance.data.get("frame_info", {}).items()) if "error" not in i]
        asserted = instance.context.data.get("filmai_colorspace")
        problems = []
        colour = run_colour_config(instance)
        instance.data["ocio_config"] = colour.describe()  # for the record
        instance.data["filmai_colour"] = colour  # the review media's display transform uses the same config

        def canonical(name, where):
            try:
                return colour.resolve(name)
            except BadInput as exc:
                problems.append(f"{where}: {exc}")
                return None

        declared = {}
        for i in infos:
            if i.get("colorspace"):
                declared.setdefault(canonical(i["colorspace"], f"frame {i['frame']}"), []).append(i["frame"])
        undeclared = [i for i in infos if not i.get("colorspace")]
        if asserted:
            name = canonical(asserted, "--colorspace")
            wrong = {cs: fr for cs, fr in declared.items() if cs and cs != name}
            for cs, frames in wrong.items():
                problems.append(f"--colorspace says {name} but frames {lib.ranges(frames)} declare {cs}")
            instance.data["colorspace"] = name
            instance.data["colorspace_source"] = "--colorspace" if undeclared else "frames (and --colorspace)"
        else:
            if undeclared:
                reasons = sorted({i["colorspace_source"] for i in undeclared})
                problems.append(f"colourspace not recorded on frames {lib.ranges(i['frame'] for i in undeclared)} "
                                f"({'; '.join(reasons)}); give --colorspace NAME (e.g. ACEScg, lin_rec709) "
                                "to record what they are")
            if len(declared) > 1:
                problems.append("frames declare different colourspaces: " + "; ".join(
                    f"{cs} on {lib.ranges(fr)}" for cs, fr in declared.items()))
            if len(declared) == 1 and not undeclared:
                instance.data["colorspace"] = next(iter(declared))
                sources = sorted({i["colorspace_source"] for i in infos})
                instance.data["colorspace_source"] = ", ".join(sources)
        lib.fail_if(problems)
