# FilmAI Plugins for Nuke: runs in every session (GUI, terminal `nuke -t`, render); builds no UI.
# Put this folder on NUKE_PATH (`filmai nuke path` prints it). Nuke adds it to sys.path, so the
# filmai_nuke package next to this file imports directly.
import filmai_nuke

filmai_nuke.install()
