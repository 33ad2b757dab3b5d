"""A node job started from Blender: built from the scene's settings, run by the worker client, and
brought back into Blender data when it ends. The modal operators poll it from a timer; ``execute``
(headless, farm, scripts) waits for it. Either way the same :class:`HostJob` does the work."""

import json
import os
import time

import bpy

from . import data, nodes, prefs, worker


class HostJob:
    """``kind``: run or train. ``strip_override``: read the first Frames input from this VSE strip."""

    def __init__(self, scene, node_id: str, kind: str = "run", strip_override: str = "", after=None):
        self.scene_name = scene.name
        self.node = nodes.STATE.node(node_id)
        self.kind = kind
        self.after = after  # callable(host_job, scene) -> str, run when the job succeeded
        self.config = prefs.worker_config()
        self.report: list[tuple[str, str]] = []
        self.sources: dict[str, data.Source] = {}
        self.spec, self.folder = self._build(scene, strip_override)
        self.job = worker.Job(self.spec, self.config, needs_torch=bool(self.node.get("needs_torch")))

    @property
    def node_id(self) -> str:
        return self.node["id"]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.node_id}"

    # ----- building the spec ---------------------------------------------------------------
    def _build(self, scene, strip_override: str):
        node, kind = self.node, self.kind
        pg = nodes.node_settings(scene, node["id"])
        frame_scope = node.get("scope") == "frame"
        ports = node["inputs"]
        first_frames = next((p for p in ports if p["type"] == "Frames"), None)
        if strip_override and first_frames is not None:
            src = getattr(pg, f"in_{first_frames['name']}")
            src.kind, src.strip = "STRIP", strip_override
        main = ports[0] if ports else None
        stem = data.source_label(getattr(pg, f"in_{main['name']}"), main) if main else "job"
        root = data.abspath(pg.out_dir or prefs.get().output_root or "//filmai/")
        folder = worker.version_folder(root, f"{stem}_{worker.node_slug(node['id'])}",
                                     reuse_last=kind == "run" and pg.skip_existing)
        try:
            staging = os.path.join(folder, "_sources")
            inputs = {}
            for port in ports:
                if kind == "run" and nodes.training_only(node, port):
                    continue
                src = getattr(pg, f"in_{port['name']}")
                if data.is_empty(src, port):
                    if port.get("optional"):
                        continue
                    raise data.SourceError(f"{node['label']}: nothing is chosen for input '{port['name']}'")
                resolved = data.resolve(scene, src, port, staging, frame_scope)
                self.sources[port["name"]] = resolved
                inputs[port["name"]] = resolved.pattern
                for note in resolved.notes:
                    self.report.append(("INFO", note))
            main_source = self.sources.get(first_frames["name"]) if first_frames else None
            values = {p["name"]: nodes.property_value(pg, f"p_{p['name']}", p) for p in worker.params_for(node, kind)}
            io_values = {}
            if first_frames is not None:
                io_values = {p["name"]: nodes.property_value(pg, f"io_{p['name']}", p) for p in nodes.STATE.io_options()}
            fields = dict(inputs=inputs, device=self.config.device)
            # training starts fresh unless asked to continue from the node's model (fine-tuning)
            if node.get("model", "none") != "none" and pg.model and (kind == "run" or pg.train_from_model):
                fields["model"] = data.abspath(pg.model)
            if kind == "run":
                single = main_source is not None and not main_source.is_sequence and not main_source.is_movie
                fields["outputs"] = worker.output_paths(node, folder, stem, single_frame=single)
                if main_source is not None:
                    fields["frames"] = data.job_frames(scene, pg.frame_mode, pg.frames, main_source)
                else:  # nothing to read frames from (a generator): the scene range unless given
                    fields["frames"] = (pg.frames.strip() if pg.frame_mode == "CUSTOM"
                                        else f"{scene.frame_start}-{scene.frame_end}")
                fields["skip_existing"] = bool(pg.skip_existing)
            elif "target" in inputs:  # the node declares its target as an input port (cnn.copycat)
                fields["target"] = inputs.pop("target")
                fields["frames"] = pg.pair_frames.strip()
                fields["out"] = data.abspath(pg.checkpoint) if pg.checkpoint else os.path.join(
                    folder, f"{stem}_{worker.node_slug(node['id'])}.ckpt")
            else:
                if not data.is_empty(pg.target, {"type": "Frames"}):
                    target = data.resolve(scene, pg.target, {"name": "target", "type": "Frames"}, staging, True)
                    self.sources["target"] = target
                    fields["target"] = target.pattern
                fields["frames"] = pg.pair_frames.strip()
                fields["out"] = data.abspath(pg.checkpoint) if pg.checkpoint else os.path.join(
                    folder, f"{stem}_{worker.node_slug(node['id'])}.ckpt")
            spec = worker.JobSpec.from_values(node, kind, values, nodes.STATE.io_options(), io_values, **fields)
        except BaseException:
            worker.remove_if_empty(folder)
            raise
        return spec, folder

    # ----- running ---------------------------------------------------------------------------
    def start(self) -> "HostJob":
        self._store(bpy.data.scenes[self.scene_name], "running")
        self.job.start()
        nodes.STATE.jobs[self.key] = self
        print(f"FilmAI: {self.spec.command_line(self.config)}")
        return self

    def wait(self) -> None:
        """Synchronous run with one log line per event (headless Blender has no event loop)."""
        def log(event):
            text = worker.describe_event(event)
            if text:
                print(f"FilmAI {self.node_id}: {text}", flush=True)

        self.job.wait(on_event=log)

    def finish(self) -> tuple[str, str]:
        """Bring results into Blender; returns (report level, message)."""
        nodes.STATE.jobs.pop(self.key, None)
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None:
            return "WARNING", f"{self.job.summary()} (scene {self.scene_name!r} is gone; files are on disk)"
        self._store(scene, self.job.state)
        if self.job.state == "failed":
            worker.remove_if_empty(self.folder)
            return "ERROR", self.job.summary()
        made = []
        if self.kind == "train":
            if self.job.state == "done" and hasattr(nodes.node_settings(scene, self.node_id), "model"):
                nodes.node_settings(scene, self.node_id).model = self.spec.out
                made.append(f"checkpoint {os.path.basename(self.spec.out)} set as the node's model")
        else:
            made += self._bring_back(scene)
            if self.job.state == "done" and self.after is not None:
                made.append(self.after(self, scene))
        level = "INFO" if self.job.state == "done" else "WARNING"
        return level, "; ".join([self.job.summary()] + [m for m in made if m])

    def _bring_back(self, scene) -> list[str]:
        pg = nodes.node_settings(scene, self.node_id)
        main = next((s for p, s in self.sources.items() if p != "target"), None)
        made = []
        timelines = json.loads(scene.filmai.timelines_json or "{}")
        for port in self.node["outputs"]:
            entry = self.job.outputs().get(port["name"])
            if not entry:
                continue
            if port["type"] == "Frames":
                pattern = entry["pattern"]
                if worker.is_sequence_pattern(pattern):
                    frames = sorted(set(worker.expand_frames(entry.get("frames_written", "")))
                                    | set(worker.expand_frames(entry.get("frames_skipped", ""))))
                else:
                    frames = [0] if entry.get("files") else []
                label = f"{main.label if main else 'result'} {self.node['label']}"
                made.append(data.bring_back(scene, pg.bring_back, pattern, frames, main, label))
            elif entry.get("files"):
                made.append(f"{port['name']}: {os.path.basename(entry['files'][0])}")
        found = worker.timeline_files(self.node, self.job.outputs())
        if "otio" in found:
            timelines[self.node_id] = {"path": found["otio"], "table": found.get("table", ""),
                                       "origin": main.origin if main else None, "strip": main.strip if main else ""}
        scene.filmai.timelines_json = json.dumps(timelines)
        return made

    def _store(self, scene, status: str) -> None:
        """The job as JSON in the scene (saved in the .blend): a farm rebuilds it without this session."""
        jobs = json.loads(scene.filmai.jobs_json or "{}")
        if not self.spec.frames and self.job.manifest and self.job.manifest.get("frames"):
            self.spec.frames = self.job.manifest["frames"]  # explicit from now on: a farm job needs the range
        jobs[self.key] = {"node": self.node_id, "kind": self.kind, "status": status, "spec": self.spec.to_json(),
                          "command": self.spec.command_line(self.config),
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "folder": self.folder}
        scene.filmai.jobs_json = json.dumps(jobs, indent=1)

