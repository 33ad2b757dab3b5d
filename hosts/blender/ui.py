"""Panels: a FilmAI tab in the Video Sequencer, Image Editor and Compositor sidebars, with one panel per
node drawn from its schema (inputs, frames, params, model, I/O options, output, training)."""

import json

import bpy

from . import nodes, worker

SPACES = (("SEQUENCE_EDITOR", "vse"), ("IMAGE_EDITOR", "image"), ("NODE_EDITOR", "comp"))


def _draw_source(layout, context, src, port: dict, label: str) -> None:
    box = layout.box()
    box.label(text=label, icon="IMAGE_DATA" if port["type"] == "Frames" else "FILE")
    if port["type"] != "Frames":
        box.prop(src, "path", text="")
        return
    box.row().prop(src, "kind", expand=True)
    if src.kind == "IMAGE":
        box.template_ID(src, "image", open="image.open")
        if src.image is not None and src.image.source in ("SEQUENCE", "MOVIE"):
            _draw_placement(box, src)
    elif src.kind == "STRIP":
        se = context.scene.sequence_editor
        if se is None:
            box.label(text="The scene has no Video Sequencer strips")
        else:
            box.prop_search(src, "strip", se, "strips_all", text="")
    elif src.kind == "RENDER":
        box.label(text=context.scene.render.filepath or "(no output path)")
    else:
        box.prop(src, "path", text="")
        if worker.is_sequence_pattern(src.path) or src.path[-8:-4].isdigit():
            _draw_placement(box, src)


def _draw_placement(layout, src) -> None:
    """Where a sequence's frames sit in the scene (Blender's Image node: Start Frame and Offset)."""
    layout.prop(src, "placement", text="")
    if src.placement == "OFFSET":
        row = layout.row(align=True)
        row.prop(src, "frame_start")
        row.prop(src, "frame_offset")


def _draw_params(layout, pg, params: list[dict]) -> None:
    for p in params:
        if p.get("animatable"):  # the keyframe button: the F-curve becomes the job's keys (animation.py)
            row = layout.row(align=True)
            row.prop(pg, f"p_{p['name']}")
            row.prop_decorator(pg, f"p_{p['name']}")
        else:
            layout.prop(pg, f"p_{p['name']}")


def draw_node(panel, context, node: dict, space: str) -> None:
    layout = panel.layout
    layout.use_property_split = False
    scene = context.scene
    pg = nodes.node_settings(scene, node["id"])
    slug = worker.node_slug(node["id"])
    for port in node["inputs"]:
        if nodes.training_only(node, port):
            continue  # drawn in the Training section
        _draw_source(layout, context, getattr(pg, f"in_{port['name']}"), port,
                     f"{port['name']}{' (optional)' if port.get('optional') else ''}: {port.get('help', '')}")
    row = layout.row(align=True)
    row.prop(pg, "frame_mode", text="")
    if pg.frame_mode == "CUSTOM":
        row.prop(pg, "frames", text="")
    if node.get("model", "none") != "none":
        layout.prop(pg, "model")
    _draw_params(layout.column(), pg, worker.params_for(node, "run"))
    if any(p["type"] == "Frames" for p in node["inputs"]) and nodes.STATE.io_options():
        header, body = layout.panel(f"filmai_io_{slug}_{space}", default_closed=True)
        header.label(text="Input / output options")
        if body is not None:
            for p in nodes.STATE.io_options():
                body.prop(pg, f"io_{p['name']}")
    col = layout.column()
    col.prop(pg, "out_dir")
    if any(p["type"] == "Frames" for p in node["outputs"]):
        col.row().prop(pg, "bring_back", expand=True)
    col.prop(pg, "skip_existing", text="Resume last version")
    _draw_job_row(layout, f"run:{node['id']}", f"filmai.run_{slug}", "PLAY")
    if any(p["type"] == "Timeline" for p in node["outputs"]):
        row = layout.row(align=True)
        if space == "vse" and any(p["type"] == "Frames" for p in node["inputs"]):
            row.operator("filmai.vse_split_at_cuts", icon="SCULPTMODE_HLT").node = node["id"]
        row.operator("filmai.export_timeline", icon="EXPORT").node = node["id"]
    if node.get("trainable"):
        header, body = layout.panel(f"filmai_train_{slug}_{space}", default_closed=True)
        header.label(text="Training")
        if body is not None:
            target = pg.in_target if nodes.has_target_port(node) else pg.target
            _draw_source(body, context, target, {"type": "Frames", "name": "target"},
                         "target: what the input should become")
            row = body.row(align=True)
            row.prop(pg, "pair_frames")
            row.operator("filmai.add_training_frame", text="", icon="ADD").node = node["id"]
            _draw_params(body.column(), pg, worker.params_for(node, "train"))
            body.prop(pg, "checkpoint")
            if hasattr(pg, "model"):
                body.prop(pg, "train_from_model")
            _draw_job_row(body, f"train:{node['id']}", f"filmai.train_{slug}", "EXPERIMENTAL")
    stored = json.loads(scene.filmai.jobs_json or "{}").get(f"run:{node['id']}")
    if stored:
        layout.label(text=f"last run: {stored['status']}  {stored['folder']}",
                     icon="ERROR" if stored["status"] in ("failed", "interrupted") else "INFO")
        if stored.get("error"):
            layout.label(text=stored["error"][:120])
    if any(p["type"] == "Frames" for p in node["outputs"]):
        layout.operator("filmai.write_farm_job", icon="NETWORK_DRIVE").node = node["id"]


def _draw_job_row(layout, key: str, op_idname: str, icon: str) -> None:
    host_job = nodes.STATE.jobs.get(key)
    row = layout.row(align=True)
    if host_job is None:
        row.scale_y = 1.3
        row.operator(op_idname, icon=icon)
        return
    row.progress(factor=host_job.progress, text=host_job.status[:60] or "starting")
    row.operator("filmai.cancel", text="", icon="CANCEL").key = key


class _SpacePoll:
    bl_region_type = "UI"
    bl_category = "FilmAI"

    @classmethod
    def poll(cls, context):
        if context.space_data.type == "NODE_EDITOR":
            return context.space_data.tree_type == "CompositorNodeTree"
        return True


class _NodePanel:
    filmai_node = ""
    filmai_space = ""

    def draw(self, context):
        draw_node(self, context, nodes.STATE.node(self.filmai_node), self.filmai_space)


def _draw_main(panel, context):
    layout = panel.layout
    layout.label(text=nodes.STATE.status_line(), icon="ERROR" if nodes.STATE.error else "NODETREE")
    if nodes.STATE.error:
        layout.label(text="Set the worker Python in the add-on preferences, then reload")
    layout.operator("filmai.reload_nodes", icon="FILE_REFRESH")
    for key, host_job in nodes.STATE.jobs.items():
        row = layout.row(align=True)
        row.progress(factor=host_job.progress, text=f"{key}: {host_job.status[:40]}")
        row.operator("filmai.cancel", text="", icon="CANCEL").key = key


def panels(node_list: list[dict]) -> list:
    """A parent panel per editor and one child panel per node."""
    out = []
    for space_type, space in SPACES:
        parent = f"FILMAI_PT_{space}"
        out.append(type(parent, (_SpacePoll, bpy.types.Panel), {
            "bl_idname": parent, "bl_space_type": space_type, "bl_label": "FilmAI", "draw": _draw_main}))
        for node in sorted(node_list, key=lambda n: (n["family"], n["id"])):
            slug = worker.node_slug(node["id"])
            out.append(type(f"FILMAI_PT_{space}_{slug}", (_SpacePoll, _NodePanel, bpy.types.Panel), {
                "bl_idname": f"FILMAI_PT_{space}_{slug}", "bl_space_type": space_type, "bl_parent_id": parent,
                "bl_label": f"{node['label']}", "bl_options": {"DEFAULT_CLOSED"},
                "filmai_node": node["id"], "filmai_space": space,
                "bl_description": (node.get("help") or "").strip().splitlines()[0][:200] if node.get("help") else ""}))
    return out
