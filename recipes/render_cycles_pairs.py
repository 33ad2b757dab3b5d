"""Render noisy/clean training and evaluation pairs for ``cnn.denoise`` with Blender Cycles (bpy 5.0.1, CPU).

Every scene is built procedurally from a seed: a textured ground, a handful of primitives with diffuse,
glossy, metallic, coated, glass and emissive materials (textures made from Blender's procedural texture
nodes), a gradient sky and two or three lights of random kinds. Each camera view is rendered once at
``--ref-spp`` samples (the clean reference) and several times at low sample counts with other sampling seeds
(the noisy inputs). Every file is the multilayer EXR Blender itself writes (bpy 5.0 writes one part per
pass): ``ViewLayer.Combined`` (RGBA), ``ViewLayer.Denoising Normal``, ``ViewLayer.Denoising Albedo`` and
``ViewLayer.Denoising Depth`` -- exactly what a lighter's render gives ``cnn.denoise`` and OIDN.

Layout under ``--out`` (default ``bench/out/cycles_pairs``)::

    train/noisy.####.exr   train/clean.####.exr   one frame number per (scene, view, spp) pair;
                                                  clean files are hard links to one render per view
    eval/<scene>/clean.####.exr                   held-out scenes (seeds never trained on), a short camera
    eval/<scene>/noisy_sNN.####.exr               move of --eval-frames frames, noisy at each --eval-spp
    pairs.json                                    what every frame is (scene, view, spp, seeds, timings)

The run is resumable (finished files are kept, each render is written to a temporary name and renamed)
and reproducible: scene ``i`` of a split is built from ``seed * 1000 + i`` (train) or
``seed * 1000 + 500 + i`` (eval), Cycles' sampling seeds are fixed per render, and a training pair's frame
number follows from its scene, view and render index alone, so any subset of scenes renders the same files.
That is what ``--shard K/N`` uses: N processes (one per core, ``--threads 1``) each render the scenes whose
index is K modulo N and write their own ``pairs.shardK-N.json``; a last run without ``--shard`` finds every
file on disk, renders nothing and writes the complete ``pairs.json``::

    for k in 0 1; do nice -n 10 python recipes/render_cycles_pairs.py --shard $k/2 --threads 1 \
        > bench/out/render.$k.log 2>&1 & done; wait; python recipes/render_cycles_pairs.py

Render costs are logged per file. On a quiet 2-core x86-64 CPU one thread renders a 256-spp reference in
about 20 s and a 4-spp frame in under 2 s; the defaults (200 training scenes, 8 held-out camera moves) take
about an hour on two processes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "bench", "out", "cycles_pairs")  # where bench/denoise.py reads them
TRAIN_SPP_CHOICES = (2, 4, 8, 16, 32)
FIRST_FRAME = 1001


# ----- scene construction -----------------------------------------------------------------------------


def _node(tree, kind, location=(0, 0), **inputs):
    node = tree.nodes.new(kind)
    node.location = location
    for name, value in inputs.items():
        node.inputs[name.replace("_", " ")].default_value = value
    return node


def _random_color(rng: random.Random, saturation=(0.2, 0.9), value=(0.15, 0.85)):
    import colorsys

    return (*colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value)), 1.0)


def _procedural_color(tree, rng: random.Random, scale_range=(2.0, 12.0)):
    """A procedural texture (noise, voronoi, checker, brick, wave, magic) through a two-colour ramp."""
    coord = _node(tree, "ShaderNodeTexCoord", (-900, 0))
    mapping = _node(tree, "ShaderNodeMapping", (-700, 0))
    mapping.inputs["Rotation"].default_value = (rng.uniform(0, 3.1), rng.uniform(0, 3.1), rng.uniform(0, 3.1))
    tree.links.new(coord.outputs["Object"], mapping.inputs["Vector"])
    kind = rng.choice(["noise", "voronoi", "checker", "brick", "wave", "magic"])
    scale = rng.uniform(*scale_range)
    if kind == "noise":
        tex = _node(tree, "ShaderNodeTexNoise", (-500, 0), Scale=scale, Detail=rng.uniform(2, 10))
        fac = tex.outputs["Fac"]
    elif kind == "voronoi":
        tex = _node(tree, "ShaderNodeTexVoronoi", (-500, 0), Scale=scale)
        fac = tex.outputs["Distance"]
    elif kind == "checker":
        tex = _node(tree, "ShaderNodeTexChecker", (-500, 0), Scale=scale)
        fac = tex.outputs["Fac"]
    elif kind == "brick":
        tex = _node(tree, "ShaderNodeTexBrick", (-500, 0), Scale=scale)
        fac = tex.outputs["Fac"]
    elif kind == "wave":
        tex = _node(tree, "ShaderNodeTexWave", (-500, 0), Scale=scale, Distortion=rng.uniform(0, 8))
        fac = tex.outputs["Fac"]
    else:
        tex = _node(tree, "ShaderNodeTexMagic", (-500, 0), Scale=scale)
        fac = tex.outputs["Fac"]
    tree.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    ramp = _node(tree, "ShaderNodeValToRGB", (-250, 0))
    ramp.color_ramp.elements[0].color = _random_color(rng)
    ramp.color_ramp.elements[1].color = _random_color(rng)
    ramp.color_ramp.elements[0].position = rng.uniform(0.0, 0.4)
    ramp.color_ramp.elements[1].position = rng.uniform(0.6, 1.0)
    tree.links.new(fac, ramp.inputs["Fac"])
    return ramp.outputs["Color"], fac


def _material(bpy, rng: random.Random, kind: str, name: str):
    mat = bpy.data.materials.new(name)
    tree = mat.node_tree
    bsdf = tree.nodes.get("Principled BSDF")
    textured = rng.random() < 0.6
    if textured and kind in ("diffuse", "glossy", "coated", "ground"):
        colour, fac = _procedural_color(tree, rng, (1.5, 6.0) if kind == "ground" else (2.0, 14.0))
        tree.links.new(colour, bsdf.inputs["Base Color"])
        if rng.random() < 0.5:  # bump from the same pattern: fine geometric detail the normals carry
            bump = _node(tree, "ShaderNodeBump", (-100, -300), Strength=rng.uniform(0.1, 0.6))
            tree.links.new(fac, bump.inputs["Height"])
            tree.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    else:
        bsdf.inputs["Base Color"].default_value = _random_color(rng)
    if kind in ("diffuse", "ground"):
        bsdf.inputs["Roughness"].default_value = rng.uniform(0.5, 1.0)
    elif kind == "glossy":
        bsdf.inputs["Roughness"].default_value = rng.uniform(0.05, 0.4)
        bsdf.inputs["Metallic"].default_value = rng.choice([0.0, 1.0])
    elif kind == "coated":
        bsdf.inputs["Roughness"].default_value = rng.uniform(0.3, 0.8)
        bsdf.inputs["Coat Weight"].default_value = 1.0
        bsdf.inputs["Coat Roughness"].default_value = rng.uniform(0.0, 0.15)
    elif kind == "glass":
        bsdf.inputs["Base Color"].default_value = _random_color(rng, (0.0, 0.4), (0.8, 1.0))
        bsdf.inputs["Transmission Weight"].default_value = 1.0
        bsdf.inputs["Roughness"].default_value = rng.choice([0.0, 0.0, rng.uniform(0.05, 0.3)])
        bsdf.inputs["IOR"].default_value = rng.uniform(1.33, 1.6)
    elif kind == "emission":
        bsdf.inputs["Emission Color"].default_value = _random_color(rng, (0.1, 0.8), (0.8, 1.0))
        bsdf.inputs["Emission Strength"].default_value = rng.uniform(3.0, 25.0)
    return mat


def _world(bpy, rng: random.Random):
    world = bpy.data.worlds.new("sky")
    tree = world.node_tree
    bg = tree.nodes.get("Background")
    coord = _node(tree, "ShaderNodeTexCoord", (-900, 0))
    sep = _node(tree, "ShaderNodeSeparateXYZ", (-700, 0))
    ramp = _node(tree, "ShaderNodeValToRGB", (-450, 0))
    ramp.color_ramp.elements[0].position = 0.45
    ramp.color_ramp.elements[0].color = _random_color(rng, (0.0, 0.4), (0.05, 0.4))
    ramp.color_ramp.elements[1].color = _random_color(rng, (0.2, 0.8), (0.3, 1.0))
    tree.links.new(coord.outputs["Generated"], sep.inputs["Vector"])
    tree.links.new(sep.outputs["Z"], ramp.inputs["Fac"])
    tree.links.new(ramp.outputs["Color"], bg.inputs["Color"])
    bg.inputs["Strength"].default_value = rng.uniform(0.05, 1.0)
    return world


PRIMITIVES = ("uv_sphere", "ico_sphere", "cube", "cylinder", "cone", "torus", "monkey")
MATERIAL_KINDS = ("diffuse", "diffuse", "glossy", "glossy", "coated", "glass", "emission")


def build_scene(bpy, seed: int, size: int) -> dict:
    """Build scene ``seed`` into the (emptied) current file; returns a description for pairs.json."""
    rng = random.Random(seed)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    cy = scene.cycles
    cy.device = "CPU"
    cy.use_denoising = False
    # Production-style path settings (bounded bounces, no caustics, indirect clamp, glossy filter): they keep
    # the 2-core reference renders affordable and are what a lighter would use for a shot anyway.
    cy.max_bounces = 6
    cy.diffuse_bounces = 2
    cy.glossy_bounces = 3
    cy.transmission_bounces = 6
    cy.transparent_max_bounces = 4
    cy.caustics_reflective = False
    cy.caustics_refractive = False
    cy.blur_glossy = 1.0
    cy.sample_clamp_indirect = 10.0
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.view_layers[0].cycles.denoising_store_passes = True
    scene.world = _world(bpy, rng)

    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, 0))
    ground = bpy.context.active_object
    ground.data.materials.append(_material(bpy, rng, "ground", "ground"))
    objects = []
    count = rng.randint(3, 7)
    kinds = [rng.choice(MATERIAL_KINDS) for _ in range(count)]
    if "glass" not in kinds and rng.random() < 0.5:
        kinds[0] = "glass"
    for i, kind in enumerate(kinds):
        shape = rng.choice(PRIMITIVES)
        angle, radius = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 2.8)
        s = rng.uniform(0.4, 1.1)
        loc = (radius * math.cos(angle), radius * math.sin(angle), s * rng.uniform(0.9, 1.6))
        if shape == "uv_sphere":
            bpy.ops.mesh.primitive_uv_sphere_add(segments=48, ring_count=24, radius=s, location=loc)
        elif shape == "ico_sphere":
            bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=rng.choice([1, 2, 4]), radius=s, location=loc)
        elif shape == "cube":
            bpy.ops.mesh.primitive_cube_add(size=1.5 * s, location=loc)
        elif shape == "cylinder":
            bpy.ops.mesh.primitive_cylinder_add(vertices=48, radius=0.7 * s, depth=2 * s, location=loc)
        elif shape == "cone":
            bpy.ops.mesh.primitive_cone_add(vertices=48, radius1=s, depth=2 * s, location=loc)
        elif shape == "torus":
            bpy.ops.mesh.primitive_torus_add(major_radius=s, minor_radius=0.3 * s, location=loc)
        else:
            bpy.ops.mesh.primitive_monkey_add(size=1.6 * s, location=loc)
        obj = bpy.context.active_object
        obj.rotation_euler = (rng.uniform(0, 0.6), rng.uniform(0, 0.6), rng.uniform(0, 2 * math.pi))
        if shape not in ("cube", "ico_sphere") or rng.random() < 0.3:
            bpy.ops.object.shade_smooth()
        obj.data.materials.append(_material(bpy, rng, kind, f"m{i}"))
        objects.append({"shape": shape, "material": kind})

    lights = []
    for i in range(rng.randint(1, 3)):
        kind = rng.choice(["AREA", "AREA", "POINT", "SPOT", "SUN"])
        data = bpy.data.lights.new(f"light{i}", kind)
        data.color = _random_color(rng, (0.0, 0.35), (1.0, 1.0))[:3]
        if kind == "SUN":
            data.energy = rng.uniform(1.5, 5.0)
            data.angle = rng.uniform(0.01, 0.2)
        elif kind == "AREA":
            data.energy = rng.uniform(150, 1200)
            data.size = rng.uniform(0.2, 3.0)  # small areas give hard, noisy shadows
        elif kind == "SPOT":
            data.energy = rng.uniform(300, 2000)
            data.spot_size = rng.uniform(0.5, 1.4)
            data.shadow_soft_size = rng.uniform(0.05, 0.6)
        else:
            data.energy = rng.uniform(200, 1500)
            data.shadow_soft_size = rng.uniform(0.05, 0.8)
        light = bpy.data.objects.new(f"light{i}", data)
        scene.collection.objects.link(light)
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(2.5, 6.0)
        light.location = (dist * math.cos(angle), dist * math.sin(angle), rng.uniform(2.5, 6.0))
        _aim(light, (0, 0, 0.5))
        lights.append(kind)

    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = rng.uniform(28, 60)
    camera = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    return {"seed": seed, "objects": objects, "lights": lights, "lens": round(cam_data.lens, 2),
            "rng": rng}


def _aim(obj, target) -> None:
    from mathutils import Vector

    direction = Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def place_camera(bpy, azimuth: float, elevation: float, distance: float, target=(0.0, 0.0, 0.7)) -> None:
    camera = bpy.context.scene.camera
    camera.location = (target[0] + distance * math.cos(elevation) * math.cos(azimuth),
                       target[1] + distance * math.cos(elevation) * math.sin(azimuth),
                       target[2] + distance * math.sin(elevation))
    _aim(camera, target)


# ----- rendering --------------------------------------------------------------------------------------


def render_to(bpy, path: str, spp: int, seed: int, adaptive: bool) -> float:
    """Render the current scene into a multilayer EXR at ``path`` (atomic); returns seconds."""
    scene = bpy.context.scene
    cy = scene.cycles
    cy.samples = spp
    cy.seed = seed
    cy.use_adaptive_sampling = adaptive
    if adaptive:
        cy.adaptive_threshold = 0.004
        cy.adaptive_min_samples = 32
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"  # before file_format, or OPEN_EXR_MULTILAYER is unknown (5.0)
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "ZIP"
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.rendering.exr")
    scene.render.filepath = tmp
    t0 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    seconds = time.perf_counter() - t0
    if not os.path.isfile(tmp):
        raise RuntimeError(f"Cycles wrote no file for {path}")
    os.replace(tmp, path)
    return seconds


def _link_or_copy(src: str, dst: str) -> None:
    if os.path.exists(dst):
        return
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=192, help="square render size in pixels")
    # Many scenes, one view each: a reference costs the same in a new scene as in a new view of an old one,
    # and the first shipped model (14 scenes x 2 views) was limited by how few scenes it had seen.
    ap.add_argument("--train-scenes", type=int, default=200)
    ap.add_argument("--views", type=int, default=1, help="camera views per training scene")
    ap.add_argument("--noisy-per-view", type=int, default=4,
                    help=f"noisy renders per view, spp drawn from {TRAIN_SPP_CHOICES}")
    ap.add_argument("--eval-scenes", type=int, default=8)
    ap.add_argument("--eval-frames", type=int, default=4, help="frames of each held-out camera move")
    ap.add_argument("--eval-spp", default="4,16", help="noisy sample counts of the held-out renders")
    ap.add_argument("--ref-spp", type=int, default=256, help="samples of the clean references (adaptive)")
    ap.add_argument("--shard", default="", metavar="K/N",
                    help="render only the scenes whose index is K modulo N (run N of these side by side)")
    ap.add_argument("--threads", type=int, default=0, help="Cycles render threads (0: all cores)")
    args = ap.parse_args(argv)
    shard, shards = 0, 1
    if args.shard:
        try:
            shard, shards = (int(v) for v in args.shard.split("/"))
        except ValueError:
            ap.error(f"--shard {args.shard!r}: expected K/N, e.g. 0/2")
        if not 0 <= shard < shards:
            ap.error(f"--shard {args.shard!r}: K must be in 0..N-1")

    os.environ.setdefault("BLENDER_USER_RESOURCES", os.path.join(args.out, ".blender"))
    import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES, as bpy reads it on import)

    eval_spp = [int(s) for s in args.eval_spp.split(",") if s.strip()]
    index_path = os.path.join(args.out, "pairs.json" if shards == 1 else f"pairs.shard{shard}-{shards}.json")
    # what the renders depend on (how they were scheduled -- shards, threads -- does not change a pixel)
    index = {"generator": "recipes/render_cycles_pairs.py", "blender": bpy.app.version_string,
             "args": {k: v for k, v in vars(args).items() if k not in ("out", "shard", "threads")},
             "train": [], "eval": []}
    if shards > 1:
        index["shard"] = args.shard

    def build(seed: int) -> dict:
        desc = build_scene(bpy, seed, args.size)
        if args.threads:
            bpy.context.scene.render.threads_mode = "FIXED"
            bpy.context.scene.render.threads = args.threads
        return desc

    t_start = time.perf_counter()
    # Held-out scenes first: the OIDN comparison can start while the training set renders.
    for j in range(shard, args.eval_scenes, shards):
        seed = args.seed * 1000 + 500 + j
        desc = build(seed)
        rng = desc.pop("rng")
        az, el, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.15, 0.6), rng.uniform(6.5, 9.5)
        folder = os.path.join(args.out, "eval", f"scene{j:03d}")
        entry = {"scene": j, "scene_seed": seed, "folder": os.path.relpath(folder, args.out),
                 "frames": [FIRST_FRAME, FIRST_FRAME + args.eval_frames - 1], "spp": eval_spp,
                 "objects": desc["objects"], "lights": desc["lights"], "timings": {}}
        for n in range(args.eval_frames):
            f = FIRST_FRAME + n
            place_camera(bpy, az + math.radians(2.5) * n, el, dist - 0.05 * n)  # a slow orbiting push-in
            clean = os.path.join(folder, f"clean.{f:04d}.exr")
            if not os.path.exists(clean):
                s = render_to(bpy, clean, args.ref_spp, seed=7919 * seed + f, adaptive=True)
                entry["timings"][f"clean.{f}"] = round(s, 2)
                print(f"eval scene {j} frame {f}: reference {s:.1f} s", flush=True)
            for spp in eval_spp:
                noisy = os.path.join(folder, f"noisy_s{spp}.{f:04d}.exr")
                if not os.path.exists(noisy):
                    s = render_to(bpy, noisy, spp, seed=7919 * seed + 31 * f + spp, adaptive=False)
                    entry["timings"][f"noisy_s{spp}.{f}"] = round(s, 2)
        index["eval"].append(entry)
        _write_index(index_path, index)
    for i in range(shard, args.train_scenes, shards):
        seed = args.seed * 1000 + i
        desc = build(seed)
        rng = desc.pop("rng")
        frame = FIRST_FRAME + i * args.views * args.noisy_per_view
        for v in range(args.views):
            az, el, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.15, 0.7), rng.uniform(6.0, 10.0)
            place_camera(bpy, az, el, dist)
            spps = rng.sample(TRAIN_SPP_CHOICES, args.noisy_per_view)
            ref = os.path.join(args.out, "train", "refs", f"scene{i:03d}_view{v}.exr")
            ref_s = None
            if not os.path.exists(ref):
                ref_s = render_to(bpy, ref, args.ref_spp, seed=7919 * seed + v, adaptive=True)
                print(f"train scene {i} view {v}: reference {args.ref_spp} spp {ref_s:.1f} s", flush=True)
            for k, spp in enumerate(spps):
                noisy = os.path.join(args.out, "train", f"noisy.{frame:04d}.exr")
                noisy_s = None
                if not os.path.exists(noisy):
                    noisy_s = render_to(bpy, noisy, spp, seed=7919 * seed + 101 * (v + 1) + k + 1, adaptive=False)
                    print(f"  frame {frame}: {spp} spp {noisy_s:.1f} s", flush=True)
                _link_or_copy(ref, os.path.join(args.out, "train", f"clean.{frame:04d}.exr"))
                index["train"].append({"frame": frame, "scene": i, "scene_seed": seed, "view": v, "spp": spp,
                                       **({"noisy_s": round(noisy_s, 2)} if noisy_s else {}),
                                       **({"reference_s": round(ref_s, 2)} if ref_s and k == 0 else {}),
                                       "objects": desc["objects"], "lights": desc["lights"]})
                frame += 1
        _write_index(index_path, index)
    print(f"done in {time.perf_counter() - t_start:.0f} s: {len(index['train'])} training pairs, "
          f"{len(index['eval'])} held-out scenes -> {args.out}", flush=True)
    return 0


def _write_index(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
