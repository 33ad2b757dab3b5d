"""Collect: the publish options, when a Pyblish tool (pyblish-lite, pyblish-qml, pyblish.util) started
the publish instead of ``filmai publish`` (which sets them itself)."""
import pyblish.api


class FilmAICollectSession(pyblish.api.ContextPlugin):
    """Fills what the other FilmAI plug-ins read (sources, publish root, project, shot, task, …) from
    ``filmai_plugins.publish.register(...)`` and the FILMAI_* environment, where not already set."""

    label = "FilmAI: publish options"
    order = pyblish.api.CollectorOrder - 0.45

    def process(self, context):
        from filmai_plugins.publish import session_for_gui

        if "filmai_sources" in context.data:
            return  # filmai publish / the Python API set everything
        for key, value in session_for_gui().items():
            context.data.setdefault(f"filmai_{key}", value)
        if not context.data["filmai_sources"]:
            raise ValueError("nothing to publish: give sources to filmai_plugins.publish.register(...) or set "
                             "FILMAI_PUBLISH_SOURCES")
