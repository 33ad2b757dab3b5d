"""Training ``gan.generate``: the clip as training data, and the adversarial step plugged into the shared loop.

The shared ``filmai_plugins.training.loop.Trainer`` brings the learning-rate schedule, time limit,
interval checkpoints with optimiser state (resume), cancel, progress and the train manifest; this module
adds what a video GAN needs on top: its own data (random real clips and frames, not paired crops), two
optimisers (generator, discriminators), an EMA copy of the generator (what the checkpoint ships), and
contact sheets of real clips beside generated ones.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.frames.sequence import SequencePattern, format_frames
from filmai_plugins.training.datasets import ChannelCodec, check_frames_exist, parse_channels
from filmai_plugins.training.checkpoint import read_checkpoint_meta
from filmai_plugins.training.loop import TrainConfig, Trainer, latest_interval_checkpoint

from . import mocogan as mg
from .render import GenerationSettings, generate_clip

#: Real frames shown to the image discriminator per clip of the batch.
IMAGE_FRAMES_PER_CLIP = 2


# ----- the clip ---------------------------------------------------------------------------------


@dataclass
class Clip:
    """The training clip, resized to the training size, scene-linear (N, H, W, C)."""

    pixels: np.ndarray
    frames: list[int]
    channels: list[str]
    colorspace: str
    source_size: tuple[int, int]  # display window (width, height) of the source frames
    pattern: str


def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Filtered resize with OpenImageIO, in linear light so HDR highlights average correctly."""
    import OpenImageIO as oiio

    h, w, c = pixels.shape
    if (w, h) == (width, height):
        return pixels.astype(np.float32, copy=True)
    buf = oiio.ImageBuf(np.ascontiguousarray(pixels, dtype=np.float32))
    out = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, c))
    return np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(height, width, c)


def default_channels(available: Sequence[str], where: str) -> list[str]:
    """R, G, B (and A when the clip has one), else Y: what an element clip usually is."""
    if all(c in available for c in ("R", "G", "B")):
        return ["R", "G", "B"] + (["A"] if "A" in available else [])
    if "Y" in available:
        return ["Y"] + (["A"] if "A" in available else [])
    raise BadInput(f"{where}: no R, G, B or Y channels (channels: {', '.join(available)}); "
                   "name the channels to learn with --set channels=...")


def clip_starts(frames: Sequence[int], length: int) -> np.ndarray:
    """Indices into ``frames`` where ``length`` consecutive frame numbers begin.

    A frame list with gaps (``1-36,49-96``: a bad stretch or held-out frames left out) is a set of runs;
    a training clip never spans a gap, since the jump would teach the video discriminator a cut as motion.
    """
    f = np.asarray(frames, np.int64)
    if len(f) < length:
        return np.zeros(0, np.int64)
    span = f[length - 1:] - f[:len(f) - length + 1]
    return np.flatnonzero(span == length - 1)


def load_clip(ctx: Any, channels: str, resolution: int, clip_length: int,
              size: tuple[int, int] | None = None) -> Clip:
    """Read, check and resize the training clip; every problem is one error naming the file and frame."""
    pattern = ctx.input_path("input")
    seq = SequencePattern(pattern)
    if not seq.is_sequence:
        raise BadInput(f"{pattern}: gan.generate learns from an image sequence (e.g. clip.####.exr), "
                       "not a single image")
    frames = sorted(f for f in ctx.frames if f is not None)
    check_frames_exist(pattern, frames, "input")
    if len(clip_starts(frames, clip_length)) < 2:
        gaps = len(frames) >= clip_length + 1
        raise FrameError(f"only {len(frames)} frame{'s' if len(frames) != 1 else ''} "
                         f"({format_frames(frames) or 'none'}): too short to train on. gan.generate needs clips of "
                         f"clip_length = {clip_length} consecutive frames at two or more start frames "
                         f"({clip_length + 1} frames in a row{', not split by gaps' if gaps else ''}); give a "
                         "longer --frames range or lower clip_length", pattern)
    first = ctx.read_input(frames[0])
    names = parse_channels(channels) if channels.strip() else default_channels(first.channels, first.where())
    # the model learns (and later writes) in the clip's colourspace: the first frame's; frames tagged
    # otherwise are converted into it
    colorspace = first.colorspace
    disp = first.display_window
    if size is None:
        height, width = mg.training_size(disp[2], disp[3], resolution)
    else:
        height, width = size
    out = np.empty((len(frames), height, width, len(names)), np.float32)
    for i, f in enumerate(frames):
        ctx.check_cancel()
        fr = first if i == 0 else ctx.read_input(f, channels=names)
        if fr.display_window[2:] != disp[2:]:
            raise FrameError(f"frame is {fr.display_window[2]}x{fr.display_window[3]} but {first.path} "
                             f"(frame {frames[0]}) is {disp[2]}x{disp[3]}: every frame of a clip must have the "
                             "same size", fr.path, f)
        missing = [n for n in names if n not in fr.channels]
        if missing:
            raise FrameError(f"no channel {', '.join(repr(m) for m in missing)} (channels: "
                             f"{', '.join(fr.channels)}; channels={','.join(names)})", fr.path, f)
        full = fr.to_display_window()[:, :, [fr.channels.index(n) for n in names]]
        full = ctx.colour.convert_channels(full, names, fr.colorspace, colorspace)
        out[i] = _resize(full, width, height)
    return Clip(out, frames, names, ctx.colour.portable(colorspace) if colorspace else "", (disp[2], disp[3]),
                pattern)


class ClipData:
    """Random real clips and frames of the encoded, normalised clip; batch ``step`` is a pure function of
    (seed, step), as the shared loop expects, so a resumed run draws the batches an uninterrupted one would."""

    def __init__(self, clip: Clip, codec: ChannelCodec, mean: np.ndarray, std: float, *, clip_length: int,
                 batch_size: int, seed: int, flip: bool, reverse: bool):
        enc = codec.encode(clip.pixels)  # (N, H, W, C)
        self.data = ((enc - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)  # (N, C, H, W)
        self.clip = clip
        self.clip_length = clip_length
        # where a real clip may start: every index of a gap-free frame range (so its batches are the ones
        # drawn before gaps were allowed), only inside runs otherwise
        self.starts = clip_starts(clip.frames, clip_length)
        self.batch_size = batch_size
        self.seed = seed
        self.flip = flip
        self.reverse = reverse
        self.codec_in = self.codec_out = codec

    # what the shared loop's summary reads
    @property
    def pairs(self) -> list[Any]:
        return [_FrameRecord(f) for f in self.clip.frames]

    @property
    def crop_size(self) -> list[int]:
        return [int(self.data.shape[3]), int(self.data.shape[2])]

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.data) // max(1, self.batch_size * self.clip_length))

    def describe(self) -> dict[str, Any]:
        return {"frames": format_frames(self.clip.frames), "count": len(self.clip.frames),
                "size": self.crop_size, "source_size": list(self.clip.source_size),
                "channels": self.clip.channels, "clip_length": self.clip_length, "flip": self.flip,
                "reverse": self.reverse}

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(real clips (B, T, C, H, W), real single frames (B*k, C, H, W))."""
        rng = np.random.default_rng([self.seed, step])
        n, t, b = len(self.data), self.clip_length, self.batch_size
        starts = self.starts[rng.integers(0, len(self.starts), size=b)]
        clips = np.stack([self.data[s:s + t] for s in starts])
        if self.reverse:
            back = rng.random(b) < 0.5
            clips[back] = clips[back][:, ::-1]
        frames = self.data[rng.integers(0, n, size=b * IMAGE_FRAMES_PER_CLIP)]
        if self.flip:
            m = rng.random(b) < 0.5
            clips[m] = clips[m][..., ::-1]
            m = rng.random(len(frames)) < 0.5
            frames[m] = frames[m][..., ::-1]
        return np.ascontiguousarray(clips), np.ascontiguousarray(frames)


@dataclass(frozen=True)
class _FrameRecord:
    frame: int


# ----- the adversarial trainer -------------------------------------------------------------------


class VideoGANTrainer(Trainer):
    """The shared loop with a MoCoGAN step: ``self.model`` is the EMA generator (what ships and what
    interval checkpoints hold as their model), the trained generator and both discriminators are extra
    modules (saved for resume), and there are two optimisers."""

    def __init__(self, ctx: Any, arch: mg.Arch, data: ClipData, config: TrainConfig, *, meta: dict[str, Any],
                 augment: tuple[str, ...], rollout: int, ema: float, colorspace: str):
        self.arch = arch
        generator = mg.VideoGenerator(arch)
        ema_generator = copy.deepcopy(generator).requires_grad_(False)
        super().__init__(ctx, ema_generator, data, config, meta=meta, colorspace=colorspace)  # type: ignore[arg-type]
        self.generator = generator.to(self.device)
        self.d_image = mg.ImageDiscriminator(arch).to(self.device)
        self.d_video = mg.VideoDiscriminator(arch).to(self.device)
        if self.channels_last:
            for m in (self.generator, self.d_image):
                m.to(memory_format=torch.channels_last)
        self.augment = augment
        self.rollout = rollout
        self.ema = ema
        self._fake: torch.Tensor | None = None  # last generator step's clips, reused by the next D step

    # ----- hooks of the shared loop -----------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        lr = self.config.learning_rate
        # betas (0, 0.99): no momentum on the adversarial gradient, which keeps the min-max game from
        # oscillating (BigGAN / StyleGAN practice).
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.0, 0.99)),
            "discriminator": torch.optim.Adam(list(self.d_image.parameters()) + list(self.d_video.parameters()),
                                              lr=lr, betas=(0.0, 0.99)),
        }

    def extra_modules(self) -> dict[str, Any]:
        return {"generator": self.generator, "d_image": self.d_image, "d_video": self.d_video}

    def load_weights(self, checkpoint: Any) -> None:
        """Fine-tune from a previous gan.generate model: both generator copies start from its weights."""
        super().load_weights(checkpoint)
        if checkpoint is not None:
            self.generator.load_state_dict(self.model.state_dict())

    def _gen(self, step: int, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.config.seed * 1_000_003 + step * 7 + salt) & 0x7FFFFFFFFFFF)

    def _pick_frames(self, clips: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, t = clips.shape[:2]
        idx = torch.randint(0, t, (b, IMAGE_FRAMES_PER_CLIP), generator=gen)
        rows = torch.arange(b)[:, None].expand_as(idx)
        return clips[rows.reshape(-1), idx.reshape(-1)]

    def training_step(self, step: int, real_clips: Any, real_frames: Any) -> dict[str, float]:
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        gen = self._gen(step, 0)
        aug = self.augment
        rgb = min(3, self.arch.channels)
        b, t = real_clips.shape[:2]

        def d_video(x: torch.Tensor) -> torch.Tensor:
            return self.d_video(mg.diff_augment(x, aug, rgb, gen))

        def d_image(x: torch.Tensor) -> torch.Tensor:
            return self.d_image(mg.diff_augment(x[:, None], aug, rgb, gen)[:, 0])

        # Discriminator: hinge loss on real and generated clips (video D) and frames (image D).
        fake = self._fake
        if fake is None or fake.shape[0] != b:
            with torch.no_grad():
                fake = self.generator.sample_clips(b, t, self.rollout, gen, self.device)
        self.d_image.requires_grad_(True)
        self.d_video.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        real_v, fake_v = d_video(real_clips), d_video(fake)
        real_i, fake_i = d_image(real_frames), d_image(self._pick_frames(fake, gen))
        relu = torch.nn.functional.relu
        loss_d = (relu(1 - real_v).mean() + relu(1 + fake_v).mean()
                  + relu(1 - real_i).mean() + relu(1 + fake_i).mean())
        loss_d.backward()
        opt_d.step()

        # Generator: fool both discriminators (their weights frozen for this pass).
        self.d_image.requires_grad_(False)
        self.d_video.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        fake = self.generator.sample_clips(b, t, self.rollout, gen, self.device)
        loss_g = -d_video(fake).mean() - d_image(self._pick_frames(fake, gen)).mean()
        if not (bool(torch.isfinite(loss_g)) and bool(torch.isfinite(loss_d))):
            raise BadInput(f"training diverged at step {step} (generator loss {float(loss_g)}, discriminator "
                           f"loss {float(loss_d)}); lower learning_rate")
        loss_g.backward()
        opt_g.step()
        self._fake = fake.detach()

        # EMA of the generator, ramped up so a short run's EMA is not dominated by its random start.
        beta = min(self.ema, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for p_ema, p in zip(self.model.parameters(), self.generator.parameters()):
                p_ema.lerp_(p, 1.0 - beta)
            for b_ema, b_ in zip(self.model.buffers(), self.generator.buffers()):
                b_ema.copy_(b_)
        return {"loss": float(loss_g.detach()), "loss_d": float(loss_d.detach()),
                "d_real": float((real_v.mean() + real_i.mean()).detach()) / 2,
                "d_fake": float((fake_v.mean() + fake_i.mean()).detach()) / 2}

    def restore(self, path: str) -> None:
        super().restore(path)
        self._fake = None

    def write_contact_sheet(self, step: int) -> str | None:
        """Real clip (top row) and three generated clips (EMA generator, seeds 0-2 below), frame by frame."""
        if not self.ctx.is_main:
            return None
        from filmai_plugins.frames.contact import write_contact_sheet

        data: ClipData = self.data  # type: ignore[assignment]
        t = min(self.arch.clip_length, 8)
        real = [data.clip.pixels[i] for i in range(t)]
        rows = [real]
        norm = self.meta["normalize"]
        codec = data.codec_out
        for seed in range(3):
            pix = generate_clip(self.model, self.arch, codec, norm, list(range(t)),
                                GenerationSettings(seed=seed), device=self.device)
            rows.append(list(pix))
        path = os.path.join(self.ctx.work_dir, f"contact_{step:06d}.png")
        cell = max(96, min(192, self.arch.width * 2))
        write_contact_sheet(path, rows, labels=[f"t{i}" for i in range(t)], colorspace=self.colorspace,
                            cell_width=cell, config=self.ctx.colour.config)
        self.contact_sheets.append(path)
        return path

    def final_meta(self, summary: dict[str, Any]) -> dict[str, Any]:
        keep = {k: v for k, v in summary.items() if k != "history"}
        return {**self.meta, "training": keep}


def _layout_for(ctx: Any, resume: str) -> dict[str, int]:
    """The network layout choices of a new run (minibatch-std group, image-generator layout): this
    version's, or the resumed checkpoint's, so a training started by an earlier version (keys absent:
    no minibatch std, generator layout 1) resumes with the networks it saved."""
    current = {"minibatch_std": mg.MINIBATCH_STD_GROUP, "generator": mg.GENERATOR_VERSION}
    spec = (resume or "").strip()
    if not spec:
        return current
    path = latest_interval_checkpoint(ctx.work_dir) if spec == "last" else spec
    if not path or not os.path.isfile(path):
        return current  # the shared loop reports the missing checkpoint
    saved = read_checkpoint_meta(path).get("arch") or {}
    return {"minibatch_std": int(saved.get("minibatch_std", 0)), "generator": int(saved.get("generator", 1))}


def train(ctx: Any) -> None:
    """``GenerateNode.train``: read the clip, build the networks, run the shared loop."""
    p = ctx.params
    init = ctx.init_model
    arch_from_init = None
    if init is not None:
        if init.meta.get("arch", {}).get("name") != mg.ARCH_NAME:
            raise CheckpointError(f"{init.path}: not a {mg.ARCH_NAME} model; cannot fine-tune from it")
        try:
            arch_from_init = mg.Arch.from_json(init.meta["arch"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{init.path}: bad network description in the metadata ({exc})") from None
        ctx.message(f"fine-tuning {init.path}: its size {arch_from_init.width}x{arch_from_init.height} "
                    f"and architecture are kept")
    if arch_from_init is None and p["resolution"] % 16:
        raise BadInput(f"resolution {p['resolution']} must be a multiple of 16 (e.g. 64, 96, 128)")
    clip_length = arch_from_init.clip_length if arch_from_init else p["clip_length"]
    clip = load_clip(ctx, p["channels"], p["resolution"], clip_length,
                     size=(arch_from_init.height, arch_from_init.width) if arch_from_init else None)
    height, width = clip.pixels.shape[1:3]
    if arch_from_init is not None:
        arch = arch_from_init
        if arch.channels != len(clip.channels) or list(init.meta.get("channels", [])) != clip.channels:
            raise CheckpointError(f"{init.path}: trained on channels {','.join(init.meta.get('channels', []))}, "
                                  f"but this clip gives {','.join(clip.channels)}")
    else:
        arch = mg.Arch(height=height, width=width, channels=len(clip.channels), content_dim=p["content_dim"],
                       motion_dim=p["motion_dim"], noise_dim=p["noise_dim"], capacity=p["capacity"],
                       clip_length=clip_length, **_layout_for(ctx, p["resume"]))
    codec = ChannelCodec.for_channels(clip.channels)
    if init is not None:
        mean = np.asarray(init.meta["normalize"]["mean"], np.float32)
        std = float(init.meta["normalize"]["std"])
    else:
        enc = codec.encode(clip.pixels)
        mean = enc.mean(axis=(0, 1, 2)).astype(np.float32)
        # One spread for all channels keeps their relative scale; the floor stops a flat clip's noise
        # from being amplified into the whole signal.
        std = float(max(0.05, enc.std()))
    config = TrainConfig.from_params(p, report_interval=max(1, min(25, p["steps"] // 50)))
    data = ClipData(clip, codec, mean, std, clip_length=arch.clip_length, batch_size=config.batch_size,
                    seed=config.seed, flip=p["flip"], reverse=p["reverse"])
    meta = {
        "arch": arch.to_json(),
        "channels": clip.channels,
        "codec": codec.to_json(),
        "normalize": {"mean": [float(m) for m in mean], "std": std},
        "colorspace": clip.colorspace,
        "encoding": "log",
        "burn_in": mg.BURN_IN,
        "source": {"pattern": os.path.abspath(clip.pattern), "frames": format_frames(clip.frames),
                   "size": list(clip.source_size)},
        "augment": p["augment"], "rollout": p["rollout"], "ema": p["ema"],
    }
    ctx.message(f"learning {len(clip.frames)} frames ({format_frames(clip.frames)}) of "
                f"{clip.source_size[0]}x{clip.source_size[1]} at {width}x{height}, channels "
                f"{','.join(clip.channels)}; clips of {arch.clip_length} frames")
    # The networks' first weights come from the seed, like every other draw of the training: without this they
    # came from whatever torch's global generator held, so a clip trained after another in the same process
    # started elsewhere, and the seed did not change the start at all.
    torch.manual_seed(config.seed)
    trainer = VideoGANTrainer(ctx, arch, data, config, meta=meta, augment=mg.AUGMENT_POLICIES[p["augment"]],
                              rollout=p["rollout"], ema=p["ema"], colorspace=clip.colorspace)
    trainer.load_weights(init)
    trainer.fit()

