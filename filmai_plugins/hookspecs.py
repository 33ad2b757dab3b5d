"""Every extension point of FilmAI Plugins, one documented pluggy hook each.

A node pack is any importable module (or object) with functions named like these hooks, decorated
with ``filmai_plugins.hookimpl``, advertised through the ``filmai_plugins`` entry-point group::

    [options.entry_points]
    filmai_plugins =
        mypack = mystudio.filmai_pack

The built-in node packs (``util``, ``cnn``, ``gan``, ``lstm``) register exactly this way; the core's
own plug-ins (frame I/O, publish, farm, commands) implement the same hooks. Hooks are always called
through pluggy with keyword arguments; a function named ``filmai_*`` that matches no hook here makes
its pack fail to load with that name in the reason (``filmai nodes`` lists it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

PROJECT = "filmai_plugins"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:  # pragma: no cover
    from .frames.io import FrameReader, FrameWriter
    from .registry import CommandRegistrar, FarmEngineRegistrar, NodeRegistrar


@hookspec
def filmai_register_nodes(registry: "NodeRegistrar") -> None:
    """Register node classes with ``registry.add(NodeClass)``.

    Called once per pack. A pack's nodes register all together or not at all: a duplicate node id
    or an invalid declaration rejects the whole pack, which is then reported (name and reason) by
    ``filmai nodes`` while every other pack keeps working. Must not import torch.
    """


@hookspec
def filmai_publish_plugin_paths(host_name: str, targets: list[str]) -> list[str]:
    """Return folders of Pyblish plug-ins for ``host_name`` ("headless", "blender", "nuke").

    ``targets`` are the Pyblish targets of this publish ("default", "local", "farm"). Results of all
    packs are concatenated in call order; studios add their own validators this way.
    """


@hookspec(firstresult=True)
def filmai_frame_reader(path: str) -> "FrameReader | None":
    """Return a reader able to read ``path`` (an image file), or None to let another plug-in try.

    The core's OpenImageIO reader answers last (``trylast``), so a plug-in can take over a format
    (a camera raw, a studio cache) by answering first.
    """


@hookspec(firstresult=True)
def filmai_frame_writer(path: str) -> "FrameWriter | None":
    """Return a writer able to write ``path``, or None. The OpenImageIO writer answers last."""


@hookspec(firstresult=True)
def filmai_ocio_config(host_name: str) -> Any:
    """Return the OpenColorIO config to use (a ``PyOpenColorIO.Config`` or a path), or None.

    Without an answer the core uses ``$OCIO`` when set, else OCIO's built-in CG config.
    """


@hookspec
def filmai_register_farm_engines(registry: "FarmEngineRegistrar") -> None:
    """Register farm engines with ``registry.add(name, factory)``; ``filmai farm run --engine NAME``."""


@hookspec
def filmai_register_commands(commands: "CommandRegistrar") -> None:
    """Add sub-commands to the ``filmai`` command: ``parser = commands.add_parser("name", help=...)``,
    then ``parser.set_defaults(func=run)`` with ``run(args) -> int`` (``args.app`` is the app object).

    The built-in commands (``demo``, ``publish``, ``farm``, ``timeline`` …) register exactly this way.
    A name that is already taken makes the pack fail to load with that reason.
    """


@hookspec
def filmai_run_event(event: dict[str, Any]) -> None:
    """Observe run and training events as they happen (the same dicts ``--progress json`` prints).

    Every event has ``event`` ("start", "frame", "skip", "step", "message", "done", "error",
    "cancelled") and ``node``. Observers must be quick and must not raise; an exception is logged
    and the run goes on.
    """
