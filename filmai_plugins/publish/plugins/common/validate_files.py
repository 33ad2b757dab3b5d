"""Validate: other outputs (tables, reports) exist and are not empty."""
import os

import pyblish.api

from filmai_plugins.publish import lib


class FilmAIValidateFiles(pyblish.api.InstancePlugin):
    """A plain file output exists and is not empty."""

    label = "FilmAI: file present"
    order = pyblish.api.ValidatorOrder + 0.1
    families = ["file"]

    def process(self, instance):
        path = instance.data["path"]
        if not os.path.isfile(path):
            lib.fail_if([f"{path}: not found"])
        if os.path.getsize(path) == 0:
            lib.fail_if([f"{path}: empty"])
