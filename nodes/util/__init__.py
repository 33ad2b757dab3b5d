"""Utility nodes (no torch): sequence conversion."""
from filmai_plugins.hookspecs import hookimpl


@hookimpl
def filmai_register_nodes(registry):
    from .convert import ConvertNode

    registry.add(ConvertNode)
