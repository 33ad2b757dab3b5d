"""The built-in publish pack: hands FilmAI's own Pyblish plug-in folders to Pyblish.

Registered through the ``filmai_plugins`` entry-point group like any node pack, so a studio pack
adds its validators exactly the same way (return more folders from the same hook).
"""
from __future__ import annotations

import os

from filmai_plugins.hookspecs import hookimpl

PLUGIN_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
HOSTS = ("headless", "blender", "nuke")


def builtin_plugin_paths(host_name: str) -> list[str]:
    """``common`` for every host, then the host's own folder when FilmAI ships one."""
    paths = [os.path.join(PLUGIN_ROOT, "common")]
    if host_name in HOSTS:
        paths.append(os.path.join(PLUGIN_ROOT, host_name))
    return paths


@hookimpl(tryfirst=True)
def filmai_publish_plugin_paths(host_name: str, targets: list[str]) -> list[str]:
    # Targets are not folders: plug-ins carry Pyblish ``targets`` attributes (farm-only collectors
    # say targets = ["farm"]), so one folder serves local and farm publishing alike.
    return builtin_plugin_paths(host_name)


@hookimpl
def filmai_register_commands(commands) -> None:
    from . import cli

    cli.register_cli(commands)
