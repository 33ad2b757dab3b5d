"""Collect: run manifests (and their frames), checkpoints and timelines become publish instances."""
import pyblish.api

from filmai_plugins.publish import lib


class FilmAICollectSources(pyblish.api.ContextPlugin):
    """One instance per output sequence (chunk manifests of one sequence together), checkpoint
    (family ``mlmodel``) and timeline (family ``editorial``)."""

    label = "FilmAI: collect manifests, checkpoints and timelines"
    order = pyblish.api.CollectorOrder

    def process(self, context):
        # manifests of repair runs join their publish (the repaired frames are checked against them)
        extra = context.data.get("filmai_overrides", {}).get("manifests", [])
        found, manifests = lib.collect_instances(list(context.data["filmai_sources"]) + list(extra),
                                                 context.data.get("filmai_frames"))
        context.data["filmai_manifests"] = manifests
        given = context.data.get("filmai_name")
        if given:
            renders = [d for d in found if d["family"] == lib.FAMILY_RENDER]
            targets = found if len(found) == 1 else renders if len(renders) == 1 else None
            if targets is None:
                raise ValueError(f"--name {given!r} is ambiguous: it names one instance, and this publish has "
                                 f"{len(found)} ({', '.join(d['name'] for d in found)}); publish them separately")
            targets[0]["name"] = given
        renamed = context.data.get("filmai_overrides", {}).get("names", {})
        for data in found:
            data["key"] = data.get("pattern") or data.get("checkpoint") or data.get("timeline") or data.get("path")
            data["name"] = renamed.get(data["key"], data["name"])
            data["label"] = f"{data['family']} {data['name']}"
            first = manifests[data["manifests"][0]] if data["manifests"] else {}
            node = first.get("node") or {}
            if node:
                data["node"] = node
                data["node_label"] = f"{node.get('id')} {node.get('version')}"
            instance = context.create_instance(data["name"])
            instance.data.update(data)
            self.log.debug("collected %s %s from %d manifest(s)", data["family"], data["name"], len(data["manifests"]))
