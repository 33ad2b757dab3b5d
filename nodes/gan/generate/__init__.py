"""``gan.generate``: learn an element from a clip (fire, water, foliage, a texture in motion) and generate new
clips of it, of any length, from seeds: MoCoGAN-style video GAN (motion GRU → image generator, judged by an
image and a video discriminator). Networks live in ``mocogan.py``; training in ``train.py``;
generation in ``render.py`` (all imported only when the node trains or runs).
"""
from __future__ import annotations

import dataclasses
import time

from filmai_plugins.errors import BadInput
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.training.loop import training_params

_SHARED_TRAINING = ("steps", "time_limit", "batch_size", "learning_rate", "lr_schedule", "warmup_steps",
                    "checkpoint_interval", "contact_sheet_interval", "resume")


def _shared_training_params() -> tuple[Param, ...]:
    """The shared loop's params that mean something for a GAN, with GAN defaults (constant LR, no warm-up)."""
    out = []
    for p in training_params(steps=2000, batch_size=4, learning_rate=2e-4, warmup_steps=0,
                             checkpoint_interval=500, contact_sheet_interval=250):
        if p.name not in _SHARED_TRAINING:
            continue
        if p.name == "lr_schedule":
            p = dataclasses.replace(p, default="constant")
        if p.name == "batch_size":
            p = dataclasses.replace(p, help="clips per step (each clip_length frames)")
        if p.name == "steps":
            p = dataclasses.replace(p, help="training steps (one discriminator and one generator update each)")
        out.append(p)
    return tuple(out)


class GenerateNode(Node):
    """Generate new clips of an element learnt from one clip: fire, water, smoke, foliage, a texture in motion.

    `filmai train gan.generate --input clip.####.exr --frames 1-200 --out element.ckpt` learns the clip (its
    look and its motion) at a small resolution chosen at training (`resolution`, 64 px on a CPU, 128 on a
    GPU). `filmai run gan.generate --model element.ckpt --output gen.####.exr --frames 1-120 --set seed=7`
    then writes a new clip of any length: each `seed` is another take; `seed_b` with `mix` blends two takes
    and `walk` morphs from one to the other over the range; `loop` makes a seamless loop of N frames (for a
    particle sprite or a looping element card); `speed` slows or speeds the motion. A seed always gives the
    same frame N, so any frame can be re-rendered alone. Scene-linear HDR values and alpha survive (the
    networks work in the log encoding). Up-res the result with `gan.upres`.

    A video GAN on one short clip learns that clip's look and motion; it generalises within them (new
    arrangements, new timing), not beyond. MoCoGAN architecture: a GRU turns per-frame noise into motion
    codes, an image generator renders (content, motion) codes, judged by an image and a video
    discriminator (spectral norm, hinge loss, DiffAugment, EMA generator).
    """

    id = "gan.generate"
    version = "1.0.0"
    family = "gan"
    label = "Generate element (video GAN)"
    scope = "sequence"
    trainable = True
    model = "required"
    needs_torch = True
    deterministic = True
    inputs = (Port("input", "Frames", "the clip to learn (filmai train only): an element over the frames given",
                   optional=True),)
    outputs = (Port("output", "Frames", "the generated frames (at the model's resolution)"),)
    params = (
        Param("seed", "int", 0, min=0, max=2**31 - 1, stage="both",
              help="run: which take to generate (look and motion); train: random seed of training "
                   "(same seed, clip and params give the same model)"),
        Param("seed_b", "int", -1, min=-1, max=2**31 - 1,
              help="a second seed to blend (mix) or walk (walk) toward; -1: off"),
        Param("mix", "float", 0.5, min=0.0, max=1.0,
              help="with seed_b: the blend, 0 = seed, 1 = seed_b (the same for every frame unless walk)"),
        Param("walk", "bool", False,
              help="with seed_b: walk smoothly from seed at the first frame of --frames to seed_b at the last"),
        Param("loop", "int", 0, min=0, max=100_000, soft_max=480,
              help="make the clip repeat every N frames with a seamless wrap (0: no loop)"),
        Param("loop_blend", "int", 0, min=0, max=100_000, soft_max=120,
              help="frames over which the motion is cross-faded at the wrap (0: a quarter of the loop)"),
        Param("speed", "float", 1.0, min=0.05, max=16.0, soft_min=0.25, soft_max=4.0,
              help="speed of the motion: 0.5 plays it at half speed, 2 at double"),
        Param("truncation", "float", 1.0, min=0.0, max=2.0, soft_max=1.0,
              help="spread of the look: below 1 gives more typical (less varied) takes, 0 the average one"),
        Param("start_frame", "int", 1, min=-1_000_000_000, max=1_000_000_000,
              help="the frame where the motion starts; frame N of a seed is the same picture whatever range "
                   "is rendered, so ranges can be rendered in pieces (frames before it are an error)"),
        # training
        Param("resolution", "int", 64, min=32, max=1024, soft_max=256, stage="train",
              help="long side of the generated frames in pixels (a multiple of 16; the short side follows the "
                   "clip's aspect). 64 on a CPU, 128-256 on a GPU"),
        Param("clip_length", "int", 8, min=4, max=32, soft_max=16, stage="train",
              help="frames per clip the video discriminator judges (the clip needs clip_length + 1 frames in a row)"),
        Param("capacity", "int", 16, min=4, max=128, soft_max=64, stage="train",
              help="network width: larger is sharper and slower (16 on a CPU, 32-64 on a GPU)"),
        Param("content_dim", "int", 64, min=4, max=1024, soft_max=256, stage="train",
              help="size of the per-clip content (look) code"),
        Param("motion_dim", "int", 32, min=2, max=512, soft_max=128, stage="train",
              help="size of the per-frame motion code (the GRU's state)"),
        Param("noise_dim", "int", 16, min=1, max=512, soft_max=64, stage="train",
              help="size of the per-frame noise driving the motion GRU"),
        Param("augment", "enum", "strong", choices=("strong", "light", "none"), stage="train",
              help="DiffAugment of what the discriminators see (strong: colour, translation, cutout; light: "
                   "translation): lets a GAN learn from a few dozen frames"),
        Param("flip", "bool", False, stage="train",
              help="also learn the clip mirrored left-right (not for elements with a direction of light or text)"),
        Param("reverse", "bool", False, stage="train",
              help="also learn the clip played backwards (water, foliage: yes; fire, smoke, falling things: no)"),
        Param("rollout", "int", 32, min=0, max=4096, soft_max=256, stage="train",
              help="training clips start up to this many frames into the generated motion, so long renders "
                   "stay on the learnt element"),
        Param("ema", "float", 0.999, min=0.0, max=0.99999, stage="train",
              help="decay of the generator's moving average (the model saved): smoother, better frames"),
        Param("channels", "string", "", stage="train",
              help="channels to learn, e.g. R,G,B,A; empty: R,G,B and A when the clip has it"),
    ) + _shared_training_params()

    def setup(self, ctx) -> None:
        from .render import GenerationSettings, codec_from_meta, load_generator

        if ctx.inputs:
            raise BadInput("gan.generate makes frames from its model alone; --input is for `filmai train` "
                           "(the clip to learn)")
        if not ctx.frames:
            raise BadInput("gan.generate needs the frames to generate: --frames, e.g. --frames 1-120")
        self.settings = GenerationSettings.from_params(self.params)
        self.generator, self.arch = load_generator(ctx.model, ctx.device or "cpu")
        meta = ctx.model.meta
        self.codec = codec_from_meta(meta)
        self.norm = meta["normalize"]
        self.channel_names = list(meta["channels"])
        # what the clip it learnt was in; frames are written tagged with it (--output-colorspace converts)
        self.colorspace = ctx.model_colorspace(meta.get("colorspace"), "gan.generate's model") or \
            ctx.colour.scene_linear()

    def run_sequence(self, ctx) -> None:
        from .render import RENDER_BATCH, latent_codes, render, to_linear

        start = self.params["start_frame"]
        before = [f for f in ctx.frames if f < start]
        if before:
            raise BadInput(f"frame {before[0]} is before start_frame {start}; lower start_frame "
                           f"(e.g. --set start_frame={min(ctx.frames)})")
        offsets = [f - start for f in ctx.frames]
        device = ctx.device or "cpu"
        t0 = time.perf_counter()
        content, motion, keys = latent_codes(self.generator, self.arch, offsets, self.settings, device)
        # Repeats of a loop share codes: render each once, keep it while the loop plays (bounded by loop).
        cache: dict[int, object] = {}
        total, done, compute_s = len(ctx.frames), 0, 0.0
        h, w = self.arch.height, self.arch.width
        for i in range(0, total, RENDER_BATCH):
            ctx.check_cancel()
            idx = list(range(i, min(total, i + RENDER_BATCH)))
            todo = [j for j in idx if keys[j] not in cache]
            tc = time.perf_counter()
            if todo:
                first = {}
                for j in todo:
                    first.setdefault(keys[j], j)
                rows = list(first.values())
                for batch in render(self.generator, content.take(rows), motion[rows], device):
                    for j, x in zip(rows, to_linear(batch, self.codec, self.norm)):
                        cache[keys[j]] = x
                    rows = rows[len(batch):]
            compute_s += time.perf_counter() - tc
            for j in idx:
                tf = time.perf_counter()
                frame = Frame.from_array(cache[keys[j]], self.channel_names)
                frame.colorspace = self.colorspace
                path = ctx.write_output(frame, ctx.frames[j])
                done += 1
                ctx.progress.frame(ctx.frames[j], path, done, total, time.perf_counter() - tf)
            if not self.settings.loop:
                for j in idx:
                    cache.pop(keys[j], None)
        ctx.timings.add("compute_s", compute_s)
        wall = time.perf_counter() - t0
        ctx.extra.update({"frames": total, "size": [w, h], "channels": self.channel_names,
                          "rendered": len(set(keys)), "generate_seconds": round(compute_s, 4),
                          "frames_per_second": round(total / wall, 2) if wall > 0 else None})

    @classmethod
    def train(cls, ctx) -> None:
        from .train import train

        train(ctx)


NODES = (GenerateNode,)
