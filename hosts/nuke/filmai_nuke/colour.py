"""Colour between Nuke and the nodes: the script's OCIO config, what colourspace the pixels reaching a
FilmAI node are in, and how the Read that shows a result reads it.

Pixels in Nuke's node graph are in the project's working space (Project Settings > Color, the root's
``workingSpaceLUT``): a Read converts its file from its ``colorspace`` knob into it, unless the Read is
``raw`` (the file's values pass untouched, so they stay in the colourspace the Read names), and an
``OCIOColorSpace`` node moves them into its ``out_colorspace``. The adapter stages a node's inputs with a
raw Write (no conversion: the pixels on disk are exactly those Nuke computed) and tells the run which
colourspace they are in (:func:`stream_colorspace`); converting in the Write instead would add an OCIO
round trip (LUT-based curves are not exactly invertible) for nothing.
"""
from __future__ import annotations

import os
from typing import Optional

import nuke

#: Nodes that pass their input's pixels on in the same colourspace as far as colour goes (anything that
#: is not a Read, an OCIOColorSpace or a source): followed upstream through input 0.
_SOURCES = ("Constant", "CheckerBoard2", "CheckerBoard", "ColorBars", "ColorWheel", "Ramp", "Radial",
            "Rectangle", "Noise", "Roto", "RotoPaint")


def _knob_value(node, name: str) -> str:
    knob = node.knob(name) if node is not None else None
    return str(knob.value()) if knob is not None else ""


def knob_colorspace(value: str) -> str:
    """A colorspace knob's value as a name: ``default (linear)`` (the knob left at its default) -> ``linear``."""
    text = (value or "").strip()
    if text.startswith("default (") and text.endswith(")"):
        return text[len("default ("):-1].strip()
    return "" if text == "default" else text


def config_path() -> str:
    """The OCIO config the script uses (Project Settings > Color): the custom file when ``OCIO_config`` is
    custom, else the stock config's file (``OCIOConfigPath``); ``$OCIO`` when the script names none."""
    root = nuke.root()
    choice = _knob_value(root, "OCIO_config")
    for name in (("customOCIOConfigPath",) if choice == "custom" else ("OCIOConfigPath",)):
        knob = root.knob(name)
        if knob is not None:
            path = str(knob.evaluate() if hasattr(knob, "evaluate") else knob.value()).strip()
            if path:
                return path if "://" in path else os.path.abspath(path)
    return os.environ.get("OCIO", "").strip()


def working_space() -> str:
    """The project's working space (what non-raw Reads convert into)."""
    return knob_colorspace(_knob_value(nuke.root(), "workingSpaceLUT")) or "scene_linear"


def stream_colorspace(node, limit: int = 500) -> str:
    """The colourspace of the pixels ``node`` outputs: the nearest upstream Read (raw: its ``colorspace``,
    else the working space) or OCIOColorSpace (its ``out_colorspace``), through input 0; the working space
    for a source node or nothing connected."""
    seen = 0
    while node is not None and seen < limit:
        seen += 1
        cls = node.Class()
        if cls == "Read":
            if node.knob("raw") is not None and node["raw"].value():
                return knob_colorspace(_knob_value(node, "colorspace")) or working_space()
            return working_space()
        if cls == "OCIOColorSpace":
            return knob_colorspace(_knob_value(node, "out_colorspace")) or working_space()
        if cls in _SOURCES:
            return working_space()
        if cls == "Input":  # inside a Group: what feeds the Group's input of that number
            parent_name = node.fullName().rsplit(".", 1)[0] if "." in node.fullName() else ""
            parent = nuke.toNode(parent_name) if parent_name else None
            node = parent.input(int(node["number"].value())) if parent is not None else None
            continue
        if cls == "Switch" and node.knob("which") is not None:
            node = node.input(int(node["which"].value()))
            continue
        node = node.input(0) if node.inputs() else None
    return working_space()


def set_result_read(read, colorspace: str, stream: str) -> Optional[str]:
    """Make the Read that shows a result read it as the colourspace it was written in. A result in the space
    its input stream was in, when that is not the working space (a raw Read or an OCIOColorSpace upstream),
    is read raw, so the node passes the stream on as it came; otherwise Nuke converts it into the working
    space (a data colourspace converts to nothing). Returns a note when the config has no such name."""
    if not colorspace:
        read["raw"].setValue(True)
        return "the result's colourspace is not recorded: shown raw"
    try:
        read["colorspace"].setValue(colorspace)
    except (ValueError, NameError, RuntimeError):
        read["raw"].setValue(True)
        return (f"the result's colourspace {colorspace!r} is not in the script's OCIO config: shown raw "
                "(set the Read's colorspace by hand)")
    read["raw"].setValue(bool(stream) and colorspace == stream and stream != working_space())
    return None
