"""Validate: the runs behind an instance finished, and all made it the same way."""
import pyblish.api

from filmai_plugins.frames.sequence import parse_frames
from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateRunManifests(pyblish.api.InstancePlugin):
    """Every frame is covered by a run that completed, and every run (farm chunk) of one output used
    the same node, version, params and model; a failed or cancelled run not redone is listed."""

    label = "FilmAI: run manifests complete and consistent"
    order = pyblish.api.ValidatorOrder + 0.05
    families = ["render", "editorial", "file"]
    actions = [FilmAIRepairAction]
    repair_description = "re-run the node from its manifest for the frames not covered by a complete run"

    def process(self, instance):
        manifests = instance.context.data["filmai_manifests"]
        paths = instance.data.get("manifests") or []
        if not paths:
            return  # a timeline published on its own
        problems = []
        fields = {"node": lambda m: f"{m['node']['id']} {m['node']['version']}",
                  "params": lambda m: m.get("params_hash"),
                  "model": lambda m: (m.get("model") or {}).get("sha256") or "none"}
        for what, get in fields.items():
            seen = {}
            for p in paths:
                seen.setdefault(get(manifests[p]), []).append(p)
            if len(seen) > 1:
                detail = "; ".join(f"{value if what != 'params' else str(value)[:12]} in "
                                   f"{', '.join(sorted(x.rsplit('/', 1)[-1] for x in ps))}" for value, ps in seen.items())
                problems.append(f"runs of one output disagree on the {what}: {detail}")
        complete = set()
        for p in paths:
            m = manifests[p]
            if m.get("status") == "complete" and m.get("frames"):
                complete.update(parse_frames(m["frames"]))
        if instance.data.get("family") == lib.FAMILY_RENDER:
            for p in paths:
                m = manifests[p]
                if m.get("status") != "complete":
                    frames = parse_frames(m["frames"]) if m.get("frames") else []
                    uncovered = [f for f in frames if f not in complete]
                    if uncovered:
                        problems.append(f"{p}: run ended {m.get('status')!r} ({m.get('error') or 'no reason recorded'}); "
                                        f"frames {lib.ranges(uncovered)} were not redone by a complete run")
            not_run = [f for f in instance.data.get("frames_expected") or [] if f not in complete]
            if not_run and not problems:
                problems.append(f"frames {lib.ranges(not_run)} are not covered by any complete run manifest")
        else:
            for p in paths:
                if manifests[p].get("status") != "complete":
                    problems.append(f"{p}: run ended {manifests[p].get('status')!r}: {manifests[p].get('error')}")
        lib.fail_if(problems)

    @classmethod
    def repair(cls, instance):
        return lib.repair_by_rerender(instance)
