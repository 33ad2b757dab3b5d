"""A pack with a misspelt hook name: pluggy would ignore it silently; the registry reports it."""
from filmai_plugins import hookimpl


@hookimpl
def filmai_register_node(registry):
    pass
