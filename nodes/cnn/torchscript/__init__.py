"""``cnn.torchscript``: run any TorchScript (or ONNX) image model a studio already has, Cattery-style."""
from __future__ import annotations

import zipfile

import numpy as np

from filmai_plugins.errors import BadInput, FrameError
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.schema import parse_channel_list


def check_torchscript_file(path: str) -> None:
    """Refuse pickles and plain ``torch.save`` archives before torch.jit.load ever sees them.

    A TorchScript archive is a zip with ``code/`` and ``constants.pkl``; its code runs in the
    TorchScript interpreter, not in Python. A ``torch.save`` zip holds only ``data.pkl``, which
    would need the Python unpickler: refused.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":
        raise BadInput(f"{path}: this is a Python pickle, not a TorchScript model; FilmAI never unpickles model "
                       "files. Export it with torch.jit.script/trace and torch.jit.save.")
    if head != b"PK\x03\x04":
        raise BadInput(f"{path}: not a TorchScript model (not a TorchScript zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInput(f"{path}: not a TorchScript model: a damaged or truncated zip archive ({exc})") from None
    if not any("/code/" in n or n.startswith("code/") for n in names) or not any(n.endswith("constants.pkl") for n in names):
        raise BadInput(f"{path}: a torch.save archive (pickled Python objects), not a TorchScript model; "
                       "FilmAI never unpickles. Export it with torch.jit.script/trace and torch.jit.save.")


class TorchScriptNode(Node):
    """Run a TorchScript ``.pt`` (or ONNX ``.onnx``) image model on a sequence, like Nuke's Inference node
    with a Cattery model, without its limits: any input/output channels by name (AOVs included),
    seamless tiling for any frame size, cuda/mps/cpu, fp16 on GPU, and HDR values kept.

    The model takes one (1, C_in, H, W) float tensor and returns (1, C_out, H*s, W*s); ``scale`` 0 detects
    ``s`` from the first output. ``colorspace`` converts the plate into the space the model was trained in
    and back (e.g. ``srgb_tx`` for a model trained on sRGB photos).
    """

    id = "cnn.torchscript"
    version = "1.0.0"
    family = "cnn"
    label = "TorchScript / ONNX model"
    inputs = (Port("input", "Frames", "the plate", channels=("R", "G", "B")),)
    outputs = (Port("output", "Frames", "the model's result"),)
    params = (
        Param("channels_in", "string", "R,G,B", help="input channels fed to the model, in order"),
        Param("channels_out", "string", "R,G,B", help="names of the model's output channels, in order"),
        Param("keep_other_channels", "bool", True,
              help="pass the input's other channels (alpha, AOVs) and other parts through (only when scale is 1)"),
        Param("scale", "int", 0, min=0, max=16, help="output/input size ratio; 0 detects it from the model"),
        Param("receptive_field", "int", 32, min=0, max=1024, soft_max=128,
              help="pixels of context the model needs; tiles overlap by more than this so tiling is seamless"),
        Param("align", "int", 1, min=1, max=256, help="the model needs sizes that are multiples of this"),
        Param("half", "bool", False, help="half precision (fp16) on GPU: faster, less memory; ignored on CPU"),
        Param("colorspace", "string", "",
              help="colourspace the model was trained in (an OCIO name, alias or interop id): colour channels are "
                   "converted into it and back; empty: the plate's own"),
        Param("batch", "int", 1, min=1, max=64, help="tiles per forward pass (models that accept batches)"),
    )
    model = "required"
    model_format = "torchscript"
    needs_torch = True

    def input_channels(self, port: str) -> list[str] | None:
        return parse_channel_list(self.params["channels_in"])  # checked on every frame; the others pass through

    def validate(self, ctx) -> None:
        if not parse_channel_list(self.params["channels_in"]) or not parse_channel_list(self.params["channels_out"]):
            raise BadInput("cnn.torchscript: channels_in and channels_out must name at least one channel")
        if not ctx.model_path.lower().endswith(".onnx"):
            check_torchscript_file(ctx.model_path)  # a pickle or a damaged archive: refused before anything runs
        ctx.model_colorspace(self.params["colorspace"], "cnn.torchscript's colorspace")  # known to the config

    def setup(self, ctx) -> None:
        self.channels_in = parse_channel_list(self.params["channels_in"])
        self.channels_out = parse_channel_list(self.params["channels_out"])
        path = ctx.model_path
        self.onnx = path.lower().endswith(".onnx")
        self.device = ctx.device or "cpu"
        self.half = bool(self.params["half"]) and self.device.startswith("cuda")
        if self.params["half"] and not self.half:
            ctx.message("half precision is only used on a CUDA device; running in float32")
        if self.onnx:
            try:
                import onnxruntime as ort
            except ImportError:
                raise BadInput("ONNX models need onnxruntime (pip install onnxruntime)") from None
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device.startswith("cuda") else ["CPUExecutionProvider"]
            try:
                self.session = ort.InferenceSession(path, providers=[p for p in providers if p in ort.get_available_providers()])
            except Exception as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BadInput(f"{path}: cannot load ONNX model: {reason}") from None
            self.onnx_input = self.session.get_inputs()[0].name
        else:
            torch = ctx.torch
            try:
                self.module = torch.jit.load(path, map_location=self.device).eval()
            except Exception as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BadInput(f"{path}: cannot load TorchScript model: {reason}") from None
            if self.half:
                self.module = self.module.half()
        self.scale = self.params["scale"] or None

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """(N, h, w, C) → (N, h*s, w*s, C_out), padding to ``align`` and cropping back."""
        align = self.params["align"]
        n, h, w, _ = batch.shape
        ph, pw = (-h) % align, (-w) % align
        x = np.transpose(batch, (0, 3, 1, 2))
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        if self.onnx:
            y = self.session.run(None, {self.onnx_input: np.ascontiguousarray(x, np.float32)})[0]
        else:
            import torch

            with torch.inference_mode():
                t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
                if self.half:
                    t = t.half()
                y = self.module(t)
                if isinstance(y, (tuple, list)):
                    y = y[0]
                y = y.float().cpu().numpy()
        if y.ndim != 4:
            raise BadInput(f"model returned a tensor of shape {tuple(y.shape)}; expected (N, C, H, W)")
        s = y.shape[2] / x.shape[2]
        if self.scale is None:
            if not float(s).is_integer() or s < 1:
                raise BadInput(f"model output is {s:.3g}x its input; set the scale param")
            self.scale = int(s)
        elif abs(s - self.scale) > 1e-6:
            raise BadInput(f"model output is {s:.3g}x its input but scale is {self.scale}")
        if y.shape[1] != len(self.channels_out):
            raise BadInput(f"model returned {y.shape[1]} channels but channels_out names {len(self.channels_out)} "
                           f"({', '.join(self.channels_out)})")
        y = y[:, :, : h * self.scale, : w * self.scale]
        return np.transpose(y, (0, 2, 3, 1))

    def process(self, frame: Frame, ctx) -> Frame:
        try:
            x = frame.select(self.channels_in)
        except FrameError as exc:
            raise FrameError(f"{exc.reason} (channels_in={','.join(self.channels_in)})", frame.path, frame.number) from None
        # into the space the model was trained in (colour layers only: alpha and data pass as they are)
        space = ctx.model_colorspace(self.params["colorspace"], "cnn.torchscript's colorspace")
        x = ctx.colour.convert_channels(x, self.channels_in, frame.colorspace, space)
        if self.scale is None:  # probe the scale on a small crop so the tiler knows the output size
            probe = x[: min(64, x.shape[0]), : min(64, x.shape[1])]
            self._forward(probe[None])
        y = ctx.apply_tiled(self._forward, x, scale=self.scale, align=self.params["align"],
                            batch=self.params["batch"], receptive_field=self.params["receptive_field"])
        y = ctx.colour.convert_channels(y, self.channels_out, space, frame.colorspace)
        names = list(self.channels_out)
        if self.params["keep_other_channels"] and self.scale == 1:
            return frame.with_channels(names, y)  # alpha, AOVs, other parts and pixel types kept
        if self.params["keep_other_channels"] and frame.other_parts and not getattr(self, "_told_parts", False):
            ctx.message(f"cnn.torchscript: the model scales by {self.scale}: the file's other parts "
                        f"({', '.join(p.part for p in frame.other_parts)}) are left out")
            self._told_parts = True
        return frame.with_pixels(y, names, scale=self.scale, other_parts=[])

NODES = (TorchScriptNode,)
