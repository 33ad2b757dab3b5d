"""Built-in node packs, one package per family. Each registers through the ``filmai_plugins`` entry-point
group exactly as a third-party pack would.

Installed, this folder is the package ``filmai_plugins.nodes``; the Python API also has a function
``filmai_plugins.nodes()``. Importing a submodule makes Python bind the package over that function,
so the package module is made callable with the same meaning: ``filmai_plugins.nodes()`` lists the
registered nodes either way.
"""
import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self):
        from filmai_plugins import list_nodes

        return list_nodes()


sys.modules[__name__].__class__ = _CallablePackage
