"""Publishing through Pyblish: plug-in folders (common and per host) and the publish runner.

    from filmai_plugins.publish import publish
    result = publish(["out/plate.1001-1100.manifest.json"], root="/show/publish",
                     project="demo", shot="sh010", task="comp")
    print(result.format()); result.ok

Plug-in folders come from the ``filmai_publish_plugin_paths`` hook (the built-in ones through
``filmai_plugins.publish.pack``), then ``PYBLISHPLUGINPATH``.
"""
from __future__ import annotations

from typing import Any


def publish(*args: Any, **kwargs: Any):
    """See :func:`filmai_plugins.publish.runner.publish`."""
    from .runner import publish as _publish

    return _publish(*args, **kwargs)


__all__ = ["publish"]
