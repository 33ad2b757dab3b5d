"""Animated node settings: a param's F-curve → the node contract's keys for one job.

An animatable param is a property of the node's settings (``scene.filmai.<node>.p_<name>``), so the artist
keys it as any other property (I over the field, the Graph Editor) and its F-curve lives in the action of
the scene's animation data. A job takes the curve sampled at every frame of its run, each file frame at
the scene frame where it shows (a 1001 plate placed at scene frame 1: file frame 1001 takes the value at
scene frame 1), with ``FCurve.evaluate`` — Blender's own evaluation, F-curve modifiers included — then
thinned where the curve is straight (``worker.keys_from_samples``). Sampling rather than copying the keys:
Blender's default Bezier keys ease in and out, and the contract's keys are linear, so the keys alone
would not give the values the artist sees.

Read: the F-curves of the scene's active action (and slot). Not read: drivers and NLA strips (a driven
param is reported and goes to the job with the value it shows now).
"""

from . import nodes, worker

ANIMATABLE_TYPES = ("int", "float", "color")


def _channelbag(anim_data):
    """The F-curves of the animation data's action (Blender 4.4+: the channelbag of its slot)."""
    action = anim_data.action if anim_data is not None else None
    if action is None:
        return None
    try:
        from bpy_extras import anim_utils

        return anim_utils.action_get_channelbag_for_slot(action, anim_data.action_slot)
    except (ImportError, AttributeError):  # Blender before slotted actions
        return action if hasattr(action, "fcurves") else None


def property_curves(scene, pg, prop: str, size: int) -> tuple[list, bool]:
    """The F-curves animating ``pg.<prop>`` (one per component, None where one is not animated), and
    whether a driver drives it."""
    path = pg.path_from_id(prop)
    anim_data = scene.animation_data
    if anim_data is None:
        return [None] * size, False
    bag = _channelbag(anim_data)
    curves = [bag.fcurves.find(path, index=i) if bag is not None else None for i in range(size)]
    driven = any(anim_data.drivers.find(path, index=i) is not None for i in range(size))
    return curves, driven


def _sample(p: dict, curves: list, static, scene_frame: float):
    if p["type"] == "color":
        return tuple(float(f"{c.evaluate(scene_frame):.7g}") if c is not None else static[i]
                     for i, c in enumerate(curves))
    value = curves[0].evaluate(scene_frame)
    return int(round(value)) if p["type"] == "int" else float(f"{value:.7g}")


def param_value(scene, pg, p: dict, frames: list[int] | None, scene_frame, notes: list) -> object:
    """The value of param ``p`` for a job. Not animated: the property's value. Animated: its F-curve at
    every frame in ``frames`` (file frames; ``scene_frame(f)`` says where each shows), as keys; without
    ``frames`` (training, a single image, a movie read whole) the value at the current frame, said in
    ``notes`` as (level, text)."""
    prop = f"p_{p['name']}"
    static = nodes.property_value(pg, prop, p)
    if not p.get("animatable") or p["type"] not in ANIMATABLE_TYPES:
        return static
    size = int(p.get("size", 3)) if p["type"] == "color" else 1
    curves, driven = property_curves(scene, pg, prop, size)
    if driven:
        notes.append(("WARNING", f"{worker.display_label(p)} is driven: FilmAI does not read drivers; this job "
                                 f"uses the value it shows at frame {scene.frame_current} "
                                 f"({worker.format_value(p, static)})"))
        return static
    if not any(c is not None for c in curves):
        return static
    if not frames:
        notes.append(("INFO", worker.animated_note(p, static, scene.frame_current)))
        return static
    return worker.keys_from_samples(p, [(f, _sample(p, curves, static, scene_frame(f))) for f in frames])


def param_values(scene, pg, node: dict, kind: str, frames: list[int] | None = None, scene_frame=None,
                 notes: list | None = None) -> dict:
    """Every param of the job's stage: plain values, and keys for animated ones when the job runs over
    ``frames`` (training takes one value per param: the value at the current frame)."""
    notes = [] if notes is None else notes
    to_scene = scene_frame or (lambda f: f)
    sample_at = frames if kind == "run" else None
    return {p["name"]: param_value(scene, pg, p, sample_at, to_scene, notes) for p in worker.params_for(node, kind)}
