"""Farm engines: run an expanded job's tasks locally or on a Dask cluster.

Each task runs as its own ``filmai`` process, exactly the command line the OpenJD template gives a
farm worker, so a chunk on Dask behaves like a chunk on Deadline Cloud (a crash in one chunk
cannot take a worker down with it, and ``--skip-existing`` sees the same files). A failed task is
retried up to ``retries`` times, except when it failed for a reason a retry cannot fix (exit 2:
bad input; 130: cancelled). A step runs only after every task of the steps it depends on
succeeded, so the publish step never sees a partial render.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..atomic import atomic_open
from ..errors import BadInput
from ..files import now_iso
from .job import ExpandedJob, Task

#: Exit codes that say "this will fail again": bad input/usage, cancelled.
NO_RETRY_EXIT_CODES = (2, 130, 143)
_TAIL = 4000
# Task processes running in this process (local engine, Dask LocalCluster threads), so a cancel can
# reach them: a farm run that is stopped must not leave chunks rendering on their own.
_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
_cancelled = threading.Event()


def cancel_running(sig: int = signal.SIGTERM) -> int:
    """Stop starting tasks and signal the running ones (SIGTERM: each finishes the frames it is writing,
    atomically, and exits 130). Returns how many processes were signalled."""
    _cancelled.set()
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
    return len(procs)


def reset_cancel() -> None:
    _cancelled.clear()


@dataclass
class Attempt:
    exit_code: int
    seconds: float
    host: str
    started: str
    log: str
    tail: str = ""


@dataclass
class TaskResult:
    step: str
    task: str
    status: str  # succeeded | failed | skipped (a dependency failed)
    attempts: list[Attempt] = field(default_factory=list)
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.step}/{self.task}"


class TaskFailed(Exception):
    """A task failed on its last attempt; carries the TaskResult (as a dict, so it pickles anywhere)."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(result)
        self.result = result

    def __str__(self) -> str:
        r = self.result
        last = r["attempts"][-1] if r["attempts"] else {}
        return f"{r['step']}/{r['task']} failed after {len(r['attempts'])} attempt(s), exit code {last.get('exit_code')}"


@dataclass
class FarmResult:
    engine: str
    job: str
    job_id: str
    results: list[TaskResult]
    wall_s: float
    log_dir: str
    cluster: str = ""

    @property
    def ok(self) -> bool:
        return all(r.status == "succeeded" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "engine": self.engine, "job": self.job, "job_id": self.job_id,
                "cluster": self.cluster, "wall_s": round(self.wall_s, 3), "log_dir": self.log_dir,
                "tasks": [asdict(r) | {"key": r.key} for r in self.results]}

    def format(self) -> str:
        lines = [f"farm job {self.job!r} ({self.job_id}) on {self.engine}{' ' + self.cluster if self.cluster else ''}: "
                 f"{sum(r.status == 'succeeded' for r in self.results)}/{len(self.results)} tasks succeeded "
                 f"in {self.wall_s:.1f} s"]
        for r in self.results:
            tries = f", {len(r.attempts)} attempts" if len(r.attempts) > 1 else ""
            took = f" {r.attempts[-1].seconds:.1f} s" if r.attempts else ""
            lines.append(f"  {r.status:<9} {r.key}{took}{tries}" + (f"  — {r.reason}" if r.reason else ""))
            if r.status == "failed" and r.attempts:
                tail = r.attempts[-1].tail.strip().splitlines()[-3:]
                lines += [f"      | {t}" for t in tail]
                lines.append(f"      log: {r.attempts[-1].log}")
        lines.append(f"logs: {self.log_dir}")
        lines.append("result: " + ("succeeded" if self.ok else "FAILED"))
        return "\n".join(lines)


def run_task(task: Task, retries: int, log_dir: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one task's process until it succeeds or its retries are used up; each attempt logs to a
    file. Returns the TaskResult as a dict; raises TaskFailed when the last attempt failed."""
    result = TaskResult(task.step, task.name, "failed")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task.key)
    full_env = {**os.environ, **(env or {}), **task.env, "FILMAI_FARM_TASK": task.key}
    os.makedirs(log_dir, exist_ok=True)  # a remote worker may be the first to write there
    for attempt in range(retries + 1):
        if _cancelled.is_set():
            result.reason = "cancelled"
            break
        log = os.path.join(log_dir, f"{safe}.attempt{attempt + 1}.log")
        started, t0 = now_iso(), time.perf_counter()
        with open(log, "w", encoding="utf-8") as out:
            out.write(f"# {' '.join(task.argv)}\n# host {socket.gethostname()} started {started}\n")
            out.flush()
            try:
                proc = subprocess.Popen(task.argv, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                        stdin=subprocess.DEVNULL)
            except OSError as exc:  # the command itself is missing: no retry will find it
                out.write(f"cannot start {task.argv[0]!r}: {exc}\n")
                code = 127
            else:
                with _running_lock:
                    _running.add(proc)
                try:
                    code = proc.wait()
                finally:
                    with _running_lock:
                        _running.discard(proc)
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-_TAIL:]
        result.attempts.append(Attempt(code, round(time.perf_counter() - t0, 3), socket.gethostname(), started, log,
                                       tail if code else ""))
        if code == 0:
            result.status = "succeeded"
            return asdict(result)
        if code in NO_RETRY_EXIT_CODES or code == 127 or _cancelled.is_set():
            result.reason = "cancelled" if _cancelled.is_set() else {
                2: "bad input: not retried", 130: "cancelled", 143: "cancelled (SIGTERM)",
                127: "command not found"}.get(code, "")
            break
    raise TaskFailed(asdict(result))


def _result_from(data: dict[str, Any]) -> TaskResult:
    return TaskResult(data["step"], data["task"], data["status"], [Attempt(**a) for a in data["attempts"]],
                      data.get("reason", ""))


def _check(workers: int, retries: int) -> None:
    if workers < 1:
        raise BadInput("--workers must be at least 1")
    if retries < 0:
        raise BadInput("--retries must be 0 or more")


def default_log_dir(job: ExpandedJob, job_id: str, output_dir: str | None) -> str:
    base = output_dir or os.getcwd()
    return os.path.join(base, ".filmai-farm", job_id)


def new_job_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class LocalEngine:
    """Tasks as local processes, ``workers`` at a time; steps in dependency order."""

    name = "local"

    def __init__(self, workers: int = 1, retries: int = 1, **_: Any):
        _check(workers, retries)
        self.workers, self.retries = workers, retries

    def run(self, job: ExpandedJob, *, log_dir: str, job_id: str,
            on_result: Callable[[TaskResult], None] | None = None) -> FarmResult:
        t0 = time.perf_counter()
        env = {"FILMAI_FARM_ENGINE": self.name, "FILMAI_FARM_JOB_ID": job_id}
        results: dict[str, list[TaskResult]] = {}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for step in job.steps:
                broken = [d for d in step.depends_on if any(r.status != "succeeded" for r in results.get(d, []))]
                if broken:
                    results[step.name] = [TaskResult(t.step, t.name, "skipped", reason=f"{', '.join(broken)} failed")
                                          for t in step.tasks]
                    for r in results[step.name]:
                        if on_result:
                            on_result(r)
                    continue

                def one(task: Task) -> TaskResult:
                    try:
                        r = _result_from(run_task(task, self.retries, log_dir, env))
                    except TaskFailed as exc:
                        r = _result_from(exc.result)
                    if on_result:
                        on_result(r)
                    return r

                results[step.name] = list(pool.map(one, step.tasks))
        flat = [r for s in job.steps for r in results[s.name]]
        return FarmResult(self.name, job.name, job_id, flat, time.perf_counter() - t0, log_dir,
                          f"{self.workers} process{'es' if self.workers > 1 else ''}")


class DaskEngine:
    """Tasks on a Dask cluster: ``scheduler`` (``tcp://host:8786``) or a LocalCluster of ``workers``
    single-threaded workers. A task waits for the futures of every task in the steps it depends
    on; when one of them failed it is never started."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 2, retries: int = 1, **_: Any):
        _check(workers, retries)
        self.scheduler, self.workers, self.retries = scheduler, workers, retries

    def _client(self):
        from .deps import require

        distributed = require("distributed", "the dask farm engine")
        Client, LocalCluster = distributed.Client, distributed.LocalCluster

        if self.scheduler:
            try:
                return Client(self.scheduler, timeout="10s"), None
            except OSError as exc:
                raise BadInput(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
        # Threads are enough: each task is its own filmai process, the worker only waits for it.
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=False,
                               dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster

    def run(self, job: ExpandedJob, *, log_dir: str, job_id: str,
            on_result: Callable[[TaskResult], None] | None = None) -> FarmResult:
        t0 = time.perf_counter()
        client, cluster = self._client()
        from distributed import wait

        env = {"FILMAI_FARM_ENGINE": self.name, "FILMAI_FARM_JOB_ID": job_id}
        try:
            where = self.scheduler or f"LocalCluster({self.workers} workers)"
            futures: dict[str, list[Any]] = {}
            order: list[tuple[Task, Any]] = []
            for step in job.steps:
                deps = [f for d in step.depends_on for f in futures[d]]
                futures[step.name] = []
                for task in step.tasks:
                    fut = client.submit(_run_after, task, self.retries, log_dir, env, deps, pure=False,
                                        key=f"filmai-{job_id}-{task.key}")
                    futures[step.name].append(fut)
                    order.append((task, fut))
            wait([f for _, f in order])
            results = []
            for task, fut in order:
                if fut.status == "finished":
                    r = _result_from(fut.result())
                else:
                    exc = fut.exception()
                    if isinstance(exc, TaskFailed) and exc.result["step"] == task.step and exc.result["task"] == task.name:
                        r = _result_from(exc.result)
                    elif isinstance(exc, TaskFailed):  # the dependency's failure, passed on: never ran
                        r = TaskResult(task.step, task.name, "skipped",
                                       reason=f"{exc.result['step']}/{exc.result['task']} failed")
                    else:
                        r = TaskResult(task.step, task.name, "failed", reason=f"{type(exc).__name__}: {exc}")
                if on_result:
                    on_result(r)
                results.append(r)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return FarmResult(self.name, job.name, job_id, results, time.perf_counter() - t0, log_dir, where)


def _run_after(task: Task, retries: int, log_dir: str, env: dict[str, str], dependencies: list[Any]) -> dict[str, Any]:
    # Dask hands over the dependencies' results once they all succeeded; they only order the work.
    return run_task(task, retries, log_dir, env)


def filmai_command() -> str:
    """The filmai executable of this installation (next to this Python), else ``filmai`` on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "filmai" + (".exe" if os.name == "nt" else ""))
    if os.path.isfile(here):
        return here
    return shutil.which("filmai") or "filmai"


def get_engine(name: str, app: Any = None, **options: Any):
    from ..app import app_or_default

    engines = app_or_default(app).farm_engines
    if name not in engines:
        hint = "" if engines else " (is the 'farm' pack left out by FILMAI_PLUGINS_ALLOW or FILMAI_PLUGINS_BLOCK?)"
        raise BadInput(f"unknown farm engine {name!r} (registered: {', '.join(sorted(engines)) or 'none'}){hint}")
    return engines[name](**options)


def write_job_record(log_dir: str, result: FarmResult, template: dict[str, Any], values: dict[str, str]) -> str:
    path = os.path.join(log_dir, "job.json")
    with atomic_open(path) as f:
        json.dump({"result": result.to_json(), "parameters": values, "template": template}, f, indent=2, default=str)
    return path


__all__ = ["LocalEngine", "DaskEngine", "FarmResult", "TaskResult", "TaskFailed", "run_task", "get_engine"]
