"""``filmai colourspaces``: what an OCIO config offers, as the ``--input-colorspace`` / ``--output-colorspace``
flags accept it (names, aliases, interop ids), which spaces are data, and the roles."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .hookspecs import hookimpl


def describe(colour: Any) -> dict[str, Any]:
    """The config's colourspaces and roles as plain data (``colour`` is a ``color.ColourConfig``)."""
    config = colour.config
    spaces = []
    for cs in config.getColorSpaces():
        name = cs.getName()
        spaces.append({"name": name, "aliases": list(cs.getAliases()),
                       "interop_id": colour.interop_id(name) or "", "encoding": cs.getEncoding() or "",
                       "data": bool(cs.isData()), "family": cs.getFamily() or "",
                       "chromaticities": list(colour.chromaticities(name) or ())})
    roles = {role: config.getRoleColorSpace(role) for role in config.getRoleNames()}
    return {"config": colour.describe(), "scene_linear": colour.scene_linear(), "roles": roles, "colorspaces": spaces}


def text(info: dict[str, Any]) -> str:
    cfg = info["config"]
    lines = [f"OCIO config {cfg['name']!r} ({cfg['source']}, OCIO {cfg['version']})",
             f"untagged EXR is read as: {info['scene_linear']} (the scene_linear role)", ""]
    width = max(len(s["name"]) for s in info["colorspaces"])
    for s in info["colorspaces"]:
        kind = "data" if s["data"] else (s["encoding"] or "-")
        also = ", ".join(a for a in dict.fromkeys([s["interop_id"], *s["aliases"]]) if a and a != s["name"])
        lines.append(f"  {s['name']:<{width}}  {kind:<13} {also}")
    lines += ["", "roles: " + ", ".join(f"{k}={v}" for k, v in sorted(info["roles"].items()))]
    return "\n".join(lines)


def cmd_colourspaces(args: argparse.Namespace) -> int:
    from .color import ColourConfig

    colour = ColourConfig.load(args.ocio_config) if args.ocio_config else args.app.colour()
    info = describe(colour)
    print(json.dumps(info, indent=2) if args.json else text(info))
    return 0


@hookimpl
def filmai_register_commands(commands: Any) -> None:
    p = commands.add_parser("colourspaces", aliases=["colorspaces"],
                            help="list the OCIO config's colourspaces (names, aliases, interop ids, data or colour) "
                                 "and roles: what --input-colorspace/--output-colorspace accept")
    p.add_argument("--ocio-config", metavar="PATH|URI",
                   help="the config to list (default: $OCIO, else the pinned built-in CG config)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=cmd_colourspaces)
