"""Collect (farm target only): which farm job produced the frames, for the version record."""
import os

import pyblish.api


class FilmAICollectFarmJob(pyblish.api.ContextPlugin):
    """Records the farm's job/session identifiers (Deadline Cloud, OpenJD, FilmAI's Dask and local
    engines) and the hosts that rendered each chunk."""

    label = "FilmAI: collect farm job"
    order = pyblish.api.CollectorOrder + 0.1
    targets = ["farm"]
    _PREFIXES = ("DEADLINE_FARM_ID", "DEADLINE_QUEUE_ID", "DEADLINE_JOB_ID", "DEADLINE_SESSION_ID",
                 "DEADLINE_TASK_ID", "FILMAI_FARM_")

    def process(self, context):
        env = {k: v for k, v in sorted(os.environ.items()) if k.startswith(self._PREFIXES)}
        hosts = sorted({(m.get("host") or {}).get("hostname", "?")
                        for m in context.data.get("filmai_manifests", {}).values()})
        context.data["filmai_farm"] = {"environment": env, "render_hosts": hosts}
