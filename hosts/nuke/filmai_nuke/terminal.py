"""Terminal mode and farms: process (or train) FilmAI nodes of a script without the GUI.

    nuke -t <plug-in folder>/filmai_nuke/terminal.py shot.nk filmai_cnn_copycat_1 [more nodes] --frames 1001-1100
    nuke -t <plug-in folder>/filmai_nuke/terminal.py shot.nk filmai_cnn_copycat_1 --train

Use ``--frames``: Nuke removes a bare trailing frame range from the arguments of ``-t`` scripts. Exit
codes follow the headless host: 0 done, 2 bad input (unknown node, bad frames), 1 failed, 130 cancelled.
"""
from __future__ import annotations

import argparse
import sys

import nuke

# absolute: `nuke -t` runs this file as a script; init.py has put the plug-in folder on sys.path
from filmai_nuke import adapter, worker

EXIT = {"done": 0, "failed": 1, "cancelled": worker.EXIT_CANCELLED}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="filmai_nuke.terminal", description=__doc__.split("\n\n")[0])
    parser.add_argument("script", help="the .nk script")
    parser.add_argument("nodes", nargs="+", help="FilmAI node names in the script")
    parser.add_argument("--frames", default="", help="frame range (default: each node's own setting or input range)")
    parser.add_argument("--train", action="store_true", help="train instead of process")
    args = parser.parse_args(argv)
    nuke.scriptOpen(args.script)
    groups = []
    for name in args.nodes:
        group = nuke.toNode(name)
        if group is None or group.knob(adapter.ID_KNOB) is None:
            print(f"filmai: error: {args.script}: no FilmAI node named {name!r}", file=sys.stderr)
            return 2
        groups.append(group)
    for group in groups:
        try:
            job = adapter.train(group) if args.train else adapter.process(group, frames=args.frames)
        except adapter.JobFailed as exc:
            print(f"filmai: error: {exc}", file=sys.stderr)
            return exc.exit_code
        if job.state != "done":
            print(f"filmai: {job.summary()}", file=sys.stderr)
            return EXIT.get(job.state, 1)
    nuke.scriptSave()  # the Reads now point at the results; the job JSON records what ran
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
