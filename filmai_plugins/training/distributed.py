"""Data-parallel training: ``filmai train NODE ... --nproc N`` and multi-machine runs under ``torchrun``.

One machine, N processes (what ``engine.runner.train_node`` calls for ``--nproc N``)::

    filmai train cnn.copycat --input src.####.exr --target dst.####.exr --frames 1001,1040 \\
        --out shot.ckpt --nproc 2

``launch`` starts N workers with torch's elastic launcher (the machinery behind ``torchrun``; a local
c10d rendezvous on a free port). Each worker joins a process group (``gloo`` on CPU, ``nccl`` with one
GPU per worker when CUDA is available) and runs the same ``train_node`` with its rank; the node's
``Trainer`` wraps the model in ``DistributedDataParallel``, and each rank trains on its own slice of
every batch, so N processes see exactly the samples one process would (``batch_size`` is the global
batch and must be a multiple of N). Rank 0 alone writes checkpoints, contact sheets and the manifest.

Several machines: run ``filmai train`` as the ``torchrun`` script on each (``--nproc`` is left out:
torchrun decides the world; the command sees torchrun's environment and joins the group)::

    torchrun --nnodes 2 --nproc-per-node 1 --node-rank 0 --rdzv-backend c10d \\
        --rdzv-endpoint head:29500 -m filmai_plugins \\
        train cnn.copycat --input ... --target ... --out /shared/shot.ckpt

The ``--out`` folder must be shared storage (rank 0 writes it, every rank reads the inputs).

Errors: a worker that fails with a FilmAI error (bad input, cancel) records it, exits, and the
launcher stops the others; ``launch`` raises that same error (same message and exit code).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any, Mapping

from ..errors import BadInput, Cancelled, CheckpointError, FilmAIError, FrameError, ParamError, RunFailure

_ERROR_TYPES = {cls.__name__: cls for cls in (BadInput, Cancelled, CheckpointError, FrameError, ParamError,
                                                RunFailure, FilmAIError)}


def launch(cls: Any, *, input: Any, target: str | None, frames: Any, out: str,
           params: Mapping[str, Any] | None, model: str | None, device: str, progress: Any, io: Any,
           nproc: int, train: Any) -> dict[str, Any]:
    """Train node class ``cls`` in ``nproc`` local processes; returns rank 0's manifest. ``train`` is the
    engine's ``train_node``, which every worker calls with its rank."""
    from ..engine.device import import_torch

    node_id = cls.id
    import_torch(node_id)
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise BadInput("--nproc must be at least 1")
    # Check what can be checked before starting N interpreters: params, and the batch split.
    resolved = cls.resolve_params(params, "train")
    batch = resolved.get("batch_size")
    if isinstance(batch, int) and batch % nproc:
        raise BadInput(f"batch size {batch} must be a multiple of the number of processes ({nproc}): "
                       "each process trains on an equal slice of every batch")
    error_dir = tempfile.mkdtemp(prefix="filmai-ddp-")
    job = {
        "node_id": node_id, "input": dict(input) if isinstance(input, Mapping) else input, "target": target,
        "frames": frames if frames is None or isinstance(frames, str) else list(frames), "out": out,
        "params": dict(params or {}), "model": model, "device": device,
        "progress": progress if isinstance(progress, str) else getattr(progress, "mode", "none"),
        "io": io.to_json() if hasattr(io, "to_json") else dict(io or {}), "error_dir": error_dir,
        # the engine's entry point travels by reference (pickled by name): each worker builds its own app
        "train": train,
    }
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"filmai-{uuid.uuid4().hex[:12]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1,
                          start_method="spawn")
    try:
        try:
            results = elastic_launch(config, _local_worker)(job)
        except ChildFailedError as exc:
            _raise_recorded(error_dir)
            raise RunFailure(f"distributed training failed: {_first_failure(exc)}") from None
        _raise_recorded(error_dir)
    finally:
        shutil.rmtree(error_dir, ignore_errors=True)
    manifest = results.get(0) or {}
    if not manifest:
        raise RunFailure("distributed training: rank 0 returned no manifest")
    return manifest


def _first_failure(exc: Any) -> str:
    failures = getattr(exc, "failures", {}) or {}
    for _, failure in sorted(failures.items()):
        msg = getattr(failure, "message", None)
        if isinstance(msg, dict):
            msg = msg.get("message", {}).get("message") if isinstance(msg.get("message"), dict) else msg.get("message")
        return str(msg or failure)
    return str(exc)


def _raise_recorded(error_dir: str) -> None:
    """Re-raise the first error a worker recorded (rank order), with its own type and exit code."""
    names = sorted(n for n in os.listdir(error_dir) if n.endswith(".json")) if os.path.isdir(error_dir) else []
    if not names:
        return
    with open(os.path.join(error_dir, names[0]), encoding="utf-8") as f:
        err = json.load(f)
    cls = _ERROR_TYPES.get(err.get("type"), RunFailure)
    raise cls(err.get("message", "training failed"))


def _device_for(requested: str, local_rank: int) -> tuple[str, str]:
    """(device, backend) for this worker: one GPU per local rank with nccl, else CPU with gloo."""
    import torch

    requested = (requested or "auto").lower()
    if requested in ("auto", "cuda") or requested.startswith("cuda"):
        if torch.cuda.is_available():
            return f"cuda:{local_rank % torch.cuda.device_count()}", "nccl"
        if requested != "auto":
            raise BadInput(f"--device {requested}: no CUDA device is available; use --device cpu")
    return "cpu", "gloo"


def _local_worker(job: dict[str, Any]) -> dict[str, Any]:
    return run_worker(job)


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Body of one training process: join the group, train with this rank, record errors for the launcher."""
    import torch
    import torch.distributed as dist

    from ..engine.cancel import CancelToken, signals_cancel

    train_node = job["train"]
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    error_dir = job.get("error_dir")
    try:
        device, backend = _device_for(job.get("device", "auto"), local_rank)
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        else:  # share the machine's cores instead of oversubscribing them N times
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_world)))
        if not dist.is_initialized():
            dist.init_process_group(backend)
        token = CancelToken()
        try:
            with signals_cancel(token):
                manifest = train_node(job["node_id"], input=job["input"], target=job["target"], frames=job["frames"],
                                      out=job["out"], params=job["params"], model=job["model"], device=device,
                                      progress=job["progress"] if rank == 0 else "none", io=job["io"],
                                      cancel=token, nproc=1, rank=rank, world_size=world)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
        return manifest if rank == 0 else {}
    except FilmAIError as exc:
        if error_dir:
            os.makedirs(error_dir, exist_ok=True)
            with open(os.path.join(error_dir, f"rank{rank:04d}.json"), "w", encoding="utf-8") as f:
                json.dump({"type": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}, f)
        print(f"filmai: rank {rank}: {exc}", file=sys.stderr)
        # Exit non-zero so the launcher stops the other ranks (they may be waiting on this one).
        os._exit(exc.exit_code)
