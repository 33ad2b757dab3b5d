"""Integrate: a new, complete, checksummed version folder in the publish area."""
import os
import socket

import pyblish.api

from filmai_plugins._version import __version__
from filmai_plugins.files import file_sha256, now_iso
from filmai_plugins.frames.sequence import SequencePattern, format_frames
from filmai_plugins.publish import integrate, lib


class FilmAIIntegrateVersion(pyblish.api.InstancePlugin):
    """Claims the next version number, gathers frames (hard links, or copies across file systems),
    review media, checkpoint or timeline and the run manifests into the staging folder with a
    sha256 for every file, writes ``version.json`` and ``SHA256SUMS``, then renames the folder to
    ``v###``. Files are named ``<shot>_<task>_<name>_v###``; existing versions are never touched."""

    label = "FilmAI: publish version"
    order = pyblish.api.IntegratorOrder
    families = ["*"]

    def process(self, instance):
        import pyblish

        c = instance.context.data
        d = instance.data
        # Pyblish GUIs run integrators after a failed extraction: a version is never made from one
        earlier = [r for r in c.get("results", []) if r["error"] is not None
                   and (r["instance"] is None or r["instance"] is instance)]
        if earlier:
            raise RuntimeError(f"not published: {earlier[0]['plugin'].__name__} failed first")
        folder = lib.product_folder_of(instance)
        staging = lib.staging_of(instance)
        number = integrate.claim_version(folder)
        prefix = f"{c['filmai_shot']}_{c['filmai_task']}_{d['name']}_v{number:03d}"
        transfers = []
        record = {"schema": integrate.RECORD_SCHEMA, "project": c["filmai_project"], "shot": c["filmai_shot"],
                  "task": c["filmai_task"], "name": d["name"], "version": number, "family": d["family"],
                  "created": now_iso(), "user": integrate.user_name(), "hostname": socket.gethostname(),
                  "host": c.get("filmai_host"), "targets": c.get("filmai_targets"),
                  "session": c.get("filmai_session"), "farm": c.get("filmai_farm")}
        if d["family"] == lib.FAMILY_RENDER:
            seq = SequencePattern(d["pattern"])
            pad = max(4, seq.padding)
            for f in d["frames_expected"]:
                transfers.append(integrate.Transfer(seq.path(f), f"{prefix}.{f:0{pad}d}{seq.extension}", "frame", f))
            record.update({"frames": format_frames(d["frames_expected"]), "frame_count": len(d["frames_expected"]),
                           "pattern": f"{prefix}.{'#' * pad}{seq.extension}", "source_pattern": d["pattern"],
                           "resolution": d.get("resolution"), "channels": d.get("channels"),
                           "pixel_types": d.get("pixel_types"), "colorspace": d.get("colorspace"),
                           "colorspace_source": d.get("colorspace_source"), "ocio_config": d.get("ocio_config"),
                           "fps": d.get("fps"),
                           "frame_range": d.get("frame_range"), "checksums_verified": d.get("checksums_verified", 0),
                           "timecode": {k: v for k, v in (d.get("timecode") or {}).items() if k != "frames"} or None})
        elif d["family"] == lib.FAMILY_MODEL:
            ext = os.path.splitext(d["checkpoint"])[1]
            transfers.append(integrate.Transfer(d["checkpoint"], prefix + ext, "checkpoint"))
            record.update({"checkpoint_sha256": d.get("checkpoint_sha256"),
                           "model": {k: (d.get("checkpoint_meta") or {}).get(k)
                                     for k in ("node", "node_version", "arch", "channels_in", "channels_out",
                                               "colorspace", "encoding")}})
        elif d["family"] == lib.FAMILY_FILE:
            transfers.append(integrate.Transfer(d["path"], prefix + os.path.splitext(d["path"])[1], "file"))
        elif d["family"] == lib.FAMILY_EDITORIAL:
            record["timeline"] = d.get("timeline_summary")
        manifests = c["filmai_manifests"]
        for p in d.get("manifests") or []:
            transfers.append(integrate.Transfer(p, f"manifests/{os.path.basename(p)}", "manifest"))
        if d.get("manifests"):
            ref_path, ref = lib.reference_manifest(d, manifests)
            record.update({"node": ref.get("node"), "params": ref.get("params"), "params_hash": ref.get("params_hash"),
                           "model_used": ref.get("model"), "inputs": ref.get("inputs")})
        record["manifests"] = [lib.manifest_summary(p, manifests[p]) for p in d.get("manifests") or []]

        # Extracted media already sit in the staging folder: give them their final names there.
        moved = []
        for rep in d.get("representations", []):
            final = prefix + rep["suffix"]
            os.replace(rep["path"], os.path.join(staging, final))
            extra = {k: v for k, v in rep.items() if k not in ("role", "path", "suffix")}
            moved.append(integrate.Transfer(os.path.join(staging, final), final, rep["role"], extra=extra))
        files = integrate.transfer_files(staging, transfers, c.get("filmai_transfer", "link"))
        for t in moved:
            files.append({"path": t.name, "role": t.role, "sha256": file_sha256(t.source),
                          "size": os.path.getsize(t.source), "source": "extracted", "transfer": "extracted", **t.extra})
        record["files"] = sorted(files, key=lambda e: e["path"])
        record["review"] = {e["role"]: e["path"] for e in files if e["role"] in ("thumbnail", "sheet", "movie")}
        validators = (pyblish.api.ValidatorOrder - 0.5, pyblish.api.ValidatorOrder + 0.5)
        record["checks"] = sorted({r["plugin"].__name__ for r in c.get("results", [])
                                   if r["error"] is None and (r["instance"] is instance or r["instance"] is None)
                                   and validators[0] <= r["plugin"].order < validators[1]})
        record["repairs"] = c.get("filmai_repairs_applied", [])
        record["versions"] = {"filmai_plugins": __version__, "pyblish": pyblish.__version__}
        integrate.write_record(staging, lib.to_jsonable(record), files)
        path = integrate.commit_version(staging, folder, number)
        d["staging"] = None
        d["published"] = {"version": number, "path": path, "files": len(files) + 2,
                          "bytes": sum(e["size"] for e in files)}
        self.log.info("published %s v%03d to %s", d["name"], number, path)
