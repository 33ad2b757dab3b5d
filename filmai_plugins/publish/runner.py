"""Running a publish: plug-in discovery, the Pyblish passes, repairs, and the report.

The Pyblish order bands are kept (collect 0, validate 1, extract 2, integrate 3) with one stricter
rule than Pyblish's default: nothing is extracted after any collector or validator failed, and
nothing is integrated after any failure at all, so a version is never made from an incomplete
publish. Every validator still runs, so one report lists every problem at once.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..errors import BadInput
from ..frames.sequence import format_frames
from .discovery import DiscoveryReport, discover
from .integrate import remove_staging

HOST_NAMES = ("headless", "blender", "nuke")
TARGETS = ("local", "farm")
# Pyblish logs every plug-in exception with its traceback; the report says it once, readably.
logging.getLogger("pyblish").addHandler(logging.NullHandler())


def _stage(order: float) -> str:
    import pyblish.api as api

    for name, base in (("collect", api.CollectorOrder), ("validate", api.ValidatorOrder),
                       ("extract", api.ExtractorOrder), ("integrate", api.IntegratorOrder)):
        if base - 0.5 <= order < base + 0.5:
            return name
    return "other"


@dataclass
class Problem:
    plugin: str
    stage: str
    message: str
    repair: str = ""
    file: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"plugin": self.plugin, "stage": self.stage, "message": self.message}
        if self.repair:
            out["repair"] = self.repair
        return out


@dataclass
class InstanceReport:
    name: str
    family: str
    label: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    published: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    held_by: str = ""  # why an instance with no problem of its own was not published

    @property
    def ok(self) -> bool:
        return not self.problems and self.published is not None

    @property
    def status(self) -> str:
        """published, failed (its own problems), or held (fine itself, held back by another's failure)."""
        return "published" if self.ok else "failed" if self.problems or not self.held_by else "held"

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "family": self.family, "label": self.label, "ok": self.ok, "status": self.status,
               "published": self.published, "problems": [p.to_json() for p in self.problems],
               "warnings": self.warnings, **self.summary}
        if self.status == "held":
            out["held_by"] = self.held_by
        return out


@dataclass
class PublishResult:
    """What a publish did; ``ok`` only when every instance was published and nothing failed."""

    host: str
    targets: list[str]
    instances: list[InstanceReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # context-level
    discovery: DiscoveryReport = field(default_factory=DiscoveryReport)
    stopped: str = ""
    repairs: list[dict[str, Any]] = field(default_factory=list)
    first_pass: list[dict[str, Any]] = field(default_factory=list)  # problems found before repairs
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.problems and bool(self.instances) and all(i.ok for i in self.instances)
                and self.discovery.ok)

    @property
    def exit_code(self) -> int:
        """0 published; 2 when only collection or validation failed (the sources are not publishable as
        they are: running again cannot help, so farms do not retry it); 1 for anything else."""
        if self.ok:
            return 0
        problems = self.problems + [p for i in self.instances for p in i.problems]
        if problems and self.discovery.ok and all(p.stage in ("collect", "validate") for p in problems):
            return 2
        return 1

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code, "host": self.host, "targets": self.targets, "stopped": self.stopped or None,
                "instances": [i.to_json() for i in self.instances],
                "problems": [p.to_json() for p in self.problems], "repairs": self.repairs,
                "problems_before_repair": self.first_pass, "plugins": self.discovery.to_json(),
                "duration_s": round(self.duration_s, 3)}

    def format(self) -> str:
        """The readable report ``filmai publish`` prints."""
        lines = [f"FilmAI publish ({self.host}, targets {', '.join(self.targets)}): "
                 f"{len(self.instances)} instance{'s' if len(self.instances) != 1 else ''}"]
        for r in self.repairs:
            lines.append(f"  repaired {r['instance'] or 'context'} ({r['plugin']}): {r['done']}")
        for inst in self.instances:
            mark = {"published": "ok  ", "failed": "FAIL", "held": "held"}[inst.status]
            lines.append(f"{mark} {inst.family} {inst.name}" + (f"  — {inst.summary['description']}"
                                                                if inst.summary.get("description") else ""))
            if inst.published:
                lines.append(f"       published v{inst.published['version']:03d} → {inst.published['path']}"
                             f"  ({inst.published['files']} files, {_size(inst.published['bytes'])})")
            for p in inst.problems:
                lines.extend(_problem_lines(p))
            if inst.status == "held":
                lines.append(f"       not published: {inst.held_by}")
            for w in inst.warnings:
                lines.append(f"       warning: {w}")
        for p in self.problems:
            lines.extend(_problem_lines(p))
        for text in self.discovery.problems():
            lines.append(f"       plug-in not loaded: {text}")
        if self.stopped:
            lines.append(f"stopped before {self.stopped}: nothing was published")
        lines.append("result: " + ("published" if self.ok else "FAILED"))
        return "\n".join(lines)


def _problem_lines(p: Problem) -> list[str]:
    first, *rest = p.message.splitlines() or [""]
    out = [f"       {p.plugin}: {first}"] + [f"         {line}" for line in rest]
    if p.repair:
        out.append(f"         repair available (--repair): {p.repair}")
    return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# ----- running -----------------------------------------------------------------------------------


def plugin_paths(host: str, targets: Sequence[str], extra: Iterable[str] = ()) -> list[str]:
    """Folders from the ``filmai_publish_plugin_paths`` hook (built-ins first), ``PYBLISHPLUGINPATH``,
    then ``extra``."""
    from ..app import default_app

    paths = default_app().publish_plugin_paths(host, list(targets))
    env = os.environ.get("PYBLISHPLUGINPATH", "")
    paths += [p for p in env.split(os.pathsep) if p]
    paths += [os.fspath(p) for p in extra]
    return paths


def _failed(context: Any, stages: tuple[str, ...]) -> tuple[bool, list[Any]]:
    """(whether a context-level plug-in failed, instances with a failure) in ``stages`` so far."""
    context_failed, instances = False, []
    for r in context.data.get("results", []):
        if r["error"] is None or _stage(r["plugin"].order) not in stages:
            continue
        if r["instance"] is None:
            context_failed = True
        elif not any(r["instance"] is i for i in instances):  # Instance is a list: compare identity
            instances.append(r["instance"])
    return context_failed, instances


def run_pass(context: Any, plugins: list[type], targets: list[str], partial: bool = False) -> str:
    """One publish pass over ``context``; returns the stage it stopped before ("" when it ran to the end).

    An instance goes on to extraction only when collection and validation found nothing wrong with it
    or with the context, and to integration only when its extraction succeeded too. Without
    ``partial`` one failing instance holds every other back (a multi-output publish lands whole or not
    at all); with it, the instances that passed are published.
    """
    import pyblish.api as api
    import pyblish.logic as logic
    import pyblish.plugin as plugin_mod

    active = [p for p in logic.plugins_by_targets(plugins, targets) if p.active]
    collectors = [p for p in active if _stage(p.order) == "collect"]
    for Plugin in collectors:
        for instance in _pairs(Plugin, context):
            plugin_mod.process(Plugin, context, instance)
    rest = [p for p in active if p not in collectors]
    for Plugin in rest:
        held: list[Any] = []
        if Plugin.order >= api.ExtractorOrder - 0.5:
            context_failed, failing = _failed(context, ("collect", "validate"))
            if context_failed or (failing and not partial):
                return "extraction (failed validation)"
            held = failing
            if Plugin.order >= api.IntegratorOrder - 0.5:
                context_failed, failing = _failed(context, ("collect", "validate", "extract", "other"))
                if context_failed or (failing and not partial):
                    return "integration (an earlier step failed)"
                held = failing
        pairs = _pairs(Plugin, context)
        for instance in pairs:
            if instance is not None and any(instance is h for h in held):
                continue
            if instance is None and held and not [i for i in context if not any(i is h for h in held)]:
                continue  # a context plug-in of a later stage, with every instance held back
            plugin_mod.process(Plugin, context, instance)
    return ""


def _pairs(Plugin: type, context: Any) -> list[Any]:
    import pyblish.logic as logic

    if not Plugin.__instanceEnabled__:
        return [None]
    return [i for i in logic.instances_by_plugin(context, Plugin) if i.data.get("publish") is not False]


def _new_context(options: dict[str, Any]) -> Any:
    import pyblish.api as api

    context = api.Context()
    context.data.update({f"filmai_{k}": v for k, v in options.items()})
    context.data["filmai_started"] = time.time()
    return context


def _repairable(Plugin: type) -> bool:
    from .actions import FilmAIRepairAction

    return callable(getattr(Plugin, "repair", None)) and FilmAIRepairAction in getattr(Plugin, "actions", [])


def _apply_repairs(context: Any) -> list[dict[str, Any]]:
    import pyblish.plugin as plugin_mod

    from .actions import FilmAIRepairAction

    failed = []
    for r in context.data.get("results", []):
        if r["error"] is not None and r["action"] is None and _repairable(r["plugin"]) and r["plugin"] not in failed:
            failed.append(r["plugin"])
    context.data["filmai_repairs"] = []
    for Plugin in failed:
        result = plugin_mod.process(Plugin, context, None, FilmAIRepairAction.id)
        if result["error"] is not None:
            context.data["filmai_repairs"].append({"plugin": Plugin.__name__, "instance": None,
                                                   "done": f"repair failed: {result['error']}"})
    return list(context.data["filmai_repairs"])


def session_options(sources: Sequence[str], *, root: str | None = None, project: str | None = None,
                    shot: str | None = None, task: str | None = None, name: str | None = None,
                    frames: list[int] | None = None, colorspace: str | None = None, fps: float | None = None,
                    transfer: str = "link", movie: bool = True, targets: Sequence[str] = ("local",),
                    host: str = "headless", handles: tuple[int, int] = (0, 0), partial: bool = False) -> dict[str, Any]:
    """What the plug-ins read from ``context.data`` (as ``filmai_<key>``), with the environment's defaults."""
    return {
        "sources": [os.path.abspath(os.fspath(s)) for s in sources],
        "root": root or os.environ.get("FILMAI_PUBLISH_ROOT") or "",
        "project": project or os.environ.get("FILMAI_PROJECT") or "",
        "shot": shot or os.environ.get("FILMAI_SHOT") or "",
        "task": task or os.environ.get("FILMAI_TASK") or "",
        "name": name or "", "frames": frames, "colorspace": colorspace or "", "fps": fps,
        "transfer": transfer, "movie": movie, "targets": list(targets), "host": host, "overrides": {},
        "handles": tuple(handles), "partial": partial,
    }


def publish(sources: Sequence[str], *, root: str | None = None, project: str | None = None, shot: str | None = None,
            task: str | None = None, name: str | None = None, targets: Sequence[str] = ("local",),
            host: str = "headless", frames: str | Sequence[int] | None = None, colorspace: str | None = None,
            fps: float | None = None, transfer: str = "link", repair: bool = False, movie: bool = True,
            extra_plugin_paths: Iterable[str] = (), handles: str | Sequence[int] | None = None,
            partial: bool = False) -> PublishResult:
    """Publish run outputs, checkpoints and timelines into the versioned publish area.

    ``project``/``shot``/``task``/``root`` default to ``FILMAI_PROJECT``/``FILMAI_SHOT``/``FILMAI_TASK``/
    ``FILMAI_PUBLISH_ROOT``. ``frames`` is the range a render must contain (default: what its
    manifests asked for); ``handles`` (``8`` or ``(8, 12)``) says how many frames at its head and tail
    lie outside the cut (recorded as head in / cut in / cut out / tail out). ``repair`` runs the
    mechanical repairs of failed validations and publishes again. One instance failing holds back
    the others (nothing is published, and each says why) unless ``partial``: then every instance
    that passed its own checks is published. Bad arguments raise ``BadInput``; everything found
    while publishing is in the result.
    """
    from . import lib

    t0 = time.perf_counter()
    if not sources:
        raise BadInput("nothing to publish: give run manifests, output sequences, checkpoints or timelines")
    targets = list(targets) or ["local"]
    for t in targets:
        if t not in TARGETS:
            raise BadInput(f"unknown publish target {t!r} (one of {', '.join(TARGETS)})")
    if transfer not in ("link", "copy"):
        raise BadInput(f"unknown transfer {transfer!r} (link or copy)")
    if fps is not None and not fps > 0:
        raise BadInput(f"--fps must be positive, got {fps}")
    expected = frames if frames is None or not isinstance(frames, str) else lib.parse_frame_set(frames)
    expected = sorted(expected) if expected is not None else None
    handle_pair = lib.parse_handles(handles, expected)
    lib.collect_instances(sources, expected)  # bad paths and unreadable manifests are exit-2 errors, up front

    options = session_options(sources, root=root, project=project, shot=shot, task=task, name=name,
                              frames=expected, colorspace=colorspace, fps=fps, transfer=transfer, movie=movie,
                              targets=targets, host=host, handles=handle_pair, partial=partial)
    pyblish_targets = ["default"] + targets  # explicit targets alone would drop every default plug-in
    report = discover(plugin_paths(host, targets, extra_plugin_paths), host)
    result = PublishResult(host=host, targets=targets, discovery=report)
    contexts = []
    try:
        context = _new_context(options)
        contexts.append(context)
        stopped = run_pass(context, report.plugins, pyblish_targets, partial)
        if repair and any(r["error"] is not None and _repairable(r["plugin"]) for r in context.data.get("results", [])):
            result.first_pass = [p.to_json() | {"instance": i} for i, p in _problems(context)]
            result.repairs = _apply_repairs(context)
            # The overrides dict carries name repairs into the new pass; the record lists what was repaired.
            context = _new_context(options | {"repairs_applied": result.repairs})
            contexts.append(context)
            stopped = run_pass(context, report.plugins, pyblish_targets, partial)
        result.stopped = stopped
        _fill(result, context)
    finally:
        for ctx in contexts:
            for instance in ctx:
                remove_staging(instance.data.get("staging"))
    result.duration_s = time.perf_counter() - t0
    return result


def _problems(context: Any) -> list[tuple[str | None, Problem]]:
    out = []
    for r in context.data.get("results", []):
        if r["error"] is None:
            continue
        plugin = r["plugin"]
        repair = getattr(plugin, "repair_description", "") if _repairable(plugin) else ""
        instance = r["instance"]
        name = instance.data.get("name") if instance is not None else None
        message = str(r["error"]) or type(r["error"]).__name__
        if r["action"] is not None:
            message = f"repair failed: {message}"
        out.append((name, Problem(plugin.__name__, _stage(plugin.order), message, repair,
                                  getattr(plugin, "_filmai_file", ""))))
    return out


def _fill(result: PublishResult, context: Any) -> None:
    by_name: dict[str, InstanceReport] = {}
    for instance in context:
        d = instance.data
        rep = InstanceReport(name=d.get("name", ""), family=d.get("family", ""), label=d.get("label", ""),
                             published=d.get("published"), summary=_summary(d))
        by_name[rep.name] = rep
        result.instances.append(rep)
    for name, problem in _problems(context):
        if name is not None and name in by_name:
            by_name[name].problems.append(problem)
        else:
            result.problems.append(problem)
    for r in context.data.get("results", []):
        instance = r["instance"]
        for rec in r["records"]:
            if rec.levelno >= logging.WARNING:
                text = f"{r['plugin'].__name__}: {rec.getMessage()}"
                if instance is not None and instance.data.get("name") in by_name:
                    by_name[instance.data["name"]].warnings.append(text)
    failing = [i.name for i in result.instances if i.problems]
    for rep in result.instances:
        if rep.published is None and not rep.problems:
            if failing:
                rep.held_by = (f"its own checks passed; held back because {', '.join(failing)} failed (a publish "
                               "lands whole: fix that, publish it on its own, or use --partial)")
            elif result.problems or result.stopped:
                rep.held_by = f"the publish stopped before {result.stopped or 'integration'} (see the problems below)"
    if not result.instances and not result.problems:
        if not result.discovery.plugins:
            result.problems.append(Problem("filmai", "collect", "no publish plug-ins found in "
                                           f"{', '.join(result.discovery.paths) or 'no folders'} (is the 'publish' "
                                           "pack left out by FILMAI_PLUGINS_ALLOW or FILMAI_PLUGINS_BLOCK?)"))
        else:
            result.problems.append(Problem("filmai", "collect", "nothing to publish was found"))


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.get("family") == "render":
        out["pattern"] = d.get("pattern")
        out["frames"] = format_frames(d.get("frames_expected") or [])
        desc = [d.get("node_label") or "", f"frames {out['frames']}" if out["frames"] else ""]
        if d.get("resolution"):
            desc.append(f"{d['resolution'][0]}x{d['resolution'][1]} {','.join(d.get('channels') or [])}")
        if d.get("colorspace"):
            desc.append(d["colorspace"])
        out["description"] = ", ".join(x for x in desc if x)
    elif d.get("family") == "mlmodel":
        out["checkpoint"] = d.get("checkpoint")
        out["description"] = d.get("checkpoint") or ""
    elif d.get("family") == "editorial":
        out["timeline"] = d.get("timeline")
        out["description"] = d.get("timeline") or ""
    else:
        out["path"] = d.get("path")
        out["description"] = d.get("path") or ""
    return out
