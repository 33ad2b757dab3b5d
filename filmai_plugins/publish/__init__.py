"""Publishing through Pyblish: plug-in folders (common and per host) and the publish runner."""
