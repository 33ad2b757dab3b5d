"""What the publish plug-ins share: finding instances in run manifests, scanning frames, colourspace
detection, naming rules and the re-render repair.

Pyblish executes plug-in files without a package, so everything they have in common lives here, in
a real module they import.
"""
from __future__ import annotations

import glob
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

import numpy as np

from .. import color
from ..errors import BadInput, FilmAIError
from ..frames.sequence import SequencePattern, format_frames, parse_frames
from ..frames.timecode import decode_timecode, frames_per_second
from ..manifest import ManifestInvalid, manifest_path_for, read_manifest

FAMILY_RENDER = "render"
FAMILY_MODEL = "mlmodel"  # not "model": in Avalon/AYON that family is polygon geometry
FAMILY_EDITORIAL = "editorial"
FAMILY_FILE = "file"
CHECKPOINT_EXTENSIONS = (".ckpt", ".safetensors")
TIMELINE_EXTENSIONS = (".otio",)
#: Publish names become folder and file names: a letter, then letters, digits, underscores.
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Project, shot and task: letters, digits, ``_`` and ``-`` (no dots, spaces or slashes).
TOKEN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Channels that say nothing about whether an image is black.
_NOT_COLOUR = {"A", "alpha", "Z", "depth"}
SCAN_THREADS = 4


def sanitize_name(text: str) -> str:
    """The nearest valid publish name: ``"plate A.v2"`` → ``"plate_A_v2"``."""
    out = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    out = re.sub(r"_+", "_", out)
    if not out:
        return "output"
    return out if out[0].isalpha() else "n" + out


def parse_frame_set(spec: str | None) -> list[int] | None:
    """Frames a publish must contain: FilmAI specs (``1001-1100x2``) or OpenJD range expressions
    (``1001-1099:2``, what farm templates pass; ``:`` is a step, as in OpenJD). One parser for both
    (``filmai_plugins.schema``), so a farm worker needs only the core."""
    if spec is None or str(spec).strip() == "":
        return None
    return sorted(parse_frames(str(spec).replace(" ", "")))


def parse_handles(spec: Any, frames: list[int] | None = None) -> tuple[int, int]:
    """``"8"`` → (8, 8), ``"8,12"`` → (8, 12) head and tail handles: frames at the ends of a published
    range that lie outside the cut. With ``frames``, the handles must leave a cut."""
    if spec is None or spec == "":
        return (0, 0)
    if isinstance(spec, (tuple, list)):
        parts = list(spec)
    else:
        parts = [p.strip() for p in str(spec).replace(":", ",").split(",")]
    try:
        values = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise BadInput(f"--handles {spec!r}: give HEAD or HEAD,TAIL as whole frame counts (e.g. 8 or 8,12)") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 0:
        raise BadInput(f"--handles {spec!r}: give HEAD or HEAD,TAIL, each 0 or more (e.g. 8 or 8,12)")
    head, tail = values
    if frames:
        cut_range(sorted(frames), (head, tail))
    return head, tail


def cut_range(frames: list[int], handles: tuple[int, int]) -> dict[str, int]:
    """What shot tracking records for a published range: head in, cut in, cut out, tail out (frame
    numbers) and the handles; raises when the handles leave no cut."""
    head, tail = handles
    first, last = frames[0], frames[-1]
    cut_in, cut_out = first + head, last - tail
    if cut_in > cut_out:
        raise BadInput(f"handles {head},{tail} leave no cut in the frame range {format_frames(frames)}")
    return {"head_in": first, "cut_in": cut_in, "cut_out": cut_out, "tail_out": last,
            "handle_head": head, "handle_tail": tail, "cut_duration": cut_out - cut_in + 1}


def sequence_key(pattern: str) -> str:
    """One spelling for ``plate.####.exr``, ``plate.%04d.exr`` and ``plate.@@@@.exr``."""
    seq = SequencePattern(os.path.abspath(pattern))
    return os.path.normcase(seq.path(0) if seq.is_sequence else seq.pattern)


# ----- collecting --------------------------------------------------------------------------------


def _read_manifest_quietly(path: str) -> dict[str, Any] | None:
    """A manifest found by scanning a folder, or None for a file that is not one; a FilmAI manifest
    with wrong-typed fields is still an error (skipping it would hide the frames it covers)."""
    try:
        return read_manifest(path)
    except ManifestInvalid:
        raise
    except BadInput:
        return None


def manifests_for_sequence(pattern: str) -> list[str]:
    """Run manifests in the pattern's folder whose outputs include this sequence (chunks included)."""
    key = sequence_key(pattern)
    found = []
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(pattern)), "*.manifest.json"))):
        data = _read_manifest_quietly(path)
        if data is None or data.get("kind") != "run":
            continue
        if any(sequence_key(e.get("pattern", "")) == key for e in (data.get("outputs") or {}).values()
               if "frames_written" in e):
            found.append(path)
    return found


def manifests_listing(path: str) -> list[str]:
    """Run manifests in ``path``'s folder that list it among their output files."""
    target = os.path.normcase(os.path.abspath(path))
    found = []
    for p in sorted(glob.glob(os.path.join(os.path.dirname(target), "*.manifest.json"))):
        data = _read_manifest_quietly(p)
        if data is None or data.get("kind") != "run":
            continue
        files = [f for e in (data.get("outputs") or {}).values() for f in e.get("files", [])]
        if any(os.path.normcase(os.path.abspath(f)) == target for f in files):
            found.append(p)
    return found


def _new_instance(family: str, name: str, **data: Any) -> dict[str, Any]:
    return {"family": family, "families": ["filmai"], "name": name, "label": name, "manifests": [], **data}


def _stem(path: str) -> str:
    base = os.path.basename(path)
    for ext in CHECKPOINT_EXTENSIONS + TIMELINE_EXTENSIONS:
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return os.path.splitext(base)[0]


def collect_instances(sources: Iterable[str], expected_frames: list[int] | None = None) -> tuple[
        list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Instances (plain dicts, one per published thing) and the manifests they came from.

    ``sources`` are run/train manifests, folders of manifests, output sequence patterns (their
    manifests are found next to them), checkpoints and ``.otio`` timelines. Chunk manifests of one
    output sequence (farm chunks write ``<stem>.<first>-<last>.manifest.json``) become one instance.
    """
    manifests: dict[str, dict[str, Any]] = {}
    # For manifests found through one of their files (a timeline given by name), publish just that
    # file; a manifest given itself (or through its folder or sequence) publishes every output.
    only: dict[str, set[str]] = {}
    everything: set[str] = set()
    direct: list[tuple[str, str]] = []
    for raw in sources:
        src = os.path.abspath(os.fspath(raw))
        low = src.lower()
        if os.path.isdir(src):
            paths = sorted(glob.glob(os.path.join(src, "*.manifest.json")))
            usable = [p for p in paths if _read_manifest_quietly(p) is not None]
            if not usable:
                raise BadInput(f"{raw}: no FilmAI run manifests in this folder")
            for p in usable:
                manifests[p] = read_manifest(p)
                everything.add(p)
        elif low.endswith(".manifest.json"):
            manifests[src] = read_manifest(src)
            everything.add(src)
        elif low.endswith(CHECKPOINT_EXTENSIONS):
            if not os.path.isfile(src):
                raise BadInput(f"{raw}: checkpoint not found")
            train_manifest = manifest_path_for(src, None, kind="train")
            if os.path.isfile(train_manifest):
                manifests[train_manifest] = read_manifest(train_manifest)
            else:
                direct.append((FAMILY_MODEL, src))
        elif low.endswith(TIMELINE_EXTENSIONS):
            if not os.path.isfile(src):
                raise BadInput(f"{raw}: timeline not found")
            listing = manifests_listing(src)
            if listing:  # a node wrote it (cut detection): publish it with its run's provenance
                for p in listing:
                    manifests[p] = read_manifest(p)
                    only.setdefault(p, set()).add(os.path.normcase(src))
            else:
                direct.append((FAMILY_EDITORIAL, src))
        elif SequencePattern(src).is_sequence:
            found = manifests_for_sequence(src)
            if not found:
                raise BadInput(f"{raw}: no run manifest for this sequence in {os.path.dirname(src)} (publishing "
                               "needs the manifests `filmai run` writes next to its outputs)")
            for p in found:
                manifests[p] = read_manifest(p)
                only.setdefault(p, set()).add(sequence_key(src))
        else:
            raise BadInput(f"{raw}: not a run manifest, a folder of manifests, an output sequence, a checkpoint "
                           "(.ckpt/.safetensors) or a timeline (.otio)")

    renders: dict[str, dict[str, Any]] = {}
    files: dict[str, dict[str, Any]] = {}
    for path, data in manifests.items():
        if data.get("kind") == "train":
            ck = data.get("checkpoint") or {}
            target = ck.get("path") or (data.get("checkpoints") or [{}])[-1].get("path") or ""
            key = os.path.normcase(target or path)
            inst = files.setdefault(key, _new_instance(FAMILY_MODEL, _stem(target or path), checkpoint=target or None,
                                                       checkpoint_sha256=ck.get("sha256")))
            inst["manifests"].append(path)
            continue
        wanted = None if path in everything else only.get(path)
        for port, entry in (data.get("outputs") or {}).items():
            if "frames_written" in entry:
                key = sequence_key(entry["pattern"])
                if wanted is not None and key not in wanted:
                    continue
                inst = renders.get(key)
                if inst is None:
                    seq = SequencePattern(entry["pattern"])
                    inst = renders[key] = _new_instance(FAMILY_RENDER, seq.stem, pattern=entry["pattern"], port=port)
                inst["manifests"].append(path)
                continue
            for f in entry.get("files", []):
                if wanted is not None and os.path.normcase(os.path.abspath(f)) not in wanted:
                    continue
                low = f.lower()
                family = (FAMILY_EDITORIAL if low.endswith(TIMELINE_EXTENSIONS) else
                          FAMILY_MODEL if low.endswith(CHECKPOINT_EXTENSIONS) else FAMILY_FILE)
                key = os.path.normcase(os.path.abspath(f))
                field_name = {FAMILY_EDITORIAL: "timeline", FAMILY_MODEL: "checkpoint"}.get(family, "path")
                inst = files.setdefault(key, _new_instance(family, _stem(f), **{field_name: os.path.abspath(f)}))
                inst["manifests"].append(path)
    for family, path in direct:
        field_name = "timeline" if family == FAMILY_EDITORIAL else "checkpoint"
        files.setdefault(os.path.normcase(path), _new_instance(family, _stem(path), **{field_name: path}))

    for inst in renders.values():
        if expected_frames is not None:
            inst["frames_expected"] = list(expected_frames)
            inst["frames_source"] = "--frames"
        else:
            frames: set[int] = set()
            for p in inst["manifests"]:
                spec = manifests[p].get("frames")
                if spec:
                    frames.update(parse_frames(spec))
            inst["frames_expected"] = sorted(frames)
            inst["frames_source"] = "manifests"
    instances = sorted(renders.values(), key=lambda i: i["pattern"]) + sorted(
        files.values(), key=lambda i: (i["family"], i["name"]))
    return instances, manifests


def recorded_checksums(instance_data: dict[str, Any], manifests: dict[str, dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """{frame: (sha256, manifest path)} for a render instance: for each frame, the newest complete run
    that wrote it, and the checksum that run recorded when it wrote the file (the ``checksums`` of its
    output entry, ``{"1001": sha256}``). A frame whose newest writer recorded none is not listed."""
    key = sequence_key(instance_data["pattern"])
    newest: dict[int, tuple[str, str, str | None]] = {}  # frame → (finished, path, sha)
    for path in instance_data.get("manifests", []):
        m = manifests[path]
        if m.get("status") != "complete":
            continue
        finished = (m.get("timings") or {}).get("finished") or ""
        for entry in (m.get("outputs") or {}).values():
            if "frames_written" not in entry or sequence_key(entry["pattern"]) != key:
                continue
            sums = entry.get("checksums") or {}
            for f in parse_frames(entry["frames_written"]) if entry["frames_written"] else []:
                if f not in newest or finished >= newest[f][0]:
                    newest[f] = (finished, path, sums.get(str(f)))
    return {f: (sha, path) for f, (_, path, sha) in newest.items() if sha}


def manifest_summary(path: str, data: dict[str, Any]) -> dict[str, Any]:
    """The part of a manifest the version record keeps."""
    return {"path": path, "status": data.get("status"), "frames": data.get("frames"),
            "node": data.get("node"), "params_hash": data.get("params_hash"),
            "model": data.get("model"), "host": (data.get("host") or {}).get("hostname"),
            "finished": (data.get("timings") or {}).get("finished"), "error": data.get("error")}


# ----- frames --------------------------------------------------------------------------------------

def declared_colorspace(path: str, attributes: dict[str, Any]) -> tuple[str | None, str]:
    """The colourspace a file itself declares, and where that came from (see filmai_plugins.color)."""
    return color.declared_colorspace(attributes, os.path.splitext(path)[1])


def colour_channels(channels: list[str]) -> list[int]:
    """Indices of the channels that carry picture (not alpha or depth); all when that leaves none."""
    idx = [i for i, c in enumerate(channels) if c.split(".")[-1] not in _NOT_COLOUR]
    return idx or list(range(len(channels)))


def scan_frame(path: str, number: int, checksum: bool = False) -> dict[str, Any]:
    """Decode one frame completely and describe it (with the file's sha256 when ``checksum``);
    problems become ``error`` instead of raising."""
    from ..frames.io import read_frame

    info: dict[str, Any] = {"frame": number, "path": path}
    if checksum:
        from ..files import file_sha256

        try:
            info["sha256"] = file_sha256(path)
        except OSError as exc:
            info["error"] = f"{path} (frame {number}): cannot read: {exc.strerror or exc}"
            return info
    try:
        frame = read_frame(path, frame=number)
    except FilmAIError as exc:
        info["error"] = str(exc)
        return info
    except Exception as exc:  # a reader plug-in's own failure is still one unreadable frame
        info["error"] = f"{path} (frame {number}): {type(exc).__name__}: {exc}"
        return info
    px = frame.pixels
    finite = np.isfinite(px)
    nonfinite = int(px.size - np.count_nonzero(finite))
    colour = px[:, :, colour_channels(frame.channels)]
    colour_finite = np.where(np.isfinite(colour), colour, 0.0)
    attrs = frame.attributes
    colorspace, cs_source = declared_colorspace(path, attrs)
    info.update({
        "channels": list(frame.channels), "pixel_types": list(frame.pixel_types or []),
        "data_window": list(frame.data_window), "display_window": list(frame.display_window),
        "nonfinite": nonfinite, "peak": float(np.abs(colour_finite).max()) if colour_finite.size else 0.0,
        "mean": float(colour_finite.mean()) if colour_finite.size else 0.0,
        "provenance": {k[len("filmai:"):]: v for k, v in attrs.items() if k.startswith("filmai:")},
        "colorspace": colorspace, "colorspace_source": cs_source,
        "fps": frames_per_second(attrs.get("FramesPerSecond")),
        "timecode": (decode_timecode(attrs.get("smpte:TimeCode")) or (None,))[0],
        "size": os.path.getsize(path),
    })
    return info


def scan_sequence(pattern: str, frames: list[int], checksums: Iterable[int] = ()) -> tuple[
        dict[int, dict[str, Any]], list[int]]:
    """Scan the frames that exist (on threads: decoding releases the GIL); return (info by frame, missing).
    Frames in ``checksums`` also get the sha256 of their file."""
    seq = SequencePattern(pattern)
    present = [f for f in frames if os.path.isfile(seq.path(f))]
    found = set(present)
    missing = [f for f in frames if f not in found]
    hashed = set(checksums)
    with ThreadPoolExecutor(max_workers=SCAN_THREADS) as pool:
        infos = list(pool.map(lambda f: scan_frame(seq.path(f), f, f in hashed), present))
    return {i["frame"]: i for i in infos}, missing


def ranges(frames: Iterable[int]) -> str:
    return format_frames(frames) or "none"


# ----- the re-render repair ---------------------------------------------------------------------


def reference_manifest(instance_data: dict[str, Any], manifests: dict[str, dict[str, Any]]) -> tuple[str, dict]:
    """The manifest whose node, params and model a render instance should have been made with:
    the newest complete one (a later rerun wins over a failed first try)."""
    paths = instance_data.get("manifests", [])
    if not paths:
        raise BadInput(f"{instance_data.get('name')}: no run manifest to re-render from")

    def rank(p: str) -> tuple[int, str]:
        m = manifests[p]
        return (1 if m.get("status") == "complete" else 0, (m.get("timings") or {}).get("finished") or "")

    best = max(paths, key=rank)
    return best, manifests[best]


def rerender(instance_data: dict[str, Any], manifests: dict[str, dict[str, Any]]) -> str:
    """Re-run the node of a render instance over its expected frames with ``skip_existing``: frames
    that are complete and made with the manifest's node, params and model are kept; missing,
    truncated or stale frames are made again. Returns what was done, for the report."""
    from ..engine.runner import run_node

    path, m = reference_manifest(instance_data, manifests)
    frames = instance_data.get("frames_expected") or []
    if not frames:
        raise BadInput(f"{instance_data.get('name')}: no frame range to re-render")
    outputs = {port: entry["pattern"] for port, entry in (m.get("outputs") or {}).items()}
    model = (m.get("model") or {}).get("path")
    result = run_node(m["node"]["id"], input=m.get("inputs") or None, output=outputs, frames=frames, model=model,
                      params=m.get("params") or {}, io=m.get("io") or {}, skip_existing=True)
    entry = (result.get("outputs") or {}).get(instance_data.get("port") or "", {})
    return (f"re-rendered {m['node']['id']} from {os.path.basename(path)}: frames {entry.get('frames_written') or 'none'} "
            f"made again, {len(parse_frames(entry['frames_skipped'])) if entry.get('frames_skipped') else 0} kept")


def to_jsonable(value: Any) -> Any:
    """Instance data made safe for the JSON record (numpy values, tuples, sets, paths)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else
                                 sorted(v) if isinstance(v, (set, frozenset)) else str(v)))


# ----- helpers for plug-ins -----------------------------------------------------------------------


class ValidationFailed(Exception):
    """Every problem one validator found, one per line (the report shows them all)."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def fail_if(problems: list[str]) -> None:
    if problems:
        raise ValidationFailed(problems)


def rerender_frames(instance: Any, frames: list[int], why: str) -> str:
    """Make ``frames`` of a render instance again, whatever is on disk (their files are replaced
    atomically). The run's manifest is written under its own name and joins the publish, so the
    next pass checks the frames against what this run recorded."""
    from ..engine.runner import run_node
    from ..files import now_iso

    data = instance.data
    path, m = reference_manifest(data, instance.context.data["filmai_manifests"])
    outputs = {port: entry["pattern"] for port, entry in (m.get("outputs") or {}).items()}
    seq = SequencePattern(data["pattern"])
    stamp = "".join(c for c in now_iso() if c.isdigit())[:17]
    manifest = os.path.join(seq.directory, f"{seq.stem}.{min(frames)}-{max(frames)}.repair{stamp}.manifest.json")
    run_node(m["node"]["id"], input=m.get("inputs") or None, output=outputs, frames=frames,
             model=(m.get("model") or {}).get("path"), params=m.get("params") or {}, io=m.get("io") or {},
             skip_existing=False, manifest=manifest)
    overrides = instance.context.data.setdefault("filmai_overrides", {})
    overrides.setdefault("manifests", []).append(manifest)
    return f"re-rendered {m['node']['id']} frames {ranges(frames)} ({why}) from {os.path.basename(path)}"


def repair_by_rerender(instance: Any) -> str:
    """The repair of missing, unreadable and stale frames; runs once per instance however many
    checks asked for it."""
    done = instance.data.get("filmai_rerendered")
    if done:
        return f"already done: {done}"
    if instance.data.get("family") != FAMILY_RENDER:
        raise BadInput(f"{instance.data.get('name')}: only rendered sequences can be re-rendered")
    message = rerender(instance.data, instance.context.data["filmai_manifests"])
    instance.data["filmai_rerendered"] = message
    return message


def product_folder_of(instance: Any) -> str:
    from .integrate import product_folder

    c = instance.context.data
    return product_folder(c["filmai_root"], c["filmai_project"], c["filmai_shot"], c["filmai_task"],
                          instance.data["name"])


def staging_of(instance: Any) -> str:
    """The instance's staging folder in the publish area, made on first use (by extractors)."""
    from .integrate import staging_folder

    path = instance.data.get("staging")
    if not path or not os.path.isdir(path):
        path = staging_folder(product_folder_of(instance))
        instance.data["staging"] = path
    return path


def add_representation(instance: Any, role: str, path: str, suffix: str, **extra: Any) -> None:
    """Record a file an extractor made in the staging folder; ``suffix`` ends its published name."""
    instance.data.setdefault("representations", []).append({"role": role, "path": path, "suffix": suffix, **extra})
