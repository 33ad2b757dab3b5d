"""The plug-in manager: built-in plug-ins, node packs from entry points (group ``filmai_plugins``), allow
and block lists. The app object (``app.py``) builds one per host; nothing here is global.

Environment:

``FILMAI_PLUGINS_ALLOW``  comma-separated pack names; when set, only these packs load.
``FILMAI_PLUGINS_BLOCK``  comma-separated pack names that never load.
``FILMAI_PLUGIN_MODULES`` comma-separated importable module names loaded as extra packs (studio
                          packs on PYTHONPATH that are not pip-installed); subject to both lists.

A pack that fails to import or to register is recorded with its reason in ``Registry.failed`` and
shown by ``filmai nodes``; it never breaks the host. Hooks are called through pluggy (``pm.hook``);
blocking is pluggy's ``set_blocked`` and unknown hooks are pluggy's ``check_pending``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
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
    """What ``filmai_register_farm_engines`` receives."""

    def __init__(self) -> None:
        self.engines: dict[str, Callable[..., Any]] = {}

    def add(self, name: str, factory: Callable[..., Any]) -> None:
        if name in self.engines:
            raise RegistryError(f"farm engine {name!r} registered twice")
        self.engines[name] = factory


class CommandRegistrar:
    """What ``filmai_register_commands`` receives: ``add_parser`` of the ``filmai`` command's sub-commands.

    ``commands.add_parser("mytool", help=...)`` returns an ``argparse`` parser; set
    ``parser.set_defaults(func=run)`` where ``run(args) -> int`` (``args.app`` is the app object).
    A name already taken by another pack or a built-in command is refused (the pack is reported).
    """

    def __init__(self, subparsers: Any, taken: set[str], pack: str):
        self._subparsers = subparsers
        self._taken = taken
        self.pack = pack

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        for each in (name, *kwargs.get("aliases", ())):
            if each in self._taken:
                raise RegistryError(f"pack {self.pack!r}: the command {each!r} already exists")
        self._taken.update((name, *kwargs.get("aliases", ())))
        return self._subparsers.add_parser(name, **kwargs)


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, with one addition: a function named ``filmai_*`` counts as a hook implementation
    even without the ``@hookimpl`` marker (as pytest treats ``pytest_*``), so ``check_pending`` reports a
    misspelt hook instead of pluggy ignoring it silently."""

    def parse_hookimpl_opts(self, plugin: Any, name: str):  # type: ignore[override]
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("filmai_") and callable(getattr(plugin, name, None)):
            return {}
        return opts


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FilmAIError):
        return str(exc)
    if isinstance(exc, pluggy.PluginValidationError):
        return f"unknown hook or wrong hook arguments: {exc}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


class Registry:
    """Loads plug-ins and packs into one pluggy manager and holds the registered nodes and farm engines.

    ``builtins``: (name, plug-in) pairs the host always registers (frame I/O, publish, farm, commands),
    never subject to the allow/block lists. ``plugins``: extra in-process (name, plug-in) pairs, treated
    like packs (tests, hosts embedding a pack).
    """

    def __init__(self, *, entry_points: bool = True, builtins: Iterable[tuple[str, Any]] = (),
                 plugins: Iterable[tuple[str, Any]] = ()):
        self.pm = _PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.nodes: dict[str, type[Node]] = {}
        self.node_pack: dict[str, str] = {}
        self.packs: dict[str, str] = {}  # name -> source (distribution or module)
        self.failed: list[PackFailure] = []
        for name, plugin in builtins:
            self.pm.register(plugin, name=name)
        self.pm.check_pending()  # the core's own plug-ins must match the specs

        allow = _env_list("FILMAI_PLUGINS_ALLOW")
        for name in _env_list("FILMAI_PLUGINS_BLOCK") or []:
            self.pm.set_blocked(name)
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
        if allow is not None:
            for name, _, _ in candidates:
                if name not in allow:
                    self.pm.set_blocked(name)

        for name, source, load in candidates:
            if self.pm.has_plugin(name) or self.pm.is_blocked(name):
                continue  # the same distribution visible twice on sys.path, or an allow/block list
            try:
                plugin = load()
            except Exception as exc:  # a broken pack must not break the host
                self.failed.append(PackFailure(name, _reason(exc), source))
                continue
            try:
                self.pm.register(plugin, name=name)
                self.pm.check_pending()
            except Exception as exc:
                self._unregister(name)
                self.failed.append(PackFailure(name, _reason(exc), source))
                continue
            self.packs[name] = source
            self._register_pack_nodes(name, source)

        farm = FarmEngineRegistrar()
        for name, exc in self.call_per_plugin("filmai_register_farm_engines", registry=farm):
            self.failed.append(PackFailure(name, f"farm engines: {_reason(exc)}"))
        self.farm_engines = farm.engines

    def _unregister(self, name: str) -> None:
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)

    def call_per_plugin(self, hook_name: str, **kwargs: Any) -> list[tuple[str, BaseException]]:
        """Call a registration hook one plug-in at a time, so one that raises is reported and the others
        still register. Returns (plug-in name, exception) for each failure."""
        caller = getattr(self.pm.hook, hook_name)
        names = [impl.plugin_name for impl in caller.get_hookimpls()]
        failures = []
        for name in names:
            others = [p for n, p in self.pm.list_name_plugin() if n != name]
            try:
                self.pm.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)
            except Exception as exc:
                failures.append((name, exc))
        return failures

    def _register_pack_nodes(self, name: str, source: str) -> None:
        registrar = NodeRegistrar(name)
        others = [p for n, p in self.pm.list_name_plugin() if n != name]
        try:
            self.pm.subset_hook_caller("filmai_register_nodes", remove_plugins=others)(registry=registrar)
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
