"""Operators: one run operator per node (and a train operator per trainable node), generated from the
schema, plus the shared ones (cancel, reload, VSE cuts, timeline export, training frames, farm job).

Interactive use is modal: the worker runs while a window timer polls it, the status bar shows its
progress and Esc cancels, so Blender never freezes. ``execute`` (headless Blender, farm wrappers,
scripts) runs the same job synchronously; background Blender has no event loop for timers.
"""

import json
import os

import bpy
from bpy.props import BoolProperty, StringProperty

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
        nodes.apply_pending_reload()
        try:
            return self.make_job(context)
        except (data.SourceError, worker.WorkerError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def execute(self, context):
        host_job = self._create(context)
        if host_job is None:
            return {"CANCELLED"}
        try:
            host_job.run_to_end()
        except (worker.WorkerError, data.SourceError) as exc:
            _report_all(self, host_job, "ERROR", str(exc))
            return {"CANCELLED"}
        level, message = host_job.finish()
        _report_all(self, host_job, level, message)
        return {"FINISHED"} if host_job.job.state == "done" else {"CANCELLED"}

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        host_job = self._create(context)
        if host_job is None:
            return {"CANCELLED"}
        self._host_job = host_job
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        return {"RUNNING_MODAL"}

    def _end_ui(self, context) -> None:
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def modal(self, context, event):
        host_job = self._host_job
        if event.type == "ESC" and event.value == "PRESS":
            host_job.cancel()
            context.workspace.status_text_set(f"FilmAI {self.node_id}: cancelling (finishing frames being written)")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            finished = host_job.tick()  # one short step: never blocks the UI
        except Exception as exc:  # noqa: BLE001 - any failure ends the job with a report, never an orphan
            if host_job.phase != "finished":
                host_job.abandon(f"it failed: {exc}")
            nodes.STATE.jobs.pop(host_job.key, None)
            self._end_ui(context)
            _report_all(self, host_job, "ERROR", str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        wm.progress_update(int(host_job.progress * 1000))
        context.workspace.status_text_set(f"FilmAI {self.node_id}: {host_job.progress:.0%} "
                                          f"{host_job.status}  (Esc cancels)")
        _redraw(context)
        if not finished:
            return {"PASS_THROUGH"}
        self._end_ui(context)
        try:
            level, message = host_job.finish()
        except Exception as exc:  # noqa: BLE001 - the files are on disk; say where
            nodes.STATE.jobs.pop(host_job.key, None)
            level, message = "ERROR", f"{host_job.job.summary()}; bringing the results in failed ({exc}); " \
                                      f"they are in {host_job.folder}"
        _report_all(self, host_job, level, message)
        _redraw(context)
        return {"FINISHED"} if host_job.job.state == "done" else {"CANCELLED"}

    def cancel(self, context):
        """Blender ends the modal operator (another file loads, the window closes): stop the job with it."""
        host_job = getattr(self, "_host_job", None)
        if host_job is not None and host_job.phase != "finished":
            host_job.abandon("the operator was ended (a file was loaded or the window closed)")
        try:
            self._end_ui(context)
        except (AttributeError, RuntimeError, ReferenceError):
            pass


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
        host_job.cancel()
        return {"FINISHED"}


class FILMAI_OT_reload_nodes(bpy.types.Operator):
    """Ask the worker for its nodes again and rebuild the FilmAI panels (after installing a node pack or
    changing the worker settings). The worker is asked on a background thread; the panels are rebuilt
    when it answers"""

    bl_idname = "filmai.reload_nodes"
    bl_label = "Reload nodes"
    wait: BoolProperty(name="Wait", default=False, options={"SKIP_SAVE"},
                       description="Wait for the worker's answer (scripts; the UI never waits)")

    def execute(self, context):
        if nodes.STATE.jobs:
            self.report({"ERROR"}, "wait for the running FilmAI jobs to finish")
            return {"CANCELLED"}
        started = nodes.start_reload()
        if self.wait:
            try:
                nodes.STATE.reload.wait()
            except Exception:  # noqa: BLE001 - reported below from the task
                pass
            nodes.reload_tick()
            if nodes.STATE.error:
                self.report({"ERROR"}, nodes.STATE.error)
                return {"CANCELLED"}
            self.report({"INFO"}, nodes.STATE.status_line())
            return {"FINISHED"}
        self.report({"INFO"}, "FilmAI: asking the worker for its nodes; the panels update when it answers"
                    if started else "FilmAI: a reload is already under way")
        return {"FINISHED"}


class FILMAI_OT_notify(bpy.types.Operator):
    """Report a FilmAI message in the Info log and the status bar (used when background work ends)"""

    bl_idname = "filmai.notify"
    bl_label = "FilmAI message"
    bl_options = {"INTERNAL"}
    level: StringProperty(default="INFO", options={"HIDDEN", "SKIP_SAVE"})
    message: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context):
        self.report({self.level if self.level in ("INFO", "WARNING", "ERROR") else "INFO"}, self.message)
        return {"FINISHED"}


class FILMAI_OT_add_training_frame(bpy.types.Operator):
    """Add the current frame to the training frames, as the input's own frame number (a 1001 plate
    placed at scene frame 1 stores 1002 at scene frame 2)"""

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
            try:
                frame = data.file_frame_at(scene, getattr(pg, f"in_{port['name']}"), port, frame)
            except data.SourceError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
        frames = worker.expand_frames(pg.pair_frames) if pg.pair_frames.strip() else []
        if frame not in frames:
            frames.append(frame)
        pg.pair_frames = ",".join(str(f) for f in sorted(frames))
        self.report({"INFO"}, f"training frame {frame} (scene frame {scene.frame_current})")
        return {"FINISHED"}


class FILMAI_OT_vse_split_at_cuts(JobOperatorMixin, bpy.types.Operator):
    """Detect the cuts of the active strip, split it at each one and add a marker named with the cut's
    confidence (any node reading frames and writing a timeline works; lstm.cuts by default). On a piece
    of a strip split before, the whole original strip is analysed again and only new cuts are added"""

    bl_idname = "filmai.vse_split_at_cuts"
    bl_label = "Split strip at cuts"
    node: StringProperty(default="lstm.cuts")

    @classmethod
    def poll(cls, context):
        se = context.scene.sequence_editor if context.scene else None
        return se is not None and se.active_strip is not None and se.active_strip.type in ("IMAGE", "MOVIE")

    def make_job(self, context):
        self.node_id = self.node
        return split_job(context.scene, self.node, context.scene.sequence_editor.active_strip)


def split_job(scene, node_id: str, strip) -> jobs.HostJob:
    """The job behind Split strip at cuts: ``node_id`` over ``strip``, splitting it when it has run. On a
    piece of an earlier split, the whole original range is read again and only new cuts are added."""
    if f"run:{node_id}" in nodes.STATE.jobs:
        raise worker.WorkerError(f"{node_id} is already running")
    record = earlier_split(scene, node_id, strip)
    window = tuple(record["window"]) if record else None
    host_job = jobs.HostJob(scene, node_id, "run", strip_override=strip.name, after=jobs.SplitAtCuts(record),
                            strip_window=window)
    if record:
        host_job.report.append(("INFO", f"strip {strip.name!r} is a piece of a strip split at cuts before: the "
                                        f"whole range {window[0]}-{window[1] - 1} is analysed again"))
    return host_job


def earlier_split(scene, node_id: str, strip) -> dict | None:
    """The record of an earlier split (by this node) that made ``strip`` one of its pieces."""
    record = json.loads(scene.filmai.timelines_json or "{}").get(node_id)
    if not record or strip.name not in record.get("pieces", []) or not record.get("window"):
        return None
    return record


def apply_timeline(scene, strip_name: str, summary: dict, origin: int | None) -> dict:
    if origin is None:
        origin = int(data.find_strip(scene, strip_name).frame_start)
    return data.apply_cuts(scene, strip_name, summary, origin)


_TOOLS: list = []  # (BackgroundTask, on_done(task) -> (level, message)) polled by tools_tick


def start_tool(task: worker.BackgroundTask, on_done) -> None:
    """A worker tool call (export, farm job, reading cuts) running on a thread; ``on_done(task)`` runs on
    the main thread from :func:`tools_tick` and returns the (level, message) to report."""
    _TOOLS.append((task, on_done))
    if not bpy.app.timers.is_registered(tools_tick):
        bpy.app.timers.register(tools_tick, first_interval=POLL_SECONDS)


def tools_tick():
    """Timer callback (main thread): report the tool calls that have ended; None when none is left."""
    for item in [t for t in _TOOLS if t[0].done]:
        _TOOLS.remove(item)
        task, on_done = item
        try:
            level, message = on_done(task)
        except Exception as exc:  # noqa: BLE001 - a report, never a traceback in the console only
            level, message = "ERROR", f"FilmAI: {exc}"
        nodes.notify(level, message)
    return POLL_SECONDS if _TOOLS else None


def run_tool(op, task: worker.BackgroundTask, on_done, started: str = "") -> set:
    """An operator's worker tool call: on a thread when the operator runs from the UI (``op.background``,
    reported by :func:`tools_tick`), else waited for here (scripts) and reported at once."""
    if op.background:
        start_tool(task, on_done)
        if started:
            op.report({"INFO"}, started)
        return {"FINISHED"}
    try:
        task.wait()
    except (worker.WorkerError, ValueError):
        pass  # task.error holds it; on_done reports it
    try:
        level, message = on_done(task)
    except (data.SourceError, ValueError) as exc:
        level, message = "ERROR", str(exc)
    op.report({level}, message)
    return {"FINISHED"} if level != "ERROR" else {"CANCELLED"}


class FILMAI_OT_vse_apply_timeline(bpy.types.Operator):
    """Split the active strip at the cuts of an OTIO timeline and mark them (a timeline from lstm.cuts, an
    editor or another tool; offset 0 is the strip's first frame)"""

    bl_idname = "filmai.vse_apply_timeline"
    bl_label = "Apply cuts from timeline"
    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.otio;*.edl", options={"HIDDEN"})
    background: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"},
                             description="Read the timeline on a thread and split when it is read (the UI)")

    @classmethod
    def poll(cls, context):
        se = context.scene.sequence_editor if context.scene else None
        return se is not None and se.active_strip is not None

    def invoke(self, context, event):
        self.background = not bpy.app.background
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        scene = context.scene
        strip = scene.sequence_editor.active_strip
        name, scene_name, origin = strip.name, scene.name, int(strip.frame_final_start)
        task = worker.BackgroundTask(worker.timeline_cuts, prefs.worker_config(context), data.abspath(self.filepath),
                                     name="filmai-timeline-cuts")

        def on_done(task):
            if task.error is not None:
                return "ERROR", str(task.error)
            target = bpy.data.scenes.get(scene_name)
            if target is None:
                return "WARNING", f"scene {scene_name!r} is gone; nothing split"
            result = apply_timeline(target, name, task.result, origin)
            return "INFO", f"{len(result['splits'])} splits at {result['splits']}"

        return run_tool(self, task, on_done)


class FILMAI_OT_export_timeline(bpy.types.Operator):
    """Export the node's last timeline as an EDL (CMX 3600), OTIO or CSV"""

    bl_idname = "filmai.export_timeline"
    bl_label = "Export timeline"
    node: StringProperty(options={"HIDDEN"})
    filepath: StringProperty(subtype="FILE_PATH")
    check_existing: BoolProperty(default=True, options={"HIDDEN"})
    filter_glob: StringProperty(default="*.edl;*.otio;*.csv", options={"HIDDEN"})
    background: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"},
                              description="Write on a thread and report when written (the UI)")

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(getattr(context.scene, "filmai", None))

    def invoke(self, context, event):
        info = json.loads(context.scene.filmai.timelines_json or "{}").get(self.node)
        if info and not self.filepath:
            self.filepath = os.path.splitext(info["path"])[0] + ".edl"
        self.background = True
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        info = json.loads(context.scene.filmai.timelines_json or "{}").get(self.node)
        if not info:
            self.report({"ERROR"}, f"{self.node} has not written a timeline in this scene yet")
            return {"CANCELLED"}
        target = data.abspath(self.filepath)
        # the file browser already asked before replacing a file; a script must name a new one
        task = worker.BackgroundTask(worker.timeline_convert, prefs.worker_config(context), info["path"], target,
                                     rate=context.scene.render.fps / context.scene.render.fps_base,
                                     overwrite=self.background, name="filmai-export-timeline")

        def on_done(task):
            return ("ERROR", str(task.error)) if task.error is not None else ("INFO", f"wrote {target}")

        return run_tool(self, task, on_done, f"writing {target}")


class FILMAI_OT_write_farm_job(bpy.types.Operator):
    """Write a farm job bundle (Open Job Description template and parameter values, by filmai farm template)
    repeating the node's last run, for Deadline Cloud or `openjd run`"""

    bl_idname = "filmai.write_farm_job"
    bl_label = "Write farm job"
    node: StringProperty(options={"HIDDEN"})
    directory: StringProperty(subtype="DIR_PATH")
    chunk: bpy.props.IntProperty(name="Frames per task", default=10, min=1, soft_max=100)
    background: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"},
                             description="Write on a thread and report when written (the UI)")

    def invoke(self, context, event):
        self.background = True
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        stored = json.loads(context.scene.filmai.jobs_json or "{}").get(f"run:{self.node}")
        if not stored:
            self.report({"ERROR"}, f"run {self.node} once first: the farm job repeats its last run")
            return {"CANCELLED"}
        spec = worker.JobSpec.from_json(stored["spec"])
        bundle = data.abspath(self.directory)
        task = worker.BackgroundTask(worker.farm_template, prefs.worker_config(context), spec, bundle, self.chunk,
                                     name="filmai-farm-job")

        def on_done(task):
            return ("ERROR", str(task.error)) if task.error is not None else ("INFO", f"wrote {task.result}")

        return run_tool(self, task, on_done, f"writing the farm job {bundle}")


CLASSES = (FILMAI_OT_cancel, FILMAI_OT_reload_nodes, FILMAI_OT_notify, FILMAI_OT_add_training_frame,
           FILMAI_OT_vse_split_at_cuts, FILMAI_OT_vse_apply_timeline, FILMAI_OT_export_timeline,
           FILMAI_OT_write_farm_job)
