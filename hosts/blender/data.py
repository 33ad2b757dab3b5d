"""Moving data between Blender and the nodes: what the artist has → file patterns; results → Blender data.

Inputs: an image or image-sequence datablock (a generated, packed or painted image is first saved to a
lossless EXR), a VSE image or movie strip, the scene's rendered sequence, or files. Outputs come back as
an image-sequence datablock, a VSE strip above the source, or an Image node in the 5.0 compositor
(a node group). Frame numbers: files keep their own numbering; ``frame_map`` says at which scene frame
each file frame shows (identity for files and renders, the strip's placement for VSE strips).
"""

import os
import re
import tempfile
from dataclasses import dataclass, field

import bpy

from . import worker

UNSAVED_ROOT = os.path.join(tempfile.gettempdir(), "filmai-unsaved-blend")
MOVIE_EXTENSIONS = (".mov", ".mp4", ".mkv", ".avi", ".mxf", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv")


class SourceError(Exception):
    """The artist's selection cannot be read; the message says what to pick instead."""


def abspath(path: str) -> str:
    """Blender path → absolute path. ``//`` in an unsaved file resolves under a fixed temp folder."""
    resolved = bpy.path.abspath(path or "")
    if not os.path.isabs(resolved):
        resolved = os.path.join(UNSAVED_ROOT, resolved.lstrip("/\\"))
    return os.path.normpath(resolved)


def clean_stem(name: str) -> str:
    """``plate.0001.exr`` / ``plate.####.exr`` / ``Render Result`` → ``plate`` / ``plate`` / ``Render_Result``."""
    base = os.path.basename(name)
    stem, ext = os.path.splitext(base)
    if ext.lower() in (".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx", ".hdr", ".tga", ".bmp") \
            or ext.lower() in MOVIE_EXTENSIONS:
        base = stem
    base = re.sub(r"([._-]?(#+|@+|%0?\d*d|\d+))$", "", base) or base
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._-") or "source"


@dataclass
class Source:
    """One resolved input: a file, a sequence pattern or a movie, and how its frames sit in the scene."""

    pattern: str
    label: str
    frames: list[int] | None = None  # explicit file frames (strips); None: whatever is on disk
    frame_map: dict[int, int] | None = None  # file frame -> scene frame; None: the same number
    origin: int | None = None  # scene frame of the first analysed frame (for timelines)
    strip: str = ""
    channel: int = 0
    is_movie: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def is_sequence(self) -> bool:
        return worker.is_sequence_pattern(self.pattern)

    def scene_frame(self, file_frame: int) -> int:
        if self.frame_map is None:
            return file_frame
        if file_frame in self.frame_map:
            return self.frame_map[file_frame]
        first = min(self.frame_map)
        return self.frame_map[first] + (file_frame - first)

    def file_frames_in_scene_range(self, start: int, end: int) -> list[int] | None:
        if self.frame_map is None:
            return None
        return [f for f, s in sorted(self.frame_map.items()) if start <= s <= end]


# ----- inputs -------------------------------------------------------------------------------------


def source_label(src, port: dict) -> str:
    """A short name for outputs, known before anything is staged."""
    if port["type"] == "Frames" and src.kind == "IMAGE" and src.image is not None:
        return clean_stem(src.image.name)
    if port["type"] == "Frames" and src.kind == "STRIP" and src.strip:
        return clean_stem(src.strip)
    if port["type"] == "Frames" and src.kind == "RENDER":
        return clean_stem(bpy.context.scene.name + "_render")
    return clean_stem(src.path or port["name"])


def is_empty(src, port: dict) -> bool:
    if port["type"] != "Frames" or src.kind == "FILES":
        return not src.path
    return {"IMAGE": src.image is None, "STRIP": not src.strip, "RENDER": False}[src.kind]


def resolve(scene, src, port: dict, staging: str, frame_scope: bool) -> Source:
    """The artist's choice for one port as files the engine reads. ``frame_scope`` nodes need images, so
    movies are first rendered to an EXR sequence (sequence nodes such as cut detection read movies)."""
    if port["type"] != "Frames" or src.kind == "FILES":
        return _from_files(abspath(src.path), port)
    if src.kind == "IMAGE":
        return _from_image(scene, src.image, port, staging, frame_scope)
    if src.kind == "STRIP":
        return _from_strip(scene, src.strip, port, staging, frame_scope)
    return _from_render(scene, port)


def _from_files(path: str, port: dict) -> Source:
    if not path or path == abspath(""):
        raise SourceError(f"input {port['name']}: choose a file")
    label = clean_stem(path)
    if port["type"] != "Frames" or worker.is_sequence_pattern(path):
        return Source(path, label, is_movie=path.lower().endswith(MOVIE_EXTENSIONS))
    if not os.path.isfile(path):
        raise SourceError(f"input {port['name']}: {path} not found")
    pattern, number = worker.pattern_from_file(path)
    if number is not None and not path.lower().endswith(MOVIE_EXTENSIONS):
        folder = os.path.dirname(path)
        siblings = [n for n in os.listdir(folder) if worker.pattern_from_file(os.path.join(folder, n))[0] == pattern]
        if len(siblings) > 1:  # one frame of a sequence was picked in the file browser: take the sequence
            return Source(pattern, label)
    return Source(path, label, is_movie=path.lower().endswith(MOVIE_EXTENSIONS))


def _from_image(scene, image, port: dict, staging: str, frame_scope: bool) -> Source:
    if image is None:
        raise SourceError(f"input {port['name']}: pick an image")
    label = clean_stem(image.name)
    path = abspath(image.filepath) if image.filepath else ""
    if image.source == "SEQUENCE":
        return Source(worker.pattern_from_file(path)[0], label)
    if image.source == "MOVIE":
        if not os.path.isfile(path):
            raise SourceError(f"image {image.name!r}: movie {path} not found")
        if frame_scope:
            pattern = render_movie_to_exr(path, os.path.join(staging, label), label)
            return Source(pattern, label, notes=[f"movie {os.path.basename(path)} rendered to EXR frames"])
        return Source(path, label, is_movie=True)
    if image.source == "TILED":
        raise SourceError(f"image {image.name!r} is a UDIM tile set; pick one tile's file with the Files source")
    untouched_file = (image.source == "FILE" and path and os.path.isfile(path) and not image.packed_file
                      and not image.is_dirty)
    if untouched_file:
        return Source(path, label)
    # generated, packed or painted pixels: save them losslessly first (the data mover's job)
    return Source(save_image_exr(image, os.path.join(staging, f"{label}.exr")), label,
                  notes=[f"image {image.name!r} saved to EXR for the node"])


def save_image_exr(image, path: str) -> str:
    """Write an image datablock to a 32-bit float EXR, exactly (``save_render`` through a temporary scene,
    so the artist's render settings are left alone)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp_scene = bpy.data.scenes.new("FilmAI save")
    try:
        settings = tmp_scene.render.image_settings
        settings.media_type = "IMAGE"
        settings.file_format = "OPEN_EXR"
        settings.color_depth = "32"
        settings.exr_codec = "ZIP"
        tmp_scene.view_settings.view_transform = "Standard"
        image.save_render(path, scene=tmp_scene)
    finally:
        bpy.data.scenes.remove(tmp_scene)
    if not os.path.isfile(path):
        raise SourceError(f"image {image.name!r} has no pixels to save (is it empty?)")
    return path


def render_movie_to_exr(movie: str, folder: str, label: str) -> str:
    """Decode a movie to a half-float EXR sequence with Blender's sequencer (a temporary scene), the way
    Nuke's adapter renders through a temporary Write. Returns the pattern (frames from 1)."""
    os.makedirs(folder, exist_ok=True)
    tmp_scene = bpy.data.scenes.new("FilmAI decode")
    try:
        se = tmp_scene.sequence_editor_create()
        strip = se.strips.new_movie("source", movie, 1, 1)
        elem = strip.elements[0]
        tmp_scene.render.resolution_x, tmp_scene.render.resolution_y = elem.orig_width, elem.orig_height
        tmp_scene.render.resolution_percentage = 100
        tmp_scene.frame_start, tmp_scene.frame_end = 1, strip.frame_final_duration
        tmp_scene.render.use_sequencer = True
        tmp_scene.render.use_compositing = False
        settings = tmp_scene.render.image_settings
        settings.media_type = "IMAGE"
        settings.file_format = "OPEN_EXR"
        settings.color_depth = "16"
        settings.exr_codec = "ZIP"
        tmp_scene.render.filepath = os.path.join(folder, f"{label}.####")
        bpy.ops.render.render(animation=True, scene=tmp_scene.name)
    finally:
        bpy.data.scenes.remove(tmp_scene)
    pattern = os.path.join(folder, f"{label}.####.exr")
    if not os.path.isfile(worker.sequence_path(pattern, 1)):
        raise SourceError(f"could not decode {movie} to frames")
    return pattern


def find_strip(scene, name: str):
    se = scene.sequence_editor
    strip = se.strips_all.get(name) if se else None
    if strip is None:
        raise SourceError(f"no strip named {name!r} in the Video Sequencer of scene {scene.name!r}")
    return strip


def _from_strip(scene, name: str, port: dict, staging: str, frame_scope: bool) -> Source:
    strip = find_strip(scene, name)
    start = int(strip.frame_start)
    first_visible, end_visible = int(strip.frame_final_start), int(strip.frame_final_end)
    if strip.type == "IMAGE":
        folder = abspath(strip.directory)
        names = [e.filename for e in strip.elements]
        parsed = [worker.pattern_from_file(os.path.join(folder, n)) for n in names]
        patterns = {p for p, _ in parsed}
        if len(patterns) != 1 or any(n is None for _, n in parsed):
            if len(names) == 1:
                return Source(os.path.join(folder, names[0]), clean_stem(strip.name), strip=strip.name,
                              channel=strip.channel, frame_map={}, origin=first_visible)
            raise SourceError(f"strip {strip.name!r}: its images are not one numbered sequence")
        numbers = [n for _, n in parsed]
        frame_map = {n: start + i for i, n in enumerate(numbers) if first_visible <= start + i < end_visible}
        if not frame_map:
            raise SourceError(f"strip {strip.name!r} shows none of its images")
        return Source(patterns.pop(), clean_stem(strip.name), frames=sorted(frame_map), frame_map=frame_map,
                      origin=first_visible, strip=strip.name, channel=strip.channel)
    if strip.type == "MOVIE":
        movie = abspath(strip.filepath)
        if not os.path.isfile(movie):
            raise SourceError(f"strip {strip.name!r}: movie {movie} not found")
        if frame_scope:
            pattern = render_movie_to_exr(movie, os.path.join(staging, clean_stem(strip.name)), clean_stem(strip.name))
            n = int(strip.frame_duration)
            frame_map = {i + 1: start + i for i in range(n) if first_visible <= start + i < end_visible}
            return Source(pattern, clean_stem(strip.name), frames=sorted(frame_map), frame_map=frame_map,
                          origin=first_visible, strip=strip.name, channel=strip.channel,
                          notes=[f"movie {os.path.basename(movie)} rendered to EXR frames"])
        # a sequence node (cut detection) reads the whole movie: its frame 0 sits at the strip's start
        return Source(movie, clean_stem(strip.name), origin=start, strip=strip.name, channel=strip.channel,
                      is_movie=True)
    raise SourceError(f"strip {strip.name!r} is a {strip.type.lower()} strip; FilmAI reads image and movie strips "
                      "(render it to an image sequence first)")


def _from_render(scene, port: dict) -> Source:
    r = scene.render
    a, b = r.frame_path(frame=1111), r.frame_path(frame=2222)
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if not diff or len(a) != len(b):
        raise SourceError("the scene's output path has no frame number; render an image sequence first")
    pattern = a[: diff[0]] + "#" * (diff[-1] - diff[0] + 1) + a[diff[-1] + 1:]
    return Source(pattern, clean_stem(scene.name + "_render"))


def job_frames(scene, mode: str, custom: str, source: Source) -> str:
    """The frame spec of a job, in the first input's own numbering."""
    if mode == "CUSTOM":
        return custom.strip()
    if not source.is_sequence:
        return ""
    if mode == "SCENE":
        frames = source.file_frames_in_scene_range(scene.frame_start, scene.frame_end)
        if frames is None:
            return f"{scene.frame_start}-{scene.frame_end}"
        if not frames:
            raise SourceError(f"strip {source.strip!r} shows no frame inside the scene range")
        return worker.format_frames(frames)
    return worker.format_frames(source.frames) if source.frames else ""


# ----- outputs ------------------------------------------------------------------------------------

def free_channel(scene, start: int, end: int, above: int = 0) -> int:
    se = scene.sequence_editor
    for channel in range(max(1, above + 1), 129):
        if not any(s.channel == channel and s.frame_final_start < end and s.frame_final_end > start
                   for s in se.strips_all):
            return channel
    raise SourceError("no free VSE channel for the result")


def compositor_tree(scene):
    """The scene's compositor node group (5.0: a node-group datablock), created with a Group Output if absent."""
    tree = scene.compositing_node_group
    if tree is None:
        tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        out = tree.nodes.new("NodeGroupOutput")
        out.location = (400, 0)
        scene.compositing_node_group = tree
    return tree


def load_sequence_image(pattern: str, frames: list[int], label: str):
    first = worker.sequence_path(pattern, frames[0])
    image = bpy.data.images.load(first, check_existing=False)
    image.name = label
    if worker.is_sequence_pattern(pattern):
        image.source = "SEQUENCE"
    return image


def bring_back(scene, mode: str, pattern: str, frames: list[int], source: Source | None, label: str) -> str:
    """Show a Frames result where the artist works; returns a short description of what was made."""
    if mode == "NONE" or not frames:
        return ""
    seq = worker.is_sequence_pattern(pattern)
    scene_first = source.scene_frame(frames[0]) if source is not None and seq else frames[0]
    if mode == "STRIP":
        se = scene.sequence_editor or scene.sequence_editor_create()
        length = len(frames) if seq else 1
        above = source.channel if source is not None and source.channel else 0
        channel = free_channel(scene, scene_first, scene_first + length, above)
        strip = se.strips.new_image(label, worker.sequence_path(pattern, frames[0]), channel, scene_first,
                                    fit_method="FIT")
        for f in frames[1:] if seq else []:
            strip.elements.append(os.path.basename(worker.sequence_path(pattern, f)))
        return f"strip {strip.name!r} on channel {channel} at frame {scene_first}"
    image = load_sequence_image(pattern, frames, label)
    if mode == "COMPOSITOR":
        tree = compositor_tree(scene)
        fresh = len(tree.nodes) == 1 and tree.nodes[0].bl_idname == "NodeGroupOutput"
        node = tree.nodes.new("CompositorNodeImage")
        node.image = image
        node.label = label
        node.location = (0, -300 * sum(1 for n in tree.nodes if n.bl_idname == "CompositorNodeImage"))
        if seq:
            node.frame_duration = len(frames)
            node.frame_start = scene_first
            node.frame_offset = frames[0] - 1
        if fresh:  # a compositor made here: show the result; an artist's own tree is never rewired
            tree.links.new(node.outputs["Image"], tree.nodes[0].inputs[0])
        return f"compositor Image node {node.name!r} in {tree.name!r}"
    return f"image {image.name!r}"


# ----- timelines in the VSE -----------------------------------------------------------------------


def cut_label(cut: dict) -> str:
    kind = {"cut": "CUT"}.get(cut.get("kind", "cut"), str(cut.get("kind", "cut")).upper())
    conf = cut.get("confidence")
    return f"{kind} {conf:.2f}" if isinstance(conf, (int, float)) else kind


def apply_cuts(scene, strip_name: str, summary: dict, origin: int) -> dict:
    """Split a strip at each cut of a timeline summary (``filmai timeline cuts --json``) and mark the cuts.

    ``origin`` is the scene frame of the first analysed frame; a cut at ``offset`` lands on
    ``origin + offset``. Cuts outside the strip's visible range are reported, not applied. Running it
    again adds nothing: existing pieces are already split and markers with the same name are kept.
    """
    strip = find_strip(scene, strip_name)
    shots = {s["start"]: s for s in summary.get("shots", [])}
    pieces = [strip]
    splits, markers, skipped = [], [], []
    current = strip
    if shots.get(0, {}).get("name"):
        current.name = shots[0]["name"]
    for cut in sorted(summary.get("cuts", []), key=lambda c: c["offset"]):
        frame = int(origin + cut["offset"])
        if not current.frame_final_start < frame < current.frame_final_end:
            skipped.append(frame)
            continue
        right = current.split(frame=frame, split_method="SOFT")
        if right is None:
            skipped.append(frame)
            continue
        shot = shots.get(cut["offset"])
        if shot and shot.get("name"):
            right.name = shot["name"]
        splits.append(frame)
        pieces.append(right)
        current = right
        name = cut_label(cut)
        if not any(m.frame == frame and m.name == name for m in scene.timeline_markers):
            scene.timeline_markers.new(name, frame=frame)
        markers.append(name)
    return {"splits": splits, "markers": markers, "skipped": skipped, "pieces": [p.name for p in pieces]}
