"""``filmai farm template`` (an Open Job Description template or Deadline Cloud bundle) and
``filmai farm run`` (the same chunks locally or on a Dask cluster)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import threading


def _job(args: argparse.Namespace):
    from ..cliargs import io_values, parse_ports, parse_sets
    from .template import make_job

    cls = args.app.get(args.node)
    return make_job(
        args.node, inputs=parse_ports(args.input, [p.name for p in cls.inputs]),
        outputs=parse_ports(args.output, [p.name for p in cls.outputs]), frames=args.frames, chunk=args.chunk,
        params=parse_sets(args.sets), model=args.model, io=io_values(args), train=args.train, target=args.target,
        train_params=parse_sets(args.train_sets), publish_root=args.publish_root, project=args.project,
        shot=args.shot, task=args.task, publish_name=args.name, command=args.command or "filmai", gpus=args.gpus,
        colorspace=args.colorspace, handles=args.handles, conda_packages=getattr(args, "conda_packages", None),
        rez_packages=getattr(args, "rez_packages", None), app=args.app)


def _guard_template(job, args: argparse.Namespace) -> None:
    """The files a template command writes (the template, its values, a bundle folder) are never the job's
    own inputs, frames or model."""
    from ..guard import OutputGuard, port_label

    guard = OutputGuard("filmai farm template")
    for name, pattern in job.inputs.items():
        guard.read_sequence(pattern, port_label("input", name), job.frames)
    if job.target:
        guard.read_sequence(job.target, "the target", job.train_frames)
    if job.model and os.path.isfile(job.model):
        guard.read(job.model, "the model")
    for name, pattern in job.outputs.items():
        guard.read_sequence(pattern, port_label("output", name), job.frames)  # the render's, not the template's
    if args.save:
        guard.write(args.save, "the template (--save)")
    if args.values:
        guard.write(args.values, "the parameter values (--values)")
    if args.bundle:
        guard.write_folder(args.bundle, "the job bundle (--bundle)")
    guard.check()


def cmd_template(args: argparse.Namespace) -> int:
    from .template import build_template, openjd_run_hint, to_yaml, write_bundle, write_template, write_values

    job = _job(args)
    _guard_template(job, args)
    if args.bundle:
        if args.save or args.values:
            from ..errors import BadInput

            raise BadInput("--bundle writes template.yaml and parameter_values.yaml itself (no --save/--values)")
        template, values = build_template(job, args.bundle)
        for path in write_bundle(args.bundle, template, values):
            print(path)
        print(f"submit with: deadline bundle submit {args.bundle}", file=sys.stderr)
        return 0
    # Relative PATH defaults only where the template's folder is known (--save); printed, every path is a value.
    template, values = build_template(job, os.path.dirname(os.path.abspath(args.save)) if args.save else None)
    where = "TEMPLATE"
    if args.save:
        where = write_template(args.save, template)
        print(where)
    else:
        sys.stdout.write(to_yaml(template))
    if args.values:
        path = write_values(args.values, values)
        print(f"run locally with: openjd run {shlex.quote(where)} -p {shlex.quote('file://' + os.path.abspath(path))}",
              file=sys.stderr)
    else:
        print(f"run locally with: {openjd_run_hint(where, values, template)}", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from . import run_job

    job = _job(args)

    def show(result) -> None:
        if not args.json:
            tries = f" ({len(result.attempts)} attempts)" if len(result.attempts) > 1 else ""
            print(f"{result.status:<9} {result.key}{tries}", flush=True)

    options = {"workers": args.workers}
    if args.engine == "dask":
        options["scheduler"] = args.scheduler
    elif args.scheduler:
        from ..errors import BadInput

        raise BadInput("--scheduler is for --engine dask")
    with _cancel_on_signals() as cancelled:
        result = run_job(job, engine=args.engine, retries=args.retries, log_dir=args.log_dir, on_result=show,
                         **options)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(result.format())
    if cancelled:
        return 130
    return 0 if result.ok else 1


@contextlib.contextmanager
def _cancel_on_signals():
    """SIGINT/SIGTERM: stop starting tasks and pass SIGTERM to the running ones (they finish the frames
    being written and exit); a second signal kills them. Yields a list that is non-empty once cancelled."""
    from .engines import cancel_running, reset_cancel

    hits: list[int] = []

    def handler(signum, frame):
        hits.append(signum)
        n = cancel_running(signal.SIGTERM if len(hits) == 1 else signal.SIGKILL)
        print(f"filmai farm: {'stopping' if len(hits) == 1 else 'killing'} {n} running task(s)", file=sys.stderr)

    if threading.current_thread() is not threading.main_thread():
        yield hits
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    reset_cancel()
    try:
        yield hits
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        reset_cancel()


def _job_args(p: argparse.ArgumentParser) -> None:
    from ..cliargs import add_io_args

    p.add_argument("node", help="node id, e.g. cnn.copycat")
    p.add_argument("--input", "-i", action="append", metavar="PATTERN",
                   help="input sequence (PORT=PATTERN for other ports)")
    p.add_argument("--output", "-o", action="append", metavar="PATTERN",
                   help="output sequence (PORT=PATTERN for other ports)")
    p.add_argument("--frames", "-f", metavar="SPEC", help="frames to render: 1001-1100, 1001-1100x2")
    p.add_argument("--set", "-s", action="append", metavar="NAME=VALUE", dest="sets", help="node parameter")
    p.add_argument("--model", "-m", metavar="FILE", help="model checkpoint (with --train: where training writes it)")
    p.add_argument("--chunk", type=int, default=10, help="frames per task (default 10)")
    p.add_argument("--train", metavar="FRAMES", help="add a training step learning from these frames first")
    p.add_argument("--target", "-t", metavar="PATTERN", help="training target sequence (with --train)")
    p.add_argument("--train-set", action="append", metavar="NAME=VALUE", dest="train_sets", help="training parameter")
    p.add_argument("--publish-root", metavar="DIR", help="add a publish step into this publish area")
    p.add_argument("--project", help="publish project (default $FILMAI_PROJECT)")
    p.add_argument("--shot", help="publish shot (default $FILMAI_SHOT)")
    p.add_argument("--task", help="publish task (default $FILMAI_TASK)")
    p.add_argument("--name", help="publish name (default: the output sequence's name)")
    p.add_argument("--command", help="the filmai executable on the workers (default: filmai on PATH; "
                                     "farm run uses this installation's)")
    p.add_argument("--colorspace", help="publish: the colourspace of frames whose header names none")
    p.add_argument("--handles", metavar="HEAD[,TAIL]",
                   help="publish: frames at the head (and tail) of the range that are handles, outside the cut")
    p.add_argument("--gpus", type=int, default=0, help="GPUs each task needs (an OpenJD host requirement)")
    add_io_args(p)


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    farm = subparsers.add_parser("farm", help="render-farm jobs: OpenJD templates, local and Dask runs")
    sub = farm.add_subparsers(dest="farm_command", metavar="COMMAND", parser_class=type(farm))
    farm.set_defaults(func=lambda a: (farm.print_help(), 2)[1])

    p = sub.add_parser("template", help="write an Open Job Description job template (or a Deadline Cloud bundle)",
                       description="Print an OpenJD job template (optional Train step, chunked Render step running "
                                   "filmai run --skip-existing, dependent Publish step). It passes `openjd check`, "
                                   "runs with `openjd run`, and --bundle writes a Deadline Cloud job bundle.")
    _job_args(p)
    p.add_argument("--bundle", metavar="DIR", help="write template.yaml, parameter_values.yaml and "
                                                   "asset_references.yaml into DIR (a Deadline Cloud job bundle)")
    p.add_argument("--save", metavar="FILE", help="write the template to FILE (.yaml or .json) instead of stdout; "
                                                   "paths inside its folder become relative defaults")
    p.add_argument("--values", metavar="FILE", help="also write the parameter values (.json or .yaml) for "
                                                     "`openjd run TEMPLATE -p file://FILE`")
    p.add_argument("--conda-packages", metavar="SPECS", help="conda packages the queue environment installs on the "
                   "workers (hidden CondaPackages; default: this project's and the node pack's distributions, "
                   "'' for none)")
    p.add_argument("--rez-packages", metavar="REQUESTS", help="rez packages for the workers (hidden RezPackages; "
                   "default: as --conda-packages, '' for none)")
    p.set_defaults(func=cmd_template)

    p = sub.add_parser("run", help="run the job's chunks locally or on a Dask cluster, then publish",
                       description="Run the same chunks as the OpenJD template, with retries of failed chunks; "
                                   "the publish step runs only after every chunk succeeded.")
    _job_args(p)
    p.add_argument("--engine", default="local", help="local or dask (or an engine a pack registers)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (tcp://host:8786); default: a LocalCluster")
    p.add_argument("--workers", type=int, default=2, help="parallel tasks (LocalCluster workers or local processes)")
    p.add_argument("--retries", type=int, default=1, help="retries of a failed task (default 1)")
    p.add_argument("--log-dir", metavar="DIR", help="task logs and job.json (default: OUTPUT_DIR/.filmai-farm/JOB_ID)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_run)
