"""Validate: each frame says which node, version, params and model made it, and that matches the run."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateProvenance(pyblish.api.InstancePlugin):
    """Every frame carries FilmAI provenance (filmai:node, nodeVersion, paramsHash, modelSha256, frame)
    and it matches the run manifest: frames left over from another run, other params or another
    model are listed."""

    label = "FilmAI: provenance present and matching the manifest"
    order = pyblish.api.ValidatorOrder + 0.15
    families = ["render"]
    actions = [FilmAIRepairAction]
    repair_description = "re-run the node from its manifest; --skip-existing redoes exactly the frames that do not match"

    def process(self, instance):
        manifests = instance.context.data["filmai_manifests"]
        path, ref = lib.reference_manifest(instance.data, manifests)
        expect = {"node": ref["node"]["id"], "nodeVersion": ref["node"]["version"],
                  "paramsHash": ref.get("params_hash"), "modelSha256": (ref.get("model") or {}).get("sha256")}
        wrong = {}
        for number, info in sorted(instance.data.get("frame_info", {}).items()):
            if "error" in info:
                continue
            prov = info["provenance"]
            if not prov:
                wrong.setdefault("no FilmAI provenance (not written by a FilmAI node)", []).append(number)
                continue
            for key, value in expect.items():
                if prov.get(key) != value:
                    got = prov.get(key)
                    shown = (lambda v: (v[:12] + "…") if isinstance(v, str) and len(v) > 16 else v)
                    wrong.setdefault(f"{key} is {shown(got)!r}, the run manifest says {shown(value)!r}", []).append(number)
            if prov.get("frame") not in (None, str(number)):
                wrong.setdefault("frame number in the file differs from its name", []).append(number)
        lib.fail_if([f"frames {lib.ranges(frames)}: {what} ({path.rsplit('/', 1)[-1]})"
                     for what, frames in wrong.items()])

    @classmethod
    def repair(cls, instance):
        return lib.repair_by_rerender(instance)
