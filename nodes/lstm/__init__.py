"""LSTM family: cut detection and recommendation (nodes arrive with the LSTM issue)."""
from filmai_plugins.hookspecs import hookimpl


@hookimpl
def filmai_register_nodes(registry):
    pass
