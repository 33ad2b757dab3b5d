"""Community up-res models: the ``.pth`` and ``.safetensors`` files artists download (Real-ESRGAN, the
ESRGAN family on OpenModelDB, the compact Real-ESRGAN models), read safely and rebuilt here.

Built in (no spandrel, no torchvision):

- **RRDBNet** (ESRGAN / Real-ESRGAN) in three key layouts, all mapped onto the Real-ESRGAN one:
  ``conv_first, body.N.rdbK.convM, conv_body, conv_up1/2, conv_hr, conv_last`` (Real-ESRGAN / BasicSR),
  ``RRDB_trunk.N.RDBK.convM, trunk_conv, upconv1/2, HRconv`` (the ESRGAN repository) and the old
  ``model.0, model.1.sub.N.RDBK.convM.0, …`` layout. x4 and x8 upsample features (nearest + conv);
  x2 and x1 pixel-unshuffle the input by 2 or 4 first (Real-ESRGAN x2plus), so the scale is
  ``2 ** upsampling convs / unshuffle``.
- **SRVGGNetCompact** (Real-ESRGAN's compact models: a plain conv stack with PReLU, pixel shuffle, plus
  a nearest-neighbour base).

Architecture, width, depth and scale are read from the tensors' names and shapes; nothing is taken from
the file name. Weights may sit under ``params_ema`` (preferred: the averaged weights), ``params``,
``state_dict`` or at the top level, with or without a ``module.`` prefix.

Safety: a ``.safetensors`` file is data only. A ``.pth`` is a pickle; it is read with
``torch.load(weights_only=True)`` only, whose restricted unpickler accepts tensors and plain
containers and refuses any other Python object, so a payload in the file never runs: the load fails
and the node exits 2. Other architectures go to ``spandrel`` (SwinIR, HAT, DAT, OmniSR, SPAN, …) when
it imports (``pip install 'filmai-plugins[spandrel]'``, which needs the torchvision matching your torch);
it is handed the tensors already read here, never the file.

Models see what they were trained on: sRGB-encoded RGB in 0-1. The node converts the plate into that
and back (``model_space``/``encoding`` in the metadata below, applied in one place in the node).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from filmai_plugins.errors import CheckpointError
from filmai_plugins.files import file_sha256
from filmai_plugins.training.checkpoint import Checkpoint

from .modelfile import file_kind

NODE_ID = "gan.upres"
SUPPORTED = ("ESRGAN/Real-ESRGAN RRDBNet (Real-ESRGAN, ESRGAN and old 'model.N' key layouts; x1, x2, x4, x8) "
             "and SRVGGNetCompact (Real-ESRGAN compact, PReLU)")
SPANDREL_HINT = ("other architectures (SwinIR, HAT, DAT, OmniSR, SPAN, …) load through spandrel: "
                 "pip install 'filmai-plugins[spandrel]' (needs the torchvision that matches your torch)")
#: Tiling margin for deep networks. The bound for a 23-block RRDBNet is ~350 input pixels, but its dense
#: blocks are scaled by 0.2 twice, so far pixels weigh almost nothing; a margin of this many pixels plus
#: the tiler's feathered blend hides what remains. Networks whose bound is smaller are tiled exactly.
MAX_TILE_MARGIN = 40
#: Where weights sit in a training framework's .pth, in order of preference (EMA weights first).
CONTAINERS = ("params_ema", "params", "state_dict", "model", "net", "generator", "g")


@dataclass(frozen=True)
class ModelSpec:
    """What a community model is, as read from its tensors."""

    arch: str  # "RRDBNet" | "SRVGGNetCompact" | a spandrel architecture name
    layout: str  # key layout the file used
    scale: int
    in_ch: int = 3
    out_ch: int = 3
    nf: int = 0  # features
    gc: int = 0  # RRDBNet growth channels
    blocks: int = 0  # RRDBNet: RRDBs; SRVGGNetCompact: body convs
    unshuffle: int = 1  # RRDBNet x2/x1: pixel-unshuffle factor of the input
    upsamples: int = 0  # RRDBNet: nearest x2 + conv steps
    act: str = ""  # SRVGGNetCompact activation
    params: int = 0

    @property
    def receptive_field(self) -> int:
        """Input pixels of context an output pixel depends on (a bound), capped at MAX_TILE_MARGIN."""
        if self.arch == "RRDBNet":
            convs = 2 + 15 * self.blocks  # conv_first, 5 convs x 3 dense blocks per RRDB, conv_body
            # the feature-space upsampling convs and the final two run at 2x, 4x, … the feature resolution
            hr = sum(0.5 ** (i + 1) for i in range(self.upsamples)) + 2 * 0.5 ** self.upsamples
            bound = math.ceil((convs + hr) * self.unshuffle) + 1
        elif self.arch == "SRVGGNetCompact":
            bound = self.blocks + 2 + 1
        else:
            bound = MAX_TILE_MARGIN
        return min(bound, MAX_TILE_MARGIN)

    @property
    def align(self) -> int:
        return self.unshuffle

    def to_meta(self) -> dict[str, Any]:
        return {"type": "community", **asdict(self)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "ModelSpec":
        return cls(**{k: v for k, v in meta.items() if k in cls.__dataclass_fields__})

    def describe(self) -> str:
        if self.arch == "RRDBNet":
            shape = f"{self.blocks} RRDBs, {self.nf} features, growth {self.gc}"
            if self.unshuffle > 1:
                shape += f", pixel-unshuffle {self.unshuffle}"
        elif self.arch == "SRVGGNetCompact":
            shape = f"{self.blocks} convs, {self.nf} features, {self.act}"
        else:
            shape = "via spandrel"
        return f"{self.arch} x{self.scale} ({shape}; {self.layout} layout)"


# ----- reading files ------------------------------------------------------------------------------


def _load_safetensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    with open(path, "rb") as f:
        blob = f.read()
    try:
        return dict(load(blob))
    except Exception as exc:  # safetensors raises its own error type for truncated or corrupt files
        raise CheckpointError(f"{path}: truncated or corrupt .safetensors file ({exc}); nothing was run") from None


def _load_pth(path: str) -> Any:
    import pickle

    try:
        # weights_only: torch's restricted unpickler (tensors, dicts, lists, numbers); any other global
        # in the pickle is refused before it is created, so nothing in the file is executed.
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        found = next((line.strip() for line in reason if "global" in line.lower()), reason[0] if reason else "")
        raise CheckpointError(
            f"{path}: refused: the .pth holds Python objects besides tensors ({found}); FilmAI reads .pth files "
            "with torch.load(weights_only=True) only, so nothing in it was run. Ask for a .safetensors version "
            "of the model") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable .pth model ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None


def _unwrap(obj: Any, path: str) -> tuple[dict[str, torch.Tensor], str]:
    """The tensor dict inside what a training framework saved, and where it was found."""
    where = "top level"
    for _ in range(3):
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((k for k in CONTAINERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj, where = obj[inner], inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: no weights found (the file holds a {type(obj).__name__})")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: no tensors found (keys: {', '.join(list(map(str, obj))[:8])})")
    if all(k.startswith("module.") for k in tensors):  # saved from DataParallel
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors, where


def read_state_dict(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, source info) of a community model file; CheckpointError (exit 2) for anything else."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: model file not found")
    kind = file_kind(path)
    if kind == "safetensors":
        tensors, where = _unwrap(_load_safetensors(path), path)
    elif kind == "pth":
        tensors, where = _unwrap(_load_pth(path), path)
    elif kind == "filmai":
        raise CheckpointError(f"{path}: a FilmAI checkpoint, not a community model")
    else:
        raise CheckpointError(f"{path}: not a model file gan.upres reads (a FilmAI checkpoint, a .safetensors or "
                              "a .pth of weights)")
    return tensors, {"format": kind, "weights": where}


# ----- recognising architectures ------------------------------------------------------------------


def _sorted_indices(keys, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in keys if (m := rx.match(k))})


def _rrdb_from_esrgan(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ESRGAN repository's names (RRDB_trunk, trunk_conv, upconvN, HRconv) → Real-ESRGAN's."""
    out = {}
    for k, v in state.items():
        k2 = re.sub(r"^RRDB_trunk\.", "body.", k)
        k2 = re.sub(r"\.RDB(\d)\.", r".rdb\1.", k2)
        k2 = re.sub(r"^trunk_conv\.", "conv_body.", k2)
        k2 = re.sub(r"^upconv(\d)\.", r"conv_up\1.", k2)
        k2 = re.sub(r"^HRconv\.", "conv_hr.", k2)
        out[k2] = v
    return out


def _rrdb_from_old(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The old ``model.N`` names → Real-ESRGAN's. model.0 is the first conv, model.1.sub.* the trunk
    (its last entry the trunk conv), then per upsampling step (nearest, conv, act) three indices, then
    the HR conv, an activation and the last conv."""
    subs = _sorted_indices(state, r"^model\.1\.sub\.(\d+)\.")
    trunk_conv = max(subs)
    tail = _sorted_indices(state, r"^model\.(\d+)\.weight$")
    tail = [i for i in tail if i >= 2]
    if len(tail) < 2:
        raise ValueError("old layout without HR and last convs")
    *ups, hr, last = tail
    out = {}
    for k, v in state.items():
        if k.startswith("model.0."):
            out["conv_first." + k[len("model.0."):]] = v
            continue
        m = re.match(r"^model\.1\.sub\.(\d+)\.(.*)$", k)
        if m:
            idx, rest = int(m.group(1)), m.group(2)
            if idx == trunk_conv:
                out["conv_body." + rest] = v
            else:
                rest = re.sub(r"^RDB(\d)\.conv(\d)\.0\.", r"rdb\1.conv\2.", rest)
                out[f"body.{idx}.{rest}"] = v
            continue
        m = re.match(r"^model\.(\d+)\.(weight|bias)$", k)
        if m:
            idx = int(m.group(1))
            if idx in ups:
                out[f"conv_up{ups.index(idx) + 1}.{m.group(2)}"] = v
            elif idx == hr:
                out[f"conv_hr.{m.group(2)}"] = v
            elif idx == last:
                out[f"conv_last.{m.group(2)}"] = v
            else:
                out[k] = v  # left for strict loading to name
            continue
        out[k] = v
    return out


def _detect_rrdb(state: dict[str, torch.Tensor], layout: str, path: str) -> tuple[ModelSpec, dict]:
    try:
        first, last = state["conv_first.weight"], state["conv_last.weight"]
        blocks = len(_sorted_indices(state, r"^body\.(\d+)\.rdb1\.conv1\.weight$"))
        nf, in_total = int(first.shape[0]), int(first.shape[1])
        gc = int(state["body.0.rdb1.conv1.weight"].shape[0])
        out_ch = int(last.shape[0])
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"{path}: an RRDBNet ({layout} layout) without the tensor {exc}") from None
    upsamples = len(_sorted_indices(state, r"^conv_up(\d+)\.weight$"))
    ratio = in_total / out_ch
    unshuffle = int(round(math.sqrt(ratio)))
    if unshuffle < 1 or unshuffle * unshuffle * out_ch != in_total:
        raise CheckpointError(f"{path}: RRDBNet with {in_total} input and {out_ch} output channels: not a "
                              f"plain or pixel-unshuffled image model")
    in_ch = in_total // (unshuffle * unshuffle)
    scale = 2 ** upsamples / unshuffle
    if scale != int(scale) or int(scale) < 1:
        raise CheckpointError(f"{path}: RRDBNet with {upsamples} upsampling steps and pixel-unshuffle "
                              f"{unshuffle}: scale {scale} is not a whole factor")
    spec = ModelSpec("RRDBNet", layout, int(scale), in_ch, out_ch, nf, gc, blocks, unshuffle, upsamples,
                     params=sum(int(v.numel()) for v in state.values()))
    return spec, state


def _detect_srvgg(state: dict[str, torch.Tensor], path: str) -> tuple[ModelSpec, dict]:
    idx = _sorted_indices(state, r"^body\.(\d+)\.weight$")
    convs = [i for i in idx if state[f"body.{i}.weight"].dim() == 4]
    acts = [i for i in idx if state[f"body.{i}.weight"].dim() == 1]
    if len(convs) < 2:
        raise CheckpointError(f"{path}: a SRVGGNetCompact-like body with {len(convs)} convs")
    if not acts:
        raise CheckpointError(f"{path}: a SRVGGNetCompact with ReLU or LeakyReLU activations (no PReLU weights): "
                              "the two cannot be told apart from the tensors; only the PReLU models (all those "
                              "Real-ESRGAN released) are supported built in")
    first, last = state[f"body.{convs[0]}.weight"], state[f"body.{convs[-1]}.weight"]
    in_ch, nf = int(first.shape[1]), int(first.shape[0])
    scale = int(round(math.sqrt(last.shape[0] / in_ch)))
    if scale < 1 or scale * scale * in_ch != int(last.shape[0]):
        raise CheckpointError(f"{path}: SRVGGNetCompact whose last conv gives {last.shape[0]} channels for "
                              f"{in_ch} input channels: no whole pixel-shuffle factor")
    spec = ModelSpec("SRVGGNetCompact", "Real-ESRGAN", scale, in_ch, in_ch, nf, 0, len(convs) - 2, act="prelu",
                     params=sum(int(v.numel()) for v in state.values()))
    return spec, state


def _key_sample(state: Mapping[str, Any], n: int = 4) -> str:
    keys = list(state)
    return ", ".join(keys[:n]) + (f", … ({len(keys)} tensors)" if len(keys) > n else "")


def detect(state: dict[str, torch.Tensor], path: str) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """(spec, tensors in the built-in network's names); CheckpointError naming what was found otherwise."""
    keys = set(state)
    if "conv_first.weight" in keys and any(k.startswith("body.") for k in keys):
        return _detect_rrdb(state, "Real-ESRGAN", path)
    if "conv_first.weight" in keys and any(k.startswith("RRDB_trunk.") for k in keys):
        return _detect_rrdb(_rrdb_from_esrgan(state), "ESRGAN", path)
    if "model.0.weight" in keys and any(k.startswith("model.1.sub.") for k in keys):
        try:
            mapped = _rrdb_from_old(state)
        except ValueError as exc:
            raise CheckpointError(f"{path}: an old-layout ESRGAN file that does not parse: {exc}") from None
        return _detect_rrdb(mapped, "old ESRGAN", path)
    if "body.0.weight" in keys and not any(k.startswith("conv_first") for k in keys) and all(
            k.startswith("body.") for k in keys):
        return _detect_srvgg(state, path)
    return _detect_spandrel(state, path)


def _spandrel():
    try:
        import spandrel  # noqa: F401
    except Exception:  # not installed, or torchvision does not match torch
        return None
    return spandrel


def _detect_spandrel(state: dict[str, torch.Tensor], path: str) -> tuple[ModelSpec, dict]:
    spandrel = _spandrel()
    found = f"tensors {_key_sample(state)}"
    if spandrel is None:
        raise CheckpointError(f"{path}: unsupported architecture ({found}); built in: {SUPPORTED}; {SPANDREL_HINT}")
    try:
        desc = spandrel.ModelLoader().load_from_state_dict(state)
    except Exception as exc:
        raise CheckpointError(f"{path}: unsupported architecture ({found}); neither the built-in loaders ({SUPPORTED}) "
                              f"nor spandrel recognise it: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not isinstance(desc, spandrel.ImageModelDescriptor):  # e.g. inpainting models, which need a mask
        raise CheckpointError(f"{path}: a {type(desc).__name__} ({getattr(desc.architecture, 'name', '?')}); "
                              "gan.upres runs image-to-image models only")
    name = getattr(desc.architecture, "name", None) or type(desc.architecture).__name__
    spec = ModelSpec(str(name), "spandrel", int(desc.scale), int(desc.input_channels), int(desc.output_channels),
                     params=sum(int(v.numel()) for v in state.values()))
    return spec, state


# ----- the networks -------------------------------------------------------------------------------


class ResidualDenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.leaky_relu(self.conv1(x), 0.2)
        x2 = F.leaky_relu(self.conv2(torch.cat((x, x1), 1)), 0.2)
        x3 = F.leaky_relu(self.conv3(torch.cat((x, x1, x2), 1)), 0.2)
        x4 = F.leaky_relu(self.conv4(torch.cat((x, x1, x2, x3), 1)), 0.2)
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + 0.2 * x5


class ResidualInResidual(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(nf, gc) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class CommunityRRDBNet(nn.Module):
    """ESRGAN's generator with Real-ESRGAN's names: (N, C, h, w) sRGB 0-1 → (N, C, h*s, w*s)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.unshuffle = spec.unshuffle
        self.conv_first = nn.Conv2d(spec.in_ch * spec.unshuffle ** 2, spec.nf, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualInResidual(spec.nf, spec.gc) for _ in range(spec.blocks)])
        self.conv_body = nn.Conv2d(spec.nf, spec.nf, 3, 1, 1)
        for i in range(spec.upsamples):
            self.add_module(f"conv_up{i + 1}", nn.Conv2d(spec.nf, spec.nf, 3, 1, 1))
        self.upsamples = spec.upsamples
        self.conv_hr = nn.Conv2d(spec.nf, spec.nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(spec.nf, spec.out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.upsamples):
            conv = getattr(self, f"conv_up{i + 1}")
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


class CompactNet(nn.Module):
    """SRVGGNetCompact: conv + PReLU stack at the input resolution, pixel shuffle, plus a nearest base."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.scale = spec.scale
        layers: list[nn.Module] = [nn.Conv2d(spec.in_ch, spec.nf, 3, 1, 1), nn.PReLU(spec.nf)]
        for _ in range(spec.blocks):
            layers += [nn.Conv2d(spec.nf, spec.nf, 3, 1, 1), nn.PReLU(spec.nf)]
        layers.append(nn.Conv2d(spec.nf, spec.out_ch * spec.scale ** 2, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


class PaddedToMultiple(nn.Module):
    """Pads the input (edge-replicated) to a multiple of ``multiple`` and crops the output back: a
    pixel-unshuffle model needs whole 2x2 or 4x4 cells, a plate need not have them."""

    def __init__(self, net: nn.Module, multiple: int, scale: int):
        super().__init__()
        self.net, self.multiple, self.scale = net, multiple, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self.net(x)
        return y[..., : h * self.scale, : w * self.scale]


class _Descriptor(nn.Module):
    """A spandrel model descriptor as a module: calling the descriptor pads the input to the sizes its
    architecture needs (window multiples, …) and crops the result; its network is registered here so
    ``.to()``/``.half()`` reach it."""

    def __init__(self, desc: Any):
        super().__init__()
        self.desc = desc
        self.inner = desc.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.desc(x)


def build_network(spec: ModelSpec, state: Mapping[str, Any], path: str | None = None) -> nn.Module:
    """The network of ``spec`` with ``state`` loaded strictly; eval mode, float32, on the CPU."""
    where = path or "the model"
    tensors = {k: (torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v).float() for k, v in state.items()}
    if spec.arch == "RRDBNet":
        net: nn.Module = CommunityRRDBNet(spec)
    elif spec.arch == "SRVGGNetCompact":
        net = CompactNet(spec)
    else:
        spandrel = _spandrel()
        if spandrel is None:
            raise CheckpointError(f"{where}: a {spec.arch} model needs spandrel, which does not import here; "
                                  f"{SPANDREL_HINT}")
        desc = spandrel.ModelLoader().load_from_state_dict(tensors)
        return _Descriptor(desc).float().eval()
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{where}: the tensors do not fit a {spec.describe()}: {detail}") from None
    if spec.unshuffle > 1:
        net = PaddedToMultiple(net, spec.unshuffle, spec.scale)
    return net.eval()


# ----- as a checkpoint the node runs --------------------------------------------------------------


def inspect_file(path: str) -> tuple[ModelSpec, dict[str, torch.Tensor], dict[str, str]]:
    """(spec, tensors in built-in names, source info) of a community model file."""
    tensors, source = read_state_dict(path)
    spec, state = detect(tensors, path)
    source["dtype"] = str(next(iter(tensors.values())).dtype).replace("torch.", "")
    return spec, state, source


def load_community(path: str) -> Checkpoint:
    """A community model as a Checkpoint the node runs like its own: metadata says the architecture,
    the scale, the working encoding (sRGB over linear Rec.709: what these models were trained on)."""
    spec, state, source = inspect_file(path)
    if (spec.in_ch, spec.out_ch) != (3, 3):
        raise CheckpointError(f"{path}: a {spec.describe()} for {spec.in_ch} input and {spec.out_ch} output "
                              "channel(s); gan.upres runs RGB models (3 in, 3 out)")
    tensors = {k: v.detach().float().cpu().numpy() for k, v in state.items()}
    meta = {"node": NODE_ID, "arch": spec.to_meta(), "scale": spec.scale, "encoding": "srgb",
            "colorspace": "lin_rec709", "channels_in": ["R", "G", "B"], "channels_out": ["R", "G", "B"],
            "weight_sets": ["community"], "community": {"file": os.path.basename(path), **source,
                                                        "description": spec.describe()}}
    return Checkpoint(path=path, meta=meta, tensors=tensors, sha256=file_sha256(path))


def describe_file(path: str) -> dict[str, Any]:
    """What ``filmai models`` prints for a community file (the tensors are read, never run)."""
    spec, _state, source = inspect_file(path)
    runs = (spec.in_ch, spec.out_ch) == (3, 3)
    return {
        "file": os.path.abspath(path), "kind": f"community up-res model (.{source['format']})",
        "node": NODE_ID if runs else None, "architecture": spec.to_meta(), "description": spec.describe(),
        "scale": spec.scale, "channels_in": spec.in_ch, "channels_out": spec.out_ch, "parameters": spec.params,
        "weights": f"{source['weights']}, {source['dtype']}",
        "working_space": "sRGB-encoded RGB, 0-1 (gan.upres converts the plate into it and back)",
        "size_bytes": os.path.getsize(path), "sha256": file_sha256(path),
        "run": f"filmai run gan.upres --model {path} … (scale: x{spec.scale} from the model)" if runs else None,
        "note": None if runs else f"gan.upres runs RGB models (3 in, 3 out); this one is {spec.in_ch} in, "
                                  f"{spec.out_ch} out",
    }
