"""The worker client both DCC adapters use: schema, command lines, running, progress, cancel, manifest.

Hosts are UI and data movers; node work runs in the headless host. This module starts it and talks
to it, the same way from Blender and from Nuke:

* **in process** when ``filmai_plugins`` (and torch, for nodes that need it) import inside the DCC's
  Python: the engine runs on a background thread with a cancel token, and its progress events are
  queued for the host's main thread;
* otherwise as a **worker process** in a configured Python environment,
  ``<python> -m filmai_plugins run ... --progress json``, whose stdout is one JSON event per line (the
  events of ``filmai_plugins.engine.progress``). Cancel sends SIGTERM: the engine finishes the writes
  under way and leaves no partial frame. The DCC's own numpy and site-packages are never touched.

Both paths are driven by one :class:`JobSpec` (what to run) and one :class:`Job` (polling, cancel,
the manifest), and a job spec is also the JSON a host stores in its scene file so a farm can rebuild
the command line. This file is deliberately standard-library only and runs on Python 3.9+ (Nuke 15
ships 3.10): the Blender extension zip and the Nuke plug-in folder carry a copy of it, with a copy of
``filmai_plugins/schema.py`` beside it — the one parser of param values, keys and frame specs.
"""
from __future__ import annotations

import collections
import contextlib
import importlib.util
import io
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

try:  # the copy shipped beside this file (the Blender extension, the Nuke plug-in folder)
    from . import schema  # type: ignore[attr-defined]
except ImportError:  # loaded on its own from the repository or an installed filmai-plugins
    from filmai_plugins import schema  # type: ignore[no-redef]

#: Events the engine emits (filmai_plugins/engine/progress.py); "log" and "exit" are added here for
#: worker stdout lines that are not JSON and for the end of the job.
ENGINE_EVENTS = ("start", "frame", "skip", "step", "message", "done", "error", "cancelled")
FINAL_STATES = ("done", "failed", "cancelled")
EXIT_CANCELLED = 130
EXIT_TERMINATED = 143  # cancelled by SIGTERM (what Job.cancel sends a worker process)
# Variables of the DCC's own Python that would break a worker built on another Python/numpy.
_DCC_PYTHON_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE")


class WorkerError(Exception):
    """The worker cannot be started or answered something unusable; the message says what to fix."""


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class WorkerConfig:
    """Where node work runs.

    ``python``: an interpreter with ``filmai_plugins`` installed (a venv's ``bin/python``); empty means
    in process when possible, else the ``filmai`` command on PATH. ``mode``: ``auto``, ``process`` or
    ``in_process``. ``env``: extra environment for the worker (e.g. ``FILMAI_PLUGIN_MODULES``,
    ``CUDA_VISIBLE_DEVICES``, ``PYTHONPATH`` of a studio pack). ``device``: auto, cpu, cuda, cuda:N, mps.
    """

    python: str = ""
    mode: str = "auto"
    env: Dict[str, str] = field(default_factory=dict)
    device: str = "auto"
    cancel_grace_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "WorkerConfig":
        """``FILMAI_PYTHON``, ``FILMAI_WORKER_MODE``, ``FILMAI_DEVICE``, ``FILMAI_WORKER_ENV`` (KEY=VALUE;...).
        All unset gives the defaults (:attr:`is_default`)."""
        environ = os.environ if environ is None else environ
        return cls(python=environ.get("FILMAI_PYTHON", ""), mode=environ.get("FILMAI_WORKER_MODE", "auto") or "auto",
                   env=parse_env_text(environ.get("FILMAI_WORKER_ENV", "")),
                   device=environ.get("FILMAI_DEVICE", "auto") or "auto")

    @classmethod
    def from_file(cls, path: str) -> Optional["WorkerConfig"]:
        """Worker settings a host saved (JSON: python, mode, env, device); None when absent or unreadable."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        env = data.get("env") or {}
        return cls(python=str(data.get("python") or ""), mode=str(data.get("mode") or "auto"),
                   env={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
                   device=str(data.get("device") or "auto"))

    def save(self, path: str) -> None:
        """Write these settings as JSON (atomically), for sessions that cannot read the host's preferences."""
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"python": self.python, "mode": self.mode, "env": dict(self.env), "device": self.device}, f,
                      indent=1)
        os.replace(tmp, path)

    @property
    def is_default(self) -> bool:
        return not self.python and self.mode in ("", "auto") and not self.env and self.device in ("", "auto")

    def describe(self) -> str:
        """Where nodes will run, in words (for a log line or a status bar)."""
        if self.mode == "in_process" or (self.mode != "process" and not self.python and in_process_available()):
            return "in this application's Python"
        if self.python:
            return f"worker process {self.python}"
        return "worker process `filmai` on PATH"

    def command(self) -> List[str]:
        """The command that starts the headless host in a worker process."""
        if self.python:
            if not (os.path.isfile(self.python) and os.access(self.python, os.X_OK)):
                raise WorkerError(f"worker Python {self.python!r} does not exist or is not executable; set it to the "
                                  "python of an environment where `pip install filmai-plugins` was run")
            return [self.python, "-m", "filmai_plugins"]
        found = shutil.which("filmai")
        if found:
            return [found]
        raise WorkerError("no worker Python configured and no `filmai` command on PATH: set the worker Python "
                          "(Blender: add-on preferences; Nuke: FILMAI_PYTHON) to an environment with filmai-plugins")

    def process_env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DCC_PYTHON_VARS}
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def runs_in_process(self, needs_torch: bool = False) -> bool:
        if self.mode not in ("auto", "process", "in_process"):
            raise WorkerError(f"unknown worker mode {self.mode!r} (auto, process, in_process)")
        if self.mode == "process":
            return False
        available = in_process_available(needs_torch)
        if self.mode == "in_process":
            if not available:
                raise WorkerError("in-process mode needs filmai_plugins" + (" and torch" if needs_torch else "")
                                  + " importable in this application's Python; use the worker process instead")
            return True
        return not self.python and available


def parse_env_text(text: str) -> Dict[str, str]:
    """``"A=1; B=2"`` or one ``KEY=VALUE`` per line → dict. Blank entries and ``#`` comments are ignored."""
    out: Dict[str, str] = {}
    for raw in text.replace(";", "\n").splitlines():
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorkerError(f"worker environment entry {item!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def in_process_available(needs_torch: bool = False) -> bool:
    try:
        if importlib.util.find_spec("filmai_plugins") is None:
            return False
        return not needs_torch or importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------
# schema


class _ThreadStreams:
    """A stand-in for ``sys.stdout``/``sys.stderr`` that sends the writes of threads that asked for it to
    their own buffer and everything else to the real stream. ``contextlib.redirect_stdout`` swaps the
    stream for every thread: an in-process ``filmai`` call on a background thread would swallow what the
    DCC's main thread prints, and the main thread's prints would corrupt the call's JSON."""

    _lock = threading.Lock()
    _users = 0
    _saved: "tuple[Any, Any]" = (None, None)
    _buffers: Dict[int, "tuple[io.StringIO, io.StringIO]"] = {}

    class _Proxy:
        def __init__(self, index: int):
            self.index = index

        def _target(self) -> Any:
            bufs = _ThreadStreams._buffers.get(threading.get_ident())
            return bufs[self.index] if bufs is not None else _ThreadStreams._saved[self.index]

        def write(self, text: str) -> int:
            return self._target().write(text)

        def flush(self) -> None:
            self._target().flush()

        def __getattr__(self, name: str) -> Any:
            return getattr(self._target(), name)

    @classmethod
    @contextlib.contextmanager
    def capture(cls):
        import sys

        bufs = (io.StringIO(), io.StringIO())
        with cls._lock:
            if cls._users == 0:
                cls._saved = (sys.stdout, sys.stderr)
                sys.stdout, sys.stderr = cls._Proxy(0), cls._Proxy(1)
            cls._users += 1
            cls._buffers[threading.get_ident()] = bufs
        try:
            yield bufs
        finally:
            with cls._lock:
                cls._buffers.pop(threading.get_ident(), None)
                cls._users -= 1
                if cls._users == 0:
                    if isinstance(sys.stdout, cls._Proxy):
                        sys.stdout = cls._saved[0]
                    if isinstance(sys.stderr, cls._Proxy):
                        sys.stderr = cls._saved[1]


def query_schema(config: WorkerConfig, timeout: float = 180.0) -> Dict[str, Any]:
    """``filmai nodes --json`` (nodes, engine I/O options, packs, failed packs) from where nodes will run."""
    if config.runs_in_process():
        from filmai_plugins import cli  # type: ignore[import-not-found]

        with _ThreadStreams.capture() as (buf, _err):
            code = cli.main(["nodes", "--json"])
        text = buf.getvalue()
        if code:
            raise WorkerError(f"`filmai nodes --json` failed in process (exit {code})")
    else:
        cmd = config.command() + ["nodes", "--json"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=config.process_env(),
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise WorkerError(f"{shlex.join(cmd)} did not answer within {timeout:.0f} s") from None
        except OSError as exc:
            raise WorkerError(f"cannot start {shlex.join(cmd)}: {exc}") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise WorkerError(f"{shlex.join(cmd)} failed (exit {proc.returncode}): " + " | ".join(tail))
        text = proc.stdout
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WorkerError(f"the worker's node list is not JSON ({exc}); is it a filmai-plugins environment?") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise WorkerError("the worker's node list has no 'nodes' (incompatible filmai-plugins version?)")
    return data


def node_slug(node_id: str) -> str:
    """``cnn.copycat`` → ``cnn_copycat``: a name usable in Blender idnames and Nuke node names."""
    return node_id.replace(".", "_")


def find_node(schema: Mapping[str, Any], node_id: str) -> Dict[str, Any]:
    for node in schema.get("nodes", []):
        if node["id"] == node_id:
            return node
    known = ", ".join(n["id"] for n in schema.get("nodes", [])) or "(none)"
    raise WorkerError(f"node {node_id!r} is not registered in the worker environment (known: {known})")


def params_for(node: Mapping[str, Any], stage: str) -> List[Dict[str, Any]]:
    """The node's params that apply when running (``run``) or training (``train``)."""
    return [p for p in node.get("params", []) if p.get("stage", "run") in (stage, "both")]


def frame_ports(ports: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    return [dict(p) for p in ports if p.get("type") == "Frames"]


# Words the schema's generated labels (``lr_schedule`` → "Lr schedule") spell the way nobody reads them.
_LABEL_WORDS = {"lr": "LR", "psnr": "PSNR", "gan": "GAN", "ema": "EMA", "gpu": "GPU", "cpu": "CPU", "id": "ID",
                "exr": "EXR", "rgb": "RGB", "rgba": "RGBA", "fps": "FPS", "ocio": "OCIO", "edl": "EDL", "csv": "CSV",
                "otio": "OTIO", "aux": "auxiliary", "col": "column", "len": "length", "dim": "size", "k": "K",
                "b": "B", "nonfinite": "non-finite values"}
_LABEL_NAMES = {"half": "Half precision (fp16)"}


def display_label(param: Mapping[str, Any]) -> str:
    """A label for people: the schema's own label where a node wrote one, else the name with its
    abbreviations spelled as artists read them ("LR schedule", "GAN loss", "User ID column")."""
    name, label = str(param.get("name", "")), str(param.get("label") or "")
    generated = name.replace("_", " ").capitalize()
    if label and label != generated:
        return label  # written by the node's author
    if name in _LABEL_NAMES:
        return _LABEL_NAMES[name]
    words = [_LABEL_WORDS.get(w, w) for w in name.split("_") if w]
    if not words:
        return label or name
    text = " ".join(words)
    return text[0].upper() + text[1:]


def is_channel_list(param: Mapping[str, Any]) -> bool:
    """A string param naming image channels in order ("R,G,B"): hosts show a channel picker for it.

    The schema has no channel type yet, so this goes by the names the built-in nodes use for such
    lists (``channels``, ``channels_in``, ``channels_out``)."""
    return param.get("type") == "string" and param.get("name") in ("channels", "channels_in", "channels_out")


def check_value(param: Mapping[str, Any], value: Any) -> Any:
    """Validate a host value against the schema (hard range, choices, type; keys for animatable params);
    returns it normalised (``schema.Keys`` for keys).

    DCC sliders only enforce soft ranges (Nuke's setRange sets the slider only), so the adapters check
    here before a job starts; the engine checks again with the same parser (``schema.py``). Raises
    ValueError with a message naming the param.
    """
    return schema.parse_param(param, value)


def format_value(param: Mapping[str, Any], value: Any) -> str:
    """A checked value (or keys) as the text ``--set name=value`` takes (the same text both backends pass on)."""
    return schema.format_value(param, value)


# ----------------------------------------------------------------------------------------------
# animation: a DCC's curve → the node contract's keys


def keys_from_samples(param: Mapping[str, Any], samples: Iterable[Any]) -> Any:
    """The value of an animated param for a job, from the DCC's curve sampled at every frame of the run.

    ``samples``: ``(frame, value)`` pairs, the value being what the DCC's own curve evaluation gives at
    that frame (Blender ``FCurve.evaluate``, Nuke ``getValueAt``). Sampling every frame is what makes the
    job see what the artist sees: Bezier and Nuke's smooth curves are not straight between their keys,
    while the contract's keys are (linear between keys, held outside). The samples are then thinned
    without changing any frame's value: a sample that the straight line between the keys kept on either
    side reproduces (to 1e-9 of the value; for ints, to the same whole number) is dropped, so a linear
    or stepped stretch keeps only its ends and a flat curve becomes one plain value.

    Each sample is checked against the param's hard range: a curve that leaves it is a WorkerError
    naming the param, the frame and the value.
    """
    name, kind = str(param.get("name", "?")), param.get("type")
    pairs = sorted((int(f), v) for f, v in samples)
    if not pairs:
        raise WorkerError(f"param {name!r}: no frames to sample its animation at")
    checked = []
    for frame, value in pairs:
        try:
            checked.append((frame, schema.parse_value(param, value)))
        except ValueError as exc:
            raise WorkerError(f"{exc} (at frame {frame} of its animation curve)") from None
    vectors = [tuple(v) if kind == "color" else (float(v),) for _, v in checked]
    if all(vec == vectors[0] for vec in vectors):
        return checked[0][1]  # flat over the run: one value
    tolerance = 0.25 if kind == "int" else 1e-9
    kept = [0]
    lo = hi = None  # per component: the slopes from the last key that stay within tolerance of every sample since
    for j in range(1, len(checked)):
        k = kept[-1]
        dx = checked[j][0] - checked[k][0]
        slopes = [(b - a) / dx for a, b in zip(vectors[k], vectors[j])]
        fits = lo is not None and all(l <= s <= h for l, s, h in zip(lo, slopes, hi))
        if not fits and j - 1 != k:
            kept.append(j - 1)  # the previous sample ends a straight stretch: a key
            k = j - 1
            dx = checked[j][0] - checked[k][0]
            lo = hi = None
        tol = [tolerance * max(1.0, abs(c)) for c in vectors[j]] if kind != "int" else [tolerance]
        low = [(b - t - a) / dx for a, b, t in zip(vectors[k], vectors[j], tol)]
        high = [(b + t - a) / dx for a, b, t in zip(vectors[k], vectors[j], tol)]
        lo = low if lo is None else [max(x, y) for x, y in zip(lo, low)]
        hi = high if hi is None else [min(x, y) for x, y in zip(hi, high)]
    if kept[-1] != len(checked) - 1:
        kept.append(len(checked) - 1)
    return schema.Keys([checked[i] for i in kept])


def animated_note(param: Mapping[str, Any], value: Any, frame: Any) -> str:
    """What a host says when an animated param goes to a job as one value (training, a single image)."""
    return (f"{display_label(param)} is animated: this job uses its value at frame {frame} "
            f"({schema.format_value(param, value)})")


# ----------------------------------------------------------------------------------------------
# frame handles of temporal nodes


def frames_needed(config: WorkerConfig, spec: "JobSpec", timeout: float = 300.0,
                  cancel: Optional[threading.Event] = None) -> List[int]:
    """The input frames a temporal node (schema ``"temporal": true``) needs to make the spec's frames, before
    clamping to what the input has: ``filmai info NODE --frames-needed FRAMES --set ...`` where the nodes run
    (the node's own ``frames_needed``, with the job's params, keys included). Runs a worker call: never on
    a DCC's main thread."""
    if not spec.frames:
        return []
    args = ["info", spec.node, "--frames-needed", spec.frames]
    for name, value in spec.params.items():
        args += ["--set", f"{name}={value}"]
    try:
        data = json.loads(tool(config, args, timeout=timeout, cancel=cancel))
        return schema.parse_frame_spec(str(data["needed"])) if data.get("needed") else []
    except (ValueError, KeyError, TypeError) as exc:
        raise WorkerError(f"{spec.node}: the worker's answer to --frames-needed is unusable ({exc})") from None


def with_handles(frames: Iterable[int], needed: Iterable[int], first: int, last: int) -> List[int]:
    """The frames to stage for a temporal node's input: the job's frames plus the handle frames it needs,
    clamped to the input's range ``first``-``last`` (what the upstream provides); the engine clamps each
    window the same way, so the result equals a run on the whole sequence.

    The staged frames are the input sequence the node sees, and a node may refuse a window longer than
    its input (util.temporal_median does): where windows reach past the input's ends, as many frames as
    were cut off there are staged from within the range too (a frame or two more, never read by a
    window), so a short run at the start of a long plate is not refused as if the plate were short."""
    made = {int(f) for f in frames}  # always staged: a frame the input lacks is the DCC's own error
    extra = {int(n) for n in needed} - made
    inside = {n for n in extra if first <= n <= last}
    staged = made | inside
    in_range = [n for n in staged if first <= n <= last]
    if not in_range:
        return sorted(staged)
    short = len(extra) - len(inside)
    lo, hi = min(in_range), max(in_range)
    while short > 0 and (lo > first or hi < last):
        if hi < last:
            hi += 1
            staged.add(hi)
        else:
            lo -= 1
            staged.add(lo)
        short -= 1
    return sorted(staged)


def describe_handles(manifest: Optional[Mapping[str, Any]]) -> str:
    """One line on the neighbouring frames a temporal node read (the manifest's ``frames_needed``), or ""."""
    handles = (manifest or {}).get("frames_needed") or {}
    if not handles.get("read"):
        return ""
    text = f"input frames {handles['read']} read for the node's windows"
    if handles.get("outside_range"):
        text += f" ({handles['outside_range']} beyond the frames made)"
    if handles.get("clamped"):
        text += f"; {handles['clamped']} not in the input (windows shortened at its ends)"
    return text


# ----------------------------------------------------------------------------------------------
# frames and sequence paths: the shared parser (filmai_plugins/schema.py)


def expand_frames(spec: str) -> List[int]:
    """``"1001-1004,1010,1001-1099:2"`` → frame numbers (a manifest's ``frames_written``, a host's frame field).
    Raises ValueError (``schema.SchemaError``) naming the spec."""
    return schema.parse_frame_spec(str(spec or "")) if str(spec or "").strip() else []


format_frames = schema.format_frame_spec
is_sequence_pattern = schema.is_sequence_pattern
sequence_path = schema.sequence_path
pattern_from_file = schema.pattern_from_file


#: File extension of an output per port type; Frames outputs are EXR sequences.
PORT_EXTENSIONS = {"Frames": ".####.exr", "Timeline": ".otio", "Table": ".csv", "Model": ".ckpt"}


def version_folder(root: str, name: str, reuse_last: bool = False) -> str:
    """``root/name/v001``, ``v002`` … : a new folder per job, so results are never overwritten (two jobs
    racing get two versions), or the last one to resume an interrupted job."""
    base = os.path.join(root, name)
    os.makedirs(base, exist_ok=True)
    versions = sorted(int(m.group(1)) for m in (re.fullmatch(r"v(\d+)", d) for d in os.listdir(base)) if m)
    if reuse_last and versions:
        return os.path.join(base, f"v{versions[-1]:03d}")
    number = (versions[-1] if versions else 0) + 1
    while True:
        path = os.path.join(base, f"v{number:03d}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            number += 1


def remove_if_empty(folder: str) -> None:
    """Drop a version folder that received nothing (the job never started), its staging folders, and
    the node's folder above it when that is left empty (a first run that failed leaves nothing)."""
    for sub in ("_sources", "_input"):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(folder, sub))
    with contextlib.suppress(OSError):
        os.rmdir(folder)
        if re.fullmatch(r"v\d+", os.path.basename(folder)):
            os.rmdir(os.path.dirname(folder))


def output_paths(node: Mapping[str, Any], folder: str, stem: str, single_frame: bool = False) -> Dict[str, str]:
    """One path per output port: ``folder/<stem>_<node>.####.exr``, ``.otio``, ``.csv`` … (``.exr`` for a
    single-image input). A port named for its format (lstm.cuts' ``edl`` and ``csv``) gets that extension;
    the port name is added to the file name only where two outputs would otherwise share it."""
    slug = node_slug(node["id"])
    ports = list(node.get("outputs", []))
    exts = []
    for port in ports:
        ext = PORT_EXTENSIONS.get(port["type"], "")
        if port["type"] in ("Timeline", "Table") and port["name"] in ("otio", "edl", "csv"):
            ext = f".{port['name']}"
        if single_frame and port["type"] == "Frames":
            ext = ".exr"
        exts.append(ext)
    outs = {}
    for port, ext in zip(ports, exts):
        suffix = "" if exts.count(ext) == 1 else f"_{port['name']}"
        outs[port["name"]] = os.path.join(folder, f"{stem}_{slug}{suffix}{ext}")
    return outs


# ----------------------------------------------------------------------------------------------
# what to run


@dataclass
class JobSpec:
    """One ``filmai run`` or ``filmai train`` invocation, as data.

    ``inputs``/``outputs`` map port names to patterns or files; ``params`` and ``io`` hold values as the
    CLI text (see :func:`format_value`). The same spec becomes a command line, an in-process call, the
    JSON a host stores in its scene file, and a farm template.
    """

    node: str
    kind: str = "run"
    inputs: Dict[str, str] = field(default_factory=dict)
    outputs: Dict[str, str] = field(default_factory=dict)
    target: str = ""
    out: str = ""
    frames: str = ""
    params: Dict[str, str] = field(default_factory=dict)
    io: Dict[str, str] = field(default_factory=dict)
    model: str = ""
    device: str = "auto"
    skip_existing: bool = False
    manifest: str = ""

    @classmethod
    def from_values(cls, node: Mapping[str, Any], kind: str, values: Mapping[str, Any],
                    io_options: Iterable[Mapping[str, Any]] = (), io_values: Optional[Mapping[str, Any]] = None,
                    **fields: Any) -> "JobSpec":
        """Build a spec from host values of the schema's params (every param of the stage, checked)."""
        if kind not in ("run", "train"):
            raise WorkerError(f"unknown job kind {kind!r}")
        errors, params = [], {}
        for p in params_for(node, kind):
            if p["name"] in values:
                try:
                    params[p["name"]] = format_value(p, values[p["name"]])
                except ValueError as exc:
                    errors.append(str(exc))
        io_text = {}
        io_values = io_values or {}
        for p in io_options:
            if p["name"] in io_values and io_values[p["name"]] != p.get("default"):
                try:
                    io_text[p["name"]] = format_value(p, io_values[p["name"]])
                except ValueError as exc:
                    errors.append(str(exc))
        if errors:
            raise WorkerError(f"{node['id']}: " + "; ".join(errors))
        return cls(node=node["id"], kind=kind, params=params, io=io_text, **fields)

    def argv(self, progress: str = "json") -> List[str]:
        """Arguments after the ``filmai`` command."""
        args = [self.kind, self.node]
        for port, pattern in self.inputs.items():
            if pattern:
                args += ["--input", f"{port}={pattern}"]
        if self.kind == "run":
            for port, pattern in self.outputs.items():
                if pattern:
                    args += ["--output", f"{port}={pattern}"]
        else:
            if self.target:
                args += ["--target", self.target]
            if not self.out:
                raise WorkerError(f"training {self.node} needs a checkpoint path (out)")
            args += ["--out", self.out]
        if self.frames:
            args += ["--frames", self.frames]
        for name, value in self.params.items():
            args += ["--set", f"{name}={value}"]
        for name, value in self.io.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        if self.model:
            args += ["--model", self.model]
        if self.device and self.device != "auto":
            args += ["--device", self.device]
        if self.kind == "run":
            if self.skip_existing:
                args.append("--skip-existing")
            if self.manifest:
                args += ["--manifest", self.manifest]
        if progress:
            args += ["--progress", progress]
        return args

    def command_line(self, config: Optional[WorkerConfig] = None) -> str:
        """The shell command a TD or farm would run (``filmai ...`` when no worker Python is set)."""
        prefix = [config.python, "-m", "filmai_plugins"] if config and config.python else ["filmai"]
        return shlex.join(prefix + self.argv(progress=""))

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "JobSpec":
        known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        unknown = set(data) - known
        if unknown:
            raise WorkerError(f"job spec has unknown fields {', '.join(sorted(unknown))}")
        return cls(**dict(data))


# ----------------------------------------------------------------------------------------------
# running


class Job:
    """A running (or finished) node job. Poll it from the host's main thread; never blocks unless asked.

    ``state``: pending, running, done, failed, cancelled. ``progress``: 0..1. ``status``: one line for a
    status bar or ProgressTask. ``manifest``: the run manifest (dict) once the engine wrote it.
    """

    def __init__(self, spec: JobSpec, config: Optional[WorkerConfig] = None, needs_torch: bool = False):
        self.spec = spec
        self.config = config or WorkerConfig()
        if spec.device == "auto" and self.config.device not in ("", "auto"):
            spec.device = self.config.device
        self.in_process = self.config.runs_in_process(needs_torch)
        self.state = "pending"
        self.exit_code: Optional[int] = None
        self.events: List[Dict[str, Any]] = []
        self.progress = 0.0
        self.status = ""
        self.error = ""
        self.manifest_path = spec.manifest or ""
        self.stderr_tail: collections.deque = collections.deque(maxlen=60)
        self.started = 0.0
        self.finished = 0.0
        self._queue: "queue.Queue[Dict[str, Any]]" = queue.Queue()
        self._proc: Optional[subprocess.Popen] = None
        self._token: Any = None
        self._cancel_requested = 0.0
        self._manifest: Optional[Dict[str, Any]] = None

    # ----- lifecycle -----------------------------------------------------------------------
    def start(self) -> "Job":
        if self.state != "pending":
            raise WorkerError("job already started")
        self.started = time.time()
        self.state = "running"
        try:
            if self.in_process:
                self._start_thread()
            else:
                self._start_process()
        except WorkerError as exc:  # no worker Python, not executable, cannot fork: a failed job, said why
            self.state, self.exit_code, self.finished = "failed", 1, time.time()
            self.error = self.error or str(exc)
            raise
        return self

    @property
    def command(self) -> List[str]:
        if self.in_process:
            return ["(in process)", "filmai"] + self.spec.argv()
        return self.config.command() + self.spec.argv()

    def _start_process(self) -> None:
        cmd = self.command  # WorkerError when the worker Python is missing
        kwargs: Dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # a Ctrl-C in the DCC's terminal must not reach the worker
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        try:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                          text=True, bufsize=1, env=self.config.process_env(), **kwargs)
        except OSError as exc:
            self.error = f"cannot start the worker {shlex.join(cmd)}: {exc}"
            raise WorkerError(self.error) from None
        proc = self._proc

        def read_stdout() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                    if not isinstance(event, dict) or "event" not in event:
                        raise ValueError
                except ValueError:
                    event = {"event": "log", "message": line}
                self._queue.put(event)

        def read_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.stderr_tail.append(line.rstrip("\n"))

        readers = [threading.Thread(target=read_stdout, daemon=True, name="filmai-worker-stdout"),
                   threading.Thread(target=read_stderr, daemon=True, name="filmai-worker-stderr")]
        for t in readers:
            t.start()

        def wait() -> None:
            code = proc.wait()
            for t in readers:
                t.join(timeout=3.0)
            if any(t.is_alive() for t in readers) and os.name == "posix":
                # the worker is gone but something it started still holds its output open (a wrapper
                # script's child): end the worker's process group so the job can end
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                for t in readers:
                    t.join(timeout=3.0)
            self._queue.put({"event": "exit", "exit_code": code})

        threading.Thread(target=wait, daemon=True, name="filmai-worker-wait").start()

    def _start_thread(self) -> None:
        from filmai_plugins.engine.cancel import CancelToken  # type: ignore[import-not-found]
        from filmai_plugins.errors import FilmAIError  # type: ignore[import-not-found]

        self._token = CancelToken()
        spec = self.spec

        def body() -> None:
            from filmai_plugins.engine.runner import run_node, train_node  # type: ignore[import-not-found]

            code = 0
            try:
                common = dict(frames=spec.frames or None, model=spec.model or None, params=dict(spec.params),
                              device=spec.device or "auto", progress="none", io=dict(spec.io),
                              on_event=self._queue.put, cancel=self._token)
                if spec.kind == "run":
                    run_node(spec.node, input=dict(spec.inputs), output=dict(spec.outputs),
                             skip_existing=spec.skip_existing, manifest=spec.manifest or None, **common)
                else:
                    train_node(spec.node, input=dict(spec.inputs), target=spec.target or None, out=spec.out, **common)
            except FilmAIError as exc:
                code = exc.exit_code
                self._queue.put({"event": "log", "message": f"filmai: {exc}", "level": "error"})
            except BaseException as exc:  # a crash must reach the host as a failed job, not kill its thread silently
                code = 1
                self._queue.put({"event": "log", "message": f"{type(exc).__name__}: {exc}", "level": "error"})
            self._queue.put({"event": "exit", "exit_code": code})

        threading.Thread(target=body, daemon=True, name=f"filmai-{spec.node}").start()

    # ----- polling -------------------------------------------------------------------------
    def poll(self) -> List[Dict[str, Any]]:
        """Events that arrived since the last poll (applied to state/progress/status). Never blocks."""
        new: List[Dict[str, Any]] = []
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self._apply(event)
            new.append(event)
        if self.state == "running" and self._cancel_requested and self._proc is not None:
            if time.time() - self._cancel_requested > self.config.cancel_grace_s and self._proc.poll() is None:
                self._proc.kill()  # the worker ignored SIGTERM for too long
        return new

    def _apply(self, event: Dict[str, Any]) -> None:
        self.events.append(event)
        kind = event.get("event")
        if kind in ("frame", "skip"):
            total = event.get("total") or 0
            self.progress = (event.get("done") or 0) / total if total else self.progress
        elif kind == "step":
            total = event.get("total") or 0
            self.progress = (event.get("step") or 0) / total if total else self.progress
        elif kind == "error":
            self.error = short_error(str(event.get("message", "")))
        elif kind == "log" and event.get("level") == "error":
            self.error = self.error or str(event.get("message", ""))
        if kind in ("done", "cancelled") and event.get("manifest"):
            self.manifest_path = str(event["manifest"])
        if kind == "done":
            self.progress = 1.0
        if kind == "exit":
            self.exit_code = int(event.get("exit_code", 1))
            self.finished = time.time()
            finished_ok = any(e.get("event") == "done" for e in self.events)
            if self.exit_code == 0 and not finished_ok and not self.in_process:
                # exit 0 without the engine's "done": not a filmai-plugins worker (a wrapper that printed
                # something else, a wrong interpreter); never a silent success with nothing written
                said = [str(e.get("message", "")) for e in self.events if e.get("event") == "log"][-3:]
                self.state = "failed"
                self.error = ("the worker exited without running the job (is the worker Python a filmai-plugins "
                              "environment?)" + (f"; it printed: {' | '.join(said)}" if said else ""))
            elif self.exit_code == 0:
                self.state = "done"
            elif self.exit_code in (EXIT_CANCELLED, EXIT_TERMINATED) or self._cancel_requested:
                self.state = "cancelled"
            else:
                self.state = "failed"
                if not self.error:
                    tail = [line for line in self.stderr_tail if line.strip()]
                    self.error = tail[-1] if tail else f"worker exited with code {self.exit_code}"
        text = describe_event(event)
        if text:
            self.status = text

    @property
    def finished_ok(self) -> bool:
        return self.state == "done"

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    def wait(self, timeout: Optional[float] = None, on_event: Optional[Callable[[Dict[str, Any]], None]] = None,
             interval: float = 0.05) -> str:
        """Block until the job ends (headless hosts, farm, tests); ``on_event`` sees every event."""
        deadline = None if timeout is None else time.time() + timeout
        while not self.done:
            for event in self.poll():
                if on_event:
                    on_event(event)
            if self.done:
                break
            if deadline is not None and time.time() > deadline:
                raise WorkerError(f"{self.spec.node}: still running after {timeout:.0f} s")
            time.sleep(interval)
        return self.state

    def cancel(self) -> None:
        """Ask the job to stop: the engine finishes writes under way, keeps complete frames, removes nothing else."""
        if self.done or self._cancel_requested:
            return
        self._cancel_requested = time.time()
        if self._token is not None:
            self._token.cancel("cancelled from the host")
        elif self._proc is not None and self._proc.poll() is None:
            if os.name == "posix":
                self._proc.send_signal(signal.SIGTERM)
            else:  # pragma: no cover - Windows: no catchable SIGTERM; frames are still written atomically
                self._proc.terminate()

    # ----- results -------------------------------------------------------------------------
    @property
    def manifest(self) -> Optional[Dict[str, Any]]:
        if self._manifest is None and self.manifest_path and os.path.isfile(self.manifest_path):
            with open(self.manifest_path, encoding="utf-8") as f:
                self._manifest = json.load(f)
        return self._manifest

    def outputs(self) -> Dict[str, Dict[str, Any]]:
        """Per output port: ``pattern`` plus ``frames_written`` (sequences) or ``files``, from the manifest."""
        return dict((self.manifest or {}).get("outputs") or {})

    def summary(self) -> str:
        secs = (self.finished or time.time()) - self.started if self.started else 0.0
        where = "in process" if self.in_process else "worker process"
        if self.state == "done":
            return f"{self.spec.node}: done in {secs:.1f} s ({where})"
        if self.state == "cancelled":
            return f"{self.spec.node}: cancelled after {secs:.1f} s; complete frames kept, no partial files"
        if self.state == "failed":
            return f"{self.spec.node}: failed (exit {self.exit_code}): {self.error}"
        return f"{self.spec.node}: {self.state} {self.progress:.0%} {self.status}"


def short_error(text: str) -> str:
    """One or two lines a DCC can show for a multi-line error (a TorchScript trace): its first line and,
    where the cause is at the end, the last ``SomeError: ...`` line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return text.strip()
    cause = next((line for line in reversed(lines) if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", line)), "")
    first = lines[0]
    if cause and cause not in first:
        first = first.split(": ", 1)[0] if first.rstrip().endswith("interpreter.") else first
        return f"{first}: {cause}"
    return first


def describe_event(event: Mapping[str, Any]) -> str:
    """One human line per event, for a status bar, a ProgressTask message or a log."""
    kind = event.get("event")
    if kind == "start":
        return f"starting: {event.get('total', '?')} {event.get('unit', 'frame')}s"
    if kind in ("frame", "skip"):
        verb = "kept" if kind == "skip" else "wrote"
        what = "image" if event.get("frame") is None else f"frame {event.get('frame')}"
        secs = f" in {event.get('seconds', 0):.2f} s" if kind == "frame" else ""
        return f"{verb} {what} ({event.get('done')}/{event.get('total')}){secs}"
    if kind == "step":
        metrics = " ".join(f"{k} {v:.4g}" for k, v in event.items()
                           if k not in ("event", "node", "time", "step", "total") and isinstance(v, (int, float))
                           and not isinstance(v, bool))
        return f"step {event.get('step')}/{event.get('total')}" + (f" {metrics}" if metrics else "")
    if kind in ("message", "log"):
        return str(event.get("message", ""))
    if kind == "done":
        return "done"
    if kind == "error":
        return f"error: {event.get('message', '')}"
    if kind == "cancelled":
        return f"cancelled: {event.get('message', '')}"
    return ""


def run(spec: JobSpec, config: Optional[WorkerConfig] = None, *, needs_torch: bool = False,
        on_event: Optional[Callable[[Dict[str, Any]], None]] = None, timeout: Optional[float] = None) -> Job:
    """Start a job and wait for it (farm wrappers, ``nuke -t``, headless Blender)."""
    job = Job(spec, config, needs_torch=needs_torch).start()
    job.wait(timeout=timeout, on_event=on_event)
    return job


# ----------------------------------------------------------------------------------------------
# work off the host's main thread


class BackgroundTask:
    """Run ``fn(*args)`` on a daemon thread; the host's main thread polls :attr:`done` from its timer or
    idle callback and reads :attr:`result` or :attr:`error`. ``fn`` must not touch the DCC's data (Blender's
    ``bpy.data``, Nuke's nodes): it gets plain values and returns plain values.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "filmai-task", **kwargs: Any):
        self.name = name
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.started = time.time()
        self.finished = 0.0
        self._done = threading.Event()

        def body() -> None:
            try:
                self.result = fn(*args, **kwargs)
            except BaseException as exc:  # reported to the main thread, never lost in a thread
                self.error = exc
            finally:
                self.finished = time.time()
                self._done.set()

        self._thread = threading.Thread(target=body, daemon=True, name=name)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Block until done (scripts and headless sessions); returns the result or raises its error."""
        if not self._done.wait(timeout):
            raise WorkerError(f"{self.name}: still running after {timeout:.0f} s")
        if self.error is not None:
            raise self.error
        return self.result


# ----------------------------------------------------------------------------------------------
# tools the adapters call in the worker environment (timelines, farm)


def tool(config: WorkerConfig, args: List[str], timeout: float = 300.0,
         cancel: Optional[threading.Event] = None) -> str:
    """Run a short ``filmai`` sub-command where the nodes run; return its stdout (WorkerError on failure).
    ``cancel``: an event that, once set, ends a worker process (and what it started) at once."""
    if config.runs_in_process():
        from filmai_plugins import cli  # type: ignore[import-not-found]

        with _ThreadStreams.capture() as (out, err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
        if code:
            raise WorkerError(f"filmai {shlex.join(args)} failed (exit {code}): {err.getvalue().strip()}")
        return out.getvalue()
    cmd = config.command() + list(args)
    try:
        if cancel is None:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=config.process_env(),
                                  stdin=subprocess.DEVNULL)
        else:
            proc = _cancellable_run(cmd, config.process_env(), timeout, cancel)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{shlex.join(cmd)} did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise WorkerError(f"cannot start {shlex.join(cmd)}: {exc}") from None
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise WorkerError(f"{shlex.join(cmd)} failed (exit {proc.returncode}): " + " | ".join(tail))
    return proc.stdout


def _cancellable_run(cmd: List[str], env: Dict[str, str], timeout: float,
                     cancel: threading.Event) -> subprocess.CompletedProcess:
    """``subprocess.run`` that ends the process group when ``cancel`` is set (WorkerError) or on timeout."""
    kwargs: Dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=env, **kwargs)
    deadline = time.time() + timeout
    while True:
        try:
            out, err = proc.communicate(timeout=0.1)
            return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            if not cancel.is_set() and time.time() < deadline:
                continue
            with contextlib.suppress(OSError):
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:  # pragma: no cover - Windows
                    proc.kill()
            proc.communicate()
            if cancel.is_set():
                raise WorkerError(f"{shlex.join(cmd)}: cancelled") from None
            raise


def timeline_cuts(config: WorkerConfig, path: str, table: str = "") -> Dict[str, Any]:
    """Shots and cuts of an OTIO timeline (``filmai timeline cuts PATH --json``, read with OpenTimelineIO);
    ``table``: a cut list CSV with ``frame`` and ``confidence`` columns filling confidences the OTIO lacks."""
    return json.loads(tool(config, ["timeline", "cuts", path, "--json"] + (["--table", table] if table else [])))


def timeline_files(node: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> Dict[str, str]:
    """From a run's manifest outputs: the OTIO timeline (``otio``) and a cut-list table (``table``)."""
    found: Dict[str, str] = {}
    for port in node.get("outputs", []):
        for path in (outputs.get(port["name"]) or {}).get("files", []):
            if port["type"] == "Timeline" and path.lower().endswith(".otio"):
                found.setdefault("otio", path)
            elif path.lower().endswith(".csv"):
                found.setdefault("table", path)
    return found


def timeline_convert(config: WorkerConfig, source: str, target: str, rate: Optional[float] = None,
                     overwrite: bool = False) -> str:
    """Write ``target`` (.edl, .otio, .csv) from an OTIO timeline; an existing file is kept unless ``overwrite``
    (the artist confirmed it in a file browser)."""
    args = ["timeline", "convert", source, target]
    if rate:
        args += ["--rate", repr(float(rate))]
    if overwrite:
        args.append("--overwrite")
    tool(config, args)
    return target


def farm_template(config: WorkerConfig, spec: JobSpec, bundle: str, chunk: int = 10) -> str:
    """Write a Deadline Cloud job bundle (OpenJD ``template.yaml`` + ``parameter_values.yaml``) for ``spec``
    with ``filmai farm template --bundle`` (the headless host's own); ``openjd run`` runs it locally."""
    if spec.kind != "run":
        raise WorkerError("farm jobs are made for run jobs")
    # the run's own flags, less those that belong to one machine (device, manifest, skip-existing: the
    # template's render step resumes with --skip-existing itself)
    args, skip = ["farm", "template"], 0
    for arg in spec.argv(progress="")[1:]:
        if skip:
            skip -= 1
            continue
        if arg in ("--device", "--manifest"):
            skip = 1
            continue
        if arg != "--skip-existing":
            args.append(arg)
    args += ["--chunk", str(int(chunk)), "--bundle", bundle]
    if os.path.isdir(bundle) and os.listdir(bundle):
        raise WorkerError(f"{bundle} exists and is not empty; farm jobs are never overwritten")
    try:
        tool(config, args)
    except WorkerError as exc:
        raise WorkerError(f"{exc}\nThe equivalent command: filmai {shlex.join(args)}") from None
    return bundle
