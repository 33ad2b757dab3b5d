"""Expanding an OpenJD job template into the concrete tasks an engine runs.

openjd-model does the work: it validates the template and the parameter values, instantiates the
job, and iterates each step's parameter space, so the chunks here are exactly the chunks
``openjd run`` and Deadline Cloud make from the same template. Format strings in commands, args
and step environment variables are resolved with OpenJD's own resolver.
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import BadInput


@dataclass
class Task:
    """One task: the command line, its environment additions, and the chunk it covers."""

    step: str
    name: str  # the chunk ("1001-1010") or the step name for single-task steps
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.step}/{self.name}"


@dataclass
class Step:
    name: str
    depends_on: list[str]
    tasks: list[Task]


@dataclass
class ExpandedJob:
    name: str
    steps: list[Step]  # dependencies first

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def task_count(self) -> int:
        return sum(len(s.tasks) for s in self.steps)


def expand(template: Mapping[str, Any], values: Mapping[str, str], template_dir: str | None = None) -> ExpandedJob:
    """Instantiate ``template`` with parameter ``values`` and list every task of every step."""
    from .deps import require
    from .template import EXTENSIONS

    ojd = require("openjd.model", "a farm job")
    SymbolTable = ojd.SymbolTable

    cwd = pathlib.Path(os.getcwd())
    try:
        decoded = ojd.decode_job_template(template=dict(template), supported_extensions=EXTENSIONS)
        params = ojd.preprocess_job_parameters(
            job_template=decoded, job_parameter_values={k: str(v) for k, v in values.items()},
            job_template_dir=pathlib.Path(os.path.abspath(template_dir)) if template_dir else cwd,
            current_working_dir=cwd)
        job = ojd.create_job(job_template=decoded, job_parameter_values=params)
    except (ojd.DecodeValidationError, ValueError) as exc:
        raise BadInput(f"job template: {exc}") from None

    base: dict[str, Any] = {}
    for name, value in params.items():
        base[f"Param.{name}"] = value.value
        base[f"RawParam.{name}"] = value.value
    steps: list[Step] = []
    for step in job.steps:
        symbols = dict(base, **{"Step.Name": step.name})
        env: dict[str, str] = {}
        for environment in step.stepEnvironments or []:
            for key, value in (environment.variables or {}).items():
                env[key] = value.resolve(symtab=SymbolTable(source=symbols)) if hasattr(value, "resolve") else str(value)
        action = step.script.actions.onRun
        tasks: list[Task] = []
        if step.parameterSpace is None:
            tasks.append(_task(step.name, step.name, action, symbols, env))
        else:
            for combo in ojd.StepParameterSpaceIterator(space=step.parameterSpace):
                task_symbols = dict(symbols)
                for pname, pvalue in combo.items():
                    task_symbols[f"Task.Param.{pname}"] = pvalue.value
                    task_symbols[f"Task.RawParam.{pname}"] = pvalue.value
                label = ",".join(str(v.value) for v in combo.values())
                tasks.append(_task(step.name, label, action, task_symbols, env))
        depends = [d.dependsOn for d in step.dependencies or []]
        steps.append(Step(step.name, depends, tasks))
    return ExpandedJob(job.name, _topological(steps))


def _task(step: str, name: str, action: Any, symbols: dict[str, Any], env: dict[str, str]) -> Task:
    from openjd.model import SymbolTable  # expand() has checked that openjd-model is installed

    table = SymbolTable(source=symbols)
    argv = [action.command.resolve(symtab=table)] + [a.resolve(symtab=table) for a in action.args or []]
    return Task(step=step, name=name, argv=argv, env=dict(env))


def _topological(steps: list[Step]) -> list[Step]:
    done: list[Step] = []
    names: set[str] = set()
    pending = list(steps)
    while pending:
        ready = [s for s in pending if all(d in names for d in s.depends_on)]
        if not ready:  # openjd-model rejects cycles; this guards hand-made jobs
            raise BadInput(f"job steps depend on each other in a cycle: {', '.join(s.name for s in pending)}")
        for s in ready:
            done.append(s)
            names.add(s.name)
            pending.remove(s)
    return done
