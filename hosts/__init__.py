"""Host adapters: Blender (an extension) and Nuke (a NUKE_PATH plug-in folder). ``bpy`` and ``nuke`` are
imported only under here."""
