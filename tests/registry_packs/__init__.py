"""Small node packs the registry tests load through FILMAI_PLUGIN_MODULES, as a studio would."""
