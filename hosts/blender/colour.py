"""Colour between Blender and the nodes: the OCIO config Blender uses, what colourspace each input's
pixels are in, and which of Blender's colourspaces a result is.

Blender keeps float pixels in the blend file's working space (``bpy.data.colorspace.working_space``) and
reads a file from the colourspace set on its datablock or strip (``colorspace_settings.name``). So a file
read as it is on disk is in that colourspace, while pixels Blender wrote for the node (a generated,
packed or painted image saved to EXR, a movie decoded to EXR frames, the scene's EXR renders) are in the
working space; a Non-Color image stays data (never converted) either way.

Blender's Python has no OpenColorIO module, so names are mapped with the config's own text: every
colourspace's ``name`` and ``aliases``. Nothing here runs OCIO; the worker does.
"""

import os
import re

import bpy

_ALIAS_CACHE: dict[str, dict[str, str]] = {}


def config_path() -> str:
    """The OCIO config Blender uses: ``$OCIO`` when set (Blender reads it too), else the config Blender ships
    (``datafiles/colormanagement/config.ocio``); "" when neither is found."""
    env = os.environ.get("OCIO", "").strip()
    if env:
        return env
    for kind in ("LOCAL", "SYSTEM"):
        root = bpy.utils.resource_path(kind)
        path = os.path.join(root, "datafiles", "colormanagement", "config.ocio") if root else ""
        if path and os.path.isfile(path):
            return path
    return ""


def blender_names() -> list[str]:
    """The colourspace names Blender offers for an image (its config's names, as Blender lists them)."""
    prop = bpy.types.ColorManagedInputColorspaceSettings.bl_rna.properties["name"]
    return [item.identifier for item in prop.enum_items]


def working_space() -> str:
    """The blend file's working (scene linear) space: what Blender's float pixels are in."""
    settings = getattr(bpy.data, "colorspace", None)
    name = getattr(settings, "working_space", "") if settings is not None else ""
    return name or "Linear Rec.709"


def _aliases(path: str) -> dict[str, str]:
    """Lower-case alias (and name) -> colourspace name, read from the config file's text. Only plain files
    are read (an ``ocio://`` built-in has no text here): their names still match as they are."""
    if path in _ALIAS_CACHE:
        return _ALIAS_CACHE[path]
    found: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        text = ""
    current = None
    for line in text.splitlines():
        m = re.match(r"\s*(?:-\s*!<ColorSpace>\s*)?name:\s*(.+?)\s*$", line)
        if m:
            current = m.group(1).strip().strip("\"'")
            found.setdefault(current.lower(), current)
            continue
        m = re.match(r"\s*aliases:\s*\[(.*)\]\s*$", line)
        if m and current:
            for alias in re.findall(r'\s*(?:"([^"]*)"|\'([^\']*)\'|([^,]+))\s*(?:,|$)', m.group(1)):
                value = next((a for a in alias if a), "").strip()
                if value:
                    found.setdefault(value.lower(), current)
    _ALIAS_CACHE[path] = found
    return found


def to_blender(name: str, path: str = "") -> str | None:
    """Blender's name for a colourspace name, alias or interop id of its config; None when Blender's config
    does not know it."""
    if not name:
        return None
    names = blender_names()
    if name in names:
        return name
    lower = {n.lower(): n for n in names}
    if name.lower() in lower:
        return lower[name.lower()]
    mapped = _aliases(path or config_path()).get(name.lower())
    return mapped if mapped in names else None


def is_data(name: str) -> bool:
    """Non-Color (Blender's data colourspace) and its usual spellings: pixels that are never converted."""
    return (name or "").lower() in ("non-color", "non-colour", "raw", "data", "generic data", "non-color data")


def of_datablock(owner) -> str:
    """The colourspace set on an image datablock or a VSE image/movie strip ("" when it has none)."""
    settings = getattr(owner, "colorspace_settings", None)
    return getattr(settings, "name", "") if settings is not None else ""


def of_written(owner=None) -> str:
    """What pixels Blender wrote for the node are in: the working space, or Non-Color for data."""
    name = of_datablock(owner) if owner is not None else ""
    return name if is_data(name) else working_space()


def set_on(owner, name: str, what: str) -> str:
    """Set ``owner``'s colourspace to ``name`` (mapped to Blender's name); returns a note for the report
    when Blender's config does not know it (the file's default is kept then)."""
    if not name:
        return ""
    mapped = to_blender(name)
    if mapped is None:
        return (f"{what}: Blender's OCIO config does not know the result's colourspace {name!r}; "
                f"kept {of_datablock(owner)!r} (set it by hand)")
    settings = getattr(owner, "colorspace_settings", None)
    if settings is not None and settings.name != mapped:
        settings.name = mapped
    return ""
