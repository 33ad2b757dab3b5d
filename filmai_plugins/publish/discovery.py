"""Pyblish plug-in discovery that reports what it could not load.

``pyblish.api.discover`` skips a plug-in file that fails to import with one log line, drops a
second class of the same name with a debug message, and filters hosts through global state. A
publish that silently lost a studio validator is worse than one that fails, so this wrapper
loads the files the same way Pyblish does (each ``*.py`` executed into a fresh module, names
starting with ``_`` skipped) and returns every failure and duplicate with its file and reason.

Two differences from Pyblish, both deliberate:

- each module is registered in ``sys.modules`` under a name unique to its folder *before* it
  runs, so ``@dataclass`` (which looks its module up) works in plug-in files;
- host filtering uses the host name given, not Pyblish's global host registry.
"""
from __future__ import annotations

import hashlib
import os
import sys
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class DiscoveryReport:
    """What discovery found: plug-in classes in run order, and what went wrong."""

    paths: list[str] = field(default_factory=list)
    plugins: list[type] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)  # {"file", "error", "traceback"}
    duplicates: list[dict[str, str]] = field(default_factory=list)  # {"name", "file", "kept"}
    other_hosts: list[str] = field(default_factory=list)  # plug-ins left out: written for another host

    @property
    def ok(self) -> bool:
        return not self.failed and not self.duplicates

    def problems(self) -> list[str]:
        lines = [f"{f['file']}: {f['error']}" for f in self.failed]
        lines += [f"{d['file']}: plug-in class {d['name']} is already defined in {d['kept']}; "
                  "give it a namespaced name (e.g. MyStudio{0})".format(d["name"]) for d in self.duplicates]
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"paths": self.paths,
                "plugins": [f"{getattr(p, '_filmai_file', p.__module__)}:{p.__name__}" for p in self.plugins],
                "failed": [{"file": f["file"], "error": f["error"]} for f in self.failed],
                "duplicates": self.duplicates, "other_hosts": self.other_hosts}


def _module_name(folder: str, stem: str) -> str:
    digest = hashlib.md5(os.path.normcase(os.path.abspath(folder)).encode()).hexdigest()[:10]
    return f"filmai_publish_plugins_{digest}.{stem}"


def _host_matches(plugin: type, host_name: str) -> bool:
    hosts = getattr(plugin, "hosts", ["*"])
    # Pyblish always registers the "python" host, so such plug-ins run everywhere Python runs.
    return "*" in hosts or host_name in hosts or "python" in hosts


def discover(paths: Iterable[str], host_name: str = "headless") -> DiscoveryReport:
    """Load every plug-in file in ``paths`` (in order) and return the plug-ins for ``host_name``."""
    import pyblish.api
    import pyblish.plugin

    report = DiscoveryReport()
    seen: dict[str, str] = {}
    for raw in paths:
        folder = os.path.normpath(os.path.abspath(os.fspath(raw)))
        if folder in report.paths:
            continue
        report.paths.append(folder)
        if not os.path.isdir(folder):
            report.failed.append({"file": folder, "error": "plug-in folder not found", "traceback": ""})
            continue
        for fname in sorted(os.listdir(folder)):
            stem, ext = os.path.splitext(fname)
            path = os.path.join(folder, fname)
            if fname.startswith("_") or ext != ".py" or not os.path.isfile(path):
                continue
            name = _module_name(folder, stem)
            module = types.ModuleType(name)
            module.__file__ = path
            sys.modules[name] = module  # before exec: dataclasses and pickling look the module up
            try:
                with open(path, "rb") as f:
                    code = compile(f.read(), path, "exec")
                exec(code, module.__dict__)
            except BaseException as exc:  # a plug-in file may raise anything, SystemExit included
                if isinstance(exc, KeyboardInterrupt):
                    raise
                sys.modules.pop(name, None)
                report.failed.append({"file": path, "error": f"{type(exc).__name__}: {exc}",
                                      "traceback": "".join(traceback.format_exception(exc))})
                continue
            for attr, obj in sorted(vars(module).items()):
                if (attr.startswith("_") or not isinstance(obj, type) or not issubclass(obj, pyblish.api.Plugin)
                        or obj.__module__ != name):
                    continue  # imported base classes and helpers are not this file's plug-ins
                if not pyblish.plugin.plugin_is_valid(obj):
                    report.failed.append({"file": path, "error": f"{attr} is not a valid Pyblish plug-in "
                                          "(families, hosts and targets must be lists of strings)",
                                          "traceback": ""})
                    continue
                if not pyblish.plugin.version_is_compatible(obj):
                    report.failed.append({"file": path, "error": f"{attr} needs Pyblish {obj.requires}",
                                          "traceback": ""})
                    continue
                if not _host_matches(obj, host_name):
                    report.other_hosts.append(f"{path}:{attr}")
                    continue
                if attr in seen:
                    report.duplicates.append({"name": attr, "file": path, "kept": seen[attr]})
                    continue
                seen[attr] = path
                obj._filmai_file = path
                # Pyblish points tracebacks and logs at the plug-in file through __module__.
                obj.__module__ = path
                report.plugins.append(obj)
    pyblish.plugin.sort(report.plugins)
    return report
