"""GAN family: plate up-res and video content generation (nodes arrive with the GAN issue)."""
from filmai_plugins.hookspecs import hookimpl


@hookimpl
def filmai_register_nodes(registry):
    pass
