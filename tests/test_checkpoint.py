"""Checkpoints: safetensors + JSON metadata, sha256, and never unpickling."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from filmai_plugins.errors import CheckpointError
from filmai_plugins.training.checkpoint import (file_sha256, load_checkpoint, read_checkpoint_meta,
                                                save_checkpoint)


def _save(path, node="cnn.copycat"):
    tensors = {"conv.weight": np.random.default_rng(0).random((8, 3, 3, 3)).astype(np.float32),
               "conv.bias": np.zeros(8, np.float32), "steps": np.array([100], np.int64)}
    meta = {"node": node, "node_version": "1.0.0", "arch": {"size": "small", "in": 3, "out": 3},
            "channels_in": ["R", "G", "B"], "channels_out": ["R", "G", "B"], "colourspace": "lin_rec709",
            "working_encoding": "log", "training": {"steps": 100, "psnr": 31.2}}
    return tensors, save_checkpoint(str(path), tensors, meta)


def test_round_trip_with_metadata_and_hashes(tmp_path):
    tensors, sha = _save(tmp_path / "shot.ckpt")
    ck = load_checkpoint(str(tmp_path / "shot.ckpt"), expect_node="cnn.copycat")
    assert sha == ck.sha256 == file_sha256(str(tmp_path / "shot.ckpt"))
    for k, v in tensors.items():
        np.testing.assert_array_equal(ck.tensors[k], v)
    assert ck.meta["arch"] == {"size": "small", "in": 3, "out": 3} and ck.meta["training"]["psnr"] == 31.2
    assert ck.meta["format"] == "filmai.checkpoint/1" and len(ck.meta["weights_sha256"]) == 64
    assert read_checkpoint_meta(str(tmp_path / "shot.ckpt"))["node"] == "cnn.copycat"
    assert os.listdir(tmp_path) == ["shot.ckpt"]


def test_torch_state_dict(tmp_path):
    _save(tmp_path / "shot.ckpt")
    sd = load_checkpoint(str(tmp_path / "shot.ckpt")).torch_state_dict()
    assert tuple(sd["conv.weight"].shape) == (8, 3, 3, 3)


def test_pickle_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="Python pickle; FilmAI never unpickles"):
        load_checkpoint(str(path))
    assert not marker.exists()


def test_torch_save_archive_is_refused(tmp_path):
    import torch

    torch.save({"w": torch.zeros(3)}, str(tmp_path / "model.pt"))
    with pytest.raises(CheckpointError, match="torch.save/zip archive"):
        load_checkpoint(str(tmp_path / "model.pt"))


def test_tampered_weights_fail_the_hash(tmp_path):
    _save(tmp_path / "shot.ckpt")
    data = bytearray((tmp_path / "shot.ckpt").read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "shot.ckpt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match their sha256"):
        load_checkpoint(str(tmp_path / "shot.ckpt"))


def test_checkpoint_of_another_node(tmp_path):
    _save(tmp_path / "up.ckpt", node="gan.upres")
    with pytest.raises(CheckpointError, match="checkpoint is for node 'gan.upres', not 'cnn.copycat'"):
        load_checkpoint(str(tmp_path / "up.ckpt"), expect_node="cnn.copycat")


def test_plain_safetensors_without_filmai_metadata(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match="without FilmAI metadata"):
        load_checkpoint(str(tmp_path / "x.safetensors"))
    (tmp_path / "junk.ckpt").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a FilmAI checkpoint"):
        load_checkpoint(str(tmp_path / "junk.ckpt"))


def test_cli_refuses_a_pickle_as_model(tmp_path):
    import torch

    from helpers import write_sequence

    seq = write_sequence(str(tmp_path / "in"), frames=[1])
    torch.save(torch.nn.Conv2d(3, 3, 1), str(tmp_path / "model.pt"))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"a": 1}))
    for model in ("model.pt", "model.pkl"):
        r = subprocess.run([sys.executable, "-m", "filmai_plugins", "run", "cnn.torchscript", "-i", seq, "-o",
                            str(tmp_path / "o.####.exr"), "--model", str(tmp_path / model)],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "never unpickles" in r.stderr, r.stderr
        assert not os.path.exists(tmp_path / "o.0001.exr")
