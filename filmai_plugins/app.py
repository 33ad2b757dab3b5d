"""The app object: what a host builds once and hands down — the plug-in manager with its nodes, frame I/O,
the OCIO config and run events.

A host (the ``filmai`` command, the Python API, the Blender or Nuke worker, a farm task) makes one
``App`` and passes it to the engine, which hands it to nodes through the run context (``ctx.app``).
Nothing below the engine looks it up: frame readers/writers, colour conversions and progress reporting
receive what they need from the app. ``default_app()`` is the process-wide app of the headless host,
used by the Python API (``filmai_plugins.run``) and the CLI when no app is given.
"""
from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .errors import BadInput, FrameError
from .registry import CommandRegistrar, PackFailure, Registry

if TYPE_CHECKING:  # pragma: no cover
    from .frames.image import Frame, FrameHeader
    from .frames.io import FrameReader, FrameWriter, WriteOptions
    from .node import Node

log = logging.getLogger(__name__)

#: The core's own plug-ins, registered for every host before any pack (never subject to the allow/block
#: lists): frame I/O (OpenImageIO), Pyblish plug-in folders, farm engines, and the sub-commands beyond
#: ``nodes``/``info``/``run``/``train``. Each implements hooks of ``hookspecs`` like any pack.
BUILTIN_PLUGINS = (
    ("filmai.frames", "filmai_plugins.frames.io:BuiltinFrameIO"),
    ("filmai.publish", "filmai_plugins.publish.pack"),
    ("filmai.farm", "filmai_plugins.farm.pack"),
    ("filmai.demo", "filmai_plugins.demo"),
    ("filmai.export", "filmai_plugins.export"),
    ("filmai.timeline", "filmai_plugins.timeline"),
    ("filmai.packaging", "filmai_plugins.packaging"),
    ("filmai.modelinfo", "filmai_plugins.modelinfo"),
    ("filmai.colourspaces", "filmai_plugins.colourspaces"),
)
#: Commands the ``filmai`` command defines itself; packs cannot take these names.
CORE_COMMANDS = ("nodes", "info", "run", "train")


def _load_builtin(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)() if attr else module


class App:
    """One host's plug-ins, frame I/O, colour configuration and run events."""

    def __init__(self, host_name: str = "headless", *, entry_points: bool = True,
                 plugins: Iterable[tuple[str, Any]] = (), builtins: bool = True,
                 ocio_config: Any = None):
        self.host_name = host_name
        self.registry = Registry(entry_points=entry_points, plugins=plugins,
                                 builtins=[(name, _load_builtin(t)) for name, t in BUILTIN_PLUGINS] if builtins else ())
        self._ocio_source = ocio_config
        self._ocio: Any = None
        self._ocio_source_used: Any = None
        self._colour: Any = None
        self._ocio_lock = threading.Lock()

    # ----- plug-ins and nodes ---------------------------------------------------------------
    @property
    def pm(self):
        return self.registry.pm

    @property
    def nodes(self) -> dict[str, type["Node"]]:
        return self.registry.nodes

    @property
    def node_pack(self) -> dict[str, str]:
        return self.registry.node_pack

    @property
    def packs(self) -> dict[str, str]:
        return self.registry.packs

    @property
    def failed(self) -> list[PackFailure]:
        return self.registry.failed

    @property
    def farm_engines(self) -> dict[str, Any]:
        return self.registry.farm_engines

    def get(self, node_id: str) -> type["Node"]:
        """The node class registered under ``node_id`` (BadInput naming close matches otherwise)."""
        return self.registry.get(node_id)

    def register_commands(self, subparsers: Any) -> None:
        """Let every plug-in add its ``filmai`` sub-commands (``filmai_register_commands``)."""
        taken = set(CORE_COMMANDS)
        for name, plugin in self.pm.list_name_plugin():
            caller = self.pm.subset_hook_caller(
                "filmai_register_commands", remove_plugins=[p for n, p in self.pm.list_name_plugin() if n != name])
            if not caller.get_hookimpls():
                continue
            try:
                caller(commands=CommandRegistrar(subparsers, taken, name))
            except Exception as exc:  # one pack's broken command must not take the CLI down
                from .registry import _reason

                self.failed.append(PackFailure(name, f"commands: {_reason(exc)}"))

    def publish_plugin_paths(self, host_name: str, targets: Sequence[str]) -> list[str]:
        out: list[str] = []
        for paths in self.pm.hook.filmai_publish_plugin_paths(host_name=host_name, targets=list(targets)):
            out.extend(str(p) for p in (paths or []))
        return out

    # ----- frame I/O ------------------------------------------------------------------------
    def frame_reader(self, path: str) -> "FrameReader":
        reader = self.pm.hook.filmai_frame_reader(path=str(path))
        if reader is None:  # the built-in reader always answers unless builtins=False
            raise FrameError("no frame reader for this file", str(path))
        return reader

    def frame_writer(self, path: str) -> "FrameWriter":
        writer = self.pm.hook.filmai_frame_writer(path=str(path))
        if writer is None:
            raise BadInput(f"{path}: no frame writer for this format")
        return writer

    def read_header(self, path: str, *, part: str | int | None = None, frame: int | None = None) -> "FrameHeader":
        return self.frame_reader(path).header(str(path), part=part, frame=frame)

    def read_frame(self, path: str, *, part: str | int | None = None, layer: str | None = None,
                   channels: Sequence[str] | None = None, frame: int | None = None) -> "Frame":
        return self.frame_reader(path).read(str(path), part=part, layer=layer, channels=channels, frame=frame)

    def write_frame(self, path: str, frame: "Frame", options: "WriteOptions | None" = None) -> None:
        """Write atomically (a hidden temporary file in the same folder, renamed into place)."""
        from .frames.io import WriteOptions

        path = str(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise BadInput(f"output folder {folder} does not exist")
        self.frame_writer(path).write(path, frame, options or WriteOptions())

    def read_provenance(self, path: str) -> dict[str, str]:
        """The ``filmai:*`` attributes of a file written by FilmAI (empty when there are none)."""
        from .frames.io import provenance_of

        return provenance_of(self.read_header(path))

    # ----- colour ---------------------------------------------------------------------------
    def colour(self) -> Any:
        """The OCIO config in force as a ``color.ColourConfig`` (names, tags, cached processors)."""
        with self._ocio_lock:
            if self._colour is None:
                from . import color

                self._colour = color.ColourConfig(self._load_ocio(), str(self._ocio_source_used or ""))
            return self._colour

    def _load_ocio(self) -> Any:
        if self._ocio is None:
            from . import color

            source = self._ocio_source
            if source is None:
                source = self.pm.hook.filmai_ocio_config(host_name=self.host_name)
            self._ocio_source_used = source or os.environ.get("OCIO") or color.BUILTIN_CONFIG
            self._ocio = color.load_config(source)
        return self._ocio

    def ocio_config(self) -> Any:
        """The OCIO config in force: the one given to the app, else a plug-in's ``filmai_ocio_config``
        answer, else ``$OCIO``, else the pinned built-in config (``color.BUILTIN_CONFIG``). Loaded once."""
        with self._ocio_lock:
            return self._load_ocio()

    # ----- events ---------------------------------------------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        """Hand a run event to every ``filmai_run_event`` observer; an observer that raises is logged and
        never stops the run."""
        try:
            self.pm.hook.filmai_run_event(event=event)
        except Exception:
            log.exception("a run-event observer failed on %s", event.get("event"))


_default: App | None = None
_default_lock = threading.Lock()


def default_app() -> App:
    """The process's headless app, built from the environment on first use (the Python API and CLI)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = App()
        return _default


def app_or_default(app: App | None) -> App:
    """``app``, or the process's default headless app when None (entry points of the Python API)."""
    return app if app is not None else default_app()


def set_default_app(app: App | None) -> None:
    """Replace the process's default app (None: rebuild from the environment on next use). Tests and
    hosts that embed the Python API use it."""
    global _default
    with _default_lock:
        _default = app
