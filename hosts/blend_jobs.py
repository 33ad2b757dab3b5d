"""Print the FilmAI jobs stored in a .blend as JSON on stdout (``filmai blender jobs`` runs this).

Run as a script with a Python that has the ``bpy`` module (``python hosts/blend_jobs.py shot.blend``): the
core never imports bpy itself, and opening a .blend in a separate process keeps Blender's global state out
of the caller. Exit 2 with one line on stderr when the file cannot be read.
"""
from __future__ import annotations

import json
import os
import sys


def read_jobs(blend: str) -> list:
    import bpy

    bpy.ops.wm.open_mainfile(filepath=os.path.abspath(blend), load_ui=False)
    out = []
    for scene in bpy.data.scenes:
        # Blender 5.0 keeps add-on (bpy.props) properties apart from user ID properties
        system = scene.bl_system_properties_get() if hasattr(scene, "bl_system_properties_get") else scene
        group = system.get("filmai") if system is not None else None
        text = group.get("jobs_json", "") if group is not None else ""
        if not text:
            continue
        for _key, entry in sorted(json.loads(text).items()):
            out.append({"scene": scene.name, **entry})
    return out


def main(argv: list) -> int:
    if len(argv) != 1:
        print("usage: blend_jobs.py FILE.blend", file=sys.stderr)
        return 2
    blend = argv[0]
    if not os.path.isfile(blend):
        print(f"{blend}: file not found", file=sys.stderr)
        return 2
    # Blender prints from C ("Read blend: ..."): keep fd 1 for the JSON alone.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        try:
            import bpy  # noqa: F401
        except ImportError:
            print("reading a .blend needs the bpy module (pip install -c constraints.txt bpy==5.0.1)", file=sys.stderr)
            return 2
        try:
            jobs = read_jobs(blend)
        except RuntimeError as exc:
            print(f"{blend}: cannot open ({exc})", file=sys.stderr)
            return 2
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    sys.stdout.write(json.dumps(jobs))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
