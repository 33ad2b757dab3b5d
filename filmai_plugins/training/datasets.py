"""Paired training data: before/after frame pairs, random crops, augmentation, held-out validation.

Every trainable image-to-image node (``cnn.copycat``, ``cnn.denoise``, the GAN up-res fine-tuner) learns
from the same pieces. Nothing here imports torch: batches are numpy arrays, channels first.

Typical use inside ``Node.train(ctx)``::

    from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, PairedCrops,
                                                  ValidationSet, load_pairs, split_validation)

    train_frames, val_frames = split_validation(ctx, ctx.params["validation_frames"])
    pairs = load_pairs(ctx, train_frames, ["R", "G", "B"], ["R", "G", "B"])
    codec = ChannelCodec.for_channels(["R", "G", "B"])          # log for colour, linear for mattes
    data = PairedCrops(pairs, crop_size=128, batch_size=8, seed=0, codec_in=codec, codec_out=codec,
                       augment=Augmentation(flips=True, rotations=True, exposure=1.0))
    x, y = data.batch(step)          # (N, C_in, 128, 128), (N, C_out, 128, 128) float32, encoded
    val = ValidationSet(load_pairs(ctx, val_frames, ...), codec, codec, max_size=512, align=8)

Pieces:

``FramePair``
    one frame's input and target pixels (scene-linear float32, H×W×C), with file names for messages.
``load_pairs(ctx, frames, channels_in, channels_out, scale=1)``
    reads pairs through the engine (part/layer selection, NaN/Inf policy) and checks them: a missing
    frame, a channel the file lacks, or a target whose size does not match is one clear ``FrameError``
    naming the file and frame. Input and target with different data windows are placed on the union
    of the two windows, so a target rendered with a tighter bbox still lines up.
``split_validation(ctx, spec)``
    the held-out frames (never trained on) and the training frames.
``ChannelCodec``
    per-channel working encoding: colour and data channels go through the invertible ``log`` encoding
    of ``filmai_plugins.color`` (values above 1.0 survive, nothing is clamped); alpha/matte channels
    stay linear and are clamped to 0–1 when decoded.
``Augmentation``
    flips, 90° rotations and exposure jitter. Exposure is applied in linear light, to the colour
    channels of input *and* target alike, before encoding; alpha, mattes and data channels (Z,
    vectors) are never scaled. Use it only where the mapping commutes with exposure (cleanup, denoise,
    mattes), not for grades.
``PairedCrops``
    random crops of a chosen size. Batch ``step`` is a pure function of ``(seed, step)``: resuming at
    step N sees exactly the batches an uninterrupted run would, and data-parallel ranks each draw
    their slice of the same global batch (``rank``/``world_size``), so ``--nproc 2`` trains on the
    same samples as one process. ``focus`` centres that fraction of crops where the target differs
    from the input (or, for new channels such as a matte, on the target's edges): a tracking marker
    covering 0.1% of a plate is found in every batch instead of one crop in a thousand. ``scale`` > 1
    makes targets ``scale`` times larger than inputs (super-resolution pairs).
``ValidationSet``
    centre crops of held-out pairs (at most ``max_size`` pixels a side, multiples of ``align``),
    encoded once, for PSNR during training.
``psnr(pred, target, peak=1.0)``
    PSNR in dB of two arrays (numpy), the figure reported in training summaries.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .. import color, schema
from ..errors import BadInput, FrameError
from ..frames.image import place_on_window, union_window
from ..frames.sequence import SequencePattern, format_frames, parse_frames

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.context import TrainContext
    from ..frames.image import Frame

#: Channel names (last dot-separated component, case-insensitive) treated as bounded 0–1 coverage.
BOUNDED_NAMES = re.compile(r"^(a|alpha|matte\w*|mask\w*|coverage)$", re.IGNORECASE)
#: Colour channels: scaled by exposure jitter.
COLOUR_NAMES = re.compile(r"^(r|g|b|y|red|green|blue|luma|luminance)$", re.IGNORECASE)


def channel_kind(name: str) -> str:
    """``"bounded"`` (alpha, mattes), ``"colour"`` (R, G, B, Y) or ``"data"`` (Z, vectors, anything else)."""
    last = name.rsplit(".", 1)[-1]
    if BOUNDED_NAMES.match(last):
        return "bounded"
    if COLOUR_NAMES.match(last):
        return "colour"
    return "data"


parse_channels = schema.parse_channel_list  # ``"R,G,B"`` or ``"R G B"`` → ``["R", "G", "B"]``


def psnr(pred: np.ndarray, target: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical arrays)."""
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(peak * peak / mse)


# ----- encoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelCodec:
    """Per-channel working encoding (``log``, ``linear`` or ``srgb``) and which channels are 0–1 bounded."""

    encodings: tuple[str, ...]
    bounded: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.encodings) != len(self.bounded):
            raise ValueError("one encoding and one bounded flag per channel")
        for e in self.encodings:
            if e not in color.WORKING_ENCODINGS:
                raise BadInput(f"unknown working encoding {e!r} (one of {', '.join(color.WORKING_ENCODINGS)})")

    @classmethod
    def for_channels(cls, names: Sequence[str], encoding: str = "log",
                     bounded: Sequence[str] | None = None) -> "ChannelCodec":
        """Colour/data channels in ``encoding``; bounded channels (``bounded`` names, else alpha/matte by name) linear."""
        flags = tuple((n in bounded) if bounded is not None else channel_kind(n) == "bounded" for n in names)
        return cls(tuple("linear" if b else encoding for b in flags), flags)

    @property
    def channels(self) -> int:
        return len(self.encodings)

    def encode(self, pixels: np.ndarray, axis: int = -1) -> np.ndarray:
        """Scene-linear → working encoding, channel by channel along ``axis``. Never clamps."""
        return self._apply(pixels, axis, color.encode, clamp=False)

    def decode(self, pixels: np.ndarray, axis: int = -1) -> np.ndarray:
        """Working encoding → scene-linear; bounded channels are clamped to 0–1."""
        return self._apply(pixels, axis, color.decode, clamp=True)

    def _apply(self, pixels: np.ndarray, axis: int, fn, clamp: bool) -> np.ndarray:
        arr = np.asarray(pixels, dtype=np.float32)
        if arr.shape[axis] != self.channels:
            raise ValueError(f"codec for {self.channels} channels given {arr.shape[axis]}")
        out = np.empty_like(arr)
        src = np.moveaxis(arr, axis, 0)
        dst = np.moveaxis(out, axis, 0)
        for i, (enc, bounded) in enumerate(zip(self.encodings, self.bounded)):
            value = fn(src[i], enc).astype(np.float32)
            dst[i] = np.clip(value, 0.0, 1.0) if (clamp and bounded) else value
        return out

    def to_json(self) -> dict:
        return {"encodings": list(self.encodings), "bounded": list(self.bounded)}


# ----- pairs -------------------------------------------------------------------------------------


@dataclass
class FramePair:
    """One before/after pair in scene-linear float32 (H, W, C); ``target`` is ``scale`` times larger."""

    frame: int | None
    input: np.ndarray
    target: np.ndarray
    input_path: str = ""
    target_path: str = ""
    channels_in: list[str] = field(default_factory=list)
    channels_out: list[str] = field(default_factory=list)
    #: the colourspaces the engine gave the input and target frames (``Frame.colorspace``; "" when unknown)
    input_colorspace: str = ""
    target_colorspace: str = ""

    @property
    def height(self) -> int:
        return int(self.input.shape[0])

    @property
    def width(self) -> int:
        return int(self.input.shape[1])


def _select(frame: "Frame", names: Sequence[str], role: str, param: str) -> np.ndarray:
    missing = [n for n in names if n not in frame.channels]
    if missing:
        raise FrameError(f"{role} has no channel {', '.join(repr(m) for m in missing)} "
                         f"(channels: {', '.join(frame.channels)}; {param}={','.join(names)})",
                         frame.path, frame.number)
    return frame.select(list(names))


def check_frames_exist(pattern: str, frames: Iterable[int], role: str) -> None:
    """One clear error listing every missing frame of ``pattern`` (rather than failing on the first)."""
    seq = SequencePattern(pattern)
    if not seq.is_sequence:
        return
    frames = list(frames)
    missing = seq.missing(frames)
    if missing:
        raise FrameError(f"{role}: {len(missing)} of {len(frames)} frames missing: {format_frames(missing)}",
                         seq.path(missing[0]), missing[0])


def load_pairs(ctx: "TrainContext", frames: Sequence[int | None], channels_in: Sequence[str],
               channels_out: Sequence[str], *, scale: int = 1, target_port: str = "target",
               input_port: str | None = None) -> list[FramePair]:
    """Read and check input/target pairs for ``frames`` through the engine (see the module docstring)."""
    if target_port not in ctx.inputs:
        raise BadInput(f"node {ctx.node_id}: training needs a target sequence (--target PATTERN)")
    check_frames_exist(ctx.input_path(input_port), [f for f in frames if f is not None], "input")
    check_frames_exist(ctx.input_path(target_port), [f for f in frames if f is not None], "target")
    pairs: list[FramePair] = []
    for f in frames:
        ctx.check_cancel()
        src = ctx.read_input(f, input_port)
        dst = ctx.read_input(f, target_port)
        x = _select(src, channels_in, "input", "channels_in")
        y = _select(dst, channels_out, "target", "channels_out")
        if scale == 1:
            if src.data_window != dst.data_window:
                if src.display_window != dst.display_window:
                    raise FrameError(
                        f"target is {dst.display_window[2]}x{dst.display_window[3]} "
                        f"(data window {dst.width}x{dst.height}) but the input "
                        f"{src.path} is {src.display_window[2]}x{src.display_window[3]} "
                        f"(data window {src.width}x{src.height}); pairs must line up pixel for pixel",
                        dst.path, f)
                window = union_window(src.data_window, dst.data_window)
                x = place_on_window(x, src.data_window, window)
                y = place_on_window(y, dst.data_window, window)
        else:
            want = tuple(v * scale for v in src.data_window)
            if dst.data_window != want:
                raise FrameError(f"target data window {dst.data_window} is not {scale}x the input's "
                                 f"{src.data_window} ({src.path})", dst.path, f)
        if x.shape[0] * scale != y.shape[0] or x.shape[1] * scale != y.shape[1]:
            raise FrameError(f"target pixels {y.shape[1]}x{y.shape[0]} do not match the input "
                             f"{x.shape[1]}x{x.shape[0]}" + (f" x{scale}" if scale != 1 else "")
                             + f" ({src.path})", dst.path, f)
        pairs.append(FramePair(f, np.ascontiguousarray(x), np.ascontiguousarray(y), src.path or "",
                               dst.path or "", list(channels_in), list(channels_out),
                               src.colorspace or "", dst.colorspace or ""))
    return pairs


def split_validation(ctx: "TrainContext", spec: str | Iterable[int] | None) -> tuple[list[int], list[int]]:
    """(training frames, held-out validation frames). Validation frames are never trained on.

    ``spec`` is a frame spec ("1012,1036"); frames in it are removed from ``ctx.frames``. They need
    not be among ``--frames``, but both input and target must have them.
    """
    train = list(ctx.frames)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return train, []
    val = parse_frames(spec)
    overlap = [f for f in val if f in train]
    train = [f for f in train if f not in val]
    if overlap:
        ctx.message(f"held out for validation, not trained on: {format_frames(overlap)}")
    if not train:
        raise BadInput("every training frame is also a validation frame; give --frames that are not in "
                       "validation_frames")
    return train, val


# ----- augmentation and crops --------------------------------------------------------------------


@dataclass(frozen=True)
class Augmentation:
    """Random flips, 90° rotations, and exposure jitter of ±``exposure`` stops (0: off)."""

    flips: bool = True
    rotations: bool = True
    exposure: float = 0.0

    def to_json(self) -> dict:
        return {"flips": self.flips, "rotations": self.rotations, "exposure": self.exposure}


class PairedCrops:
    """Random, augmented, encoded crops of frame pairs; ``batch(step)`` is deterministic (see module doc)."""

    def __init__(self, pairs: Sequence[FramePair], crop_size: int, *, batch_size: int, seed: int = 0,
                 codec_in: ChannelCodec | None = None, codec_out: ChannelCodec | None = None,
                 augment: Augmentation = Augmentation(), scale: int = 1, align: int = 1, focus: float = 0.0,
                 focus_channels: Sequence[tuple[int, int]] | None = None, rank: int = 0, world_size: int = 1,
                 crop_edge_margin: int = 0):
        if not pairs:
            raise BadInput("no training pairs")
        if batch_size < 1:
            raise BadInput("batch size must be at least 1")
        if batch_size % world_size:
            raise BadInput(f"batch size {batch_size} must be a multiple of the number of processes ({world_size}): "
                           "each process trains on an equal slice of every batch")
        self.pairs = list(pairs)
        self.scale = int(scale)
        self.batch_size = batch_size
        self.seed = int(seed)
        self.rank, self.world_size = rank, world_size
        self.augment = augment
        cin, cout = pairs[0].input.shape[2], pairs[0].target.shape[2]
        self.codec_in = codec_in or ChannelCodec(("linear",) * cin, (False,) * cin)
        self.codec_out = codec_out or ChannelCodec(("linear",) * cout, (False,) * cout)
        if self.codec_in.channels != cin or self.codec_out.channels != cout:
            raise ValueError("codec channel counts do not match the pairs")
        smallest = min(min(p.height, p.width) for p in self.pairs)
        crop = min(int(crop_size), smallest)
        crop -= crop % max(1, align)
        if crop < max(1, align):
            raise BadInput(f"training frames are too small ({smallest} px) for this network (needs {align} px)")
        self.crop_size = crop
        names_in = pairs[0].channels_in or [f"c{i}" for i in range(cin)]
        names_out = pairs[0].channels_out or [f"c{i}" for i in range(cout)]
        self.expose_in = np.array([channel_kind(n) == "colour" for n in names_in])
        self.expose_out = np.array([channel_kind(n) == "colour" for n in names_out])
        self.focus = float(focus)
        if crop_edge_margin < 0:
            raise ValueError("crop_edge_margin must be 0 or more")
        self.crop_edge_margin = min(int(crop_edge_margin), crop // 4)  # small frames: at least half a crop is scored
        if focus_channels is None:
            focus_channels = [(names_in.index(n), j) for j, n in enumerate(names_out) if n in names_in]
        self._focus_cdf = [self._focus_cdf_for(p, list(focus_channels)) for p in self.pairs] if self.focus > 0 else []

    # -- sizing ---------------------------------------------------------------------------------
    @property
    def per_rank_batch(self) -> int:
        return self.batch_size // self.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Steps for the crops of one batch to cover every training pixel once, on average."""
        pixels = sum(p.height * p.width for p in self.pairs)
        return max(1, math.ceil(pixels / (self.crop_size ** 2 * self.batch_size)))

    def describe(self) -> dict:
        return {"pairs": len(self.pairs), "frames": [p.frame for p in self.pairs], "crop_size": self.crop_size,
                "batch_size": self.batch_size, "steps_per_epoch": self.steps_per_epoch,
                "augment": self.augment.to_json(), "focus": self.focus, "crop_edge_margin": self.crop_edge_margin,
                "scale": self.scale,
                "seed": self.seed}

    # -- focus ----------------------------------------------------------------------------------
    def _focus_cdf_for(self, pair: FramePair, matched: list[tuple[int, int]]) -> np.ndarray | None:
        """Cumulative crop-centre weights: where target differs from input, else target edges."""
        tgt = self.codec_out.encode(pair.target)
        if self.scale != 1:  # compare at input resolution
            s = self.scale
            tgt = tgt.reshape(pair.height, s, pair.width, s, -1).mean(axis=(1, 3))
        weight = np.zeros(tgt.shape[:2], np.float64)
        done = set()
        if matched:
            src = self.codec_in.encode(pair.input)
            for i, j in matched:
                weight += np.abs(tgt[:, :, j] - src[:, :, i])
                done.add(j)
        for j in range(tgt.shape[2]):
            if j not in done:
                gy, gx = np.gradient(tgt[:, :, j])
                weight += np.hypot(gx, gy)
        total = weight.sum()
        if not np.isfinite(total) or total <= 1e-12:
            return None  # nothing differs: plain uniform crops
        return np.cumsum(weight.ravel())

    # -- sampling -------------------------------------------------------------------------------
    def _crop_origin(self, rng: np.random.Generator, index: int, focused: bool) -> tuple[int, int]:
        pair, c = self.pairs[index], self.crop_size
        cdf = self._focus_cdf[index] if (focused and self._focus_cdf) else None
        if cdf is None:
            return int(rng.integers(0, pair.height - c + 1)), int(rng.integers(0, pair.width - c + 1))
        flat = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        cy, cx = divmod(min(flat, pair.height * pair.width - 1), pair.width)
        jitter = max(1, c // 4)  # the feature lands anywhere in the middle half, not always dead centre
        y0 = cy - c // 2 + int(rng.integers(-jitter, jitter + 1))
        x0 = cx - c // 2 + int(rng.integers(-jitter, jitter + 1))
        return int(np.clip(y0, 0, pair.height - c)), int(np.clip(x0, 0, pair.width - c))

    def sample(self, step: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` of the global batch at ``step``: (C_in, c, c), (C_out, c*s, c*s), encoded."""
        rng = np.random.default_rng([self.seed, int(step), int(index)])
        p = int(rng.integers(len(self.pairs)))
        pair, c, s = self.pairs[p], self.crop_size, self.scale
        focused = self.focus > 0 and rng.random() < self.focus
        y0, x0 = self._crop_origin(rng, p, focused)
        x = pair.input[y0:y0 + c, x0:x0 + c].copy()
        y = pair.target[y0 * s:(y0 + c) * s, x0 * s:(x0 + c) * s].copy()
        m = self.crop_edge_margin * s
        if m > 0:
            # NaN (no loss) on the outer pixels of every crop side that is not a frame border: there the target
            # was made with context the crop cuts off, and a network that pads at the crop edge would learn to
            # guess it, then apply the guess at the frame edge, where the target saw no more than the network
            y = y.astype(np.float32)
            if y0 > 0:
                y[:m] = np.nan
            if y0 + c < pair.height:
                y[-m:] = np.nan
            if x0 > 0:
                y[:, :m] = np.nan
            if x0 + c < pair.width:
                y[:, -m:] = np.nan
        aug = self.augment
        if aug.flips:
            if rng.random() < 0.5:
                x, y = x[:, ::-1], y[:, ::-1]
            if rng.random() < 0.5:
                x, y = x[::-1], y[::-1]
        if aug.rotations:
            k = int(rng.integers(4))
            if k:
                x, y = np.rot90(x, k), np.rot90(y, k)
        if aug.exposure > 0:
            gain = np.float32(2.0 ** rng.uniform(-aug.exposure, aug.exposure))
            x = np.where(self.expose_in, x * gain, x)
            y = np.where(self.expose_out, y * gain, y)
        xe = self.codec_in.encode(np.ascontiguousarray(x))
        ye = self.codec_out.encode(np.ascontiguousarray(y))
        return np.ascontiguousarray(xe.transpose(2, 0, 1)), np.ascontiguousarray(ye.transpose(2, 0, 1))

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """This rank's slice of global batch ``step``: (N, C_in, c, c), (N, C_out, c*s, c*s) float32."""
        n = self.per_rank_batch
        items = [self.sample(step, self.rank * n + i) for i in range(n)]
        return np.stack([a for a, _ in items]), np.stack([b for _, b in items])


class ValidationSet:
    """Centre crops of held-out pairs, encoded once: ``items`` = [(frame, x (1,C,h,w), y (1,C,h*s,w*s))]."""

    def __init__(self, pairs: Sequence[FramePair], codec_in: ChannelCodec, codec_out: ChannelCodec, *,
                 max_size: int = 512, align: int = 1, scale: int = 1):
        self.pairs = list(pairs)
        self.codec_in, self.codec_out = codec_in, codec_out
        self.items: list[tuple[int | None, np.ndarray, np.ndarray]] = []
        for p in self.pairs:
            h = min(p.height, max_size) // align * align
            w = min(p.width, max_size) // align * align
            if h < align or w < align:
                continue
            y0, x0 = (p.height - h) // 2, (p.width - w) // 2
            x = codec_in.encode(p.input[y0:y0 + h, x0:x0 + w])
            y = codec_out.encode(p.target[y0 * scale:(y0 + h) * scale, x0 * scale:(x0 + w) * scale])
            self.items.append((p.frame, x.transpose(2, 0, 1)[None].copy(), y.transpose(2, 0, 1)[None].copy()))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def frames(self) -> list[int | None]:
        return [f for f, _, _ in self.items]
