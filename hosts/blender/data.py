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

from . import colour, worker

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
    """One resolved input: a file, a sequence pattern or a movie, and how its frames sit in the scene.

    Frame numbers: files keep their own numbering (a plate's 1001); ``offset`` (image sequences and
    decoded movies: file frame = scene frame + offset) or ``frame_map`` (VSE strips: file frame → scene
    frame) says where each file frame shows; neither means the same number (renders).
    """

    pattern: str
    label: str
    frames: list[int] | None = None  # explicit file frames (strips); None: whatever is on disk
    frame_map: dict[int, int] | None = None  # file frame -> scene frame (strips)
    offset: int | None = None  # file frame - scene frame (image sequences)
    on_disk: list[int] | None = None  # the sequence's frames found on disk, when looked at
    origin: int | None = None  # scene frame of the first analysed frame (for timelines)
    strip: str = ""
    channel: int = 0
    is_movie: bool = False
    notes: list[str] = field(default_factory=list)
    decode: "MovieDecode | None" = None  # a movie still to be decoded to this pattern
    colorspace: str = ""  # what its pixels are in, as Blender names it ("": the file's own tag decides)

    @property
    def is_sequence(self) -> bool:
        return worker.is_sequence_pattern(self.pattern)

    def scene_frame(self, file_frame: int) -> int:
        if self.offset is not None:
            return file_frame - self.offset
        if self.frame_map is None:
            return file_frame
        if file_frame in self.frame_map:
            return self.frame_map[file_frame]
        first = min(self.frame_map)
        return self.frame_map[first] + (file_frame - first)

    def file_frame(self, scene_frame: int) -> int | None:
        """The file frame shown at ``scene_frame`` (None: a strip shows nothing there)."""
        if self.offset is not None:
            return scene_frame + self.offset
        if self.frame_map is None:
            return scene_frame
        return next((f for f, s in self.frame_map.items() if s == scene_frame), None)

    def file_frames_in_scene_range(self, start: int, end: int) -> list[int] | None:
        if self.offset is not None:
            return [f + self.offset for f in range(start, end + 1)]
        if self.frame_map is None:
            return None
        return [f for f, s in sorted(self.frame_map.items()) if start <= s <= end]


def frames_on_disk(pattern: str) -> list[int]:
    """Frame numbers of ``pattern`` (``plate.####.exr``) present on disk, sorted."""
    folder, base = os.path.split(pattern)
    m = re.search(r"(#+|@+|%0?(\d*)d)", base)
    if not m:
        return []
    rx = re.compile(re.escape(base[: m.start()]) + r"(-?\d+)" + re.escape(base[m.end():]) + "$")
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    return sorted(int(x.group(1)) for x in (rx.match(n) for n in names) if x)


def placement_offset(scene, src, first_on_disk: int | None) -> int:
    """file frame - scene frame for an image sequence, from the source's placement setting."""
    if src.placement == "FRAME_NUMBERS":
        return 0
    if src.placement == "OFFSET":
        return src.frame_offset + 1 - src.frame_start
    return (first_on_disk if first_on_disk is not None else scene.frame_start) - scene.frame_start


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


def resolve(scene, src, port: dict, staging: str, frame_scope: bool, strip_window=None) -> Source:
    """The artist's choice for one port as files the engine reads. ``frame_scope`` nodes need images, so
    movies are decoded to an EXR sequence first (sequence nodes such as cut detection read movies): the
    returned Source then carries a :class:`MovieDecode` to run, one frame per step, before the job."""
    if port["type"] != "Frames":
        return _from_files(scene, src, abspath(src.path), port, placed=False)
    if src.kind == "FILES":
        return _from_files(scene, src, abspath(src.path), port)
    if src.kind == "IMAGE":
        return _from_image(scene, src, port, staging, frame_scope)
    if src.kind == "STRIP":
        return _from_strip(scene, src.strip, port, staging, frame_scope, strip_window)
    return _from_render(scene, port)


def _placed_sequence(scene, src, pattern: str, label: str) -> Source:
    """An image sequence on disk, placed in the scene by the source's placement setting."""
    on_disk = frames_on_disk(pattern)
    offset = placement_offset(scene, src, on_disk[0] if on_disk else None)
    return Source(pattern, label, offset=offset, on_disk=on_disk)


def _from_files(scene, src, path: str, port: dict, placed: bool = True) -> Source:
    if not path or path == abspath(""):
        raise SourceError(f"input {port['name']}: choose a file")
    label = clean_stem(path)
    is_movie = path.lower().endswith(MOVIE_EXTENSIONS)
    if port["type"] != "Frames":
        return Source(path, label)
    if worker.is_sequence_pattern(path):
        return _placed_sequence(scene, src, path, label) if placed else Source(path, label)
    if not os.path.isfile(path):
        raise SourceError(f"input {port['name']}: {path} not found")
    pattern, number = worker.pattern_from_file(path)
    if number is not None and not is_movie:
        folder = os.path.dirname(path)
        siblings = [n for n in os.listdir(folder) if worker.pattern_from_file(os.path.join(folder, n))[0] == pattern]
        if len(siblings) > 1:  # one frame of a sequence was picked in the file browser: take the sequence
            return _placed_sequence(scene, src, pattern, label)
    return Source(path, label, is_movie=is_movie)


def _from_image(scene, src, port: dict, staging: str, frame_scope: bool) -> Source:
    image = src.image
    if image is None:
        raise SourceError(f"input {port['name']}: pick an image")
    label = clean_stem(image.name)
    path = abspath(image.filepath) if image.filepath else ""
    on_disk_space = colour.of_datablock(image)  # a file read as it is: in the datablock's colourspace
    if image.source == "SEQUENCE":
        source = _placed_sequence(scene, src, worker.pattern_from_file(path)[0], label)
        source.colorspace = on_disk_space
        return source
    if image.source == "MOVIE":
        if not os.path.isfile(path):
            raise SourceError(f"image {image.name!r}: movie {path} not found")
        if frame_scope:
            decode = MovieDecode(path, os.path.join(staging, label), label, on_disk_space)
            source = Source(decode.pattern, label, offset=placement_offset(scene, src, 1),
                            on_disk=list(range(1, decode.total + 1)), decode=decode,
                            notes=[f"movie {os.path.basename(path)} decoded to EXR frames"],
                            colorspace=colour.of_written(image))
            return source
        return Source(path, label, is_movie=True, colorspace=on_disk_space)
    if image.source == "TILED":
        raise SourceError(f"image {image.name!r} was loaded as UDIM tiles (Blender's UDIM detection takes files "
                          "numbered 1001, 1002 … for tiles). For a plate, open it again with 'UDIM Tiles' unticked "
                          "in the file browser, or pick it with the Files source")
    untouched_file = (image.source == "FILE" and path and os.path.isfile(path) and not image.packed_file
                      and not image.is_dirty)
    if untouched_file:
        return Source(path, label, colorspace=on_disk_space)
    # generated, packed or painted pixels: save them losslessly first (the data mover's job); Blender
    # holds them in its working space (Non-Color: as data), and writes them so
    return Source(save_image_exr(image, os.path.join(staging, f"{label}.exr")), label,
                  notes=[f"image {image.name!r} saved to EXR for the node"], colorspace=colour.of_written(image))


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


class MovieDecode:
    """Decode a movie to a half-float EXR sequence (frames from 1) with Blender's sequencer in a temporary
    scene, the way Nuke's adapter renders through a temporary Write: one frame per :meth:`step`, so an
    interactive session decodes between timer ticks instead of freezing for the whole movie."""

    def __init__(self, movie: str, folder: str, label: str, colorspace: str = ""):
        self.movie = movie
        self.pattern = os.path.join(folder, f"{label}.####.exr")
        self.folder = folder
        self.next = 1
        self._scene_name = ""
        tmp_scene = bpy.data.scenes.new("FilmAI decode")
        self._scene_name = tmp_scene.name
        se = tmp_scene.sequence_editor_create()
        strip = se.strips.new_movie("source", movie, 1, 1)
        if colorspace and colour.to_blender(colorspace):  # decoded from the colourspace the artist set
            strip.colorspace_settings.name = colour.to_blender(colorspace)
        elem = strip.elements[0]
        self.total = int(strip.frame_final_duration)
        render = tmp_scene.render
        render.resolution_x, render.resolution_y = elem.orig_width, elem.orig_height
        render.resolution_percentage = 100
        render.use_sequencer = True
        render.use_compositing = False
        settings = render.image_settings
        settings.media_type = "IMAGE"
        settings.file_format = "OPEN_EXR"
        settings.color_depth = "16"
        settings.exr_codec = "ZIP"
        render.filepath = os.path.join(folder, f"{label}.####")

    @property
    def done(self) -> bool:
        return self.next > self.total

    def step(self) -> bool:
        """Decode the next frame; True once every frame is on disk."""
        if self.done:
            return True
        scene = bpy.data.scenes.get(self._scene_name)
        if scene is None:
            raise SourceError(f"decoding {self.movie} was interrupted (its temporary scene is gone)")
        os.makedirs(self.folder, exist_ok=True)
        scene.frame_start = scene.frame_end = self.next
        bpy.ops.render.render(animation=True, scene=scene.name)
        if not os.path.isfile(worker.sequence_path(self.pattern, self.next)):
            self.close()
            raise SourceError(f"could not decode frame {self.next} of {self.movie}")
        self.next += 1
        if self.done:
            self.close()
        return self.done

    def run_all(self) -> str:
        while not self.step():
            pass
        return self.pattern

    def close(self) -> None:
        scene = bpy.data.scenes.get(self._scene_name) if self._scene_name else None
        if scene is not None:
            bpy.data.scenes.remove(scene)
        self._scene_name = ""


def render_movie_to_exr(movie: str, folder: str, label: str) -> str:
    """Decode a whole movie at once (scripts); returns the pattern (frames from 1)."""
    return MovieDecode(movie, folder, label).run_all()


def find_strip(scene, name: str):
    se = scene.sequence_editor
    strip = se.strips_all.get(name) if se else None
    if strip is None:
        raise SourceError(f"no strip named {name!r} in the Video Sequencer of scene {scene.name!r}")
    return strip


def _from_strip(scene, name: str, port: dict, staging: str, frame_scope: bool, window=None) -> Source:
    """``window``: (first, end) scene frames to read instead of the strip's visible range (a strip split
    at cuts before: its pieces keep every element, and the whole original range is analysed again)."""
    strip = find_strip(scene, name)
    start = int(strip.frame_start)
    first_visible, end_visible = window or (int(strip.frame_final_start), int(strip.frame_final_end))
    on_disk_space = colour.of_datablock(strip)
    if strip.type == "IMAGE":
        folder = abspath(strip.directory)
        names = [e.filename for e in strip.elements]
        parsed = [worker.pattern_from_file(os.path.join(folder, n)) for n in names]
        patterns = {p for p, _ in parsed}
        if len(patterns) != 1 or any(n is None for _, n in parsed):
            if len(names) == 1:
                return Source(os.path.join(folder, names[0]), clean_stem(strip.name), strip=strip.name,
                              channel=strip.channel, frame_map={}, origin=first_visible, colorspace=on_disk_space)
            raise SourceError(f"strip {strip.name!r}: its images are not one numbered sequence")
        numbers = [n for _, n in parsed]
        frame_map = {n: start + i for i, n in enumerate(numbers) if first_visible <= start + i < end_visible}
        if not frame_map:
            raise SourceError(f"strip {strip.name!r} shows none of its images")
        return Source(patterns.pop(), clean_stem(strip.name), frames=sorted(frame_map), frame_map=frame_map,
                      origin=first_visible, strip=strip.name, channel=strip.channel, colorspace=on_disk_space)
    if strip.type == "MOVIE":
        movie = abspath(strip.filepath)
        if not os.path.isfile(movie):
            raise SourceError(f"strip {strip.name!r}: movie {movie} not found")
        if frame_scope:
            decode = MovieDecode(movie, os.path.join(staging, clean_stem(strip.name)), clean_stem(strip.name),
                                 on_disk_space)
            n = int(strip.frame_duration)
            frame_map = {i + 1: start + i for i in range(n) if first_visible <= start + i < end_visible}
            return Source(decode.pattern, clean_stem(strip.name), frames=sorted(frame_map), frame_map=frame_map,
                          origin=first_visible, strip=strip.name, channel=strip.channel, decode=decode,
                          notes=[f"movie {os.path.basename(movie)} decoded to EXR frames"],
                          colorspace=colour.of_written(strip))
        # a sequence node (cut detection) reads the whole movie: its frame 0 sits at the strip's start
        return Source(movie, clean_stem(strip.name), origin=start, strip=strip.name, channel=strip.channel,
                      is_movie=True, colorspace=on_disk_space)
    raise SourceError(f"strip {strip.name!r} is a {strip.type.lower()} strip; FilmAI reads image and movie strips "
                      "(render it to an image sequence first)")


def _from_render(scene, port: dict) -> Source:
    r = scene.render
    a, b = r.frame_path(frame=1111), r.frame_path(frame=2222)
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if not diff or len(a) != len(b):
        raise SourceError("the scene's output path has no frame number; render an image sequence first")
    pattern = a[: diff[0]] + "#" * (diff[-1] - diff[0] + 1) + a[diff[-1] + 1:]
    # EXR renders hold the working space; other formats are display-encoded by the view transform, which the
    # file's own tag (or the 8-bit sRGB default) describes better than a guess here
    linear = r.image_settings.file_format in ("OPEN_EXR", "OPEN_EXR_MULTILAYER")
    return Source(pattern, clean_stem(scene.name + "_render"), colorspace=colour.working_space() if linear else "")


def job_frames(scene, mode: str, custom: str, source: Source) -> str:
    """The frame spec of a job, in the first input's own numbering. Scene range on a placed sequence
    checks that every scene frame has its file: a plate shorter than the scene is one clear error."""
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
        if source.on_disk is not None:
            have = set(source.on_disk)
            missing = [f for f in frames if f not in have]
            if missing:
                shown = worker.format_frames(source.scene_frame(f) for f in missing)
                on_disk = worker.format_frames(source.on_disk) if source.on_disk else "nothing"
                raise SourceError(
                    f"{os.path.basename(source.pattern)}: the scene range {scene.frame_start}-{scene.frame_end} "
                    f"shows file frames {worker.format_frames(frames)}, and {len(missing)} of them are not on disk: "
                    f"{worker.format_frames(missing)} (scene frames {shown}; on disk: {on_disk}). Set the scene "
                    "range, use Frames: All, or change where the sequence sits (Frames in scene)")
        return worker.format_frames(frames)
    return worker.format_frames(source.frames) if source.frames else ""


def file_frame_at(scene, src, port: dict, scene_frame: int) -> int:
    """The file frame of ``src`` shown at ``scene_frame`` (Add current frame), without staging anything."""
    if src.kind == "STRIP" and src.strip:
        strip = find_strip(scene, src.strip)
        if strip.type == "IMAGE":
            elem = strip.strip_elem_from_frame(scene_frame)
            if elem is None:
                raise SourceError(f"strip {strip.name!r} shows no image at frame {scene_frame}")
            number = worker.pattern_from_file(elem.filename)[1]
            return scene_frame if number is None else number
        return scene_frame - int(strip.frame_start) + 1
    if src.kind == "IMAGE" and src.image is not None and src.image.source == "MOVIE":
        return scene_frame + placement_offset(scene, src, 1)
    if src.kind == "IMAGE" and src.image is not None and src.image.source == "SEQUENCE":
        source = _placed_sequence(scene, src, worker.pattern_from_file(abspath(src.image.filepath))[0], "")
    elif src.kind == "FILES" and src.path:
        try:
            source = _from_files(scene, src, abspath(src.path), port)
        except SourceError:
            return scene_frame
    else:
        return scene_frame
    if source.offset is None:
        return scene_frame
    frame = scene_frame + source.offset
    if source.on_disk and frame not in source.on_disk:
        raise SourceError(f"scene frame {scene_frame} shows file frame {frame} of {os.path.basename(source.pattern)}, "
                          f"which is not on disk (on disk: {worker.format_frames(source.on_disk)})")
    return frame


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


def bring_back(scene, mode: str, pattern: str, frames: list[int], source: Source | None, label: str,
               colorspace: str = "", notes: list | None = None) -> str:
    """Show a Frames result where the artist works; returns a short description of what was made.
    ``colorspace``: what the result's pixels are in (set on the image or strip, so Blender reads them as
    that); one Blender's config does not know is said in ``notes`` and the file's default kept."""
    if mode == "NONE" or not frames:
        return ""
    notes = notes if notes is not None else []
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
        notes.append(colour.set_on(strip, colorspace, f"strip {strip.name!r}"))
        return f"strip {strip.name!r} on channel {channel} at frame {scene_first}"
    image = load_sequence_image(pattern, frames, label)
    notes.append(colour.set_on(image, colorspace, f"image {image.name!r}"))
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


def apply_cuts(scene, strip_name: str, summary: dict, origin: int, pieces: list[str] | None = None) -> dict:
    """Split a strip at each cut of a timeline summary (``filmai timeline cuts --json``) and mark the cuts.

    ``origin`` is the scene frame of the first analysed frame; a cut at ``offset`` lands on
    ``origin + offset``. ``pieces``: the strips an earlier split made of the same strip (a cut falls in
    whichever piece holds it). A cut already on a piece boundary is kept as it is (``already``), one
    outside every piece is reported (``skipped``). Running it again adds nothing: markers with the same
    name and frame are kept, not duplicated.
    """
    first = find_strip(scene, strip_name)
    se = scene.sequence_editor
    found = [se.strips_all.get(n) for n in (pieces or [])]
    current = [s for s in found if s is not None and s.channel == first.channel] or [first]
    if first not in current:
        current.append(first)
    shots = {s["start"]: s for s in summary.get("shots", [])}
    splits, markers, skipped, already = [], [], [], []
    if len(current) == 1 and shots.get(0, {}).get("name"):
        first.name = shots[0]["name"]
    for cut in sorted(summary.get("cuts", []), key=lambda c: c["offset"]):
        frame = int(origin + cut["offset"])
        target = next((p for p in current if p.frame_final_start < frame < p.frame_final_end), None)
        name = cut_label(cut)
        if target is None:
            if any(p.frame_final_start == frame for p in current):
                already.append(frame)
                if not any(m.frame == frame and m.name == name for m in scene.timeline_markers):
                    scene.timeline_markers.new(name, frame=frame)
                markers.append(name)
            else:
                skipped.append(frame)
            continue
        right = target.split(frame=frame, split_method="SOFT")
        if right is None:
            skipped.append(frame)
            continue
        shot = shots.get(cut["offset"])
        if shot and shot.get("name"):
            right.name = shot["name"]
        splits.append(frame)
        current.append(right)
        if not any(m.frame == frame and m.name == name for m in scene.timeline_markers):
            scene.timeline_markers.new(name, frame=frame)
        markers.append(name)
    ordered = sorted(current, key=lambda p: p.frame_final_start)
    return {"splits": splits, "markers": markers, "skipped": skipped, "already": already,
            "pieces": [p.name for p in ordered],
            "window": [int(ordered[0].frame_final_start), int(ordered[-1].frame_final_end)]}
