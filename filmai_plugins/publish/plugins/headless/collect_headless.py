"""Collect (headless host): the command, folder and user that ran the publish."""
import os
import sys

import pyblish.api


class FilmAICollectHeadlessSession(pyblish.api.ContextPlugin):
    """Records how the headless publish was started, for the version record."""

    label = "FilmAI: headless session"
    order = pyblish.api.CollectorOrder - 0.1
    hosts = ["headless"]

    def process(self, context):
        context.data["filmai_session"] = {"host": "headless", "command": list(sys.argv), "cwd": os.getcwd(),
                                          "python": sys.version.split()[0]}
