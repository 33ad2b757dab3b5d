"""Train the shipped ``lstm.cuts`` model (nodes/lstm/cuts/models/cuts.ckpt) on synthetic edits of real footage.

    python recipes/train_cuts.py --quick         # a smoke run: tiny data, a few steps, not for shipping

The shipped model (cutnet-2) is an ensemble of two members trained on the same edits from different model
seeds (71 minutes each when the two ran side by side on a shared 2-core machine, one thread each, plus 12
minutes to render the edits once), their average tuned on the validation edits. The weights depend only on
the seeds and the thread count (two runs give bit-identical tensors; the checkpoints differ only in the
timestamps of their metadata):

    python recipes/train_cuts.py --model-seed 0 --out bench/out/cuts-train/member0.ckpt
    python recipes/train_cuts.py --model-seed 1 --out bench/out/cuts-train/member1.ckpt
    python recipes/train_cuts.py --ensemble bench/out/cuts-train/member0.ckpt,bench/out/cuts-train/member1.ckpt

Footage (../shared/data, never copied into the repo), split so the bench reports only on footage the
model never saw:

    training  Kodak24 kodim01-18; EXR stills ScanLines/{Cannon,Carrots,Desk,CandleGlass}, Tiles/GoldenGate,
              MultiView/Fog (luminance only); video goldeneye-vfr-drop3.mp4 (its three shots, between the
              known cuts at 90 and 210); the Beachball singlepart.0001-0008 EXR sequence
    held out  Kodak24 kodim19-24, Set5, EXR stills LuminanceChroma/Garden and Chromaticities/Rec709, and the
              clips testvideo.mp4, counter.mp4, fades.mp4 (bench/cuts.py evaluates on these)

Stages: (1) render synthetic edits (96x54, averaged to the 48x27 analysis size, stored as uint8 with their
hand-made features and per-frame targets) into a cache under bench/out/cuts-train/ — the expensive,
model-independent part is done once; (2) train the CNN + BiLSTM end to end on random crops of the cached
edits, a share of the crops pinned to the first or last frame of their edit (the ends of an input are where
the network sees least); (3) pick the decision threshold, the extent threshold and the stricter threshold
near the ends of the input on a validation set rendered from the *training* footage with another seed;
(4) write the FilmAI checkpoint (safetensors + JSON metadata). Everything is seeded.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))

from filmai_plugins.frames.io import read_frame  # noqa: E402

SPLIT = {
    "train": {
        "kodak": [f"kodim{i:02d}.png" for i in range(1, 19)],
        "exr_stills": ["ScanLines/Cannon.exr", "ScanLines/Carrots.exr", "ScanLines/Desk.exr",
                       "ScanLines/CandleGlass.exr", "Tiles/GoldenGate.exr", "MultiView/Fog.exr"],
        "set5": [],
        # (clip, shots as [first, last) frame numbers from PTS) — segments between the known cuts
        "clips": {"goldeneye-vfr-drop3.mp4": [(0, 90), (90, 210), (210, 240)]},
        "sequences": ["Beachball/singlepart.####.exr"],
    },
    "eval": {
        "kodak": [f"kodim{i:02d}.png" for i in range(19, 25)],
        "exr_stills": ["LuminanceChroma/Garden.exr", "Chromaticities/Rec709.exr"],
        "set5": ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"],
        # testvideo is a slideshow of four stills; counter shows flat colours with a frame counter
        "clips": {"testvideo.mp4": [(30, 180), (241, 331), (424, 529), (559, 664)],
                  "counter.mp4": [(0, 10), (10, 20), (20, 30)]},
        "sequences": [],
    },
}

RENDER_SIZE = (96, 54)
SEQ_LEN = 112
# cutnet-2 (the default): cutnet-1 plus the luma cross-correlation features (see nodes/lstm/cuts/model.py)
ARCHES: dict[str, dict] = {"cutnet-2": {}, "cutnet-1": {"name": "cutnet-1", "ncc_offsets": []}}


def have_data() -> bool:
    return os.path.isdir(os.path.join(DATA, "images", "Kodak24")) and os.path.isdir(os.path.join(DATA, "video"))


# ----- footage ------------------------------------------------------------------------------------


def _still_pixels(path: str, long_side: int) -> np.ndarray:
    from filmai_plugins.nodes.lstm.cuts.features import analysis_pixels

    frame = read_frame(path, channels=None)
    w, h = frame.display_window[2], frame.display_window[3]
    s = min(1.0, long_side / max(w, h))
    return analysis_pixels(frame, (max(8, round(w * s)), max(8, round(h * s))))


def load_sources(split: str, still_side: int = 384, clip_width: int = 256) -> list:
    """The footage of one split as synthesis sources (display-referred, 0–1)."""
    from cut_synth import clip_source, still_source
    from filmai_plugins.nodes.lstm.cuts.features import to_uint8
    from filmai_plugins.frames.movie import iter_movie_frames, probe_movie

    spec = SPLIT[split]
    sources = []
    for name in spec["kodak"]:
        sources.append(still_source(name, _still_pixels(os.path.join(DATA, "images", "Kodak24", name), still_side),
                                    still_side))
    for name in spec["set5"]:
        sources.append(still_source(name, _still_pixels(os.path.join(DATA, "images", "Set5", name), still_side),
                                    still_side))
    for name in spec["exr_stills"]:
        sources.append(still_source(name, _still_pixels(os.path.join(DATA, "exr", name), still_side), still_side))
    for clip, shots in spec["clips"].items():
        path = os.path.join(DATA, "video", clip)
        info = probe_movie(path)
        height = max(8, round(clip_width * info.height / info.width))
        frames = list(iter_movie_frames(path, size=(clip_width, height)))
        numbers = np.array([f.number for f in frames])
        pixels = np.stack([f.pixels for f in frames])
        for first, last in shots:
            # one frame of margin on each side keeps the cut frames themselves out of the material
            keep = (numbers >= first + 1) & (numbers < last - 1)
            if keep.sum() >= 2:
                sources.append(clip_source(f"{clip}[{first}:{last}]", to_uint8(pixels[keep])))
    for pattern in spec["sequences"]:
        paths = sorted(glob.glob(os.path.join(DATA, "exr", pattern.replace("####", "[0-9][0-9][0-9][0-9]"))))
        pics = []
        for p in paths:
            frame = read_frame(p, channels=["R", "G", "B"])
            from filmai_plugins.nodes.lstm.cuts.features import analysis_pixels

            w, h = frame.display_window[2], frame.display_window[3]
            pics.append(analysis_pixels(frame, (clip_width, max(8, round(clip_width * h / w)))))
        if pics:
            sources.append(clip_source(pattern, to_uint8(np.stack(pics)), kind="sequence"))
    return sources


# ----- cached synthetic data ----------------------------------------------------------------------


def render_set(sources: list, count: int, seed: int, length: int = SEQ_LEN, size=RENDER_SIZE,
               log=print) -> dict[str, np.ndarray]:
    import torch

    from filmai_plugins.nodes.lstm.cuts.model import hand_features
    from cut_synth import EditSynth, targets, to_analysis

    torch.manual_seed(seed)
    synth = EditSynth(sources, size=size, seed=seed)
    frames = np.zeros((count, length, 3, 27, 48), np.uint8)
    hands, centres, masks, kinds, events = [], [], [], [], []
    t0 = time.time()
    for i in range(count):
        with torch.no_grad():
            rendered, evs = synth.edit(length)
            small = to_analysis(rendered)
            q = torch.clamp(torch.round(small * 255), 0, 255).to(torch.uint8)
            frames[i] = q.numpy()
            hands.append(hand_features((q.float() / 255.0)[None])[0].half().numpy())
        tg = targets(evs, length)
        centres.append(tg["centre"].half().numpy())
        masks.append(tg["mask"].to(torch.uint8).numpy())
        kinds.append(tg["kind"].to(torch.uint8).numpy())
        events.append(evs)
        if (i + 1) % 100 == 0:
            log(f"  rendered {i + 1}/{count} edits ({time.time() - t0:.0f} s)")
    return {"frames": frames, "hand": np.stack(hands), "centre": np.stack(centres), "mask": np.stack(masks),
            "kind": np.stack(kinds), "events": np.array(json.dumps(events))}


def training_hand(data: dict, net, log=print) -> np.ndarray:
    """The cached edits' hand-made features as ``net`` reads them: the cache holds cutnet-1's; the
    correlation features of newer architectures are computed from the cached frames and appended."""
    import torch

    from filmai_plugins.nodes.lstm.cuts.model import hand_feature_count, ncc_features

    hand = data["hand"]
    want = hand_feature_count(net.offsets, net.grid, net.ncc_offsets)
    if hand.shape[-1] == want:
        return hand
    if hand.shape[-1] != want - 2 * len(net.ncc_offsets):
        raise SystemExit(f"cached hand features have {hand.shape[-1]} columns; {net.arch['name']} needs {want}")
    t0 = time.time()
    extra = []
    for i in range(0, len(hand), 64):
        x = torch.from_numpy(data["frames"][i:i + 64]).float() / 255.0
        extra.append(ncc_features(x, net.ncc_offsets).half().numpy())
    log(f"correlation features of {len(hand)} cached edits: {time.time() - t0:.0f} s")
    return np.concatenate([hand, np.concatenate(extra)], -1)


def clip_flags(events: list[dict], length: int) -> list[dict]:
    """The generator's rule for transitions touching either end (applied again to cached edits so that
    caches rendered before the rule was tightened give the same targets)."""
    for e in events:
        e["clipped"] = bool(e.get("clipped")) or e["start"] <= 0 or (e["end"] >= length - 1 and e["kind"] != "cut")
    return events


def retarget(data: dict) -> dict:
    """Per-frame targets recomputed from the cached events (cheap; the frames are what is expensive)."""
    import torch

    from cut_synth import targets

    length = data["frames"].shape[1]
    events = [clip_flags(evs, length) for evs in json.loads(str(data["events"]))]
    tg = [targets(evs, length) for evs in events]
    data = dict(data)
    data["centre"] = torch.stack([t["centre"] for t in tg]).half().numpy()
    data["mask"] = torch.stack([t["mask"] for t in tg]).to(torch.uint8).numpy()
    data["kind"] = torch.stack([t["kind"] for t in tg]).to(torch.uint8).numpy()
    data["events"] = np.array(json.dumps(events))
    return data


def cached_set(work: str, split_sources: list, count: int, seed: int, tag: str, log=print) -> dict[str, np.ndarray]:
    key = hashlib.sha256(json.dumps({"n": count, "seed": seed, "len": SEQ_LEN, "size": RENDER_SIZE, "tag": tag,
                                     "sources": [s.name for s in split_sources], "v": 5}).encode()).hexdigest()[:12]
    path = os.path.join(work, f"{tag}-{key}.npz")
    if os.path.isfile(path):
        log(f"cached {tag} set: {path}")
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    log(f"rendering {count} {tag} edits (seed {seed}) → {path}")
    data = render_set(split_sources, count, seed, log=log)
    os.makedirs(work, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **data)
    os.replace(tmp, path)
    return data


# ----- training -------------------------------------------------------------------------------------


def losses(out, centre, mask, kind):
    import torch
    import torch.nn.functional as F

    w_centre = 1.0 + 9.0 * centre
    l_centre = F.binary_cross_entropy_with_logits(out["centre"], centre, weight=w_centre)
    l_mask = F.binary_cross_entropy_with_logits(out["mask"], mask, pos_weight=torch.tensor(3.0))
    sel = mask > 0.5
    if sel.any():
        l_kind = F.cross_entropy(out["kind"][sel], kind[sel])
    else:
        l_kind = out["kind"].sum() * 0.0
    return l_centre, l_mask, l_kind


def val_probs(net, data: dict, limit: int | None = None) -> list[dict]:
    import torch

    from filmai_plugins.nodes.lstm.cuts.model import predict

    n = len(json.loads(str(data["events"]))) if limit is None else limit
    net.eval()
    with torch.no_grad():
        out = [predict(net, np.transpose(data["frames"][i], (0, 2, 3, 1)), window=96, context=24) for i in range(n)]
    net.train()
    return out


def black_masks(data: dict, n: int) -> list:
    """The black-frame mask of each of the first ``n`` edits (what ``refine_fades`` reads)."""
    from filmai_plugins.nodes.lstm.cuts.export import black_frames

    return [black_frames(np.transpose(data["frames"][i], (0, 2, 3, 1))) for i in range(n)]


def evaluate(net, data: dict, threshold: float | list[float] = 0.5, limit: int | None = None,
             mask_threshold: float = 0.5, probs: list | None = None, edge_frames: int = 0,
             edge_threshold: float = 0.0, blacks: list | None = None) -> dict:
    """Overall/cut/gradual F1 (±2 frames) on a rendered set for each threshold, and for matched gradual
    transitions the mean absolute error of their first and last frames (``extent_mae``); ``edge_*``: the
    stricter threshold near the ends of the input (``events.decode`` in nodes/lstm/cuts). ``probs`` and ``blacks`` (each
    edit's black-frame mask) can be passed in by a caller that evaluates the same set many times."""
    from filmai_plugins.nodes.lstm.cuts.events import decode, match, refine_fades

    thresholds = threshold if isinstance(threshold, list) else [threshold]
    events = json.loads(str(data["events"]))
    probs = probs if probs is not None else val_probs(net, data, limit)
    blacks = blacks if blacks is not None else black_masks(data, len(probs))
    results = {}
    for th in thresholds:
        total, errors = None, []
        for i, p in enumerate(probs):
            truth = [e for e in events[i] if not e["clipped"]]
            ignore = [(e["start"], e["end"]) for e in events[i] if e["clipped"]]
            got = refine_fades(decode(p, threshold=th, mask_threshold=mask_threshold, edge_frames=edge_frames,
                                      edge_threshold=edge_threshold), blacks[i])
            m = match([b.frame for b in got], truth, 2, ignore)
            total = {k: m[k] for k in ("cut", "gradual", "all")} if total is None else \
                {k: total[k] + m[k] for k in ("cut", "gradual", "all")}
            by_frame = {b.frame: b for b in got}
            for frame, j in m["matched"]:
                if truth[j]["kind"] != "cut":
                    b = by_frame[frame]
                    errors += [abs(b.start - truth[j]["start"]), abs(b.end - truth[j]["end"])]
        results[th] = {**{k: v.to_json() for k, v in total.items()},
                       "extent_mae": round(float(np.mean(errors)), 3) if errors else None}
    return results


EXTENT_TIE = 0.05
EDGE_FRAMES = (0, 4, 8, 12, 16, 24)
EDGE_THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def tune(net, val: dict, log=print) -> dict:
    """The decision threshold (best F1 on validation), the extent threshold (smallest error on the
    first/last frames of gradual transitions, near-ties decided by F1), then the stricter threshold near
    the ends of the input (best F1 again; ties go to the narrower, looser rule, and no rule at all when it
    does not help), all on footage of the training split."""
    probs = val_probs(net, val)
    blacks = black_masks(val, len(probs))
    grid = [round(x, 2) for x in np.arange(0.2, 0.81, 0.05)]
    sweep = evaluate(net, val, grid, probs=probs, blacks=blacks)
    best = max(grid, key=lambda th: (sweep[th]["all"]["f1"], -abs(th - 0.5)))
    extents = {mt: evaluate(net, val, best, mask_threshold=mt, probs=probs, blacks=blacks)[best]
               for mt in (0.5, 0.6, 0.7, 0.8)}
    # the smallest first/last-frame error, where "smallest" ignores differences under EXTENT_TIE frames (on 400
    # edits 0.6 and 0.7 differ by 0.04 frames, noise) and such ties go to the better F1
    least = min(e["extent_mae"] or 99 for e in extents.values())
    mask_best = max((mt for mt in extents if (extents[mt]["extent_mae"] or 99) < least + EXTENT_TIE),
                    key=lambda mt: (extents[mt]["all"]["f1"], -abs(mt - 0.5)))
    log(f"validation: threshold {best} → {sweep[best]['all']}; extent threshold {mask_best} → "
        f"first/last frame error {extents[mask_best]['extent_mae']} frames")
    edges = {(0, 0.0): extents[mask_best]}
    for n in EDGE_FRAMES[1:]:
        for te in EDGE_THRESHOLDS:
            if te > best:
                edges[(n, te)] = evaluate(net, val, best, mask_threshold=mask_best, probs=probs, blacks=blacks,
                                          edge_frames=n, edge_threshold=te)[best]
    edge = max(edges, key=lambda k: (edges[k]["all"]["f1"], -k[0], -k[1]))
    log(f"validation: within {edge[0]} frames of either end a threshold of {edge[1]} → {edges[edge]['all']} "
        f"(hard cuts {edges[edge]['cut']['f1']}, without it {extents[mask_best]['all']['f1']} / "
        f"{extents[mask_best]['cut']['f1']})")
    return {"threshold": float(best), "mask_threshold": float(mask_best), "edge_frames": int(edge[0]),
            "edge_threshold": float(edge[1]), "val_edits": len(probs), **edges[edge],
            "without_edge_rule": {k: extents[mask_best][k] for k in ("cut", "gradual", "all")}}


def train(args) -> dict:
    import torch

    from filmai_plugins.training.checkpoint import save_checkpoint
    from filmai_plugins.nodes.lstm.cuts.model import CutNet, default_arch, state_to_numpy

    t_start = time.time()
    model_seed = args.seed if args.model_seed is None else args.model_seed
    torch.manual_seed(model_seed)
    np.random.seed(model_seed)
    torch.set_num_threads(args.threads)
    log_path = os.path.join(args.work, "train.log")
    os.makedirs(args.work, exist_ok=True)
    logf = open(log_path, "a", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    log(f"loading training footage from {DATA}")
    sources = load_sources("train")
    log(f"  {len(sources)} sources: {', '.join(s.name for s in sources)}")
    n_train, n_val = (24, 8) if args.quick else (args.train_edits, args.val_edits)
    data = retarget(cached_set(args.work, sources, n_train, args.seed, "train", log))
    val = retarget(cached_set(args.work, sources, n_val, args.seed + 1000, "val", log))
    t_data = time.time() - t_start
    if args.render_only:
        log(f"rendered in {t_data:.0f} s; --render-only: no training")
        return {}

    arch = {**default_arch(), **ARCHES[args.arch]}
    net = CutNet(arch)
    n_params = sum(p.numel() for p in net.parameters())
    log(f"model {arch['name']}: {n_params} parameters")
    data["hand"] = training_hand(data, net, log)
    steps = 6 if args.quick else args.steps
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    warm = min(50, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))))
    rng = np.random.default_rng(model_seed)
    frames_all = torch.from_numpy(data["frames"])
    hand_all = torch.from_numpy(data["hand"])
    centre_all = torch.from_numpy(data["centre"])
    mask_all = torch.from_numpy(data["mask"])
    kind_all = torch.from_numpy(data["kind"])
    n_seq, seq_len = frames_all.shape[:2]
    running = np.zeros(3)
    net.train()
    history = []
    for step in range(steps):
        crop = int(rng.choice([48, 64, 80, 96]))
        idx = rng.integers(0, n_seq, args.batch)
        starts = rng.integers(0, seq_len - crop + 1, args.batch)
        # the ends of an input are where the network sees least (neighbours past them are the end frames
        # repeated) and where random crops rarely land: pin some crops to the first or last frame of their
        # edit so that both ends are seen as often as the middle is
        edge = rng.random(args.batch)
        starts[edge < args.edge_crops / 2] = 0
        starts[(edge >= args.edge_crops / 2) & (edge < args.edge_crops)] = seq_len - crop
        sl = [slice(int(s), int(s) + crop) for s in starts]
        x = torch.stack([frames_all[i, s] for i, s in zip(idx, sl)]).float() / 255.0
        hand = torch.stack([hand_all[i, s] for i, s in zip(idx, sl)]).float()
        centre = torch.stack([centre_all[i, s] for i, s in zip(idx, sl)]).float()
        mask = torch.stack([mask_all[i, s] for i, s in zip(idx, sl)]).float()
        kind = torch.stack([kind_all[i, s] for i, s in zip(idx, sl)]).long()
        # photometric jitter on the network's input keeps the CNN from memorising exposures; the hand
        # features were computed before it, which is fine: they are near-invariant to small gains
        if rng.random() < 0.5:
            x = (x * float(rng.uniform(0.85, 1.15))).clamp(0, 1)
        out = net(x, hand)
        l_c, l_m, l_k = losses(out, centre, mask, kind)
        loss = l_c + 0.5 * l_m + 0.5 * l_k
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        running = 0.95 * running + 0.05 * np.array([l_c.item(), l_m.item(), l_k.item()]) if step else \
            np.array([l_c.item(), l_m.item(), l_k.item()])
        if (step + 1) % 50 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps} loss centre {running[0]:.4f} mask {running[1]:.4f} kind {running[2]:.4f} "
                f"lr {sched.get_last_lr()[0]:.2e}")
        if not args.quick and ((step + 1) % args.eval_every == 0):
            res = evaluate(net, val, 0.5, limit=40)[0.5]
            history.append({"step": step + 1, **{k: res[k]["f1"] for k in ("cut", "gradual", "all")}})
            log(f"  val@0.5 (40 edits): F1 all {res['all']['f1']:.3f} cut {res['cut']['f1']:.3f} "
                f"gradual {res['gradual']['f1']:.3f}")
    t_train = time.time() - t_start - t_data

    tuned = tune(net, val, log)
    meta = {
        "node": "lstm.cuts", "node_version": "1.0.0", "arch": arch,
        "analysis_size": [48, 27], "window": 96, "context": 24, "min_frames": 16,
        "threshold": tuned["threshold"], "mask_threshold": tuned["mask_threshold"], "kinds": arch["kinds"],
        "edge_frames": tuned["edge_frames"], "edge_threshold": tuned["edge_threshold"],
        "colour": "display-referred RGB in 0-1: video as decoded, scene-linear frames through the OCIO view",
        "training": {
            "script": "recipes/train_cuts.py", "seed": args.seed, "model_seed": model_seed, "steps": steps, "batch": args.batch,
            "lr": args.lr, "edge_crops": args.edge_crops, "arch": args.arch, "train_edits": n_train, "val_edits": n_val, "edit_length": SEQ_LEN,
            "render_size": list(RENDER_SIZE), "parameters": n_params,
            "footage": {k: v if not isinstance(v, dict) else {c: [list(r) for r in rr] for c, rr in v.items()}
                        for k, v in SPLIT["train"].items()},
            "held_out": {k: v if not isinstance(v, dict) else list(v) for k, v in SPLIT["eval"].items()},
            "validation": tuned, "history": history,
            "seconds": {"data": round(t_data, 1), "train": round(t_train, 1),
                        "total": round(time.time() - t_start, 1)},
            "torch": torch.__version__, "quick": bool(args.quick),
        },
    }
    sha = save_checkpoint(args.out, state_to_numpy(net), meta)
    log(f"checkpoint {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, sha256 {sha[:16]}…)")
    logf.close()
    return meta


def build_ensemble(args) -> dict:
    """Average independently trained members (``--ensemble a.ckpt,b.ckpt``: the same data, other model
    seeds), tune the thresholds of the average on the validation edits, write one checkpoint."""
    import torch

    from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint
    from filmai_plugins.nodes.lstm.cuts.model import CutEnsemble, from_checkpoint, state_to_numpy

    torch.set_num_threads(args.threads)
    paths = [p for p in args.ensemble.split(",") if p]
    # (path, network, training record) per member; an ensemble checkpoint given here contributes its members
    members = []
    base_meta = None  # the metadata the ensemble's own starts from (node, arch, analysis settings)
    for p in paths:
        c = load_checkpoint(p)
        base_meta = base_meta or c.meta
        if c.meta.get("node") != "lstm.cuts":
            raise SystemExit(f"{p}: not an lstm.cuts model")
        net = from_checkpoint(c)
        if isinstance(net, CutEnsemble):
            records = c.meta["training"]["ensemble_of"]
            members += [(p, m, r) for m, r in zip(net.members, records)]
        else:
            members.append((p, net, c.meta["training"]))
    for p, m, _ in members:
        if m.arch != members[0][1].arch:
            raise SystemExit(f"{p}: its architecture differs from {members[0][0]}'s")
    seeds = {r["seed"] for _, _, r in members}
    if len(seeds) != 1 or seeds != {args.seed}:
        raise SystemExit(f"members were trained on edits of seeds {sorted(seeds)}; validation uses --seed {args.seed}")
    net = CutEnsemble.of([m for _, m, _ in members]).eval()
    sources = load_sources("train")
    n_val = 8 if args.quick else args.val_edits
    val = retarget(cached_set(args.work, sources, n_val, args.seed + 1000, "val"))
    tuned = tune(net, val)
    meta = {k: v for k, v in base_meta.items() if k != "training"}
    meta.update({"members": len(members), "threshold": tuned["threshold"], "mask_threshold": tuned["mask_threshold"],
                 "edge_frames": tuned["edge_frames"], "edge_threshold": tuned["edge_threshold"]})
    first = members[0][2]
    meta["training"] = {"script": "recipes/train_cuts.py", "footage": first["footage"], "held_out": first["held_out"],
                        "ensemble_of": [r for _, _, r in members],
                        "seed": args.seed, "validation": tuned, "torch": torch.__version__, "quick": bool(args.quick)}
    sha = save_checkpoint(args.out, state_to_numpy(net), meta)
    print(f"ensemble of {len(members)} → {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, sha256 {sha[:16]}…)")
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(REPO, "nodes", "lstm", "cuts", "models", "cuts.ckpt"))
    parser.add_argument("--work", default=os.path.join(REPO, "bench", "out", "cuts-train"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-seed", type=int, default=None,
                        help="seed of the weights and crops (default --seed); the rendered edits follow --seed")
    parser.add_argument("--steps", type=int, default=3200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--train-edits", type=int, default=900)
    # 400 short edits: 100 held only 4 false detections at the tuned threshold, too few to tune the rule for the
    # ends of the input on (rendering them takes seconds; predicting them, half a minute per member)
    parser.add_argument("--val-edits", type=int, default=400)
    parser.add_argument("--edge-crops", type=float, default=0.3,
                        help="share of training crops pinned to the first or last frame of their edit")
    parser.add_argument("--eval-every", type=int, default=800)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arch", default="cutnet-2", choices=sorted(ARCHES),
                        help="network: cutnet-2 (default) or cutnet-1 (no correlation features, the earlier model)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny data, a few steps")
    parser.add_argument("--render-only", action="store_true",
                        help="render (and cache) the training and validation edits, then stop")
    parser.add_argument("--ensemble", default="",
                        help="comma-separated member checkpoints (same --seed, other --model-seed) to average "
                             "into --out, instead of training; an ensemble among them adds its members")
    args = parser.parse_args(argv)
    if not have_data():
        print(f"skipped: {DATA} not found (the training footage lives outside the repo)")
        return 0
    if args.quick and args.out == parser.get_default("out"):
        args.out = os.path.join(args.work, "quick.ckpt")
    if args.ensemble:
        build_ensemble(args)
    else:
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
