"""The shared training loop every trainable node uses.

Importing this module does not import torch (nodes declare ``training_params()`` at class level);
``Trainer`` imports it when built.

Declaring the training params of a node (one schema: CLI ``--set``, Blender, Nuke, OpenJD)::

    from filmai_plugins.training.loop import training_params

    class MyNode(Node):
        params = (Param("model_size", ...),) + training_params(steps=2000, crop_size=128)

Training (inside ``MyNode.train(ctx)``)::

    from filmai_plugins.training.loop import TrainConfig, Trainer

    config = TrainConfig.from_params(ctx.params)
    trainer = Trainer(ctx, model, data, config, validation=val, meta={"arch": ...},
                      codec_in=codec_in, codec_out=codec_out)
    trainer.load_weights(ctx.init_model)        # fine-tune (optional)
    summary = trainer.fit()                     # writes ctx.out, fills ctx.extra

What ``fit`` does:

- steps (or ``epochs`` × ``data.steps_per_epoch``), AdamW, learning rate with linear warm-up then
  ``cosine``/``step``/``constant``; ``time_limit`` seconds ends training early with the schedule
  annealed to that budget (the schedule follows whichever of steps and time runs out first); the
  seconds are wall-clock training seconds, or this process's CPU seconds with ``time_clock="cpu"``
  (a budget that means the same on a busy shared machine: 120 CPU-s ≈ 60 s on two free cores);
- every ``checkpoint_interval`` steps, and at the last step, an interval checkpoint
  ``<work_dir>/checkpoint_<step>.ckpt``: a FilmAI checkpoint usable as ``--model`` as it is, which
  also carries the optimiser state (prefix ``train_state/``) so ``resume`` continues exactly where it
  stopped, or continues a finished run after ``steps`` is raised;
- ``resume``: a path to an interval checkpoint, or ``last`` for the newest in ``work_dir``. Batches
  are a pure function of (seed, step), so a resumed run matches an uninterrupted one;
- ``load_weights(checkpoint)``: start from a previous checkpoint's weights (fine-tuning, ``--model``);
- every ``validation_interval`` steps, PSNR on the held-out ``ValidationSet`` (and once, the
  identity baseline: the input itself, where output channels map to input channels);
- every ``contact_sheet_interval`` steps ``<work_dir>/contact_<step>.png`` (input | output | target);
- ``ctx.progress.step(step, total, loss=..., psnr=..., lr=...)``; ``ctx.check_cancel()`` every step:
  a cancelled run writes an interval checkpoint of the last step before it stops;
- data parallel when ``ctx.world_size`` > 1 (``filmai train --nproc N``, see ``distributed.py``):
  the model is wrapped in ``DistributedDataParallel``; rank 0 alone validates and writes files;
- ``ctx.extra`` gets the training summary (recorded in the train manifest and in the checkpoint).

Extending without copying the loop (a GAN trainer, a perceptual loss):

- ``trainer.add_loss(name, fn, weight)``: ``fn(pred, target, inputs) -> scalar tensor`` is added to
  the reconstruction loss and reported by name;
- ``callbacks``: ``fn(trainer, step, metrics)`` after each step (logging, early stop via
  ``trainer.request_stop()``, schedules of loss weights);
- subclass hooks: ``configure_optimizers()`` (return a dict of named optimisers; all are stepped by
  the LR schedule and saved for resume), ``training_step(step, x, y)`` (one update; return metrics),
  ``compute_loss(pred, target, x)``, ``extra_modules()`` (more modules, e.g. a discriminator, saved
  in interval checkpoints and restored on resume), ``final_tensors()``/``final_meta()``.
"""
from __future__ import annotations

import glob
import math
import os
import re
import time
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import BadInput, Cancelled, CheckpointError
from ..node import Param
from .datasets import ChannelCodec, PairedCrops, ValidationSet, psnr

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.context import TrainContext

TRAIN_STATE = "train_state/"
SCHEDULES = ("cosine", "step", "constant")
TIME_CLOCKS = ("wall", "cpu")
LOSSES = ("l1", "charbonnier", "l2")


def training_params(*, steps: int = 2000, crop_size: int = 128, batch_size: int = 8,
                    learning_rate: float = 2e-3, warmup_steps: int = 50, checkpoint_interval: int = 500,
                    contact_sheet_interval: int = 500, validation_interval: int = 100,
                    exposure_jitter: float = 0.0, focus: float = 0.5, loss: str = "l1") -> tuple[Param, ...]:
    """The training params every image-to-image trainer shares (stage ``train``), with a node's defaults."""
    t = "train"
    return (
        Param("steps", "int", steps, min=1, max=10_000_000, soft_max=50_000, stage=t,
              help="optimisation steps (ignored when epochs > 0)"),
        Param("epochs", "int", 0, min=0, max=1_000_000, soft_max=1000, stage=t,
              help="train for this many epochs instead of steps; one epoch = enough crops to cover every "
                   "training pixel once"),
        Param("time_limit", "float", 0.0, min=0.0, max=1e7, soft_max=3600, stage=t,
              help="stop after this many seconds of training, resumed parts included (0: no limit); the "
                   "learning-rate schedule is annealed to whichever of steps and time runs out first"),
        Param("batch_size", "int", batch_size, min=1, max=1024, soft_max=64, stage=t,
              help="crops per step (over all processes with --nproc; must be a multiple of it)"),
        Param("crop_size", "int", crop_size, min=16, max=4096, soft_max=512, stage=t,
              help="size of the square training crops in pixels (larger: more context, slower steps)"),
        Param("learning_rate", "float", learning_rate, min=1e-7, max=1.0, soft_max=0.01, stage=t,
              help="peak AdamW learning rate"),
        Param("lr_schedule", "enum", "cosine", choices=SCHEDULES, stage=t,
              help="after warm-up: cosine decay to 1% of the peak, step (x0.1 at 50% and 75%), or constant"),
        Param("warmup_steps", "int", warmup_steps, min=0, max=1_000_000, stage=t,
              help="steps of linear learning-rate warm-up"),
        Param("weight_decay", "float", 1e-4, min=0.0, max=1.0, stage=t, help="AdamW weight decay"),
        Param("loss", "enum", loss, choices=LOSSES, stage=t,
              help="reconstruction loss in the working encoding: l2 (what PSNR measures; learns small, sparse "
                   "fixes such as paint-outs fastest), l1 or charbonnier (robust to outliers, crisper on "
                   "dense changes)"),
        Param("flips", "bool", True, stage=t, help="augment with random horizontal and vertical flips"),
        Param("rotations", "bool", True, stage=t, help="augment with random 90-degree rotations"),
        Param("exposure_jitter", "float", exposure_jitter, min=0.0, max=8.0, soft_max=3.0, stage=t,
              help="augment with random exposure changes of up to this many stops, applied in linear light to "
                   "the colour channels of input and target alike (0: off; not for grades/looks)"),
        Param("focus", "float", focus, min=0.0, max=1.0, stage=t,
              help="fraction of crops centred where the target differs from the input (or on matte edges): "
                   "small fixes such as markers and wires are seen in every batch"),
        Param("validation_frames", "string", "", stage=t,
              help="held-out frames (input and target exist; never trained on) for PSNR during training, "
                   "e.g. 1012,1036"),
        Param("validation_interval", "int", validation_interval, min=1, max=10_000_000, stage=t,
              help="steps between validation PSNR measurements"),
        Param("checkpoint_interval", "int", checkpoint_interval, min=1, max=10_000_000, stage=t,
              help="steps between interval checkpoints in <out>.train/ (each usable as --model, and resumable)"),
        Param("contact_sheet_interval", "int", contact_sheet_interval, min=1, max=10_000_000, stage=t,
              help="steps between contact sheets (input | output | target PNG) in <out>.train/"),
        Param("threads", "int", 0, min=0, max=1024, soft_max=64, stage=t,
              help="CPU threads for training (0: torch's default, one per core); on a shared workstation or farm "
                   "slot give the cores you own: oversubscribed threads make small steps many times slower"),
        Param("seed", "int", 0, min=0, max=2**31 - 1, stage=t,
              help="random seed: same seed, data and params give the same model"),
        Param("resume", "string", "", stage=t,
              help="continue from an interval checkpoint: its path, or 'last' for the newest in <out>.train/"),
    )


@dataclass
class TrainConfig:
    steps: int = 2000
    epochs: int = 0
    time_limit: float = 0.0
    #: what ``time_limit`` counts: ``wall`` (training seconds) or ``cpu`` (CPU seconds of the training steps)
    time_clock: str = "wall"
    batch_size: int = 8
    crop_size: int = 128
    learning_rate: float = 2e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    loss: str = "l1"
    grad_clip: float = 1.0
    validation_interval: int = 100
    checkpoint_interval: int = 500
    contact_sheet_interval: int = 500
    seed: int = 0
    resume: str = ""
    threads: int = 0
    #: progress events at most this often (steps); validation steps always report
    report_interval: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **overrides: Any) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in params.items() if k in names}
        values.update(overrides)
        cfg = cls(**values)
        if cfg.lr_schedule not in SCHEDULES:
            raise BadInput(f"unknown lr_schedule {cfg.lr_schedule!r} (one of {', '.join(SCHEDULES)})")
        if cfg.loss not in LOSSES:
            raise BadInput(f"unknown loss {cfg.loss!r} (one of {', '.join(LOSSES)})")
        if cfg.time_clock not in TIME_CLOCKS:
            raise BadInput(f"unknown time_clock {cfg.time_clock!r} (one of {', '.join(TIME_CLOCKS)})")
        return cfg

    def total_steps(self, data: PairedCrops | None) -> int:
        if self.epochs > 0 and data is not None:
            return self.epochs * data.steps_per_epoch
        return self.steps

    def lr_factor(self, progress: float, step: int) -> float:
        """Multiplier of the peak learning rate at ``step`` / fraction ``progress`` of training."""
        if self.warmup_steps > 0 and step <= self.warmup_steps:
            return step / (self.warmup_steps + 1)
        p = min(max(progress, 0.0), 1.0)
        if self.lr_schedule == "cosine":
            return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * p))
        if self.lr_schedule == "step":
            return 1.0 if p < 0.5 else (0.1 if p < 0.75 else 0.01)
        return 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def latest_interval_checkpoint(work_dir: str) -> str | None:
    """The interval checkpoint with the highest step in ``work_dir`` (None when there is none)."""
    best, best_step = None, -1
    for path in glob.glob(os.path.join(work_dir, "checkpoint_*.ckpt")):
        m = re.search(r"checkpoint_(\d+)\.ckpt$", path)
        if m and int(m.group(1)) > best_step:
            best, best_step = path, int(m.group(1))
    return best


def model_tensors(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's model weights without the resume state of interval checkpoints."""
    return {k: v for k, v in tensors.items() if not k.startswith(TRAIN_STATE)}


class Trainer:
    """One training run; see the module docstring for what ``fit`` does and how to extend it."""

    def __init__(self, ctx: "TrainContext", model: Any, data: PairedCrops, config: TrainConfig, *,
                 validation: ValidationSet | None = None, meta: Mapping[str, Any] | None = None,
                 codec_in: ChannelCodec | None = None, codec_out: ChannelCodec | None = None,
                 callbacks: Sequence[Callable[["Trainer", int, dict], None]] = (),
                 colorspace: str = "lin_rec709", preview_items: int = 3, preview_size: int = 256,
                 identity_channels: Sequence[int] | None = None):
        torch = ctx.torch
        self.torch = torch
        self.ctx = ctx
        self.config = config
        self.data = data
        self.validation = validation if validation is not None and len(validation) else None
        self.meta = dict(meta or {})
        self.codec_in = codec_in or data.codec_in
        self.codec_out = codec_out or data.codec_out
        self.callbacks = list(callbacks)
        self.colorspace = colorspace
        self.preview_items = preview_items
        self.preview_size = preview_size
        #: for each output channel, the input channel that "no change" copies (identity baseline)
        self.identity_channels = list(identity_channels) if identity_channels is not None else None
        self.device = torch.device(ctx.device or "cpu")
        self.channels_last = self.device.type == "cpu"  # ~1.6x faster convolutions on CPU
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_model = self.model  # the DDP wrapper when data-parallel
        self.losses: list[tuple[str, Callable, float]] = []
        self.step = 0
        self.total_steps = config.total_steps(data)
        self.history: list[dict[str, Any]] = []
        self.contact_sheets: list[str] = []
        self.interval_checkpoints: list[str] = []
        self.resumed_from: str | None = None
        self.init_from: str | None = None
        self.optimizers: dict[str, Any] = {}
        self._stop_requested = False
        self._started = 0.0
        self._train_seconds = 0.0
        self._train_cpu_seconds = 0.0  # this process's CPU time in steps: comparable on a busy machine
        self._elapsed_before = 0.0  # training seconds of the run this one resumed
        self._cpu_before = 0.0  # and its CPU seconds
        self.last_metrics: dict[str, float] = {}
        self.best_psnr: float | None = None
        self.identity_psnr: float | None = None

    # ----- extension points ---------------------------------------------------------------------
    def add_loss(self, name: str, fn: Callable[[Any, Any, Any], Any], weight: float = 1.0) -> None:
        """Add ``weight * fn(pred, target, inputs)`` to the loss; reported as ``name`` in progress."""
        self.losses.append((name, fn, float(weight)))

    def request_stop(self) -> None:
        """End training after the current step (a callback's early stop); the checkpoint is written."""
        self._stop_requested = True

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.config
        return {"model": self.torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate,
                                                weight_decay=cfg.weight_decay, betas=(0.9, 0.99))}

    def extra_modules(self) -> dict[str, Any]:
        """Modules besides the model whose state an interval checkpoint keeps (e.g. a discriminator)."""
        return {}

    def reconstruction_loss(self, pred: Any, target: Any) -> Any:
        F = self.torch.nn.functional
        if self.config.loss == "l2":
            return F.mse_loss(pred, target)
        if self.config.loss == "charbonnier":
            return self.torch.sqrt((pred - target) ** 2 + 1e-6).mean()
        return F.l1_loss(pred, target)

    def compute_loss(self, pred: Any, target: Any, inputs: Any) -> tuple[Any, dict[str, float]]:
        loss = self.reconstruction_loss(pred, target)
        metrics = {"recon": float(loss.detach())}
        for name, fn, weight in self.losses:
            term = fn(pred, target, inputs)
            metrics[name] = float(term.detach())
            loss = loss + weight * term
        return loss, metrics

    def training_step(self, step: int, x: Any, y: Any) -> dict[str, float]:
        """One optimisation step; returns metrics (``loss`` at least)."""
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        pred = self.train_model(x)
        loss, metrics = self.compute_loss(pred, y, x)
        if not bool(self.torch.isfinite(loss)):
            raise BadInput(f"training diverged at step {step} (loss {float(loss)}); lower learning_rate")
        loss.backward()
        if self.config.grad_clip > 0:
            self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        opt.step()
        metrics["loss"] = float(loss.detach())
        return metrics

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model on encoded (N, C, H, W) numpy input, in eval mode, as numpy."""
        torch = self.torch
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model(self._tensor(x))
        finally:
            self.model.train(was_training)
        return out.float().cpu().numpy()

    def final_tensors(self) -> dict[str, Any]:
        return {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}

    def final_meta(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.meta, "training": dict(summary)}

    # ----- weights, resume ------------------------------------------------------------------------
    def load_weights(self, checkpoint: Any) -> None:
        """Start from a checkpoint's weights (fine-tuning); the architectures must match exactly."""
        if checkpoint is None:
            return
        state = {k: self.torch.from_numpy(np.array(v)) for k, v in model_tensors(checkpoint.tensors).items()}
        self._load_state(self.model, state, checkpoint.path)
        self.init_from = checkpoint.path

    def _load_state(self, module: Any, state: dict[str, Any], path: str | None) -> None:
        own = module.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
        if missing or unexpected or wrong:
            detail = "; ".join(filter(None, [
                f"missing {', '.join(missing[:4])}" if missing else "",
                f"unexpected {', '.join(unexpected[:4])}" if unexpected else "",
                f"shape differs for {', '.join(wrong[:4])}" if wrong else ""]))
            raise CheckpointError(f"{path}: weights do not fit this network ({detail}); it was trained with "
                                  "another model size or other channels")
        module.load_state_dict(state)

    def _resume_path(self) -> str | None:
        spec = (self.config.resume or "").strip()
        if not spec:
            return None
        if spec == "last":
            path = latest_interval_checkpoint(self.ctx.work_dir)
            if path is None:
                raise BadInput(f"resume=last: no interval checkpoint in {self.ctx.work_dir}")
            return path
        if not os.path.isfile(spec):
            raise BadInput(f"resume: {spec} not found")
        return spec

    def restore(self, path: str) -> None:
        """Restore model, extra modules, optimisers and step from an interval checkpoint."""
        from .checkpoint import load_checkpoint

        torch = self.torch
        ckpt = load_checkpoint(path, expect_node=self.ctx.node_id)
        state = ckpt.meta.get("train_state")
        if not state:
            raise CheckpointError(f"{path}: not an interval checkpoint (no optimiser state to resume); "
                                  "use it as --model to fine-tune instead")
        for key in ("arch", "channels_in", "channels_out"):
            if key in self.meta and ckpt.meta.get(key) != _jsonish(self.meta[key]):
                raise CheckpointError(f"{path}: was trained with another {key} ({ckpt.meta.get(key)}) than this "
                                      f"run ({self.meta[key]})")
        tensors = {k: torch.from_numpy(np.array(v)) for k, v in ckpt.tensors.items()}
        self._load_state(self.model, model_tensors(tensors), path)
        for name, module in self.extra_modules().items():
            prefix = f"{TRAIN_STATE}modules/{name}/"
            self._load_state(module, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, path)
        for name, opt in self.optimizers.items():
            entry = state["optimizers"].get(name)
            if entry is None:
                raise CheckpointError(f"{path}: has no state for optimiser {name!r}")
            prefix = f"{TRAIN_STATE}optim/{name}/"
            opt.load_state_dict(_unflatten_optimizer(entry, {k[len(prefix):]: v for k, v in tensors.items()
                                                             if k.startswith(prefix)}))
        self.step = int(state["step"])
        self._elapsed_before = float(state.get("train_seconds", 0.0))
        self._cpu_before = float(state.get("train_cpu_seconds", 0.0))
        self.history = list(state.get("history", []))
        self.best_psnr = state.get("best_psnr")
        self.resumed_from = os.path.abspath(path)

    def save_interval(self, step: int, reason: str = "interval") -> str | None:
        """Write ``checkpoint_<step>.ckpt`` (model + resume state) in the work dir; rank 0 only."""
        if not self.ctx.is_main:
            return None
        tensors = self.final_tensors()
        state_meta: dict[str, Any] = {"step": step, "total_steps": self.total_steps, "reason": reason,
                                      "train_seconds": self._elapsed(), "train_cpu_seconds": self._cpu_seconds(),
                                      "history": self.history[-200:],
                                      "best_psnr": self.best_psnr, "config": self.config.to_json(),
                                      "optimizers": {}}
        for name, module in self.extra_modules().items():
            for k, v in module.state_dict().items():
                tensors[f"{TRAIN_STATE}modules/{name}/{k}"] = v.detach().cpu().contiguous()
        for name, opt in self.optimizers.items():
            entry, flat = _flatten_optimizer(opt.state_dict())
            state_meta["optimizers"][name] = entry
            for k, v in flat.items():
                tensors[f"{TRAIN_STATE}optim/{name}/{k}"] = v
        path = os.path.join(self.ctx.work_dir, f"checkpoint_{step:06d}.ckpt")
        os.makedirs(self.ctx.work_dir, exist_ok=True)
        self.ctx.save_checkpoint(tensors, {**self.final_meta(self.summary()), "train_state": state_meta}, path=path)
        self.interval_checkpoints.append(path)
        return path

    # ----- validation and previews ------------------------------------------------------------------
    def _tensor(self, x: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        return t.contiguous(memory_format=self.torch.channels_last) if self.channels_last and t.ndim == 4 else t

    def validate(self) -> dict[str, float]:
        """Mean PSNR (dB, working encoding, peak 1) over the held-out frames."""
        if self.validation is None:
            return {}
        values = [psnr(self.predict(x), y) for _, x, y in self.validation.items]
        return {"psnr": float(np.mean(values))}

    def identity_baseline(self) -> float | None:
        """PSNR of "no change" (the input's matching channels) on the held-out frames."""
        if self.validation is None or self.identity_channels is None or any(i < 0 for i in self.identity_channels):
            return None
        values = [psnr(x[:, self.identity_channels], y) for _, x, y in self.validation.items]
        return float(np.mean(values))

    def _preview_rows(self) -> list[list[np.ndarray]]:
        items: list[tuple[np.ndarray, np.ndarray]] = []
        if self.validation is not None:
            items += [(x, y) for _, x, y in self.validation.items]
        for pair in self.data.pairs:
            if len(items) >= self.preview_items:
                break
            h, w = pair.height, pair.width
            c = min(self.preview_size, h, w)
            align = max(1, int(self.meta.get("align", 1)))
            c -= c % align
            if c < align:
                continue
            y0, x0 = (h - c) // 2, (w - c) // 2
            s = self.data.scale
            x = self.codec_in.encode(pair.input[y0:y0 + c, x0:x0 + c]).transpose(2, 0, 1)[None]
            y = self.codec_out.encode(pair.target[y0 * s:(y0 + c) * s, x0 * s:(x0 + c) * s]).transpose(2, 0, 1)[None]
            items.append((x, y))
        rows = []
        for x, y in items[: self.preview_items]:
            out = self.predict(x)
            rows.append([self.codec_in.decode(x[0].transpose(1, 2, 0)),
                         self.codec_out.decode(out[0].transpose(1, 2, 0)),
                         self.codec_out.decode(y[0].transpose(1, 2, 0))])
        return rows

    def write_contact_sheet(self, step: int) -> str | None:
        if not self.ctx.is_main:
            return None
        from ..frames.contact import write_contact_sheet

        rows = self._preview_rows()
        if not rows:
            return None
        path = os.path.join(self.ctx.work_dir, f"contact_{step:06d}.png")
        cell = 256  # small crops are scaled up so a 32-pixel fix is still visible
        write_contact_sheet(path, rows, labels=[f"input (step {step})", "output", "target"],
                            colorspace=self.colorspace, cell_width=cell, config=self.ctx.colour.config)
        self.contact_sheets.append(path)
        return path

    # ----- the loop ---------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._elapsed_before + self._train_seconds

    def _cpu_seconds(self) -> float:
        return self._cpu_before + self._train_cpu_seconds

    def _budget_used(self) -> float:
        """Seconds counted against ``time_limit`` (wall or CPU, see ``time_clock``), resumed parts included."""
        return self._cpu_seconds() if self.config.time_clock == "cpu" else self._elapsed()

    def _progress_fraction(self, step: int) -> float:
        p = step / max(1, self.total_steps)
        if self.config.time_limit > 0:
            p = max(p, self._budget_used() / self.config.time_limit)
        return p

    def _set_lr(self, step: int) -> float:
        factor = self.config.lr_factor(self._progress_fraction(step - 1), step)
        lr = self.config.learning_rate * factor
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def _agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true when any rank says so (cancel, time limit, early stop): ranks stop together."""
        if self.ctx.world_size <= 1:
            return tuple(flags)
        torch = self.torch
        t = torch.tensor([1.0 if f else 0.0 for f in flags], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in t.tolist())

    def summary(self) -> dict[str, Any]:
        train_s = self._elapsed()
        samples = self.step * self.config.batch_size
        out: dict[str, Any] = {
            "steps": self.step, "total_steps": self.total_steps, "batch_size": self.config.batch_size,
            "crop_size": self.data.crop_size, "train_seconds": round(train_s, 3),
            "train_cpu_seconds": round(self._cpu_seconds(), 3),
            "samples_per_second": round(samples / train_s, 3) if train_s > 0 else None,
            "final_loss": self.last_metrics.get("loss"),
            "validation_psnr": self.history[-1].get("psnr") if self.history and "psnr" in self.history[-1] else None,
            "best_validation_psnr": self.best_psnr, "identity_psnr": self.identity_psnr,
            "validation_frames": self.validation.frames if self.validation else [],
            "training_frames": [p.frame for p in self.data.pairs], "seed": self.config.seed,
            "world_size": self.ctx.world_size, "device": str(self.device),
            "learning_rate": self.config.learning_rate, "lr_schedule": self.config.lr_schedule,
            "data": self.data.describe(), "resumed_from": self.resumed_from, "init_model": self.init_from,
            "history": self.history[-50:],
            "contact_sheets": list(self.contact_sheets), "interval_checkpoints": list(self.interval_checkpoints),
        }
        return out

    def _report_every(self) -> int:
        return self.config.report_interval or max(1, self.total_steps // 200)

    def fit(self) -> dict[str, Any]:
        """Train to the end (or time limit / cancel), write the checkpoint, return the summary."""
        torch, ctx, cfg = self.torch, self.ctx, self.config
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.optimizers = self.configure_optimizers()
        resume = self._resume_path()
        if resume:
            self.restore(resume)
            if cfg.time_limit > 0 and self._budget_used() >= cfg.time_limit and self.step < self.total_steps:
                # time_limit counts the whole training, resumed parts included: going on would stop at once
                # and replace ``out`` with this older state
                used = f"{self._budget_used():.0f} {'CPU-s' if cfg.time_clock == 'cpu' else 's'}"
                raise BadInput(f"{resume}: this training has already run {used}, which uses up "
                               f"its time_limit of {cfg.time_limit:.0f} s (the limit counts the whole training, "
                               "resumed parts included); raise time_limit to continue it")
            ctx.message(f"resuming from {resume} at step {self.step}")
        if ctx.world_size > 1:
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False)  # buffers are constants (no running statistics) in these networks
        if ctx.is_main:
            os.makedirs(ctx.work_dir, exist_ok=True)
            ctx.progress.start(total=self.total_steps, unit="step", work_dir=ctx.work_dir)
            self.identity_psnr = self.identity_baseline()
        self.model.train()
        last_step_done = self.step
        cancelled: Cancelled | None = None
        every = self._report_every()
        with ctx.cancel.cooperative():  # a signal stops the loop at the next step, which saves a checkpoint
            return self._fit_steps(ctx, cfg, last_step_done, cancelled, every)

    def _fit_steps(self, ctx: "TrainContext", cfg: TrainConfig, last_step_done: int,
                   cancelled: "Cancelled | None", every: int) -> dict[str, Any]:
        try:
            step = self.step
            while step < self.total_steps:
                step += 1
                stop = self._stop_requested or (cfg.time_limit > 0 and self._budget_used() >= cfg.time_limit)
                try:
                    ctx.check_cancel()
                except Cancelled as exc:
                    cancelled = exc
                any_cancel, any_stop = self._agree(cancelled is not None, stop)
                if any_cancel:
                    cancelled = cancelled or Cancelled("cancelled on another training process")
                    break
                if any_stop:
                    why = "requested" if self._stop_requested else "time limit"
                    ctx.message(f"stopping after step {last_step_done} ({why})")
                    break
                t0, c0 = time.perf_counter(), time.process_time()
                lr = self._set_lr(step)
                x, y = self.data.batch(step)
                metrics = self.training_step(step, self._tensor(x), self._tensor(y))
                if self.device.type == "cuda":
                    self.torch.cuda.synchronize(self.device)
                self._train_seconds += time.perf_counter() - t0
                self._train_cpu_seconds += time.process_time() - c0
                self.step = last_step_done = step
                metrics["lr"] = lr
                self.last_metrics = metrics
                for cb in self.callbacks:
                    cb(self, step, metrics)
                final = step == self.total_steps
                report = dict(metrics)
                if ctx.is_main and self.validation is not None and (step % cfg.validation_interval == 0 or final):
                    report.update(self.validate())
                    if self.best_psnr is None or report["psnr"] > self.best_psnr:
                        self.best_psnr = report["psnr"]
                    self.history.append({"step": step, "loss": round(metrics["loss"], 6),
                                         "psnr": round(report["psnr"], 3), "seconds": round(self._elapsed(), 2)})
                if ctx.is_main and (step % cfg.contact_sheet_interval == 0 or final):
                    self.write_contact_sheet(step)
                if step % cfg.checkpoint_interval == 0 and not final:
                    self.save_interval(step)
                if ctx.is_main and (step % every == 0 or final or "psnr" in report):
                    ctx.progress.step(step, self.total_steps, **report)
        except Cancelled as exc:
            cancelled = exc
        if cancelled is not None:
            if last_step_done > 0 and not any(p.endswith(f"checkpoint_{last_step_done:06d}.ckpt")
                                              for p in self.interval_checkpoints):
                path = self.save_interval(last_step_done, reason="cancelled")
                if path:
                    ctx.message(f"cancelled at step {last_step_done}; resumable checkpoint {path} "
                                "(use it as --model, or --set resume=last)")
            ctx.extra.update(self.summary())
            raise cancelled
        if ctx.is_main:
            if self.history == [] or self.history[-1]["step"] != self.step:
                if self.validation is not None:
                    v = self.validate()
                    self.history.append({"step": self.step, "loss": round(self.last_metrics.get("loss", 0.0), 6),
                                         "psnr": round(v["psnr"], 3), "seconds": round(self._elapsed(), 2)})
                    self.best_psnr = max(self.best_psnr or v["psnr"], v["psnr"])
                if not self.contact_sheets or not self.contact_sheets[-1].endswith(f"_{self.step:06d}.png"):
                    self.write_contact_sheet(self.step)
            # The last step stays resumable too, so "raise steps and resume=last" continues a finished run.
            if not any(p.endswith(f"checkpoint_{self.step:06d}.ckpt") for p in self.interval_checkpoints):
                self.save_interval(self.step, reason="final")
            summary = self.summary()
            ctx.save_checkpoint(self.final_tensors(), self.final_meta(summary))
            ctx.extra.update(summary)
            return summary
        return self.summary()


def _jsonish(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An optimiser ``state_dict`` as (JSON entry, {name: tensor}) so it fits a safetensors file (no pickle)."""
    tensors: dict[str, Any] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in state["state"].items():
        for key, value in entry.items():
            if hasattr(value, "detach"):
                tensors[f"{idx}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return {"param_groups": _jsonish(state["param_groups"]), "scalars": scalars}, tensors


def _unflatten_optimizer(entry: dict[str, Any], tensors: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split("/", 1)
        state.setdefault(int(idx), {})[key] = value
    for idx, values in entry.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    return {"state": state, "param_groups": entry["param_groups"]}
