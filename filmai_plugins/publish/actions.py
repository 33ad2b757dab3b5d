"""Pyblish actions shared by the FilmAI plug-ins."""
from __future__ import annotations

import pyblish.api


class FilmAIRepairAction(pyblish.api.Action):
    """Run the failed plug-in's mechanical fix on every instance it failed on.

    A plug-in offering a repair defines a classmethod ``repair(instance) -> str`` (what it did);
    a context plug-in's ``repair`` receives the context.
    ``filmai publish --repair`` runs this action after a failed validation and publishes again;
    a Pyblish GUI shows it as a button. What each repair did is kept in
    ``context.data["filmai_repairs"]``.
    """

    label = "Repair"
    on = "failed"
    icon = "wrench"

    def process(self, context, plugin):
        done = context.data.setdefault("filmai_repairs", [])
        results = [r for r in context.data.get("results", [])
                   if r["plugin"] is plugin and r["error"] is not None and r["action"] is None]
        if any(r["instance"] is None for r in results):
            what = plugin.repair(context)
            done.append({"plugin": plugin.__name__, "instance": None, "done": what})
            self.log.info("%s", what)
        failed = [r["instance"] for r in results if r["instance"] is not None]
        # Instance subclasses list: an empty instance is falsy, so compare with None, never truthiness.
        seen: list = []
        for instance in failed:
            if any(instance is s for s in seen):
                continue
            seen.append(instance)
            what = plugin.repair(instance)
            done.append({"plugin": plugin.__name__, "instance": instance.data.get("name"), "done": what})
            self.log.info("%s: %s", instance.data.get("name"), what)
