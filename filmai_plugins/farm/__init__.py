"""Farm jobs: Open Job Description templates generated from the node schema, and engines that run
the same chunks locally or on a Dask cluster.

    from filmai_plugins.farm import make_job, build_template, run_job
    job = make_job("util.convert", inputs="plate.####.exr", outputs="out/plate.####.exr",
                   frames="1001-1100", chunk=10)
    template, values = build_template(job)          # an OpenJD template and its parameter values
    result = run_job(job, engine="dask", workers=2)  # FarmResult: .ok, .results, .format()
"""
from __future__ import annotations

import os
from typing import Any, Callable

from .template import FarmJob, build_template, make_job

__all__ = ["FarmJob", "make_job", "build_template", "run_job"]


def run_job(job: FarmJob, *, engine: str = "local", retries: int = 1, log_dir: str | None = None,
            on_result: Callable[[Any], None] | None = None, **engine_options: Any):
    """Run a farm job's template on ``engine`` ("local", "dask" or any registered engine)."""
    from dataclasses import replace

    from .engines import default_log_dir, filmai_command, get_engine, new_job_id, write_job_record
    from .job import expand

    if job.command == "filmai":
        job = replace(job, command=filmai_command())
    template, values = build_template(job)
    expanded = expand(template, values)
    runner = get_engine(engine, retries=retries, **engine_options)
    job_id = new_job_id()
    first_output = next(iter(job.outputs.values()), None)
    folder = log_dir or default_log_dir(expanded, job_id, os.path.dirname(first_output) if first_output else None)
    os.makedirs(folder, exist_ok=True)
    result = runner.run(expanded, log_dir=folder, job_id=job_id, on_result=on_result)
    write_job_record(folder, result, template, values)
    return result
