"""CNN family: image-to-image networks (TorchScript/ONNX runner; copycat and denoise arrive with the CNN issue)."""
from filmai_plugins.hookspecs import hookimpl


@hookimpl
def filmai_register_nodes(registry):
    from .torchscript import TorchScriptNode

    registry.add(TorchScriptNode)
