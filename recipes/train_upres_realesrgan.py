#!/usr/bin/env python
"""Train a Real-ESRGAN-architecture up-res model (ESRGAN's RRDBNet with Real-ESRGAN's key names and its
nearest-neighbour + conv upsampler) with the project's own data and code, and write it as a community
model file: ``<out>.pth`` ({"params_ema": …, "params": …}, what Real-ESRGAN releases) and
``<out>.safetensors`` (the EMA weights, bare keys, what OpenModelDB ships). ``gan.upres --model`` reads
either, through the same loader as a downloaded model: the benchmark of this model is a benchmark of
that path too.

Data and pairs as for the shipped models (recipes/train_upres.py): the Kodak24 photographs minus
kodim23/24 (validation), plus their downscaled copies at 0.5-0.9; 85% clean MATLAB-bicubic downscales
rounded to 8-bit, 15% blur/noise/JPEG. Set5 is never read here.

CPU budget (the point of this recipe is the architecture and the loading path, not a bigger model):
the default is a small RRDBNet (32 features, growth 16, 2 RRDBs; 0.40 M parameters at x4) whose trunk
starts from the shipped x4 model's PSNR weights (same trunk shape; ``--init-trunk none`` trains from
scratch), then ``--steps`` of L1 with Adam and a warmup-stable-decay schedule, an EMA of the weights
(decay ``--ema``) kept as ``params_ema``. Seeded: same command, same machine and libraries, same file.

    python recipes/train_upres_realesrgan.py --out bench/out/realesrgan_small_x4
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "images", "Kodak24"))
VALIDATION = ("kodim23.png", "kodim24.png")
SHIPPED_X4 = os.path.join(REPO, "nodes", "gan", "upres", "models", "upres_x4.ckpt")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output path without extension: writes OUT.pth and OUT.safetensors")
    p.add_argument("--scale", type=int, choices=(2, 4), default=4,
                   help="4: nearest+conv x2 twice; 2: the same network on a pixel-unshuffled input (x2plus)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--nf", type=int, default=32)
    p.add_argument("--gc", type=int, default=16)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--patch", type=int, default=24, help="LR patch size")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--decay", type=int, default=500, help="cosine decay over the last N steps")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--ema", type=float, default=0.995, help="EMA decay of the weights kept as params_ema")
    p.add_argument("--clean-fraction", type=float, default=0.85)
    p.add_argument("--rescale", default="0.5,0.6,0.7,0.8,0.9")
    p.add_argument("--init-trunk", default=SHIPPED_X4,
                   help="a gan.upres checkpoint whose trunk (same nf/gc/blocks) starts this one, or 'none'")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--val-every", type=int, default=500)
    return p.parse_args(argv)


def lr_factor(step: int, total: int, decay: int, warmup: int = 50) -> float:
    if step < warmup:
        return (step + 1) / warmup
    start = total - decay
    if step < start:
        return 1.0
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (step - start) / max(decay, 1)))


def shipped_trunk_to_realesrgan(psnr: dict) -> dict:
    """The shipped generator's trunk names → Real-ESRGAN's (its dense blocks' ``convs.i``/``last`` are
    ``conv1..conv5``); the upsampler differs (sub-pixel vs nearest+conv) and is not carried over."""
    import re

    out = {}
    for k, v in psnr.items():
        if k.startswith(("conv_first.", "conv_body.")):
            out[k] = v
            continue
        m = re.match(r"^body\.(\d+)\.(rdb\d)\.convs\.(\d)\.(weight|bias)$", k)
        if m:
            out[f"body.{m.group(1)}.{m.group(2)}.conv{int(m.group(3)) + 1}.{m.group(4)}"] = v
            continue
        m = re.match(r"^body\.(\d+)\.(rdb\d)\.last\.(weight|bias)$", k)
        if m:
            out[f"body.{m.group(1)}.{m.group(2)}.conv5.{m.group(3)}"] = v
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(DATA):
        print(f"skip: {DATA} not found (the training data lives in ../shared/data)")
        return 0
    import torch

    sys.path.insert(0, REPO)
    from safetensors.torch import save_file

    from filmai_plugins.nodes.gan.upres import data
    from filmai_plugins.nodes.gan.upres.community import CommunityRRDBNet, ModelSpec, PaddedToMultiple
    from filmai_plugins.nodes.gan.upres.rrdb import split_weights
    from filmai_plugins.training.checkpoint import load_checkpoint

    torch.set_num_threads(args.threads)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log_path = args.out + ".log.jsonl"
    t_start, cpu_start = time.perf_counter(), time.process_time()

    def log(**rec):
        rec.update(wall_s=round(time.perf_counter() - t_start, 1), cpu_s=round(time.process_time() - cpu_start, 1),
                   load=round(os.getloadavg()[0], 2))
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)

    files = sorted(glob.glob(os.path.join(DATA, "*.png")))
    train_imgs = [data.read_rgb(f) for f in files if os.path.basename(f) not in VALIDATION]
    rescale = [float(f) for f in args.rescale.split(",") if f.strip()]
    train_imgs += [data.quantize8(data.imresize(img, (round(img.shape[0] * f), round(img.shape[1] * f))))
                   for f in rescale for img in train_imgs]
    val_imgs = [data.modcrop(data.read_rgb(os.path.join(DATA, v)), args.scale) for v in VALIDATION]
    cfg_deg = data.DegradationConfig(clean_fraction=args.clean_fraction)

    unshuffle = 2 if args.scale == 2 else 1
    spec = ModelSpec("RRDBNet", "Real-ESRGAN", args.scale, 3, 3, args.nf, args.gc, args.blocks, unshuffle, 2)
    torch.manual_seed(args.seed)
    core = CommunityRRDBNet(spec)
    # Real-ESRGAN's init: Kaiming, scaled by 0.1 inside the residual blocks
    for name, m in core.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
            if name.startswith("body."):
                m.weight.data.mul_(0.1)
            torch.nn.init.zeros_(m.bias)
    if args.init_trunk and args.init_trunk != "none" and unshuffle == 1:
        src = load_checkpoint(args.init_trunk, expect_node="gan.upres")
        trunk = shipped_trunk_to_realesrgan(split_weights(src.torch_state_dict(), "psnr"))
        missing, unexpected = core.load_state_dict(trunk, strict=False)
        assert not unexpected and all(k.startswith(("conv_up", "conv_hr", "conv_last")) for k in missing), \
            (missing, unexpected)
        log(event="init_trunk", source=os.path.relpath(args.init_trunk, REPO), tensors=len(trunk))
    net = PaddedToMultiple(core, unshuffle, args.scale) if unshuffle > 1 else core
    ema = {k: v.detach().clone() for k, v in core.state_dict().items()}

    def validate(module) -> float:
        module.eval()
        scores = []
        with torch.no_grad():
            for hr in val_imgs:
                h, w = hr.shape[:2]
                lr = data.quantize8(data.imresize(hr, (h // args.scale, w // args.scale)))
                sr = module(torch.from_numpy(lr.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
                scores.append(data.psnr_y(np.clip(sr, 0, 1), hr, args.scale))
        module.train()
        return float(np.mean(scores))

    def with_ema(fn):
        live = {k: v.detach().clone() for k, v in core.state_dict().items()}
        core.load_state_dict(ema)
        try:
            return fn()
        finally:
            core.load_state_dict(live)

    params = sum(p.numel() for p in core.parameters())
    log(event="start", spec=spec.to_meta(), params=params, args=vars(args))
    opt = torch.optim.Adam(core.parameters(), lr=args.lr, betas=(0.9, 0.99))
    losses = []
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_factor(step, args.steps, args.decay)
        rng = np.random.default_rng([args.seed, 7, step])
        lr_np, hr_np = data.make_batch(train_imgs, args.batch, args.patch * args.scale, args.scale, rng, cfg_deg)
        loss = torch.nn.functional.l1_loss(net(torch.from_numpy(lr_np)), torch.from_numpy(hr_np))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(core.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))  # a short warm-up of the average
            for k, v in core.state_dict().items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay) if v.dtype.is_floating_point else ema[k].copy_(v)
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            log(step=step + 1, loss=round(float(np.mean(losses)), 5), lr=opt.param_groups[0]["lr"])
            losses = []
        if (step + 1) % args.val_every == 0 or step + 1 == args.steps:
            log(step=step + 1, val_psnr_y=round(validate(net), 3), val_psnr_y_ema=round(with_ema(lambda: validate(net)), 3))

    live = {k: v.detach().clone().contiguous() for k, v in core.state_dict().items()}
    params_ema = {k: v.contiguous() for k, v in ema.items()}
    tmp = args.out + ".pth.tmp"
    torch.save({"params_ema": params_ema, "params": live}, tmp)
    os.replace(tmp, args.out + ".pth")
    save_file(params_ema, args.out + ".safetensors.tmp",
              metadata={"architecture": "RRDBNet", "scale": str(args.scale), "recipe": "recipes/train_upres_realesrgan.py",
                        "seed": str(args.seed), "steps": str(args.steps)})
    os.replace(args.out + ".safetensors.tmp", args.out + ".safetensors")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    log(event="done", out=[args.out + ".pth", args.out + ".safetensors"], params=params,
        max_rss_mb=round(usage.ru_maxrss / 1024, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
