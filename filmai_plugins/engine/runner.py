"""Running and training nodes: the one execution path behind the CLI, the Python API, hosts and farms.

Frame-scope nodes run through a pipeline: frames are read ahead on threads, processed on the
calling thread, and written behind on threads, so file I/O overlaps compute. Every output is
written atomically; cancel (Ctrl-C, SIGTERM, a host's button) lets writes under way finish and
stops before the next frame, so no partial frame is ever left.
"""
from __future__ import annotations

import collections
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Mapping

from ..app import app_or_default
from ..atomic import remove_stale_temps
from ..errors import BadInput, Cancelled, FilmAIError, FrameError, RunFailure
from ..files import file_sha256, now_iso, write_json_atomic
from ..frames.image import Frame
from ..frames.sequence import SequencePattern, format_frames, parse_frames
from ..frames.timecode import header_timing
from ..guard import OutputGuard, port_label
from ..manifest import (
    SCHEMA,
    host_info,
    manifest_path_for,
    versions,
    write_train_record,
)
from ..node import Node, Port
from .cancel import CancelToken, SignalInterrupt
from .context import IOOptions, RunContext, TrainContext
from .progress import Progress

PortArg = str | Mapping[str, str] | None




def _bind(ports: tuple[Port, ...], given: PortArg, kind: str, node_id: str, required: bool = True) -> dict[str, str]:
    if given is None or given == "":
        bound: dict[str, str] = {}
    elif isinstance(given, Mapping):
        bound = {str(k): os.fspath(v) for k, v in given.items() if v}
    else:
        if not ports:
            raise BadInput(f"node {node_id} has no {kind}")
        bound = {ports[0].name: os.fspath(given)}
    names = {p.name for p in ports}
    unknown = set(bound) - names
    if unknown:
        raise BadInput(f"node {node_id}: unknown {kind} {', '.join(sorted(unknown))} (has: {', '.join(sorted(names)) or 'none'})")
    if required:
        missing = [p.name for p in ports if not p.optional and p.name not in bound]
        if missing:
            flag = "--input" if kind == "input" else "--output"
            raise BadInput(f"node {node_id} needs {kind} {', '.join(missing)} ({flag})")
    return bound


def _check_output_folder(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create output folder {folder}: {exc.strerror or exc}") from None
    probe = os.path.join(folder, f".filmai-write-test-{os.getpid()}")
    try:
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise BadInput(f"output folder {folder} is not writable: {exc.strerror or exc}") from None


def _guard_run(cls: type[Node], inputs: dict[str, str], outputs: dict[str, str], frames: list[int],
               model: str | None, manifest: str | None) -> None:
    """Refuse, before anything is written, an output that is an input, two outputs that are one file, and a
    single file for a multi-frame run (``guard.OutputGuard``)."""
    guard = OutputGuard(f"filmai run {cls.id}")
    for name, pattern in inputs.items():
        guard.read_sequence(pattern, port_label("input", name), frames)
    if model:
        guard.read(model, "the model")
    frame_ports = {p.name for p in cls.outputs if p.type == "Frames"}
    for name, pattern in outputs.items():
        label = port_label("output", name)
        if name in frame_ports and cls.scope == "frame":
            guard.write_sequence(pattern, label, frames)
        elif SequencePattern(pattern).is_sequence:
            for iname, ipattern in inputs.items():
                if SequencePattern(ipattern).is_sequence and os.path.realpath(ipattern) == os.path.realpath(pattern):
                    raise BadInput(f"filmai run {cls.id}: {label} {pattern} is {port_label('input', iname)}; "
                                   "write to another name or folder (nothing was written)")
        else:
            guard.write(pattern, label)
    if manifest:
        guard.write(manifest, "the manifest")
    guard.check()


def _load_model(cls: type[Node], model: str | None, stage: str,
                params: Mapping[str, Any] | None = None) -> tuple[Any, str | None, str | None]:
    """(checkpoint or None, path, sha256). Checkpoint nodes get a verified Checkpoint object."""
    path = model or (cls.default_model_for(dict(params or {})) if stage == "run" else None)
    if not path:
        if cls.model == "required" and stage == "run":
            raise BadInput(f"node {cls.id} needs a model: --model FILE")
        return None, None, None
    if cls.model == "none":
        raise BadInput(f"node {cls.id} takes no model (--model was given)")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInput(f"model file not found: {path}")
    if cls.model_format == "checkpoint":
        ckpt = cls.load_model(path)
        return ckpt, path, ckpt.sha256
    return None, path, file_sha256(path)


def _resolve_device(cls: type[Node], device: str) -> str | None:
    if not cls.needs_torch:
        return None
    from .device import import_torch, resolve_device

    import_torch(cls.id)
    return resolve_device(device)


def _resolve_input_frames(cls: type[Node], inputs: dict[str, str], frames: Any) -> list[int]:
    """Frames to process: the spec, else those on disk for the first sequence input; missing ones raise."""
    result: list[int] | None = None
    for p in cls.inputs:
        if p.name not in inputs:
            continue
        seq = SequencePattern(inputs[p.name])
        if p.type == "Frames" and seq.is_sequence:
            resolved = seq.resolve_frames(frames)
            if result is None:
                result = resolved
        elif not os.path.exists(seq.pattern):
            raise BadInput(f"input {p.name}: {seq.pattern} not found")
    if result is None:
        result = parse_frames(frames) if frames not in (None, "") else []
    return result


class _Run:
    """Book-keeping shared by run and train: progress, cancel, manifest."""

    def __init__(self, app: Any, cls: type[Node], kind: str, progress: str | Progress, on_event: Callable | None,
                 cancel: CancelToken | None):
        self.cls = cls
        self.kind = kind
        self.progress = progress if isinstance(progress, Progress) else Progress(
            progress, node=cls.id, on_event=on_event, observers=app.emit)
        self.cancel = cancel or CancelToken()
        self.started = now_iso()
        self.t0 = time.perf_counter()

    def manifest(self, ctx: RunContext, status: str, error: str | None, skipped: list[int],
                 extra: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "kind": self.kind,
            "status": status,
            "node": {"id": self.cls.id, "version": self.cls.version, "family": self.cls.family},
            "params": ctx.params_json(),
            "params_hash": ctx.params_hash,
            "io": ctx.io.to_json(),
            "inputs": {k: os.path.abspath(v) for k, v in ctx.inputs.items()},
            "frames": format_frames(ctx.frames),
            "model": {"path": os.path.abspath(ctx.model_path), "sha256": ctx.model_sha256} if ctx.model_path else None,
            "timings": {"started": self.started, "finished": now_iso(),
                        "wall_s": round(time.perf_counter() - self.t0, 4), **ctx.timings.to_json()},
            "versions": versions(),
            "host": host_info(ctx.device),
            "error": error,
            "warnings": list(self.progress.warnings),
        }
        if self.kind == "run":
            outs = {}
            for port, pat in ctx.outputs.items():
                written = ctx.written.get(port, [])
                seq = SequencePattern(pat)
                entry: dict[str, Any] = {"pattern": os.path.abspath(pat)}
                if seq.is_sequence:
                    entry["frames_written"] = format_frames([f for f in written if isinstance(f, int)])
                    entry["frames_skipped"] = format_frames(skipped)
                    entry["count"] = len(written)
                else:
                    entry["files"] = [os.path.abspath(f) for f in written]
                if ctx.written_colorspace.get(port):  # what a host sets on the result it loads
                    entry["colorspace"] = ctx.written_colorspace[port]
                if ctx.checksums.get(port):
                    entry["checksums"] = dict(sorted(ctx.checksums[port].items()))
                outs[port] = entry
            data["outputs"] = outs
            keyed = self.cls.keyed_params(ctx.params)
            if keyed:
                data["keys"] = {name: keys.to_json()["keys"] for name, keys in keyed.items()}
            if ctx.handles:
                data["frames_needed"] = ctx.handles
            timecode = _timecode(ctx)
            if timecode:
                data["timecode"] = timecode
        data.update(extra)
        return data


def run_node(node_id: str, *, input: PortArg = None, output: PortArg = None, frames: Any = None,
             model: str | None = None, params: Mapping[str, Any] | None = None, device: str = "auto",
             progress: str | Progress = "none", skip_existing: bool = False,
             io: IOOptions | Mapping[str, Any] | None = None, on_event: Callable[[dict], None] | None = None,
             cancel: CancelToken | None = None, manifest: str | None = None, prefetch: int = 2,
             app: Any = None) -> dict[str, Any]:
    """Run a node over a frame range (or a whole sequence) and return its manifest.

    ``app`` is the host's app object (``filmai_plugins.app.App``); None uses the process's default
    headless app. Params may carry keys for animatable params (``{"mix": "1001:0,1100:1"}``).
    """
    app = app_or_default(app)
    cls = app.get(node_id)
    io_opts = io if isinstance(io, IOOptions) else IOOptions.from_mapping(io)  # type: ignore[arg-type]
    node = cls(params)
    resolved = node.resolved
    inputs = _bind(cls.inputs, input, "input", cls.id)
    outputs = _bind(cls.outputs, output, "output", cls.id)
    frame_list = _resolve_input_frames(cls, inputs, frames)
    if cls.scope == "frame" and not frame_list and any(SequencePattern(v).is_sequence for v in outputs.values()):
        raise BadInput(f"node {cls.id}: no frames to process (give --frames)")
    first_out = next(iter(outputs.values()), None)
    manifest_path = manifest or (manifest_path_for(first_out, frame_list) if first_out else None)
    _guard_run(cls, inputs, outputs, frame_list, model, manifest_path)
    run = _Run(app, cls, "run", progress, on_event, cancel)
    ctx = RunContext(app=app, node_cls=cls, params=resolved, inputs=inputs, outputs=outputs, frames=frame_list,
                     io=io_opts, progress=run.progress, cancel=run.cancel)
    if frame_list:
        node.params = cls.params_at(resolved, frame_list[0])
    ckpt, model_path, model_sha = _load_model(cls, model, "run", node.params)
    ctx.model, ctx.model_path, ctx.model_sha256 = ckpt, model_path, model_sha
    ctx.check_colour()
    if isinstance(getattr(ckpt, "meta", None), dict):  # the space the model works in must be in the run's config
        ctx.model_colorspace(cls.model_colorspace(ckpt.meta), model_path or "the model")
    node.validate(ctx)  # before any output folder, frame or manifest is written
    ctx.device = _resolve_device(cls, device)
    ctx.params_hash = cls.params_hash({**resolved, "_io": io_opts.to_json(),
                                       "_inputs": sorted(os.path.abspath(v) for v in inputs.values())}, model_sha)
    started = time.time()
    for path in outputs.values():
        _check_output_folder(path)
        remove_stale_temps(os.path.dirname(os.path.abspath(path)), older_than=started)

    status, error, skipped = "complete", None, []
    failure: BaseException | None = None
    try:
        if cls.scope == "frame":
            skipped = _run_frames(node, ctx, skip_existing, prefetch)
        else:
            run.progress.start(total=len(frame_list) or 1, unit="frame" if frame_list else "step",
                               frames=format_frames(frame_list))
            node.setup(ctx)
            try:
                node.run_sequence(ctx)
            finally:
                node.teardown(ctx)
    except (Exception, SignalInterrupt, KeyboardInterrupt) as exc:
        status, error, failure = _ended(exc, run, ctx, f"node {cls.id} failed")
    data = run.manifest(ctx, status, error, skipped, {"results": ctx.extra} if ctx.extra else {})
    if manifest_path:
        write_json_atomic(manifest_path, data)
        data["manifest_path"] = manifest_path
    if status == "complete":
        run.progress.done(manifest=manifest_path, frames_written=len(ctx.written.get(next(iter(outputs), ""), [])),
                          frames_skipped=len(skipped), wall_s=data["timings"]["wall_s"])
        return data
    if status == "cancelled":
        run.progress.cancelled(error or "cancelled", manifest=manifest_path)
        raise Cancelled(f"{cls.id}: cancelled ({error}); {_written_summary(ctx)}; manifest {manifest_path}",
                        run.cancel.exit_code)
    assert failure is not None
    run.progress.error(error or "failed", failure.exit_code if isinstance(failure, FilmAIError) else 1)
    raise failure


def _ended(exc: BaseException, run: "_Run", ctx: RunContext, failed: str) -> tuple[str, str, BaseException | None]:
    """How a run or a training ended when ``exc`` escaped it: (status, error, the failure to raise or None)."""
    if isinstance(exc, SignalInterrupt):
        run.cancel.cancel(exc.reason, exc.exit_code)
        return "cancelled", exc.reason, None
    if isinstance(exc, KeyboardInterrupt):
        run.cancel.cancel("interrupted")
        return "cancelled", "interrupted", None
    if isinstance(exc, Cancelled):
        run.cancel.cancel(str(exc), exc.exit_code)
        return "cancelled", str(exc), None
    if isinstance(exc, FilmAIError):
        return "failed", str(exc), exc
    if run.cancel.cancelled:  # a signal surfacing as the interrupted library call's own error
        return "cancelled", run.cancel.reason or "interrupted", None
    # a node's own bug or a library failure: exit code 1, with the reason
    error = f"{type(exc).__name__}: {exc}{_hint(exc, ctx)}"
    failure = RunFailure(f"{failed}: {error}")
    failure.__cause__ = exc
    return "failed", error, failure


def _timecode(ctx: RunContext) -> dict[str, Any]:
    """The plate's SMPTE time code and rate at the first frame written, as its header declares them."""
    frame = ctx.first_written
    timing = header_timing(frame.attributes) if frame is not None else {}
    return {**timing, "frame": frame.number} if timing else {}


def _hint(exc: BaseException, ctx: RunContext) -> str:
    """What to try for failures with a known remedy (a GPU out of memory)."""
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return (f" -- the {ctx.device or 'device'} ran out of memory: lower --tile-size (now {ctx.io.tile_size}), "
                "set half=true where the node has it, or run on --device cpu")
    return ""


def _written_summary(ctx: RunContext) -> str:
    n = sum(len(v) for v in ctx.written.values())
    return f"{n} complete output{'s' if n != 1 else ''} kept, no partial files"


def _existing_is_current(app: Any, path: str, number: int, params_hash: str) -> bool:
    """An output frame counts as done only if complete and made by the same node, params and model."""
    if not os.path.isfile(path):
        return False
    try:
        prov = app.read_provenance(path)
        if prov.get("paramsHash") != params_hash:
            return False
        if prov.get("frame") not in (None, str(number)):  # another frame copied over this one ("hold" hacks)
            return False
        app.read_frame(path, frame=number)  # decodes every pixel: a truncated file fails here
    except FilmAIError:
        return False
    return True


def _input_windows(node: Node, ctx: RunContext, in_port: str | None, todo: list[Any]) -> dict[Any, list[Any]]:
    """For each output frame to do, the input frames it needs: ``Node.frames_needed`` clamped to the input
    sequence on disk (frames before its first or after its last are left out, and recorded). A frame the
    window needs inside the sequence that is missing on disk is an error naming it."""
    if in_port is None or todo == [None]:
        return {f: [f] for f in todo}
    needs = {f: [int(n) for n in node.frames_needed(f)] for f in todo}
    if all(needs[f] == [f] for f in todo):
        return needs
    pattern = SequencePattern(ctx.inputs[in_port])
    on_disk = ctx.frames_on_disk(in_port)
    present = set(on_disk)
    first, last = (on_disk[0], on_disk[-1]) if on_disk else (min(todo), max(todo))
    clamped: set[int] = set()
    windows: dict[Any, list[Any]] = {}
    for f, wanted in needs.items():
        inside = [n for n in dict.fromkeys(wanted) if first <= n <= last]
        clamped.update(n for n in wanted if not first <= n <= last)
        missing = [n for n in inside if n not in present]
        if missing:
            raise FrameError(f"missing: output frame {f} needs input frames {format_frames(wanted)} "
                             f"({type(node).id})", pattern.path(missing[0]), missing[0])
        if f not in inside:
            inside.append(f)
        windows[f] = sorted(inside)
    read = sorted({n for w in windows.values() for n in w})
    extra = sorted(set(read) - set(ctx.frames))
    ctx.handles = {"read": format_frames(read), "outside_range": format_frames(extra),
                   "clamped": format_frames(sorted(clamped))}
    return windows


def _run_frames(node: Node, ctx: RunContext, skip_existing: bool, prefetch: int) -> list[int]:
    """The frame pipeline: input frames are read ahead on threads (each once, even when the windows of
    several output frames share it), each output is processed on this thread with its window of input
    frames, and written behind on threads. At most ``prefetch`` reads beyond the current window and
    ``prefetch`` writes are in flight, so memory stays bounded whatever the sequence length."""
    cls = type(node)
    out_port = next(iter(ctx.outputs))
    out_pattern = SequencePattern(ctx.outputs[out_port])
    frames = ctx.frames or [None]  # type: ignore[list-item]
    todo: list[Any] = list(frames)
    skipped: list[int] = []
    progress = ctx.progress
    if skip_existing and out_pattern.is_sequence:
        with ThreadPoolExecutor(max_workers=4) as pool:
            checks = list(pool.map(lambda f: _existing_is_current(ctx.app, out_pattern.path(f), f, ctx.params_hash),
                                   frames))
        skipped = [f for f, ok in zip(frames, checks) if ok]
        todo = [f for f, ok in zip(frames, checks) if not ok]
    progress.start(total=len(frames), frames=format_frames([f for f in frames if f is not None]),
                   todo=len(todo), output=ctx.outputs[out_port])
    for i, f in enumerate(skipped):
        progress.frame(f, out_pattern.path(f), i + 1, len(frames), 0.0, skipped=True)
    done = len(skipped)
    if not todo:
        return skipped

    in_port = next((p.name for p in node.inputs if p.name in ctx.inputs and p.type == "Frames"), None)
    channels = node.input_channels(in_port) if in_port else None
    windows = _input_windows(node, ctx, in_port, todo)
    # every input frame in the order it is first needed, and the last output that needs it
    read_order: list[Any] = list(dict.fromkeys(n for f in todo for n in windows[f]))
    position = {n: i for i, n in enumerate(read_order)}
    last_use: dict[Any, int] = {}
    for i, f in enumerate(todo):
        for n in windows[f]:
            last_use[n] = i
    node.params = cls.params_at(ctx.params, todo[0])
    node.setup(ctx)
    reads: dict[Any, Future] = {}
    writes: collections.deque[tuple[Any, float, Future]] = collections.deque()
    rpool = ThreadPoolExecutor(max_workers=max(1, prefetch), thread_name_prefix="filmai-read")
    wpool = ThreadPoolExecutor(max_workers=max(1, prefetch), thread_name_prefix="filmai-write")
    next_read = 0
    reference: tuple[Any, Any] | None = None  # (display window, frame number) of the first frame read

    def read_until(index: int) -> None:
        """Submit reads up to position ``index`` of the read order (inclusive)."""
        nonlocal next_read
        while next_read < len(read_order) and next_read <= index:
            n = read_order[next_read]
            reads[n] = (rpool.submit(ctx.read_input, n, in_port, require=channels) if in_port
                        else _done_future(None))
            next_read += 1

    def finish_write() -> None:
        nonlocal done
        f, t_start, fut = writes.popleft()
        path = fut.result()
        done += 1
        progress.frame(f, path, done, len(frames), time.perf_counter() - t_start)

    def checked(fut: Future, n: Any) -> Frame | None:
        nonlocal reference
        frame = fut.result()
        if frame is not None:
            if reference is None:
                reference = (frame.display_window, frame.number)  # not the frame: it would stay in memory
            elif frame.display_window != reference[0]:
                raise FrameError(
                    f"mixed resolutions: display window {frame.display_window[2]}x{frame.display_window[3]} "
                    f"but frame {reference[1]} is {reference[0][2]}x{reference[0][3]}",
                    frame.path, n)
        return frame

    try:
        for i, f in enumerate(todo):
            ctx.check_cancel()
            # this window's frames, plus ``prefetch`` more to read ahead while it computes
            needed_last = max(position[n] for n in windows[f])
            read_until(needed_last + prefetch)
            t_start = time.perf_counter()
            window = {n: checked(reads[n], n) for n in windows[f]}
            frame = window[f]
            ctx.window = window  # type: ignore[assignment]
            node.params = cls.params_at(ctx.params, f)
            t0 = time.perf_counter()
            result = node.process(frame, ctx)  # type: ignore[arg-type]
            ctx.timings.add("compute_s", time.perf_counter() - t0)
            ctx.window = {}
            if not isinstance(result, Frame):
                raise RunFailure(f"node {ctx.node_id}: process() returned {type(result).__name__}, not a Frame")
            if ctx.first_written is None:
                ctx.first_written = result.without_pixels()  # its header: the pixels must not stay in memory
            for n in windows[f]:
                if last_use[n] <= i:
                    reads.pop(n, None)  # no later output needs it: let it go
            writes.append((f, t_start, wpool.submit(ctx.write_output, result, f, out_port,
                                                    frame.path if frame is not None else None)))
            frame = result = window = None  # held by the write from here: a finished write frees them
            while len(writes) > prefetch:
                finish_write()
        while writes:
            finish_write()
    finally:
        ctx.window = {}
        for fut in reads.values():
            fut.cancel()
        rpool.shutdown(wait=True, cancel_futures=True)
        # Writes already started complete (atomic rename) so a cancel never leaves a partial frame.
        wpool.shutdown(wait=True)
        for f, _, fut in writes:
            if fut.done() and fut.exception() is None:
                done += 1
                progress.frame(f, fut.result(), done, len(frames), 0.0)
        node.teardown(ctx)
    return skipped


_END = object()


def _done_future(value: Any) -> Future:
    fut: Future = Future()
    fut.set_result(value)
    return fut


# ----------------------------------------------------------------------------------------------


def train_node(node_id: str, *, input: PortArg = None, target: str | None = None, frames: Any = None,
               out: str, params: Mapping[str, Any] | None = None, model: str | None = None,
               device: str = "auto", progress: str | Progress = "none",
               io: IOOptions | Mapping[str, Any] | None = None, on_event: Callable[[dict], None] | None = None,
               cancel: CancelToken | None = None, nproc: int = 1, rank: int = 0, world_size: int = 1,
               app: Any = None) -> dict[str, Any]:
    """Train a node; writes the checkpoint ``out`` and a ``*.train.manifest.json`` beside it."""
    app = app_or_default(app)
    cls = app.get(node_id)
    if not cls.trainable:
        raise BadInput(f"node {cls.id} is not trainable")
    io_opts = io if isinstance(io, IOOptions) else IOOptions.from_mapping(io)  # type: ignore[arg-type]
    resolved = cls.resolve_params(params, "train")
    inputs = _bind(cls.inputs, input, "input", cls.id)
    if target:
        inputs["target"] = os.fspath(target)
    if not out:
        raise BadInput("training needs --out CKPT")
    out = os.fspath(out)
    if nproc > 1:
        if not cls.distributed:
            raise BadInput(f"node {cls.id} does not support distributed training (--nproc)")
        from ..training.distributed import launch  # provided by the training package

        return launch(cls, input=input, target=target, frames=frames, out=out, params=params,
                      model=model, device=device, progress=progress, io=io_opts, nproc=nproc, train=train_node)
    frame_list = _resolve_input_frames(cls, inputs, frames)
    manifest_path = manifest_path_for(out, None, kind="train")
    guard = OutputGuard(f"filmai train {cls.id}")
    for name, pattern in inputs.items():
        guard.read_sequence(pattern, port_label("input", name), frame_list)
    if model:
        guard.read(model, "the initial model")
    guard.write(out, "the checkpoint (--out)").write(manifest_path, "the training manifest")
    guard.write_folder(os.path.splitext(os.path.abspath(out))[0] + ".train", "training folder")
    guard.check()
    init, init_path, init_sha = _load_model(cls, model, "train")
    device_name = _resolve_device(cls, device)
    _check_output_folder(out)
    remove_stale_temps(os.path.dirname(os.path.abspath(out)))
    run = _Run(app, cls, "train", progress, on_event, cancel)
    ctx = TrainContext(app=app, node_cls=cls, params=resolved, inputs=inputs, outputs={}, frames=frame_list, io=io_opts,
                       progress=run.progress, cancel=run.cancel, device=device_name, model=None,
                       model_path=None, model_sha256=None,
                       params_hash=cls.params_hash(resolved, init_sha), out=out, init_model=init,
                       rank=rank, world_size=world_size)
    ctx.check_colour()  # before any training: the config loads and the names given are known
    if init is not None and isinstance(getattr(init, "meta", None), dict):
        ctx.model_colorspace(cls.model_colorspace(init.meta), init_path or "the initial model")
    status, error = "complete", None
    failure: BaseException | None = None
    try:
        cls.train(ctx)
        if ctx.is_main and not ctx.checkpoints:
            raise RunFailure(f"node {cls.id}: training finished without saving a checkpoint")
    except (Exception, SignalInterrupt, KeyboardInterrupt) as exc:
        status, error, failure = _ended(exc, run, ctx, f"node {cls.id} training failed")
    if not ctx.is_main:
        if failure is not None:
            raise failure
        return {}
    data = run.manifest(ctx, status, error, [], {
        "checkpoint": {"path": os.path.abspath(out), "sha256": ctx.model_sha256} if ctx.model_sha256 else None,
        "checkpoints": ctx.checkpoints,
        "init_model": {"path": os.path.abspath(init_path), "sha256": init_sha} if init_path else None,
        "training": ctx.extra,
    })
    # one record per attempt: a failed attempt never replaces the record of a completed one
    manifest_path = write_train_record(out, data, ctx.work_dir)
    data["manifest_path"] = manifest_path
    if status == "complete":
        run.progress.done(manifest=manifest_path, checkpoint=out, wall_s=data["timings"]["wall_s"])
        return data
    if status == "cancelled":
        run.progress.cancelled(error or "cancelled", manifest=manifest_path)
        kept = f"last checkpoint kept: {ctx.checkpoints[-1]['path']}" if ctx.checkpoints else "no checkpoint written"
        raise Cancelled(f"{cls.id}: training cancelled ({error}); {kept}", run.cancel.exit_code)
    assert failure is not None
    run.progress.error(error or "failed", failure.exit_code if isinstance(failure, FilmAIError) else 1)
    raise failure
