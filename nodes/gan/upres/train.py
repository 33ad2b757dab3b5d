"""Self-supervised fine-tuning of ``gan.upres`` on a shot's own plate, through the shared training loop.

The plate frames are the high-resolution targets; their inputs are degraded downscales of the same
frames (clean bicubic mixed with blur/noise/JPEG, as for the shipped models). The network thus learns
the shot's own textures and grain at the factor it will be used at, with no ground truth beyond the
plate. The shared ``Trainer`` (filmai_plugins/training/loop.py) runs the loop: schedule, interval
checkpoints, resume, validation PSNR, contact sheets, progress and cancel. This module only adds what
is specific to up-res: the pairs, the two weight sets in one checkpoint, and the adversarial step.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from filmai_plugins import color
from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.training.checkpoint import load_checkpoint
from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, FramePair, PairedCrops, ValidationSet,
                                              split_validation)
from filmai_plugins.training.loop import TrainConfig, Trainer

from . import data
from .rrdb import GanStage, GanWeights, PatchDiscriminator, build_generator, split_weights
from .model import NODE_ID, check_checkpoint, checkpoint_meta, is_community

RGB = ["R", "G", "B"]


def _starting_checkpoint(cls: Any, ctx: Any):
    """--model when given, else the shipped model for the requested scale."""
    scale = int(ctx.params["scale"])
    if ctx.init_model is not None:
        ckpt = ctx.init_model
    else:
        path = cls.default_model_for({"scale": scale or 4})
        if not path:
            raise BadInput(f"gan.upres: no shipped x{scale or 4} model to fine-tune from; give one with --model")
        ckpt = load_checkpoint(path, expect_node=NODE_ID)
    if is_community(ckpt):
        # Its network, key names and single weight set are not the two-set generator this trainer updates.
        raise CheckpointError(f"{ckpt.path}: a community model ({ckpt.meta['community']['description']}); "
                              "gan.upres fine-tunes its own checkpoints only: leave out --model (the shipped model "
                              "for the scale) or give a FilmAI gan.upres checkpoint; run the community model as it "
                              "is with filmai run gan.upres --model")
    cfg = check_checkpoint(ckpt, scale or None)
    return ckpt, cfg


def _read_plate(ctx: Any, frames: list, model_space: str, encoding: str) -> list[tuple[Any, np.ndarray, str]]:
    """(frame, RGB in the working encoding clamped to the trained range, path) for each frame.

    Each frame is its own training pair (its downscaled copies teach it), so frames may differ in data
    window (a bbox that follows the action) or size: nothing ties one frame's pixels to another's."""
    out = []
    for f in frames:
        ctx.check_cancel()
        fr = ctx.read_input(f, channels=None)
        missing = [c for c in RGB if c not in fr.channels]
        if missing:
            raise FrameError(f"gan.upres needs R, G and B channels; missing {', '.join(missing)}", fr.path, f)
        rgb = ctx.colour.convert_channels(fr.select(RGB), RGB, fr.colorspace, model_space)
        # The network only ever sees the 0-1 working range at inference (HDR goes around it), so it
        # learns on that range too.
        out.append((f, np.clip(color.encode(rgb, encoding), 0.0, 1.0).astype(np.float32), fr.path or ""))
    return out


def _pairs(plates, scale: int, variants: int, seed: int, clean_fraction: float, clean_only: bool = False
           ) -> list[FramePair]:
    cfg = data.DegradationConfig(clean_fraction=1.0 if clean_only else clean_fraction, quantize=False)
    pairs = []
    for i, (f, hr, path) in enumerate(plates):
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        if min(hr.shape[:2]) < 8 * scale:
            raise FrameError(f"frame is too small to learn x{scale} from ({w}x{h}; needs at least "
                             f"{8 * scale} px a side)", path, f)
        for v in range(1 if clean_only else variants):
            rng = np.random.default_rng([seed, i, v])
            lr, _ = data.degrade(hr, scale, rng, cfg)
            pairs.append(FramePair(f, np.ascontiguousarray(lr, np.float32), np.ascontiguousarray(hr), path, path,
                                   list(RGB), list(RGB)))
    return pairs


class UpresTrainer(Trainer):
    """The shared Trainer with two weight sets (only one is trained) and an optional adversarial step."""

    def __init__(self, ctx, model, data_, config, *, frozen: dict, trained_set: str, gan_loss: str, **kw):
        super().__init__(ctx, model, data_, config, **kw)
        self.frozen = frozen  # the weight set this run keeps as it was
        self.trained_set = trained_set
        self.gan_weights = GanWeights(loss=gan_loss)
        self.disc = PatchDiscriminator().to(self.device) if trained_set == "gan" else None
        self.gan: GanStage | None = None

    def configure_optimizers(self) -> dict:
        torch = self.torch
        opts = {"model": torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate, betas=(0.9, 0.99))}
        if self.disc is not None:
            opts["disc"] = torch.optim.Adam(self.disc.parameters(), lr=self.config.learning_rate, betas=(0.9, 0.99))
            self.gan = GanStage(self.model, self.disc, self.gan_weights, opt_g=opts["model"], opt_d=opts["disc"])
        return opts

    def extra_modules(self) -> dict:
        return {"disc": self.disc} if self.disc is not None else {}

    def training_step(self, step: int, x: Any, y: Any) -> dict:
        if self.gan is None:
            return super().training_step(step, x, y)
        metrics = self.gan.step(x, y)
        if not np.isfinite(metrics["loss"]):
            raise BadInput(f"training diverged at step {step} (loss {metrics['loss']}); lower learning_rate")
        return metrics

    def final_tensors(self) -> dict:
        trained = {k: v.detach().cpu().float().contiguous() for k, v in self.model.state_dict().items()}
        other = "gan" if self.trained_set == "psnr" else "psnr"
        out = {f"{self.trained_set}.{k}": v for k, v in trained.items()}
        out.update({f"{other}.{k}": v for k, v in self.frozen.items()})
        return out

    def _load_state(self, module, state, path):
        # Interval checkpoints hold both sets; the model resumes from the one this run trains.
        if module is self.model and any(k.startswith(("psnr.", "gan.")) for k in state):
            state = split_weights(state, self.trained_set)
        super()._load_state(module, state, path)


def fine_tune(cls: Any, ctx: Any) -> None:
    p = ctx.params
    torch = ctx.torch
    ckpt, cfg = _starting_checkpoint(cls, ctx)
    encoding = str(ckpt.meta.get("encoding", "srgb"))
    model_space = ctx.model_colorspace(str(ckpt.meta.get("colorspace", "lin_rec709")), "gan.upres's model")
    train_frames, val_frames = split_validation(ctx, p["validation_frames"])
    if not train_frames:
        raise BadInput("gan.upres: no frames to train on (give --frames)")
    ctx.message(f"fine-tuning the x{cfg.scale} model ({os.path.basename(ckpt.path or 'model')}) on "
                f"{len(train_frames)} frame(s), {p['train_weights']} weights")
    plates = _read_plate(ctx, train_frames, model_space, encoding)
    pairs = _pairs(plates, cfg.scale, p["variants"], p["seed"], p["clean_fraction"])
    val_pairs = _pairs(_read_plate(ctx, val_frames, model_space, encoding), cfg.scale, 1, p["seed"], 1.0,
                       clean_only=True) if val_frames else []
    codec = ChannelCodec(("linear",) * 3, (False,) * 3)  # pairs are already in the working encoding
    if p["exposure_jitter"] > 0:
        # Exposure changes would push pairs out of the 0-1 working range the network is limited to.
        ctx.message("gan.upres: exposure_jitter is not used for up-res fine-tuning (ignored)")
    config = TrainConfig.from_params(p)
    crops = PairedCrops(pairs, config.crop_size, batch_size=config.batch_size, seed=config.seed, codec_in=codec,
                        codec_out=codec, augment=Augmentation(p["flips"], p["rotations"], 0.0),
                        scale=cfg.scale, focus=p["focus"], rank=ctx.rank, world_size=ctx.world_size)
    validation = ValidationSet(val_pairs, codec, codec, max_size=256, scale=cfg.scale) if val_pairs else None

    state = ckpt.torch_state_dict("cpu")
    sets = {name: split_weights(state, name) for name in ("psnr", "gan")}
    trained = p["train_weights"]
    other = "gan" if trained == "psnr" else "psnr"
    torch.manual_seed(config.seed)
    try:
        model = build_generator(cfg, sets[trained])
    except RuntimeError as exc:
        raise CheckpointError(f"{ckpt.path}: weights do not fit the declared architecture: "
                              f"{str(exc).splitlines()[0]}") from None
    start_meta = ckpt.meta.get("training", {})
    meta = checkpoint_meta(cfg, encoding=encoding, gan_trained=bool(ckpt.meta.get("gan_trained", True)))
    meta.update({"fine_tuned_from": {"path": os.path.abspath(ckpt.path) if ckpt.path else None,
                                     "sha256": ckpt.sha256, "training": start_meta},
                 "fine_tuned_weights": trained, "channels_in": RGB, "channels_out": RGB})
    meta.pop("training", None)  # the Trainer writes this run's summary under "training"
    trainer = UpresTrainer(ctx, model, crops, config, frozen=sets[other], trained_set=trained,
                           gan_loss=p["gan_loss"], validation=validation, meta=meta, codec_in=codec,
                           codec_out=codec, colorspace="srgb_tx" if encoding == "srgb" else "lin_rec709")
    trainer.init_from = ckpt.path
    trainer.fit()
