"""A node job started from Blender: built from the scene's settings, run by the worker client, and
brought back into Blender data when it ends.

One :class:`HostJob` serves both ways of running:

* interactive (the modal operators): :meth:`HostJob.tick`, called from a window timer, does one short
  step each time and never blocks: decode one movie frame, start the worker, poll it, start or poll the
  work after it (reading a timeline's cuts runs on a thread), and says when :meth:`finish` may bring the
  results in;
* synchronous (``execute``: scripts, headless Blender, farms, which have no event loop):
  :meth:`HostJob.run_to_end` does the same steps, waiting.

Only the main thread touches ``bpy``: the threads get paths and return plain data.
"""

import json
import os
import shutil
import time

import bpy

from . import animation, colour, data, nodes, prefs, worker


class SplitAtCuts:
    """Work after a timeline job: read its cuts (a ``filmai timeline cuts`` call: a thread) and split the
    strip at them (main thread). ``record``: what an earlier split of the same strip left in the scene,
    so the pieces it made are split further and the stored timeline stays whole."""

    def __init__(self, record: dict | None = None):
        self.record = record or {}

    def background(self, host_job: "HostJob"):
        found = worker.timeline_files(host_job.node, host_job.job.outputs())
        if "otio" not in found:
            return None
        return worker.timeline_cuts(host_job.config, found["otio"], found.get("table", ""))

    def apply(self, host_job: "HostJob", scene, summary) -> str:
        if summary is None:
            return "the node wrote no timeline"
        main = host_job.main_source()
        if main is None or not main.strip:
            return ""
        origin = main.origin if main.origin is not None else int(data.find_strip(scene, main.strip).frame_start)
        result = data.apply_cuts(scene, main.strip, summary, origin, self.record.get("pieces"))
        timelines = json.loads(scene.filmai.timelines_json or "{}")
        entry = timelines.get(host_job.node_id) or {}
        entry.update(pieces=result["pieces"], window=result["window"], strip=result["pieces"][0])
        timelines[host_job.node_id] = entry
        scene.filmai.timelines_json = json.dumps(timelines)
        text = f"{len(result['splits'])} splits, markers {', '.join(result['markers']) or 'none'}"
        if result["already"]:
            text += f"; already split at {', '.join(map(str, result['already']))}"
        if result["skipped"]:
            text += f"; cuts outside the strip: {', '.join(map(str, result['skipped']))}"
        return text


class HostJob:
    """``kind``: run or train. ``strip_override``: read the first Frames input from this VSE strip, over
    ``strip_window`` (scene frames first, end) instead of its visible range where given."""

    def __init__(self, scene, node_id: str, kind: str = "run", strip_override: str = "", after=None,
                 strip_window=None):
        self.scene_name = scene.name
        self.node = nodes.STATE.node(node_id)
        self.kind = kind
        self.after = after  # .background(host_job) on a thread, then .apply(host_job, scene, result)
        self.config, self.config_source = prefs.worker_config_and_source()
        self.report: list[tuple[str, str]] = [("INFO", f"FilmAI: nodes run {self.config.describe()} "
                                                       f"({self.config_source})")]
        self.sources: dict[str, data.Source] = {}
        self.spec, self.folder = self._build(scene, strip_override, strip_window)
        self.job = worker.Job(self.spec, self.config, needs_torch=bool(self.node.get("needs_torch")))
        self.decodes = [s.decode for s in self.sources.values() if s.decode is not None and not s.decode.done]
        self.phase = "staging"  # staging → running → after → finished
        self.after_task: worker.BackgroundTask | None = None
        self.cancelled_early = False
        nodes.STATE.jobs[self.key] = self

    @property
    def node_id(self) -> str:
        return self.node["id"]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.node_id}"

    def main_source(self) -> data.Source | None:
        return next((s for p, s in self.sources.items() if p != "target"), None)

    # ----- building the spec ---------------------------------------------------------------
    def _build(self, scene, strip_override: str, strip_window):
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
        root = data.abspath(pg.out_dir or prefs.output_root())
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
                window = strip_window if port is first_frames and strip_override else None
                resolved = data.resolve(scene, src, port, staging, frame_scope, window)
                self.sources[port["name"]] = resolved
                inputs[port["name"]] = resolved.pattern
                for note in resolved.notes:
                    self.report.append(("INFO", note))
            main_source = self.sources.get(first_frames["name"]) if first_frames else None
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
            frames, scene_frame = run_frames(main_source, fields.get("frames", "")) if kind == "run" else (None, None)
            notes: list = []
            values = animation.param_values(scene, pg, node, kind, frames, scene_frame, notes)
            self.report += notes
            if first_frames is not None:
                self._colour(io_values, ports)
            spec = worker.JobSpec.from_values(node, kind, values, nodes.STATE.io_options(), io_values, **fields)
        except BaseException:
            for source in self.sources.values():
                if source.decode is not None:
                    source.decode.close()
            worker.remove_if_empty(folder)
            raise
        return spec, folder

    def _colour(self, io_values: dict, ports: list) -> None:
        """The run's OCIO config (Blender's: ``$OCIO`` or the one it ships) and its input colourspace (what
        the inputs' pixels are in: the image's or strip's colourspace for files read as they are, the working
        space for pixels Blender wrote, Non-Color kept as data), unless the node's I/O settings name them.
        The engine reads every input of a run in one colourspace: inputs that disagree pass none (each
        file's own tag decides), and the report says so."""
        if not io_values.get("ocio_config"):
            io_values["ocio_config"] = colour.config_path()
        if io_values.get("input_colorspace"):
            return
        frames_ports = [p["name"] for p in ports if p["type"] == "Frames"] + ["target"]
        spaces = {name: self.sources[name].colorspace for name in frames_ports if name in self.sources}
        known = set(spaces.values())
        if len(known) == 1 and "" not in known:
            io_values["input_colorspace"] = known.pop()
            return
        if len(known - {""}) > 0:
            said = ", ".join(f"{name}: {cs or 'from its file'}" for name, cs in spaces.items())
            self.report.append(("WARNING", f"the inputs are in different colourspaces ({said}); a run reads all "
                                           "its inputs in one, so each file's own tag decides (else scene "
                                           "linear for EXR, sRGB for 8/16-bit). Set I/O > Input colorspace to "
                                           "name one"))

    def result_colorspace(self, entry: dict) -> str:
        """What an output's pixels are in: the manifest's record, else the output colourspace asked for,
        else the input's (the engine writes the input's when none is asked)."""
        io = self.spec.io
        return entry.get("colorspace") or io.get("output_colorspace") or io.get("input_colorspace") or ""

    # ----- running: one short step at a time (interactive) ---------------------------------
    def stage_step(self) -> bool:
        """Decode one frame of a movie input; True when every input is ready."""
        while self.decodes and self.decodes[0].done:
            self.decodes.pop(0)
        if not self.decodes:
            return True
        self.decodes[0].step()
        return False

    def start(self) -> "HostJob":
        """Start the worker (Popen or a thread: milliseconds). A worker that cannot start is a failed job:
        stored as such, its empty version folder removed, and the WorkerError raised for the report."""
        self._store(bpy.data.scenes[self.scene_name], "running")
        try:
            self.job.start()
        except worker.WorkerError as exc:
            self.phase = "finished"
            nodes.STATE.jobs.pop(self.key, None)
            scene = bpy.data.scenes.get(self.scene_name)
            if scene is not None:
                self._store(scene, "failed", error=str(exc))
            self._remove_staging()
            raise
        self.phase = "running"
        print(f"FilmAI: {self.spec.command_line(self.config)}")
        return self

    def tick(self) -> bool:
        """One timer tick (main thread, never blocks); True when :meth:`finish` may run."""
        if self.phase == "staging":
            if self.cancelled_early:
                self.phase = "finished"
            elif self.stage_step():
                self.start()
        elif self.phase == "running":
            self.job.poll()
            if self.job.done:
                if self.job.state == "done" and self.after is not None:
                    self.after_task = worker.BackgroundTask(self.after.background, self, name=f"filmai-after-{self.key}")
                    self.phase = "after"
                else:
                    self.phase = "finished"
        elif self.phase == "after" and self.after_task is not None and self.after_task.done:
            self.phase = "finished"
        return self.phase == "finished"

    @property
    def progress(self) -> float:
        if self.phase == "staging" and self.decodes:
            d = self.decodes[0]
            return 0.1 * (d.next - 1) / max(1, d.total)
        return self.job.progress

    @property
    def status(self) -> str:
        if self.phase == "staging" and self.decodes:
            d = self.decodes[0]
            return f"decoding {os.path.basename(d.movie)} frame {d.next}/{d.total}"
        if self.phase == "after":
            return "reading the timeline"
        return self.job.status

    def cancel(self) -> None:
        """Esc or the panel's cancel button: stop the worker (complete frames kept), or stop before it starts."""
        if self.phase == "staging":
            self.cancelled_early = True
        self.job.cancel()

    def abandon(self, why: str) -> None:
        """The scene this job belongs to is going away (another file loads): stop the worker, forget the
        job, say where the complete frames are. Touches no Blender data."""
        self.cancelled_early = self.phase == "staging"
        self.job.cancel()
        self.phase = "finished"
        nodes.STATE.jobs.pop(self.key, None)
        print(f"FilmAI: {self.node_id} {self.kind} cancelled: {why}; complete frames are kept in {self.folder}")

    # ----- running: synchronous (scripts, headless, farm) -----------------------------------
    def run_to_end(self) -> None:
        """Every step, waiting, with one log line per event (headless Blender has no event loop)."""
        def log(event):
            text = worker.describe_event(event)
            if text:
                print(f"FilmAI {self.node_id}: {text}", flush=True)

        try:
            while not self.stage_step():
                pass
        except BaseException:
            nodes.STATE.jobs.pop(self.key, None)
            self._remove_staging()
            raise
        self.start()
        self.job.wait(on_event=log)
        if self.job.state == "done" and self.after is not None:
            self.after_task = worker.BackgroundTask(self.after.background, self, name=f"filmai-after-{self.key}")
            try:
                self.after_task.wait()
            except Exception:  # noqa: BLE001 - kept in after_task.error and reported by finish()
                pass
        self.phase = "finished"

    # ----- results ---------------------------------------------------------------------------
    def finish(self) -> tuple[str, str]:
        """Bring results into Blender; returns (report level, message)."""
        nodes.STATE.jobs.pop(self.key, None)
        scene = bpy.data.scenes.get(self.scene_name)
        if self.job.state == "pending":  # cancelled while its movie was decoding: nothing ran
            self._remove_staging()
            if scene is not None:
                self._store(scene, "cancelled")
            return "WARNING", f"{self.node_id}: cancelled before the node started; nothing was written"
        if scene is None:
            return "WARNING", f"{self.job.summary()} (scene {self.scene_name!r} is gone; files are in {self.folder})"
        self._store(scene, self.job.state, error=self.job.error)
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
            made.append(worker.describe_handles(self.job.manifest))  # a temporal node's neighbouring frames
            if self.after_task is not None:
                if self.after_task.error is not None:
                    return "ERROR", f"{self.job.summary()}; {self.after_task.error}"
                made.append(self.after.apply(self, scene, self.after_task.result))
        level = "INFO" if self.job.state == "done" else "WARNING"
        return level, "; ".join([self.job.summary()] + [m for m in made if m])

    def _remove_staging(self) -> None:
        for source in self.sources.values():
            if source.decode is not None:
                source.decode.close()
        shutil.rmtree(os.path.join(self.folder, "_sources"), ignore_errors=True)
        worker.remove_if_empty(self.folder)

    def _bring_back(self, scene) -> list[str]:
        pg = nodes.node_settings(scene, self.node_id)
        main = self.main_source()
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
                notes: list[str] = []
                made.append(data.bring_back(scene, pg.bring_back, pattern, frames, main, label,
                                            self.result_colorspace(entry), notes))
                self.report += [("WARNING", note) for note in notes if note]
                if main is not None and main.is_sequence and frames and worker.is_sequence_pattern(pattern):
                    first, last = main.scene_frame(frames[0]), main.scene_frame(frames[-1])
                    if first < scene.frame_start or last > scene.frame_end:
                        self.report.append(("WARNING", f"results sit at scene frames {first}-{last}, outside the "
                                                       f"scene range {scene.frame_start}-{scene.frame_end}"))
            elif entry.get("files"):
                made.append(f"{port['name']}: {os.path.basename(entry['files'][0])}")
        found = worker.timeline_files(self.node, self.job.outputs())
        if "otio" in found:
            old = timelines.get(self.node_id) or {}
            timelines[self.node_id] = {"path": found["otio"], "table": found.get("table", ""),
                                       "origin": main.origin if main else None, "strip": main.strip if main else "",
                                       **({k: old[k] for k in ("pieces", "window") if k in old})}
        scene.filmai.timelines_json = json.dumps(timelines)
        return made

    def _store(self, scene, status: str, error: str = "") -> None:
        """The job as JSON in the scene (saved in the .blend): a farm rebuilds it without this session."""
        jobs = json.loads(scene.filmai.jobs_json or "{}")
        if not self.spec.frames and self.job.manifest and self.job.manifest.get("frames"):
            self.spec.frames = self.job.manifest["frames"]  # explicit from now on: a farm job needs the range
        jobs[self.key] = {"node": self.node_id, "kind": self.kind, "status": status, "spec": self.spec.to_json(),
                          "command": self.spec.command_line(self.config),
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "folder": self.folder}
        if error:
            jobs[self.key]["error"] = error
        scene.filmai.jobs_json = json.dumps(jobs, indent=1)


def run_frames(source: data.Source | None, spec: str) -> tuple[list[int], object]:
    """The frames a run makes (the first input's file frames) and where each shows in the scene: where an
    animated param's F-curve is sampled. A spec of "" means every frame of the sequence on disk; a single
    image or a movie read whole has no frames to sample (the value at the current frame is used)."""
    if source is None:  # nothing to read frames from (a generator): scene frames, as the spec says
        return worker.expand_frames(spec), None
    if not source.is_sequence:
        return [], None
    if spec:
        frames = worker.expand_frames(spec)
    else:
        frames = sorted(source.frame_map) if source.frame_map else (
            source.on_disk if source.on_disk is not None else data.frames_on_disk(source.pattern))
    return frames, source.scene_frame


def mark_interrupted_jobs() -> int:
    """After a file loads: jobs stored as running belong to a session that is gone; say so, and where."""
    live = set(nodes.STATE.jobs)
    count = 0
    for scene in bpy.data.scenes:
        group = getattr(scene, "filmai", None)
        if group is None or not group.jobs_json:
            continue
        try:
            stored = json.loads(group.jobs_json)
        except ValueError:
            continue
        changed = False
        for key, entry in stored.items():
            if entry.get("status") == "running" and key not in live:
                entry["status"] = "interrupted"
                entry["error"] = ("Blender closed or another file was loaded while it ran; complete frames are in "
                                  f"{entry.get('folder', '')} (Resume last version continues it)")
                changed = True
                count += 1
        if changed:
            group.jobs_json = json.dumps(stored, indent=1)
    return count
