"""Validate: publish names follow the naming convention and do not collide."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateNaming(pyblish.api.InstancePlugin):
    """A publish name is a letter followed by letters, digits and underscores (it becomes folder and
    file names), and each name is published once per task."""

    label = "FilmAI: naming convention"
    order = pyblish.api.ValidatorOrder
    families = ["*"]
    actions = [FilmAIRepairAction]
    repair_description = "rename to the nearest valid, unique name"

    def process(self, instance):
        name = instance.data["name"]
        problems = []
        if not lib.NAME_RE.match(name):
            problems.append(f"name {name!r} breaks the naming convention (a letter, then letters, digits "
                            f"and '_'); nearest valid name: {lib.sanitize_name(name)!r}")
        others = [i for i in instance.context if i is not instance and i.data["name"] == name]
        if others:
            problems.append(f"name {name!r} is also the name of {', '.join(i.data['label'] for i in others)}; "
                            "two things cannot be published under one name (use --name, or publish separately)")
        lib.fail_if(problems)

    @classmethod
    def repair(cls, instance):
        names = instance.context.data.setdefault("filmai_overrides", {}).setdefault("names", {})
        taken = {i.data["name"] for i in instance.context if i is not instance} | set(names.values())
        new = base = lib.sanitize_name(instance.data["name"])
        if new in taken:
            new = base = f"{base}_{instance.data['family']}"
        n = 2
        while new in taken:
            new, n = f"{base}{n}", n + 1
        names[instance.data["key"]] = new
        return f"name {instance.data['name']!r} → {new!r}"
