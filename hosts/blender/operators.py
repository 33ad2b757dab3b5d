"""Operators: one run operator per node (and a train operator per trainable node), generated from the
schema, plus the shared ones (cancel, reload, VSE cuts, timeline export, training frames, farm job).

Interactive use is modal: the worker runs while a window timer polls it, the status bar shows its
progress and Esc cancels, so Blender never freezes. ``execute`` (headless Blender, farm wrappers,
scripts) runs the same job synchronously; background Blender has no event loop for timers.
"""

import json
import os

import bpy
from bpy.props import StringProperty

from . import data, jobs, nodes, prefs, worker

POLL_SECONDS = 0.1


def _report_all(op, host_job: jobs.HostJob, level: str, message: str) -> None:
    for lvl, text in host_job.report:
        op.report({lvl}, text)
    op.report({level}, message)


def _redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in ("SEQUENCE_EDITOR", "IMAGE_EDITOR", "NODE_EDITOR", "PREFERENCES"):
                area.tag_redraw()


class JobOperatorMixin:
    """Shared body of the generated run/train operators and the VSE cuts operator."""

    node_id = ""
    kind = "run"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and f"{cls.kind}:{cls.node_id}" not in nodes.STATE.jobs

    def make_job(self, context) -> jobs.HostJob:
        return jobs.HostJob(context.scene, self.node_id, self.kind)

    def _create(self, context):
        try:
            return self.make_job(context)
        except (data.SourceError, worker.WorkerError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def _create_and_start(self, context):
        """The job, started; None (after an error report) when it cannot be built or started."""
        host_job = self._create(context)
        if host_job is None:
            return None
        try:
            host_job.start()
        except worker.WorkerError as exc:
            nodes.STATE.jobs.pop(host_job.key, None)
            self.report({"ERROR"}, str(exc))
            return None
        return host_job

    def execute(self, context):
        host_job = self._create_and_start(context)
        if host_job is None:
            return {"CANCELLED"}
        host_job.wait()
        level, message = host_job.finish()
        _report_all(self, host_job, level, message)
        return {"FINISHED"} if host_job.job.state == "done" else {"CANCELLED"}

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        host_job = self._create_and_start(context)
        if host_job is None:
            return {"CANCELLED"}
        self._host_job = host_job
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        host_job = self._host_job
        if event.type == "ESC" and event.value == "PRESS":
            host_job.job.cancel()
            context.workspace.status_text_set(f"FilmAI {self.node_id}: cancelling (finishing frames being written)")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        host_job.job.poll()
        wm = context.window_manager
        wm.progress_update(int(host_job.job.progress * 1000))
        context.workspace.status_text_set(f"FilmAI {self.node_id}: {host_job.job.progress:.0%} "
                                          f"{host_job.job.status}  (Esc cancels)")
        _redraw(context)
        if not host_job.job.done:
            return {"PASS_THROUGH"}
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        level, message = host_job.finish()
        _report_all(self, host_job, level, message)
        _redraw(context)
        return {"FINISHED"} if host_job.job.state == "done" else {"CANCELLED"}


def node_operators(node: dict) -> list:
    """The generated operator classes of one node."""
    slug = worker.node_slug(node["id"])
    first_line = (node.get("help") or node["label"]).strip().splitlines()[0][:250]
    out = []
    for kind in ("run", "train") if node.get("trainable") else ("run",):
        verb = "Run" if kind == "run" else "Train"
        out.append(type(f"FILMAI_OT_{kind}_{slug}", (JobOperatorMixin, bpy.types.Operator), {
            "bl_idname": f"filmai.{kind}_{slug}", "bl_label": f"{verb} {node['label']}",
            "bl_description": first_line, "bl_options": {"REGISTER"}, "node_id": node["id"], "kind": kind}))
    return out


class FILMAI_OT_cancel(bpy.types.Operator):
    """Cancel a running FilmAI job: frames being written are finished, complete frames kept"""

    bl_idname = "filmai.cancel"
    bl_label = "Cancel"
    key: StringProperty(options={"HIDDEN"})

    def execute(self, context):
        host_job = nodes.STATE.jobs.get(self.key)
        if host_job is None:
            self.report({"WARNING"}, f"no running job {self.key}")
            return {"CANCELLED"}
        host_job.job.cancel()
        return {"FINISHED"}


class FILMAI_OT_reload_nodes(bpy.types.Operator):
    """Ask the worker for its nodes again and rebuild the FilmAI panels (after installing a node pack or
    changing the worker settings)"""

    bl_idname = "filmai.reload_nodes"
    bl_label = "Reload nodes"

    def execute(self, context):
        if nodes.STATE.jobs:
            self.report({"ERROR"}, "wait for the running FilmAI jobs to finish")
            return {"CANCELLED"}
        nodes.unregister_generated()
        nodes.load_schema(refresh=True)
        nodes.register_generated()
        if nodes.STATE.error:
            self.report({"ERROR"}, nodes.STATE.error)
            return {"CANCELLED"}
        self.report({"INFO"}, nodes.STATE.status_line())
        return {"FINISHED"}


class FILMAI_OT_add_training_frame(bpy.types.Operator):
    """Add the current frame (in the input's own numbering) to the training frames"""

    bl_idname = "filmai.add_training_frame"
    bl_label = "Add current frame"
    node: StringProperty(options={"HIDDEN"})

    def execute(self, context):
        scene = context.scene
        pg = nodes.node_settings(scene, self.node)
        node = nodes.STATE.node(self.node)
        port = next((p for p in node["inputs"] if p["type"] == "Frames"), None)
        frame = scene.frame_current
        if port is not None:
            src = getattr(pg, f"in_{port['name']}")
            if src.kind == "STRIP" and src.strip:
                strip = data.find_strip(scene, src.strip)
                if strip.type == "IMAGE":
                    elem = strip.strip_elem_from_frame(frame)
                    if elem is None:
                        self.report({"ERROR"}, f"strip {strip.name!r} shows no image at frame {frame}")
                        return {"CANCELLED"}
                    frame = worker.pattern_from_file(elem.filename)[1]
                else:
                    frame = frame - int(strip.frame_start) + 1
        frames = worker.expand_frames(pg.pair_frames) if pg.pair_frames.strip() else []
        if frame not in frames:
            frames.append(frame)
        pg.pair_frames = ",".join(str(f) for f in sorted(frames))
        return {"FINISHED"}


class FILMAI_OT_vse_split_at_cuts(JobOperatorMixin, bpy.types.Operator):
    """Detect the cuts of the active strip, split it at each one and add a marker named with the cut's
    confidence (any node reading frames and writing a timeline works; lstm.cuts by default)"""

    bl_idname = "filmai.vse_split_at_cuts"
    bl_label = "Split strip at cuts"
    node: StringProperty(default="lstm.cuts")

    @classmethod
    def poll(cls, context):
        se = context.scene.sequence_editor if context.scene else None
        return se is not None and se.active_strip is not None and se.active_strip.type in ("IMAGE", "MOVIE")

    def make_job(self, context):
        self.node_id = self.node
        strip = context.scene.sequence_editor.active_strip
        return jobs.HostJob(context.scene, self.node, "run", strip_override=strip.name, after=_split_after_job)


def _split_after_job(host_job: jobs.HostJob, scene) -> str:
    info = json.loads(scene.filmai.timelines_json or "{}").get(host_job.node_id)
    if not info:
        return "the node wrote no timeline"
    result = apply_timeline(scene, info["strip"], info["path"], info["origin"], host_job.config, info.get("table", ""))
    return f"{len(result['splits'])} splits, markers {', '.join(result['markers']) or 'none'}"


def apply_timeline(scene, strip_name: str, path: str, origin: int | None, config: worker.WorkerConfig,
                   table: str = "") -> dict:
    summary = worker.timeline_cuts(config, path, table)
    if origin is None:
        origin = int(data.find_strip(scene, strip_name).frame_start)
    return data.apply_cuts(scene, strip_name, summary, origin)


class FILMAI_OT_vse_apply_timeline(bpy.types.Operator):
    """Split the active strip at the cuts of an OTIO timeline and mark them (a timeline from lstm.cuts, an
    editor or another tool; offset 0 is the strip's first frame)"""

    bl_idname = "filmai.vse_apply_timeline"
    bl_label = "Apply cuts from timeline"
    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.otio;*.edl", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        se = context.scene.sequence_editor if context.scene else None
        return se is not None and se.active_strip is not None

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        strip = context.scene.sequence_editor.active_strip
        try:
            result = apply_timeline(context.scene, strip.name, data.abspath(self.filepath),
                                    int(strip.frame_final_start), prefs.worker_config(context))
        except (worker.WorkerError, data.SourceError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{len(result['splits'])} splits at {result['splits']}")
        return {"FINISHED"}


class FILMAI_OT_export_timeline(bpy.types.Operator):
    """Export the node's last timeline as an EDL (CMX 3600), OTIO or CSV"""

    bl_idname = "filmai.export_timeline"
    bl_label = "Export timeline"
    node: StringProperty(options={"HIDDEN"})
    filepath: StringProperty(subtype="FILE_PATH")
    check_existing: bpy.props.BoolProperty(default=True, options={"HIDDEN"})
    filter_glob: StringProperty(default="*.edl;*.otio;*.csv", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(getattr(context.scene, "filmai", None))

    def invoke(self, context, event):
        info = json.loads(context.scene.filmai.timelines_json or "{}").get(self.node)
        if info and not self.filepath:
            self.filepath = os.path.splitext(info["path"])[0] + ".edl"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        info = json.loads(context.scene.filmai.timelines_json or "{}").get(self.node)
        if not info:
            self.report({"ERROR"}, f"{self.node} has not written a timeline in this scene yet")
            return {"CANCELLED"}
        target = data.abspath(self.filepath)
        try:
            # the file browser already asked before replacing a file; a script must name a new one
            worker.timeline_convert(prefs.worker_config(context), info["path"], target,
                                    rate=context.scene.render.fps / context.scene.render.fps_base,
                                    overwrite=not bpy.app.background)
        except worker.WorkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {target}")
        return {"FINISHED"}


class FILMAI_OT_write_farm_job(bpy.types.Operator):
    """Write a farm job bundle (Open Job Description template and parameter values, by filmai farm template)
    repeating the node's last run, for Deadline Cloud or `openjd run`"""

    bl_idname = "filmai.write_farm_job"
    bl_label = "Write farm job"
    node: StringProperty(options={"HIDDEN"})
    directory: StringProperty(subtype="DIR_PATH")
    chunk: bpy.props.IntProperty(name="Frames per task", default=10, min=1)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        stored = json.loads(context.scene.filmai.jobs_json or "{}").get(f"run:{self.node}")
        if not stored:
            self.report({"ERROR"}, f"run {self.node} once first: the farm job repeats its last run")
            return {"CANCELLED"}
        spec = worker.JobSpec.from_json(stored["spec"])
        try:
            path = worker.farm_template(prefs.worker_config(context), spec, data.abspath(self.directory), self.chunk)
        except worker.WorkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


CLASSES = (FILMAI_OT_cancel, FILMAI_OT_reload_nodes, FILMAI_OT_add_training_frame, FILMAI_OT_vse_split_at_cuts,
           FILMAI_OT_vse_apply_timeline, FILMAI_OT_export_timeline, FILMAI_OT_write_farm_job)
