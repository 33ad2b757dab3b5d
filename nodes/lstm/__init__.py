"""LSTM family: cut detection to an editorial timeline (lstm.cuts) and recommendation (lstm.recommend).

Every public module here defines ``NODES``; networks and other torch code live in private ``_*.py``
modules imported only when a node runs.
"""
from filmai_plugins.hookspecs import hookimpl
from filmai_plugins.registry import register_package_nodes


@hookimpl
def filmai_register_nodes(registry):
    register_package_nodes(registry, __name__)
