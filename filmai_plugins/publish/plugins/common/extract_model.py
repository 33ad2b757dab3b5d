"""Extract: a model card (what the checkpoint is for) and the training run's latest contact sheet."""
import glob
import json
import os
import shutil

import pyblish.api

from filmai_plugins.publish import lib


class FilmAIExtractModelCard(pyblish.api.InstancePlugin):
    """``model.json``: node, architecture, channels, colourspace, encoding and training summary from
    the checkpoint's metadata; plus the newest contact sheet the training wrote (``<ckpt>.train/``)
    as the model's thumbnail."""

    label = "FilmAI: model card"
    order = pyblish.api.ExtractorOrder
    families = ["mlmodel"]

    def process(self, instance):
        staging = lib.staging_of(instance)
        card = os.path.join(staging, "model.json")
        with open(card, "w", encoding="utf-8") as f:
            json.dump({"checkpoint_sha256": instance.data.get("checkpoint_sha256"),
                       "meta": instance.data.get("checkpoint_meta", {})}, f, indent=2, default=str)
        lib.add_representation(instance, "model_card", card, "_model.json")
        work = os.path.splitext(instance.data["checkpoint"])[0] + ".train"
        sheets = sorted(glob.glob(os.path.join(work, "**", "*.png"), recursive=True) +
                        glob.glob(os.path.join(work, "**", "*.jpg"), recursive=True), key=os.path.getmtime)
        if sheets:
            thumb = os.path.join(staging, "thumbnail" + os.path.splitext(sheets[-1])[1])
            shutil.copy2(sheets[-1], thumb)
            lib.add_representation(instance, "thumbnail", thumb, "_thumbnail" + os.path.splitext(thumb)[1])
