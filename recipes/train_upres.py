#!/usr/bin/env python
"""Train the shipped ``gan.upres`` models: nodes/gan/upres/models/upres_x2.ckpt and upres_x4.ckpt.

Data: ../shared/data/images/Kodak24 (24 photographs, 500x500); kodim23 and kodim24 are held out for
validation, the other 22 train. Set5 is never read here: it is the benchmark's evaluation set.
Pairs: random crops with flips/rotations; 85% are clean MATLAB-bicubic downscales rounded to 8-bit
(what a clean digital plate resembles, and the benchmark's convention), 15% go through a camera-like
chain (optical blur in linear light, bicubic/area sampling, sensor noise, JPEG) — see
``DegradationConfig`` in nodes/gan/upres/data.py. ``--rescale`` (default 0.5-0.9) adds downscaled copies
of the photographs (SRCNN/FSRCNN's scale augmentation: the five copies add 2.5 times the pixels of the 22
photographs). Validation PSNR-Y is logged on kodim23/24 as they are and at half size
(``val_half_psnr_y``: grain and softness averaged out, closer to a clean digital plate).

Stages (one command runs both, resuming where it stopped):
1. ``psnr``: L1 pixel loss, Adam, warmup-stable-decay schedule (constant rate, then a cosine decay over
   the last ``--decay`` steps). The schedule does not depend on the total length before the decay,
   so a run stopped early and resumed with a shorter ``--psnr-steps`` equals a fresh run of that length.
2. ``gan``: starts from the PSNR weights and trains against a patch discriminator with the relativistic
   (or hinge) loss + pixel + Laplacian-pyramid + feature-matching terms (``GanStage`` in nodes/gan/upres/rrdb.py, the
   same code the node's fine-tuning uses).

Everything is seeded: the network init from ``--seed``, every batch from (seed, stage, step), so the
same command reproduces the same checkpoint on the same machine and library versions. State is saved
every ``--save-every`` steps (weights and Adam moments, safetensors) so a stop loses little.

    python recipes/train_upres.py --scale 4 --out nodes/gan/upres/models/upres_x4.ckpt
    python recipes/train_upres.py --scale 2 --init-trunk nodes/gan/upres/models/upres_x4.ckpt \\
        --psnr-steps 1500 --decay 500 --gan-steps 200 --out nodes/gan/upres/models/upres_x2.ckpt
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "images", "Kodak24"))
VALIDATION = ("kodim23.png", "kodim24.png")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, choices=(2, 4), required=True)
    p.add_argument("--out", required=True, help="the FilmAI checkpoint to write")
    p.add_argument("--work", help="state/log folder (default bench/out/upres_x{scale})")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--nf", type=int, default=32)
    p.add_argument("--gc", type=int, default=16)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--patch", type=int, default=24, help="LR patch size")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--psnr-steps", type=int, default=9000)
    p.add_argument("--decay", type=int, default=2000, help="cosine decay over the last N steps of each stage")
    p.add_argument("--lr", type=float, default=8e-4)
    p.add_argument("--gan-steps", type=int, default=300)
    p.add_argument("--gan-lr", type=float, default=1e-4)
    p.add_argument("--gan-loss", choices=("ragan", "hinge"), default="ragan")
    p.add_argument("--clean-fraction", type=float, default=0.85)
    p.add_argument("--rescale", default="0.5,0.6,0.7,0.8,0.9",
                   help="comma list of factors < 1: the training photographs are also used downscaled by each "
                        "(antialiased bicubic, 8-bit), e.g. 0.5,0.6,0.7,0.8,0.9")
    p.add_argument("--init-trunk", help="a gan.upres checkpoint (any scale) whose trunk starts this one")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--save-every", type=int, default=100)
    return p.parse_args(argv)


def lr_factor(step: int, total: int, decay: int, warmup: int = 50) -> float:
    """Warmup-stable-decay: linear warmup, constant, cosine to 1% over the last ``decay`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    start = total - decay
    if step < start:
        return 1.0
    t = (step - start) / max(decay, 1)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(DATA):
        print(f"skip: {DATA} not found (the training data lives in ../shared/data)")
        return 0
    import torch

    sys.path.insert(0, REPO)
    from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint
    from filmai_plugins.nodes.gan.upres import data
    from filmai_plugins.nodes.gan.upres.rrdb import (ArchConfig, GanStage, GanWeights, PatchDiscriminator, RRDBNet,
                                                 pixel_loss, split_weights)
    from filmai_plugins.nodes.gan.upres.model import NODE_ID, checkpoint_meta, pack_tensors
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(args.threads)
    work = args.work or os.path.join(REPO, "bench", "out", f"upres_x{args.scale}")
    os.makedirs(work, exist_ok=True)
    log_path = os.path.join(work, "log.jsonl")

    def log(**rec):
        rec["time"] = round(time.time(), 1)
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)

    files = sorted(glob.glob(os.path.join(DATA, "*.png")))
    train_imgs = [data.read_rgb(f) for f in files if os.path.basename(f) not in VALIDATION]
    rescale = [float(f) for f in args.rescale.split(",") if f.strip()]
    if any(not 0.2 <= f < 1.0 for f in rescale):
        raise SystemExit(f"--rescale factors must lie in [0.2, 1): {rescale}")
    # Downscaled copies of the photographs: film grain and lens softness average out, so edges per pixel
    # are sharper and denser, closer to a clean digital plate (SRCNN/FSRCNN/VDSR's scale augmentation).
    train_imgs += [data.quantize8(data.imresize(img, (round(img.shape[0] * f), round(img.shape[1] * f))))
                   for f in rescale for img in train_imgs]
    val_full = [data.read_rgb(os.path.join(DATA, v)) for v in VALIDATION]
    val_imgs = [data.modcrop(v, args.scale) for v in val_full]
    # The same two photographs at half size: a cleaner, sharper proxy for digital plates, logged beside.
    val_half = [data.modcrop(data.quantize8(data.imresize(v, (v.shape[0] // 2, v.shape[1] // 2))), args.scale)
                for v in val_full]
    cfg_deg = data.DegradationConfig(clean_fraction=args.clean_fraction)
    cfg = ArchConfig(scale=args.scale, nf=args.nf, gc=args.gc, blocks=args.blocks)

    torch.manual_seed(args.seed)
    net = RRDBNet(cfg)
    if args.init_trunk:
        src = load_checkpoint(args.init_trunk, expect_node=NODE_ID)
        trunk = {k: v for k, v in split_weights(src.torch_state_dict(), "psnr").items() if not k.startswith("ups.")}
        missing, unexpected = net.load_state_dict(trunk, strict=False)
        assert not unexpected and all(k.startswith("ups.") for k in missing), (missing, unexpected)
        log(event="init_trunk", source=args.init_trunk, tensors=len(trunk))

    def validate(model, images=None) -> float:
        model.eval()
        scores = []
        with torch.no_grad():
            for hr in (val_imgs if images is None else images):
                h, w = hr.shape[:2]
                lr = data.quantize8(data.imresize(hr, (h // args.scale, w // args.scale)))
                sr = model(torch.from_numpy(lr.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
                scores.append(data.psnr_y(np.clip(sr, 0, 1), hr, args.scale))
        model.train()
        return float(np.mean(scores))

    def bicubic_val(images=None) -> float:
        out = []
        for hr in (val_imgs if images is None else images):
            h, w = hr.shape[:2]
            lr = data.quantize8(data.imresize(hr, (h // args.scale, w // args.scale)))
            out.append(data.psnr_y(data.imresize(lr, (h, w)), hr, args.scale))
        return float(np.mean(out))

    def save_state(path: str, modules: dict, optimizers: dict, step: int) -> None:
        tensors = {}
        for name, m in modules.items():
            tensors.update({f"{name}.{k}": v.detach().contiguous() for k, v in m.state_dict().items()})
        for name, opt in optimizers.items():
            for idx, st in opt.state_dict()["state"].items():
                for k, v in st.items():
                    tensors[f"opt.{name}.{idx}.{k}"] = torch.as_tensor(v).detach().clone().contiguous()
        tmp = path + ".tmp"
        save_file(tensors, tmp, metadata={"step": str(step)})
        os.replace(tmp, path)

    def load_state(path: str, modules: dict, optimizers: dict) -> int:
        from safetensors import safe_open

        tensors = load_file(path)
        with safe_open(path, "pt") as f:
            step = int(f.metadata()["step"])
        for name, m in modules.items():
            m.load_state_dict({k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")})
        for name, opt in optimizers.items():
            sd = opt.state_dict()
            for idx in list(range(len(sd["param_groups"][0]["params"]))):
                pre = f"opt.{name}.{idx}."
                st = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
                if st:
                    sd["state"][idx] = st
            opt.load_state_dict(sd)
        return step

    def batch_for(stage: str, step: int):
        rng = np.random.default_rng([args.seed, 0 if stage == "psnr" else 1, step])
        lr, hr = data.make_batch(train_imgs, args.batch, args.patch * args.scale, args.scale, rng, cfg_deg)
        return torch.from_numpy(lr), torch.from_numpy(hr)

    log(event="start", scale=args.scale, arch=cfg.to_meta(), params=sum(p.numel() for p in net.parameters()),
        bicubic_val_psnr=round(bicubic_val(), 3),
        bicubic_val_half_psnr=round(bicubic_val(val_half), 3), args=vars(args))

    # ----- stage 1: PSNR ------------------------------------------------------------------------
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.99))
    psnr_state = os.path.join(work, "state_psnr.safetensors")
    step = 0
    if os.path.exists(psnr_state):
        step = load_state(psnr_state, {"g": net}, {"g": opt})
        log(event="resume", stage="psnr", step=step)
    t_last, losses = time.perf_counter(), []
    while step < args.psnr_steps:
        for group in opt.param_groups:
            group["lr"] = args.lr * lr_factor(step, args.psnr_steps, args.decay)
        lr_t, hr_t = batch_for("psnr", step)
        loss = pixel_loss(net(lr_t), hr_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 25 == 0:
            now = time.perf_counter()
            log(stage="psnr", step=step, loss=round(float(np.mean(losses)), 5), lr=opt.param_groups[0]["lr"],
                s_per_step=round((now - t_last) / 25, 2))
            t_last, losses = now, []
        if step % args.val_every == 0 or step == args.psnr_steps:
            log(stage="psnr", step=step, val_psnr_y=round(validate(net), 3),
                val_half_psnr_y=round(validate(net, val_half), 3))
        if step % args.save_every == 0 or step == args.psnr_steps:
            save_state(psnr_state, {"g": net}, {"g": opt}, step)
    psnr_weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
    psnr_val = validate(net)
    training = {"data": "Kodak24 minus kodim23/24 (validation)", "seed": args.seed, "psnr_steps": args.psnr_steps,
                "batch": args.batch, "lr_patch": args.patch, "lr": args.lr, "decay": args.decay,
                "clean_fraction": args.clean_fraction, "rescale": rescale, "val_psnr_y_psnr": round(psnr_val, 3),
                "val_half_psnr_y_psnr": round(validate(net, val_half), 3),
                "init_trunk": os.path.basename(args.init_trunk) if args.init_trunk else None,
                "script": "recipes/train_upres.py"}
    meta = {"node": NODE_ID, "node_version": "1.0.0",
            **checkpoint_meta(cfg, training=training, gan_trained=False)}
    # A usable PSNR-only checkpoint as soon as stage 1 ends (its GAN set is the PSNR set).
    save_checkpoint(os.path.join(work, f"upres_x{args.scale}_psnr.ckpt"), pack_tensors(psnr_weights, None), meta)

    # ----- stage 2: GAN -------------------------------------------------------------------------
    if args.gan_steps > 0:
        torch.manual_seed(args.seed + 1)
        disc = PatchDiscriminator()
        stage = GanStage(net, disc, GanWeights(loss=args.gan_loss), lr_g=args.gan_lr, lr_d=args.gan_lr)
        gan_state = os.path.join(work, "state_gan.safetensors")
        step = 0
        if os.path.exists(gan_state):
            step = load_state(gan_state, {"g": net, "d": disc}, {"g": stage.opt_g, "d": stage.opt_d})
            log(event="resume", stage="gan", step=step)
        t_last, hist = time.perf_counter(), []
        decay = min(args.decay, args.gan_steps // 2)
        while step < args.gan_steps:
            stage.set_lr(lr_factor(step, args.gan_steps, decay, warmup=20), args.gan_lr, args.gan_lr)
            lr_t, hr_t = batch_for("gan", step)
            hist.append(stage.step(lr_t, hr_t))
            step += 1
            if step % 25 == 0:
                now = time.perf_counter()
                avg = {k: round(float(np.mean([h[k] for h in hist])), 5) for k in hist[0]}
                log(stage="gan", step=step, **avg, s_per_step=round((now - t_last) / 25, 2))
                t_last, hist = now, []
            if step % args.val_every == 0 or step == args.gan_steps:
                log(stage="gan", step=step, val_psnr_y=round(validate(net), 3))
            if step % args.save_every == 0 or step == args.gan_steps:
                save_state(gan_state, {"g": net, "d": disc}, {"g": stage.opt_g, "d": stage.opt_d}, step)
        gan_weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
        training.update({"gan_steps": args.gan_steps, "gan_lr": args.gan_lr, "gan_loss": args.gan_loss,
                         "gan_weights": GanWeights(loss=args.gan_loss).__dict__,
                         "val_psnr_y_gan": round(validate(net), 3)})
        meta = {"node": NODE_ID, "node_version": "1.0.0",
                **checkpoint_meta(cfg, training=training, gan_trained=True)}
    else:
        gan_weights = None
    sha = save_checkpoint(args.out, pack_tensors(psnr_weights, gan_weights), meta)
    log(event="done", out=args.out, sha256=sha, size_bytes=os.path.getsize(args.out), training=training)
    return 0


if __name__ == "__main__":
    sys.exit(main())
