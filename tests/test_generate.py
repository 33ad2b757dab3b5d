"""gan.generate: a seconds-long training on a synthetic moving texture proves the machinery (checkpoint,
contact sheets, resume, cancel), then generation: size and channels, seeds, loops, seed blends and walks,
and bad input (short clip, mixed sizes, another node's checkpoint) failing with exit 2 and nothing lost."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import filmai_plugins as fa
from filmai_plugins.cli import main
from filmai_plugins.engine import CancelToken
from filmai_plugins.errors import Cancelled
from filmai_plugins.frames import read_frame, read_provenance
from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint
from helpers import write_exr

torch = pytest.importorskip("torch")

W, H = 48, 32  # source clip size; trained at resolution 32 → 32x24 frames
TINY = {"resolution": 32, "capacity": 4, "clip_length": 4, "batch_size": 2, "content_dim": 8, "motion_dim": 8,
        "noise_dim": 4, "rollout": 4}


def texture_frame(t, w=W, h=H):
    """A drifting interference texture with an HDR highlight on a circular path and a moving alpha ramp."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.3 + 0.2 * np.sin(0.4 * (x - 1.5 * t) + 0.2 * y),
                    0.3 + 0.2 * np.cos(0.3 * (x + y) - 0.4 * t),
                    0.2 + 0.1 * np.sin(0.25 * y + 0.3 * t)], axis=2)
    cx, cy = w / 2 + 10 * np.cos(0.3 * t), h / 2 + 6 * np.sin(0.3 * t)
    rgb += 6.0 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8.0)[..., None]
    alpha = np.clip(0.5 + 0.5 * np.sin(x / 6.0 - 0.2 * t), 0.0, 1.0)[..., None]
    return np.concatenate([rgb, alpha], axis=2).astype(np.float32)


def write_clip(folder, frames, size=(W, H), odd=None):
    for f in frames:
        w, h = odd[1] if odd and f == odd[0] else size
        write_exr(os.path.join(folder, f"clip.{f:04d}.exr"), texture_frame(f, w, h))
    return os.path.join(folder, "clip.####.exr")


def sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture(scope="module")
def one_thread():
    # A shared, busy CPU makes two OpenMP threads wait on each other far longer than the work takes.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("generate")
    clip = write_clip(str(root / "clip"), range(1, 13))
    out = str(root / "element.ckpt")
    manifest = fa.train("gan.generate", input=clip, out=out,
                        **TINY, steps=4, checkpoint_interval=2, contact_sheet_interval=2)
    return {"root": root, "clip": clip, "ckpt": out, "manifest": manifest}


def generate(ckpt, folder, frames, **params):
    pattern = os.path.join(str(folder), "gen.####.exr")
    m = fa.run("gan.generate", model=ckpt, output=pattern, frames=frames, **params)
    assert m["status"] == "complete"
    return pattern


def pixels(pattern, frames):
    return np.stack([read_frame(pattern.replace("####", f"{f:04d}")).pixels for f in frames])


# ----- training -----------------------------------------------------------------------------------


def test_training_writes_checkpoint_contact_sheets_and_interval_checkpoints(trained):
    ckpt = load_checkpoint(trained["ckpt"], expect_node="gan.generate")
    meta = ckpt.meta
    assert meta["arch"]["name"] == "mocogan/1" and (meta["arch"]["width"], meta["arch"]["height"]) == (32, 24)
    # untagged EXR is read as the config's scene_linear role (ACEScg in the built-in config)
    assert meta["channels"] == ["R", "G", "B", "A"] and meta["colorspace"] == "lin_ap1_scene"
    assert meta["codec"]["encodings"] == ["log", "log", "log", "linear"]  # HDR colour in log, alpha linear
    assert meta["training"]["steps"] == 4 and meta["source"]["frames"] == "1-12"
    assert meta["arch"]["minibatch_std"] == 4  # new models train with the anti-collapse feature
    assert meta["arch"]["generator"] == 2  # and the image generator with texture noise
    assert not any(k.startswith("train_state/") for k in ckpt.tensors)  # the shipped model is the generator
    work = trained["ckpt"][:-len(".ckpt")] + ".train"
    assert sorted(p for p in os.listdir(work) if p.endswith(".png")) == ["contact_000002.png", "contact_000004.png"]
    sheet = read_frame(os.path.join(work, "contact_000004.png"))
    assert sheet.width > 4 * 96 and sheet.height > 4 * 40  # 4 rows (real, 3 seeds) of clip_length cells
    interval = load_checkpoint(os.path.join(work, "checkpoint_000002.ckpt"))
    assert interval.meta["train_state"]["step"] == 2
    assert {k.split("/")[2] for k in interval.tensors if k.startswith("train_state/modules/")} == \
        {"generator", "d_image", "d_video"}
    assert trained["manifest"]["status"] == "complete"


def test_resume_continues_from_an_interval_checkpoint(trained, tmp_path):
    work = trained["ckpt"][:-len(".ckpt")] + ".train"
    out = str(tmp_path / "resumed.ckpt")
    m = fa.train("gan.generate", input=trained["clip"], out=out,
                 **TINY, steps=3, resume=os.path.join(work, "checkpoint_000002.ckpt"))
    summary = load_checkpoint(out).meta["training"]
    assert summary["steps"] == 3 and summary["resumed_from"].endswith("checkpoint_000002.ckpt")
    assert m["status"] == "complete"


def test_the_seed_decides_the_start_whatever_ran_before(trained, tmp_path):
    def weights(name, seed):
        torch.rand(17)  # other work in the same process moves torch's global generator
        out = str(tmp_path / f"{name}.ckpt")
        fa.train("gan.generate", input=trained["clip"], out=out, **TINY, steps=1, seed=seed,
                 contact_sheet_interval=1000)
        return load_checkpoint(out).tensors

    a, b, c = weights("a", 3), weights("b", 3), weights("c", 4)
    assert a.keys() == b.keys() == c.keys() and a
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_cancel_keeps_a_resumable_checkpoint(trained, tmp_path):
    token = CancelToken()

    def on_event(event):
        if event["event"] == "step" and event["step"] >= 2:
            token.cancel("test")

    out = str(tmp_path / "cancelled.ckpt")
    with pytest.raises(Cancelled):
        fa.train("gan.generate", input=trained["clip"], out=out, cancel=token, on_event=on_event,
                 **TINY, steps=50, contact_sheet_interval=1000)
    assert not os.path.exists(out)  # no half-trained model under the name asked for
    left = [p for p in os.listdir(str(tmp_path / "cancelled.train")) if p.startswith("checkpoint_")]
    assert len(left) == 1 and load_checkpoint(str(tmp_path / "cancelled.train" / left[0])).meta["train_state"]


def test_hdr_and_alpha_survive_the_working_encoding(trained):
    from filmai_plugins.training.datasets import ChannelCodec

    from filmai_plugins.nodes.gan.generate.render import codec_from_meta, to_linear

    meta = load_checkpoint(trained["ckpt"]).meta
    codec = codec_from_meta(meta)
    assert isinstance(codec, ChannelCodec)
    frame = texture_frame(3, 32, 24)
    assert frame[..., :3].max() > 5.0
    norm = meta["normalize"]
    normalised = ((codec.encode(frame) - np.asarray(norm["mean"])) / norm["std"]).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(to_linear(normalised.astype(np.float32), codec, norm)[0], frame, rtol=1e-4, atol=1e-5)


# ----- generation ---------------------------------------------------------------------------------


def test_generates_frames_of_the_model_size_with_provenance(trained, tmp_path):
    code = main(["run", "gan.generate", "--model", trained["ckpt"], "--output", str(tmp_path / "gen.####.exr"),
                 "--frames", "1-10", "--set", "seed=7", "--progress", "none"])
    assert code == 0
    names = sorted(p for p in os.listdir(tmp_path) if p.endswith(".exr"))
    assert names == [f"gen.{f:04d}.exr" for f in range(1, 11)]
    f = read_frame(str(tmp_path / "gen.0004.exr"))
    assert (f.width, f.height) == (32, 24) and f.channels == ["R", "G", "B", "A"]
    # written in the colourspace of the clip it learnt (untagged EXR: ACEScg), and tagged so
    assert f.display_window == (0, 0, 32, 24) and f.attributes["colorInteropID"] == "lin_ap1_scene"
    assert np.isfinite(f.pixels).all() and 0.0 <= f.pixels[..., 3].min() and f.pixels[..., 3].max() <= 1.0
    prov = read_provenance(str(tmp_path / "gen.0004.exr"))
    assert prov["node"] == "gan.generate" and json.loads(prov["params"])["seed"] == 7
    assert prov["modelSha256"] == load_checkpoint(trained["ckpt"]).sha256
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary files left


def test_a_checkpoint_from_before_minibatch_std_loads_as_it_was(trained, tmp_path):
    from filmai_plugins.nodes.gan.generate import mocogan as mg

    ckpt = load_checkpoint(trained["ckpt"])
    old_meta = json.loads(json.dumps(ckpt.meta))
    del old_meta["arch"]["minibatch_std"]
    old = str(tmp_path / "old.ckpt")
    save_checkpoint(old, ckpt.tensors, old_meta)
    arch = mg.Arch.from_json(old_meta["arch"])
    assert arch.minibatch_std == 0
    # its discriminators are the ones it was trained with: no extra feature map before the head
    new_arch = mg.Arch.from_json(ckpt.meta["arch"])
    base = new_arch.base[0] * new_arch.base[1]
    assert mg.ImageDiscriminator(new_arch).head.in_features - mg.ImageDiscriminator(arch).head.in_features == base
    # and it generates exactly what it did (the generator does not depend on the key)
    a = pixels(generate(old, tmp_path / "old", "1-4", seed=5), range(1, 5))
    b = pixels(generate(trained["ckpt"], tmp_path / "new", "1-4", seed=5), range(1, 5))
    np.testing.assert_array_equal(a, b)


def test_a_training_from_before_minibatch_std_resumes_as_it_was(trained, tmp_path, monkeypatch):
    from filmai_plugins.nodes.gan.generate import mocogan as mg

    out = str(tmp_path / "old.ckpt")
    with monkeypatch.context() as m:
        m.setattr(mg, "MINIBATCH_STD_GROUP", 0)  # train as the node did before the feature existed
        fa.train("gan.generate", input=trained["clip"], out=out, **TINY, steps=2, checkpoint_interval=1)
    interval = os.path.join(out[:-len(".ckpt")] + ".train", "checkpoint_000001.ckpt")
    assert "minibatch_std" not in load_checkpoint(interval).meta["arch"]  # what such checkpoints recorded
    resumed = str(tmp_path / "resumed.ckpt")
    fa.train("gan.generate", input=trained["clip"], out=resumed, **TINY, steps=2, resume=interval)
    assert "minibatch_std" not in load_checkpoint(resumed).meta["arch"]
    assert load_checkpoint(resumed).meta["training"]["resumed_from"] == interval


def test_a_layout_1_model_loads_generates_and_resumes_as_it_was(trained, tmp_path, monkeypatch):
    from filmai_plugins.nodes.gan.generate import mocogan as mg
    from filmai_plugins.nodes.gan.generate.render import load_generator

    out = str(tmp_path / "v1.ckpt")
    with monkeypatch.context() as m:
        m.setattr(mg, "GENERATOR_VERSION", 1)  # train as the node did before texture noise existed
        fa.train("gan.generate", input=trained["clip"], out=out, **TINY, steps=2, checkpoint_interval=1)
        a = pixels(generate(out, tmp_path / "a", "1-3", seed=4), range(1, 4))
    meta = load_checkpoint(out).meta
    assert "generator" not in meta["arch"]  # what such checkpoints recorded
    g, arch = load_generator(load_checkpoint(out))
    assert arch.generator == 1 and arch.texture_size == 0 and type(g.image) is mg.ImageGenerator
    b = pixels(generate(out, tmp_path / "b", "1-3", seed=4), range(1, 4))
    np.testing.assert_array_equal(a, b)  # this version generates exactly what it did
    # a training started with layout 1 resumes with layout 1
    interval = os.path.join(out[:-len(".ckpt")] + ".train", "checkpoint_000001.ckpt")
    resumed = str(tmp_path / "resumed.ckpt")
    fa.train("gan.generate", input=trained["clip"], out=resumed, **TINY, steps=2, resume=interval)
    assert "generator" not in load_checkpoint(resumed).meta["arch"]


def test_texture_noise_is_per_clip_and_reaches_every_level():
    from filmai_plugins.nodes.gan.generate import mocogan as mg

    torch.manual_seed(0)
    arch = mg.Arch(height=24, width=32, channels=3, capacity=4, content_dim=8, motion_dim=8, clip_length=4,
                   generator=2)
    assert arch.level_sizes() == [(3, 4), (6, 8), (12, 16), (24, 32)]
    assert arch.texture_size == 12 + 48 + 192 + 768
    g = mg.VideoGenerator(arch).eval()
    content = torch.from_numpy(mg.content_noise(1, arch.content_dim, arch.texture_size))[None]
    motion = torch.randn(1, arch.motion_dim)
    other = content.clone()
    other[:, arch.content_dim:] = torch.from_numpy(mg.content_noise(2, arch.content_dim, arch.texture_size))[
        None, arch.content_dim:]
    with torch.no_grad():
        # a fresh generator ignores the noise (strengths start at 0) ...
        torch.testing.assert_close(g.render(content, motion), g.render(other, motion))
        # ... and a trained one adds it at every level: the finest map alone changes the picture
        for strength in g.image.noise_strength:
            strength.fill_(0.5)
        finest = content.clone()
        finest[:, -768:] = 0.0
        assert (g.render(content, motion) - g.render(finest, motion)).abs().mean() > 1e-4
        # training clips keep one code and texture for all their frames: only the motion code moves them
        seen = []
        render = g.render
        g.render = lambda c, m: seen.append(c) or render(c, m)
        clips = g.sample_clips(2, 4, 0, torch.Generator().manual_seed(3))
    assert clips.shape == (2, 4, 3, 24, 32)
    rows = seen[0].view(2, 4, -1)
    assert rows.shape[2] == arch.content_dim + arch.texture_size
    assert bool((rows == rows[:, :1]).all()) and not bool((rows[0] == rows[1]).all())
    # the seed's texture is part of its content: the same seed gives the same noise, another seed another
    np.testing.assert_array_equal(mg.content_noise(5, 8, 100), mg.content_noise(5, 8, 100))
    assert not np.allclose(mg.content_noise(5, 8, 100)[8:], mg.content_noise(6, 8, 100)[8:])
    np.testing.assert_array_equal(mg.content_noise(5, 8, 100)[:8], mg.content_noise(5, 8))  # codes unchanged


def test_minibatch_std_lets_the_discriminator_see_a_collapsed_batch():
    from filmai_plugins.nodes.gan.generate import mocogan as mg

    torch.manual_seed(0)
    arch = mg.Arch(height=24, width=32, channels=3, capacity=4, clip_length=4, minibatch_std=4)
    d_image, d_video = mg.ImageDiscriminator(arch).eval(), mg.VideoDiscriminator(arch).eval()
    frames = torch.randn(8, 3, 24, 32)
    collapsed = frames[:1].expand(8, -1, -1, -1).contiguous()
    clips = torch.randn(4, 4, 3, 24, 32)
    with torch.no_grad():
        # the same first sample scores differently when its group-mates are copies of it (no spread)
        assert abs(float(d_image(frames)[0] - d_image(collapsed)[0])) > 1e-4
        assert abs(float(d_video(clips)[0] - d_video(clips[:1].expand(4, -1, -1, -1, -1).contiguous())[0])) > 1e-4
        # groups take samples N/group apart: two frames of one clip (adjacent) never share a group
        mbstd = mg.MinibatchStd(4)
        x = torch.zeros(8, 1, 2, 2)
        x[1] = 1.0  # differs only from its neighbour 0, which sits in the other group
        feat = mbstd(x)[:, 1, 0, 0]
        assert float(feat[0]) == pytest.approx(float(feat[2]), abs=1e-6) and float(feat[1]) > float(feat[0])
        # an odd batch (the last clips of a run) still works: the group shrinks to a divisor
        assert d_video(torch.randn(3, 4, 3, 24, 32)).shape == (3,)
    # without the key the discriminators ignore the rest of the batch
    plain = mg.ImageDiscriminator(mg.Arch(height=24, width=32, channels=3, capacity=4, clip_length=4)).eval()
    with torch.no_grad():
        assert float(plain(frames)[0]) == pytest.approx(float(plain(collapsed)[0]), abs=1e-6)


def test_same_seed_same_frames_any_range_different_seed_different(trained, tmp_path):
    a = pixels(generate(trained["ckpt"], tmp_path / "a", "1-12", seed=7), range(1, 13))
    b = pixels(generate(trained["ckpt"], tmp_path / "b", "1-12", seed=7), range(1, 13))
    np.testing.assert_array_equal(a, b)
    # frame N of a seed is the same picture whatever range is rendered (farm chunks, re-renders)
    part = pixels(generate(trained["ckpt"], tmp_path / "part", "9-11", seed=7), range(9, 12))
    np.testing.assert_allclose(part, a[8:11], atol=1e-3)
    c = pixels(generate(trained["ckpt"], tmp_path / "c", "1-12", seed=8), range(1, 13))
    assert np.abs(a - c).mean() > 1e-3
    # and the clip moves: consecutive frames differ
    assert np.abs(np.diff(a, axis=0)).mean() > 1e-5


def test_loop_repeats_exactly_and_wraps_like_an_ordinary_step(trained, tmp_path):
    loop = 6
    frames = pixels(generate(trained["ckpt"], tmp_path / "loop", "1-18", seed=3, loop=loop), range(1, 19))
    np.testing.assert_array_equal(frames[:loop], frames[loop:2 * loop])
    np.testing.assert_array_equal(frames[:loop], frames[2 * loop:])

    # In latent space (where the seam would be made): the step across the wrap is an ordinary step of the
    # motion, while jumping back to the start of the unlooped trajectory is not.
    from filmai_plugins.nodes.gan.generate.render import GenerationSettings, latent_codes, load_generator

    g, arch = load_generator(load_checkpoint(trained["ckpt"]))
    _, looped, keys = latent_codes(g, arch, range(3 * loop), GenerationSettings(seed=3, loop=loop))
    assert keys[:loop] == keys[loop:2 * loop] == list(range(loop))
    _, plain, _ = latent_codes(g, arch, range(3 * loop), GenerationSettings(seed=3))
    steps = np.linalg.norm(np.diff(plain, axis=0), axis=1)
    wrap = np.linalg.norm(looped[loop] - looped[loop - 1])
    naive = np.linalg.norm(plain[0] - plain[loop - 1])
    assert wrap <= 1.5 * steps.max() and wrap < naive


def test_cancel_while_generating_keeps_only_complete_frames(trained, tmp_path):
    token = CancelToken()

    def on_event(event):
        if event["event"] == "frame" and event["done"] >= 3:
            token.cancel("test")

    with pytest.raises(Cancelled):
        fa.run("gan.generate", model=trained["ckpt"], output=str(tmp_path / "g.####.exr"), frames="1-40",
               cancel=token, on_event=on_event, seed=4)
    written = sorted(p for p in os.listdir(tmp_path) if p.endswith(".exr"))
    assert 3 <= len(written) < 40 and not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    for name in written:  # every frame left is complete and readable
        assert read_frame(str(tmp_path / name)).pixels.shape == (24, 32, 4)


def test_seed_blend_and_walk(trained, tmp_path):
    ckpt = trained["ckpt"]
    a = pixels(generate(ckpt, tmp_path / "a", "1-6", seed=1), range(1, 7))
    b = pixels(generate(ckpt, tmp_path / "b", "1-6", seed=2), range(1, 7))
    m0 = pixels(generate(ckpt, tmp_path / "m0", "1-6", seed=1, seed_b=2, mix=0.0), range(1, 7))
    m1 = pixels(generate(ckpt, tmp_path / "m1", "1-6", seed=1, seed_b=2, mix=1.0), range(1, 7))
    half = pixels(generate(ckpt, tmp_path / "mh", "1-6", seed=1, seed_b=2, mix=0.5), range(1, 7))
    np.testing.assert_allclose(m0, a, atol=1e-5)
    np.testing.assert_allclose(m1, b, atol=1e-5)
    assert np.abs(half - a).mean() > 1e-4 and np.abs(half - b).mean() > 1e-4
    walk = pixels(generate(ckpt, tmp_path / "w", "1-6", seed=1, seed_b=2, walk=True), range(1, 7))
    np.testing.assert_allclose(walk[0], a[0], atol=1e-5)  # starts exactly on seed 1

    from filmai_plugins.nodes.gan.generate import mocogan as mg
    from filmai_plugins.nodes.gan.generate.render import GenerationSettings, latent_codes, load_generator

    g, arch = load_generator(load_checkpoint(ckpt))
    codes, _, _ = latent_codes(g, arch, range(6), GenerationSettings(seed=1, seed_b=2, walk=True))
    content = codes.rows()
    np.testing.assert_array_equal(codes.take([4, 1]).rows(), content[[4, 1]])
    # a content row is the clip's code and its texture noise: both walk from seed 1's to seed 2's
    assert arch.texture_size > 0 and content.shape[1] == arch.content_dim + arch.texture_size
    np.testing.assert_allclose(content[0], mg.content_noise(1, arch.content_dim, arch.texture_size), atol=1e-6)
    np.testing.assert_allclose(content[-1], mg.content_noise(2, arch.content_dim, arch.texture_size),
                               atol=1e-6)  # ends on seed 2
    moves = np.linalg.norm(np.diff(content, axis=0), axis=1)
    assert moves.min() > 0 and moves.max() < np.linalg.norm(content[-1] - content[0])  # a walk, not a cut


def test_speed_and_truncation_change_the_clip(trained, tmp_path):
    base = pixels(generate(trained["ckpt"], tmp_path / "base", "1-4", seed=5), range(1, 5))
    slow = pixels(generate(trained["ckpt"], tmp_path / "slow", "1-4", seed=5, speed=0.5), range(1, 5))
    np.testing.assert_allclose(slow[0], base[0], atol=1e-5)  # same start
    assert np.abs(slow[1:] - base[1:]).mean() > 0
    flat = pixels(generate(trained["ckpt"], tmp_path / "flat", "1-4", seed=5, truncation=0.0), range(1, 5))
    flat_other = pixels(generate(trained["ckpt"], tmp_path / "flat2", "1-4", seed=6, truncation=0.0), range(1, 5))
    base_other = pixels(generate(trained["ckpt"], tmp_path / "base2", "1-4", seed=6), range(1, 5))
    # truncation 0 removes the per-seed look: two seeds then differ only by their motion
    assert np.abs(flat - flat_other).mean() < np.abs(base - base_other).mean()


# ----- bad input: exit 2, one clear message, nothing lost -------------------------------------------


def test_clip_too_short_to_train_on(tmp_path, capsys, one_thread):
    clip = write_clip(str(tmp_path / "short"), range(1, 5))
    out = tmp_path / "keep.ckpt"
    out.write_bytes(b"a model the user already has")
    before = sha(out)
    code = main(["train", "gan.generate", "--input", clip, "--out", str(out), "--set", "clip_length=4",
                 "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "clip.####.exr" in err and "only 4 frames (1-4)" in err and "too short" in err and "5 frames" in err
    assert sha(out) == before


def test_a_clip_with_gaps_never_trains_across_them():
    """Frames 1-6 and 11-16: every real clip the video discriminator sees is consecutive frames of one
    run (a jump across the gap would teach it a cut as motion); single frames come from both runs."""
    from filmai_plugins.nodes.gan.generate.train import Clip, ClipData, clip_starts
    from filmai_plugins.training.datasets import ChannelCodec

    frames = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    assert list(clip_starts(frames, 4)) == [0, 1, 2, 6, 7, 8]
    assert list(clip_starts(range(1, 9), 4)) == list(range(5))  # no gaps: every start, as before
    # each frame's pixels hold its own frame number, so a batch shows which frames it took
    pixels = np.stack([np.full((4, 4, 1), f, np.float32) for f in frames])
    clip = Clip(pixels, frames, ["Y"], "lin_rec709", (4, 4), "clip.####.exr")
    data = ClipData(clip, ChannelCodec.for_channels(["Y"]), np.zeros(1, np.float32), 1.0, clip_length=4,
                    batch_size=8, seed=0, flip=False, reverse=True)
    codec = ChannelCodec.for_channels(["Y"])
    seen_starts, seen_frames = set(), set()
    for step in range(40):
        clips, singles = data.batch(step)
        for c in clips:
            numbers = np.rint(codec.decode(c[:, 0, 0, 0][:, None])[:, 0]).astype(int)
            numbers = numbers if numbers[0] < numbers[-1] else numbers[::-1]  # reverse=True plays some backwards
            assert list(np.diff(numbers)) == [1, 1, 1], numbers
            seen_starts.add(int(numbers[0]))
        seen_frames.update(np.rint(codec.decode(singles[:, 0, 0, 0][:, None])[:, 0]).astype(int).tolist())
    assert seen_starts == {1, 2, 3, 11, 12, 13}
    assert seen_frames == set(frames)


def test_a_clip_whose_runs_are_all_too_short(tmp_path, capsys, one_thread):
    clip = write_clip(str(tmp_path / "gappy"), [1, 2, 3, 5, 6, 7, 9, 10, 11])
    out = tmp_path / "keep.ckpt"
    code = main(["train", "gan.generate", "--input", clip, "--frames", "1-3,5-7,9-11", "--out", str(out),
                 "--set", "clip_length=4", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "clip.####.exr" in err and "1-3,5-7,9-11" in err and "not split by gaps" in err
    assert not out.exists()


def test_frames_of_differing_size(tmp_path, capsys, one_thread):
    clip = write_clip(str(tmp_path / "mixed"), range(1, 9), odd=(5, (40, 32)))
    out = tmp_path / "keep.ckpt"
    out.write_bytes(b"previous model")
    before = sha(out)
    code = main(["train", "gan.generate", "--input", clip, "--out", str(out), "--set", "clip_length=4",
                 "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "clip.0005.exr (frame 5)" in err and "40x32" in err and "48x32" in err
    assert sha(out) == before and not os.path.exists(str(tmp_path / "keep.train"))


def run_over_an_existing_frame(tmp_path, capsys, model):
    """`filmai run gan.generate` with ``model`` over frames 1-3 whose frame 1 exists: (exit code, stderr,
    whether that frame is untouched)."""
    existing = tmp_path / "gen.0001.exr"
    write_exr(str(existing), np.ones((4, 4, 3), np.float32))
    before = sha(existing)
    code = main(["run", "gan.generate", "--model", model, "--output", str(tmp_path / "gen.####.exr"),
                 "--frames", "1-3", "--progress", "none"])
    return code, capsys.readouterr().err, sha(existing) == before


def test_checkpoint_of_another_node(tmp_path, capsys):
    wrong = str(tmp_path / "copycat.ckpt")
    save_checkpoint(wrong, {"w": np.zeros(3, np.float32)}, {"node": "cnn.copycat", "arch": {}})
    code, err, kept = run_over_an_existing_frame(tmp_path, capsys, wrong)
    assert code == 2 and "copycat.ckpt" in err and "'cnn.copycat', not 'gan.generate'" in err
    assert kept and sorted(os.listdir(tmp_path)) == ["copycat.ckpt", "gen.0001.exr"]


def test_an_unknown_generator_layout_is_refused(trained, tmp_path, capsys):
    ckpt = load_checkpoint(trained["ckpt"])
    meta = json.loads(json.dumps(ckpt.meta))
    meta["arch"]["generator"] = 9  # a layout of a later version
    future = str(tmp_path / "future.ckpt")
    save_checkpoint(future, ckpt.tensors, meta)
    code, err, kept = run_over_an_existing_frame(tmp_path, capsys, future)
    assert code == 2 and "future.ckpt" in err and "layout 9" in err
    assert kept and not (tmp_path / "gen.0002.exr").exists()


def test_a_pickle_is_never_loaded(tmp_path, capsys):
    import pickle

    bad = tmp_path / "element.ckpt"
    bad.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    code = main(["run", "gan.generate", "--model", str(bad), "--output", str(tmp_path / "g.####.exr"),
                 "--frames", "1-2", "--progress", "none"])
    assert code == 2 and "pickle" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["element.ckpt"]


@pytest.mark.parametrize("sets, message", [
    (["walk=true"], "walk=true needs seed_b"),
    (["seed_b=3", "walk=true", "loop=12"], "walk and loop cannot be combined"),
    (["loop=6", "loop_blend=6"], "loop_blend (6) must be shorter than the loop (6 frames)"),
    (["start_frame=5"], "frame 1 is before start_frame 5"),
    (["seed=-1"], "below the minimum"),
])
def test_bad_run_params(trained, tmp_path, capsys, sets, message):
    args = ["run", "gan.generate", "--model", trained["ckpt"], "--output", str(tmp_path / "g.####.exr"),
            "--frames", "1-8", "--progress", "none"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".exr")]


def test_run_refuses_an_input_and_needs_frames(trained, tmp_path, capsys):
    args = ["run", "gan.generate", "--model", trained["ckpt"], "--output", str(tmp_path / "g.####.exr"),
            "--progress", "none"]
    assert main(args + ["--input", trained["clip"], "--frames", "1-12"]) == 2
    assert "--input is for `filmai train`" in capsys.readouterr().err
    assert main(args) == 2
    assert "--frames" in capsys.readouterr().err


def test_bad_training_resolution(trained, tmp_path, capsys):
    code = main(["train", "gan.generate", "--input", trained["clip"], "--out", str(tmp_path / "x.ckpt"),
                 "--set", "resolution=40", "--progress", "none"])
    assert code == 2 and "multiple of 16" in capsys.readouterr().err


def test_listing_nodes_does_not_import_torch():
    code = ("import sys, filmai_plugins.nodes.gan.generate as g; from filmai_plugins.app import default_app; "
            "default_app().get('gan.generate'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
