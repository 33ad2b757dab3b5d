# FilmAI Plugins for Nuke: interactive sessions only. A FilmAI menu with every registered node.
import filmai_nuke

filmai_nuke.build_menu()
