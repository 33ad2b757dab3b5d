"""Publishing through Pyblish: plug-in folders (common and per host) and the publish runner.

    from filmai_plugins.publish import publish
    result = publish(["out/plate.1001-1100.manifest.json"], root="/show/publish",
                     project="demo", shot="sh010", task="comp")
    print(result.format()); result.ok

Plug-in folders come from the ``filmai_publish_plugin_paths`` hook (the built-in ones through
``filmai_plugins.publish.pack``), then ``PYBLISHPLUGINPATH``.

Pyblish's own tools (``pyblish.util.publish``, pyblish-lite, pyblish-qml) find the same plug-ins
after :func:`register` — a host calls it once at start-up, with what to publish::

    from filmai_plugins.publish import register
    register(host="headless", sources=["out/plate.####.exr"], root="/show/publish",
             project="demo", shot="sh010", task="comp")
    import pyblish_lite; pyblish_lite.show()        # or pyblish.util.publish()
"""
from __future__ import annotations

import os
from typing import Any, Sequence

#: What :func:`register` registered, so :func:`deregister` takes back exactly that.
_REGISTERED: dict[str, Any] = {}
#: The options a publish started by a Pyblish GUI collects with (``FilmAICollectSession``).
SESSION: dict[str, Any] = {}


def publish(*args: Any, **kwargs: Any):
    """See :func:`filmai_plugins.publish.runner.publish`."""
    from .runner import publish as _publish

    return _publish(*args, **kwargs)


def register(host: str = "headless", targets: Sequence[str] = ("local",), sources: Sequence[str] = (),
             **options: Any) -> list[str]:
    """Register FilmAI's publish plug-ins with Pyblish itself, for Pyblish GUIs and ``pyblish.util``.

    Registers ``host`` (Pyblish filters plug-ins by host when it discovers them), the ``targets``, and
    every plug-in folder the ``filmai_publish_plugin_paths`` hook gives for that host (FilmAI's own,
    then any studio pack's) with ``pyblish.api.register_plugin_path``; no hand-set
    ``PYBLISHPLUGINPATH`` is needed. ``sources`` and ``options`` (root, project, shot, task, name,
    frames, colorspace, fps, handles, transfer, movie, partial: as :func:`publish` takes them) are
    what the publish collects when the GUI runs it; unset ones come from ``FILMAI_PUBLISH_SOURCES``
    (``os.pathsep``-separated), ``FILMAI_PUBLISH_ROOT``, ``FILMAI_PROJECT``, ``FILMAI_SHOT`` and
    ``FILMAI_TASK`` when the publish starts. Returns the registered folders.
    """
    import pyblish.api

    from . import lib
    from .runner import HOST_NAMES, TARGETS, plugin_paths, session_options

    from ..errors import BadInput

    if host not in HOST_NAMES:
        raise BadInput(f"unknown host {host!r} (one of {', '.join(HOST_NAMES)})")
    for t in targets:
        if t not in TARGETS:
            raise BadInput(f"unknown publish target {t!r} (one of {', '.join(TARGETS)})")
    deregister()
    frames = options.pop("frames", None)
    frames = lib.parse_frame_set(frames) if isinstance(frames, str) else frames
    handles = lib.parse_handles(options.pop("handles", None), frames)
    SESSION.clear()
    SESSION.update(given_sources=[os.fspath(s) for s in sources],
                   options=dict(options, frames=frames, handles=handles, targets=list(targets), host=host))
    session_options([], **SESSION["options"])  # unknown option names fail here, not inside the GUI
    paths = [p for p in plugin_paths(host, targets) if p not in pyblish.api.registered_paths()]
    pyblish.api.register_host(host)
    for t in targets:
        pyblish.api.register_target(t)
    for p in paths:
        pyblish.api.register_plugin_path(p)
    _REGISTERED.update(host=host, targets=list(targets), paths=paths)
    return paths


def deregister() -> None:
    """Take back what :func:`register` registered (folders, host, targets, session)."""
    import pyblish.api

    for p in _REGISTERED.get("paths", []):
        pyblish.api.deregister_plugin_path(p)
    for t in _REGISTERED.get("targets", []):
        if t in pyblish.api.registered_targets():
            pyblish.api.deregister_target(t)
    if _REGISTERED.get("host") and _REGISTERED["host"] in pyblish.api.registered_hosts():
        pyblish.api.deregister_host(_REGISTERED["host"])
    _REGISTERED.clear()
    SESSION.clear()


def session_for_gui() -> dict[str, Any]:
    """The ``context.data`` a publish started outside :func:`publish` collects with (see :func:`register`)."""
    from .runner import session_options

    sources = SESSION.get("given_sources") or [
        p for p in os.environ.get("FILMAI_PUBLISH_SOURCES", "").split(os.pathsep) if p]
    return session_options(sources, **SESSION.get("options", {}))


__all__ = ["publish", "register", "deregister"]
