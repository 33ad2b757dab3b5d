"""Validate: a checkpoint is a FilmAI checkpoint, intact, and the one its training run wrote."""
import os

import pyblish.api

from filmai_plugins.errors import FilmAIError
from filmai_plugins.publish import lib


class FilmAIValidateCheckpoint(pyblish.api.InstancePlugin):
    """The checkpoint loads without unpickling, its weights match their sha256, the file's sha256
    matches the training manifest, and it was trained for the node the manifest names."""

    label = "FilmAI: checkpoint intact (hashes match)"
    order = pyblish.api.ValidatorOrder + 0.1
    families = ["mlmodel"]

    def process(self, instance):
        from filmai_plugins.files import file_sha256
        from filmai_plugins.training.checkpoint import load_checkpoint

        manifests = instance.context.data["filmai_manifests"]
        problems = []
        for p in instance.data.get("manifests") or []:
            m = manifests[p]
            if m.get("status") != "complete":
                problems.append(f"{p}: training ended {m.get('status')!r}: {m.get('error') or 'no reason recorded'}")
        path = instance.data.get("checkpoint")
        if not path:
            problems.append("the training run wrote no checkpoint")
            lib.fail_if(problems)
        if not os.path.isfile(path):
            lib.fail_if(problems + [f"{path}: checkpoint not found"])
        try:
            ckpt = load_checkpoint(path)
        except FilmAIError as exc:
            lib.fail_if(problems + [str(exc)])
        expected = instance.data.get("checkpoint_sha256")
        if expected and ckpt.sha256 != expected:
            problems.append(f"{path}: file sha256 {ckpt.sha256[:16]}… differs from the training manifest's "
                            f"{expected[:16]}… (replaced or modified after training)")
        for p in instance.data.get("manifests") or []:
            node = (manifests[p].get("node") or {}).get("id")
            if node and ckpt.meta.get("node") != node:
                problems.append(f"{path}: trained for node {ckpt.meta.get('node')!r}, the manifest says {node!r}")
        instance.data["checkpoint_meta"] = lib.to_jsonable(ckpt.meta)
        instance.data["checkpoint_sha256"] = expected or file_sha256(path)
        lib.fail_if(problems)
