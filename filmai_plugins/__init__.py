"""FilmAI Plugins: open machine-learning nodes for film and VFX.

The Python API for pipeline TDs::

    import filmai_plugins as fa
    fa.nodes()                         # {id: NodeClass}
    fa.get_node("util.convert").schema()
    manifest = fa.run("util.convert", input="plate.####.exr", output="out/plate.####.exr",
                      frames="1001-1100", io={"compression": "dwaa"})
    fa.train("cnn.copycat", input="src.####.exr", target="dst.####.exr", frames="1001,1050",
             out="shot.ckpt", steps=2000)

Importing this package is cheap: no torch, no OpenImageIO until a node needs them.
"""
from __future__ import annotations

from typing import Any, Mapping

from ._version import __version__
from .errors import BadInput, Cancelled, FilmAIError, FrameError, ParamError, RunFailure
from .hookspecs import hookimpl
from .node import Node, Param, Port

__all__ = ["__version__", "hookimpl", "Node", "Param", "Port", "nodes", "list_nodes", "get_node", "run", "train",
           "FilmAIError", "BadInput", "FrameError", "ParamError", "RunFailure", "Cancelled"]


def list_nodes(app: Any = None) -> dict[str, type[Node]]:
    """Every registered node class by id (of ``app``, default: the process's headless app)."""
    from .app import app_or_default

    return dict(sorted(app_or_default(app).nodes.items()))


nodes = list_nodes  # the package filmai_plugins.nodes, once imported, stays callable with this meaning


def get_node(node_id: str, app: Any = None) -> type[Node]:
    from .app import app_or_default

    return app_or_default(app).get(node_id)


def run(node_id: str, *, input: Any = None, output: Any = None, frames: Any = None, model: str | None = None,
        device: str = "auto", progress: str = "none", skip_existing: bool = False,
        io: Mapping[str, Any] | None = None, on_event: Any = None, cancel: Any = None, app: Any = None,
        **params: Any) -> dict[str, Any]:
    """Run a node; keyword arguments other than the named ones are node params (animatable ones may be
    keys: ``mix={1001: 0.0, 1100: 1.0}``). Returns the manifest. ``app``: a host's app object."""
    from .engine.runner import run_node

    return run_node(node_id, input=input, output=output, frames=frames, model=model, params=params,
                    device=device, progress=progress, skip_existing=skip_existing, io=io,
                    on_event=on_event, cancel=cancel, app=app)


def train(node_id: str, *, input: Any = None, target: str | None = None, frames: Any = None, out: str,
          model: str | None = None, device: str = "auto", progress: str = "none",
          io: Mapping[str, Any] | None = None, on_event: Any = None, cancel: Any = None, nproc: int = 1,
          app: Any = None, **params: Any) -> dict[str, Any]:
    """Train a node into the checkpoint ``out``; ``model`` is an initial checkpoint to fine-tune."""
    from .engine.runner import train_node

    return train_node(node_id, input=input, target=target, frames=frames, out=out, params=params, model=model,
                      device=device, progress=progress, io=io, on_event=on_event, cancel=cancel, nproc=nproc, app=app)
