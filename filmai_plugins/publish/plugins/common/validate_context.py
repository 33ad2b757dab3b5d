"""Validate: where the publish goes (root, project, shot, task) is known and well formed."""
import os

import pyblish.api

from filmai_plugins.publish import lib


class FilmAIValidatePublishContext(pyblish.api.ContextPlugin):
    """The publish root is set and writable; project, shot and task are set and are plain names."""

    label = "FilmAI: publish root, project, shot, task"
    order = pyblish.api.ValidatorOrder

    def process(self, context):
        problems = []
        root = context.data.get("filmai_root")
        if not root:
            problems.append("no publish root: give --root DIR or set FILMAI_PUBLISH_ROOT")
        else:
            probe = os.path.abspath(root)
            while not os.path.exists(probe) and os.path.dirname(probe) != probe:
                probe = os.path.dirname(probe)
            if not os.access(probe, os.W_OK):
                problems.append(f"publish root {root} is not writable ({probe})")
        for key, flag in (("project", "--project/FILMAI_PROJECT"), ("shot", "--shot/FILMAI_SHOT"),
                          ("task", "--task/FILMAI_TASK")):
            value = context.data.get(f"filmai_{key}")
            if not value:
                problems.append(f"no {key}: give {flag}")
            elif not lib.TOKEN_RE.match(value):
                problems.append(f"{key} {value!r} is not a plain name (letters, digits, '_' and '-' only)")
        lib.fail_if(problems)
