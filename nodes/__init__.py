"""Built-in node packs, one package per family. Each registers through the ``filmai_plugins`` entry-point
group exactly as a third-party pack would."""
