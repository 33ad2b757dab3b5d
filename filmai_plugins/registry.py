"""The plugin manager: node packs from entry points (group ``filmai_plugins``), allow and block lists.

Environment:

``FILMAI_PLUGINS_ALLOW``  comma-separated pack names; when set, only these packs load.
``FILMAI_PLUGINS_BLOCK``  comma-separated pack names that never load.
``FILMAI_PLUGIN_MODULES`` comma-separated importable module names loaded as extra packs (studio
                          packs on PYTHONPATH that are not pip-installed); subject to both lists.

A pack that fails to import or to register is recorded with its reason in ``Registry.failed`` and
shown by ``filmai nodes``; it never breaks the host.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from .errors import BadInput, FilmAIError, RegistryError
from .node import Node

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "filmai_plugins"


@dataclass(frozen=True)
class PackFailure:
    name: str
    reason: str
    source: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason, "source": self.source}


class NodeRegistrar:
    """What ``filmai_register_nodes`` receives: collects one pack's nodes before they are committed."""

    def __init__(self, pack: str):
        self.pack = pack
        self.added: list[type[Node]] = []

    def add(self, node_cls: type[Node]) -> type[Node]:
        if not (isinstance(node_cls, type) and issubclass(node_cls, Node)):
            raise RegistryError(f"pack {self.pack!r}: {node_cls!r} is not a Node subclass")
        node_cls.validate_class()
        if any(c.id == node_cls.id for c in self.added):
            raise RegistryError(f"pack {self.pack!r} registers node id {node_cls.id!r} twice")
        self.added.append(node_cls)
        return node_cls


class FarmEngineRegistrar:
    def __init__(self) -> None:
        self.engines: dict[str, Callable[..., Any]] = {}

    def add(self, name: str, factory: Callable[..., Any]) -> None:
        if name in self.engines:
            raise RegistryError(f"farm engine {name!r} registered twice")
        self.engines[name] = factory


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


class Registry:
    """Loads packs and holds the registered nodes, farm engines and the pluggy manager."""

    def __init__(self, *, entry_points: bool = True, plugins: Iterable[tuple[str, Any]] = ()):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        from .frames import io as frame_io  # the core's own readers/writers: a plug-in like any other

        self.pm.register(frame_io.BuiltinFrameIO(), name="filmai.frames")
        self.nodes: dict[str, type[Node]] = {}
        self.node_pack: dict[str, str] = {}
        self.packs: dict[str, str] = {}  # name -> source (distribution or module)
        self.failed: list[PackFailure] = []
        allow = _env_list("FILMAI_PLUGINS_ALLOW")
        block = set(_env_list("FILMAI_PLUGINS_BLOCK") or [])

        candidates: list[tuple[str, str, Callable[[], Any]]] = []
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = getattr(ep, "dist", None)
                source = f"{dist.name} {dist.version}" if dist is not None else ep.value
                candidates.append((ep.name, source, ep.load))
            for mod in _env_list("FILMAI_PLUGIN_MODULES") or []:
                candidates.append((mod, f"module {mod}", lambda m=mod: importlib.import_module(m)))
        for name, obj in plugins:
            candidates.append((name, "in-process", lambda o=obj: o))

        seen: set[str] = set()
        for name, source, load in candidates:
            if name in seen:
                continue  # the same distribution visible twice on sys.path
            seen.add(name)
            if (allow is not None and name not in allow) or name in block:
                log.debug("pack %s skipped by allow/block list", name)
                continue
            try:
                plugin = load()
            except Exception as exc:  # a broken pack must not break the host
                self.failed.append(PackFailure(name, _reason(exc), source))
                continue
            try:
                self.pm.register(plugin, name=name)
                self._check_hook_names(name, plugin)
            except Exception as exc:
                self._unregister(name)
                self.failed.append(PackFailure(name, _reason(exc), source))
                continue
            self.packs[name] = source
            self._register_pack_nodes(name, source)

        farm = FarmEngineRegistrar()
        try:
            self.pm.hook.filmai_register_farm_engines(registry=farm)
        except Exception as exc:
            self.failed.append(PackFailure("farm engines", _reason(exc)))
        self.farm_engines = farm.engines

    def _unregister(self, name: str) -> None:
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)

    def _check_hook_names(self, name: str, plugin: Any) -> None:
        # pluggy ignores a misspelt hook silently; say so instead of losing the pack's nodes.
        known = {n for n in dir(hookspecs) if n.startswith("filmai_")}
        for attr in dir(plugin):
            if attr.startswith("filmai_") and attr not in known and callable(getattr(plugin, attr, None)):
                raise RegistryError(f"unknown hook {attr!r} (known: {', '.join(sorted(known))})")

    def _register_pack_nodes(self, name: str, source: str) -> None:
        registrar = NodeRegistrar(name)
        impls = [i for i in self.pm.hook.filmai_register_nodes.get_hookimpls() if i.plugin_name == name]
        try:
            for impl in impls:
                impl.function(registry=registrar)
            for cls in registrar.added:
                if cls.id in self.nodes:
                    raise RegistryError(
                        f"duplicate node id {cls.id!r}: already registered by pack {self.node_pack[cls.id]!r}")
        except Exception as exc:
            self._unregister(name)
            self.packs.pop(name, None)
            self.failed.append(PackFailure(name, _reason(exc), source))
            return
        for cls in registrar.added:
            self.nodes[cls.id] = cls
            self.node_pack[cls.id] = name

    # ----- queries ----------------------------------------------------------------------------
    def get(self, node_id: str) -> type[Node]:
        try:
            return self.nodes[node_id]
        except KeyError:
            pass
        failed = "".join(f"\n  pack {f.name!r} failed to load: {f.reason}" for f in self.failed)
        close = [n for n in self.nodes if n.split(".")[-1] == node_id.split(".")[-1] or n.startswith(node_id)]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise BadInput(f"unknown node {node_id!r}.{hint} Known nodes: {', '.join(sorted(self.nodes)) or '(none)'}{failed}")

    def publish_plugin_paths(self, host_name: str, targets: list[str]) -> list[str]:
        out: list[str] = []
        for paths in self.pm.hook.filmai_publish_plugin_paths(host_name=host_name, targets=list(targets)):
            out.extend(str(p) for p in (paths or []))
        return out

    def frame_reader(self, path: str):
        return self.pm.hook.filmai_frame_reader(path=str(path))

    def frame_writer(self, path: str):
        return self.pm.hook.filmai_frame_writer(path=str(path))

    def emit(self, event: dict[str, Any]) -> None:
        for impl in self.pm.hook.filmai_run_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:  # observers must never stop a render
                log.exception("run-event observer %s failed", impl.plugin_name)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FilmAIError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry()
        return _registry


def reset_registry(registry: Registry | None = None) -> None:
    """Replace (or drop, to reload from the environment) the process-wide registry. Used by tests and hosts."""
    global _registry
    with _lock:
        _registry = registry


def register_package_nodes(registry: NodeRegistrar, package: str) -> None:
    """Register the ``NODES`` of every node package inside ``package`` (a helper any pack may use).

    A family package holds one sub-package per node (``nodes/gan/upres/``); only each sub-package's
    ``__init__`` is imported here, and it must not import torch: networks, data and training live in
    its other modules, imported when the node runs, so listing nodes stays cheap. Plain modules of the
    family (shared networks such as ``cnn/unet.py``) are not imported.
    """
    import pkgutil

    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for cls in getattr(module, "NODES", ()):
            registry.add(cls)
