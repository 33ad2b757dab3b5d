"""Argument helpers shared by the ``filmai`` sub-commands that run nodes (``run``, ``train``, ``farm``):
``--set NAME=VALUE``, ``--input PORT=PATTERN``, the engine's I/O flags. Argument parsing only; values are
checked by the node's params (``filmai_plugins.schema``)."""
from __future__ import annotations

import argparse
from typing import Any, Sequence

from .errors import BadInput


def parse_sets(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["mix=0.5", "gain=1001:0,1100:1"]`` → ``{"mix": "0.5", "gain": "1001:0,1100:1"}``; the last of a
    repeated name wins (a wrapper's defaults can be overridden by appending)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise BadInput(f"--set expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        name = name.strip()
        if not name:
            raise BadInput(f"--set expects NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def parse_ports(values: Sequence[str] | None, ports: Sequence[str]) -> Any:
    """``--input PATTERN`` or ``--input port=PATTERN`` (repeatable)."""
    if not values:
        return None
    bound: dict[str, str] = {}
    for v in values:
        name, sep, rest = v.partition("=")
        if sep and name in ports:
            bound[name] = rest
        elif not bound and len(values) == 1:
            return v
        else:
            first = ports[0] if ports else "input"
            if first in bound:
                raise BadInput(f"give each input once; use PORT=PATTERN for the others (ports: {', '.join(ports)})")
            bound[first] = v
    return bound


def add_io_args(parser: argparse.ArgumentParser) -> None:
    """The engine's I/O options (``--part``, ``--layer``, ``--compression`` …) as flags."""
    from .engine.context import IO_OPTIONS

    group = parser.add_argument_group("input/output options")
    for p in IO_OPTIONS:
        flag = "--" + p.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": "io_" + p.name, "default": None, "help": p.help}
        if p.type == "enum":
            kwargs["choices"] = p.choices
        else:
            kwargs["metavar"] = {"int": "N", "path": "PATH"}.get(p.type, "NAME" if p.name != "ocio_config"
                                                                 else "PATH|URI")
        group.add_argument(flag, **kwargs)


def io_values(args: argparse.Namespace) -> dict[str, Any]:
    return {k[3:]: v for k, v in vars(args).items() if k.startswith("io_") and v is not None}


def add_common_run_args(parser: argparse.ArgumentParser) -> None:
    from .engine.device import DEVICES
    from .engine.progress import PROGRESS_MODES

    parser.add_argument("node", help="node id, e.g. cnn.copycat (see `filmai nodes`)")
    parser.add_argument("--input", "-i", action="append", metavar="PATTERN",
                        help="input sequence or file (name.####.exr, name.%%04d.exr, name.@.exr); PORT=PATTERN for other ports")
    parser.add_argument("--frames", "-f", metavar="SPEC",
                        help="frames: 1001-1100, 1001-1100x2 or 1001-1100:2 (every second frame), 1,5,9-12")
    parser.add_argument("--set", "-s", action="append", metavar="NAME=VALUE", dest="sets",
                        help="node parameter; animatable ones take keys: mix=1001:0,1100:1 (linear, held outside)")
    parser.add_argument("--model", "-m", metavar="FILE", help="model checkpoint")
    parser.add_argument("--device", default="auto", help=f"{'|'.join(DEVICES)} or cuda:N (default auto)")
    parser.add_argument("--progress", default="auto", choices=PROGRESS_MODES,
                        help="bar on a terminal, json lines on stdout for hosts, or none (default auto)")
