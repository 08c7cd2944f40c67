"""Sweep files in W&B's sweep YAML format, parsed into Optuna search spaces and validated.

Every parameter is a ``TrainConfig`` key; each of its values (categorical choices, distribution
bounds, every grid point) is checked with ``make_config`` on top of the base config, so a bad key
or value stops the sweep before any trial. Anything without a local equivalent (``metric.target``,
``probabilities``, normal distributions, ...) is an error naming the key rather than a silent
change of meaning; ``program``, ``command``, ``description`` and ``entity`` only concern
``wandb agent`` and are ignored here. See docs/sweeps.md.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import Trial

from .config import TrainConfig, check_folder_name, load_yaml, make_config

METHODS = ("grid", "random", "bayes")
GOALS = ("maximize", "minimize")
TOP_KEYS = ("method", "metric", "parameters", "run_cap", "early_terminate", "name",
            "description", "program", "command", "project", "entity")
DEFAULT_METRIC = {"name": "test/accuracy", "goal": "maximize"}
SET_BY_SWEEP = ("out_dir", "name", "wandb_group")
# W&B distribution -> keys it takes (besides ``distribution``); min/max of ``log_uniform`` are
# exponents of e, those of ``log_uniform_values`` the values themselves.
DISTRIBUTION_KEYS = {"constant": ("value",), "categorical": ("values",),
                     "int_uniform": ("min", "max"), "uniform": ("min", "max"),
                     "q_uniform": ("min", "max", "q"), "log_uniform": ("min", "max"),
                     "log_uniform_values": ("min", "max")}
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta")
MAX_PREFLIGHTS = 1000  # trial configurations checked before a study starts


@dataclass(frozen=True)
class Param:
    """A swept ``TrainConfig`` key. Choices that are lists or mappings (``hidden``) are stored in
    Optuna as JSON text, which Optuna's categorical distribution accepts."""

    name: str
    distribution: BaseDistribution
    encoded: bool = False

    def suggest(self, trial: Trial) -> Any:
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return self.decode(trial.suggest_categorical(self.name, dist.choices))
        if isinstance(dist, IntDistribution):
            return trial.suggest_int(self.name, dist.low, dist.high, step=dist.step, log=dist.log)
        return trial.suggest_float(self.name, dist.low, dist.high, step=dist.step, log=dist.log)

    def decode(self, value: Any) -> Any:
        return json.loads(value) if self.encoded else value

    def candidates(self) -> list[Any]:
        """Values that validation tries: every choice, or both bounds."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return [self.decode(choice) for choice in dist.choices]
        return [dist.low, dist.high]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file; ``raw`` is its mapping as written (the study records it)."""

    name: str
    method: str
    metric: str
    goal: str
    params: tuple[Param, ...]
    fixed: dict[str, Any]
    run_cap: int | None
    hyperband: dict[str, Any] | None
    project: str | None
    raw: dict[str, Any]

    def grid(self) -> list[dict[str, Any]]:
        """Grid points (Optuna's stored values), in file order, cut to ``run_cap``. Points that
        differ only in F under ``strategy: sync`` (the layered model has no F) are one trial:
        the first of them."""
        names = [p.name for p in self.params]
        choices = [p.distribution.choices for p in self.params]
        points, seen = [], set()
        for combo in itertools.product(*choices):
            point = dict(zip(names, combo, strict=True))
            strategy = point.get("strategy", self.fixed.get("strategy"))
            key = json.dumps({k: v for k, v in point.items()
                              if not (k == "F" and strategy == "sync")}, sort_keys=True)
            if key not in seen:
                seen.add(key)
                points.append(point)
        return points[:self.run_cap] if self.run_cap else points

    @property
    def n_trials(self) -> int:
        return len(self.grid()) if self.method == "grid" else int(self.run_cap or 0)

    def decode(self, stored: dict[str, Any]) -> dict[str, Any]:
        """Optuna's stored parameter values -> ``TrainConfig`` values."""
        return {p.name: p.decode(stored[p.name]) for p in self.params if p.name in stored}

    def trial_config(self, base: dict[str, Any], params: dict[str, Any], out_dir: Path,
                     run_name: str, **overrides: Any) -> TrainConfig:
        """A trial's config: base < fixed parameters < swept values < what the sweep sets."""
        values = {**base, **self.fixed, **params, **overrides, "out_dir": str(out_dir),
                  "name": run_name, "wandb_group": self.name}
        if self.project:
            values["wandb_project"] = self.project
        return make_config(values)


def _fail(key: str, message: str) -> ValueError:
    return ValueError(f"sweep {key}: {message}")


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(key, f"expected a mapping, got {value!r}")
    return value


def _only(key: str, mapping: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in mapping:
        if name not in allowed:
            raise _fail(f"{key}.{name}" if key else name,
                        f"unknown or unsupported key; allowed here: {list(allowed)}")


def _number(key: str, value: Any, integer: bool = False) -> float:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise _fail(key, f"expected {'an int' if integer else 'a finite number'}, got {value!r}")
    return value


def _infer_distribution(key: str, spec: dict[str, Any]) -> str:
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical"
    if "min" in spec and "max" in spec:
        ints = all(isinstance(spec[k], int) and not isinstance(spec[k], bool)
                   for k in ("min", "max"))
        return "int_uniform" if ints else "uniform"
    raise _fail(key, "needs `value`, `values`, or `min` and `max` (with a `distribution`)")


def _categorical(key: str, values: Any) -> tuple[CategoricalDistribution, bool]:
    if not isinstance(values, list) or not values:
        raise _fail(f"{key}.values", f"expected a non-empty list, got {values!r}")
    encoded = any(isinstance(v, (list, dict)) for v in values)
    choices = [json.dumps(v) for v in values] if encoded else values
    if len(set(map(json.dumps, values))) != len(values):
        raise _fail(f"{key}.values", f"values repeat: {values!r}")
    return CategoricalDistribution(choices), encoded


def _range(key: str, kind: str, spec: dict[str, Any]) -> BaseDistribution:
    integer = kind == "int_uniform"
    low, high = (_number(f"{key}.{k}", spec[k], integer) for k in ("min", "max"))
    if low >= high:
        raise _fail(key, f"min ({low}) must be below max ({high})")
    if integer:
        return IntDistribution(int(low), int(high))
    if kind == "q_uniform":
        step = _number(f"{key}.q", spec["q"])
        if step <= 0:
            raise _fail(f"{key}.q", f"must be positive, got {step}")
        return FloatDistribution(float(low), float(high), step=float(step))
    if kind == "log_uniform":
        return FloatDistribution(math.exp(low), math.exp(high), log=True)
    if kind == "log_uniform_values" and low <= 0:
        raise _fail(f"{key}.min", f"log_uniform_values needs min > 0, got {low}")
    return FloatDistribution(float(low), float(high), log=kind == "log_uniform_values")


def parse_param(name: str, spec: Any) -> Param | tuple[str, Any]:
    """A swept ``Param``, or ``(name, value)`` for a constant."""
    key = f"parameters.{name}"
    if name not in {f.name for f in dataclasses.fields(TrainConfig)}:
        raise _fail(key, "not a TrainConfig key (docs/training.md lists them)")
    if name in SET_BY_SWEEP:
        raise _fail(key, "set by the sweep itself (trial folders and W&B group)")
    spec = _mapping(key, spec)
    kind = spec.get("distribution") or _infer_distribution(key, spec)
    if kind not in DISTRIBUTION_KEYS:
        raise _fail(f"{key}.distribution", f"{kind!r} has no local equivalent; supported: "
                    f"{list(DISTRIBUTION_KEYS)}")
    allowed = ("distribution", *DISTRIBUTION_KEYS[kind])
    _only(key, spec, allowed)
    missing = [k for k in allowed[1:] if k not in spec]
    if missing:
        raise _fail(key, f"distribution {kind} needs {missing}")
    if kind == "constant":
        return name, spec["value"]
    if kind == "categorical":
        dist, encoded = _categorical(key, spec["values"])
        return Param(name, dist, encoded)
    return Param(name, _range(key, kind, spec))


def _metric(raw: dict[str, Any]) -> tuple[str, str]:
    if "metric" not in raw:
        return DEFAULT_METRIC["name"], DEFAULT_METRIC["goal"]
    metric = _mapping("metric", raw["metric"])
    _only("metric", metric, ("name", "goal"))
    if not isinstance(metric.get("name"), str):
        raise _fail("metric.name", f"expected a logged metric name such as test/accuracy, "
                    f"got {metric.get('name')!r}")
    goal = metric.get("goal", "minimize")  # W&B's default
    if goal not in GOALS:
        raise _fail("metric.goal", f"unknown {goal!r}; choose from {list(GOALS)}")
    return metric["name"], goal


def _hyperband(raw: dict[str, Any]) -> dict[str, Any] | None:
    """``early_terminate`` -> HyperbandPruner arguments (min_iter, max_iter, eta)."""
    if "early_terminate" not in raw:
        return None
    spec = _mapping("early_terminate", raw["early_terminate"])
    if spec.get("type") != "hyperband":
        raise _fail("early_terminate.type", f"only hyperband is supported, got "
                    f"{spec.get('type')!r}")
    _only("early_terminate", spec, HYPERBAND_KEYS)
    values = {k: int(_number(f"early_terminate.{k}", spec[k], integer=True))
              for k in HYPERBAND_KEYS[1:] if k in spec}
    eta = values.get("eta", 3)
    if eta < 2:
        raise _fail("early_terminate.eta", f"must be >= 2, got {eta}")
    if "min_iter" in values:
        min_resource = values["min_iter"]
    elif "max_iter" in values and "s" in values:
        min_resource = max(1, values["max_iter"] // eta ** values["s"])
    else:
        raise _fail("early_terminate", "needs min_iter, or max_iter and s")
    if min_resource < 1:
        raise _fail("early_terminate.min_iter", f"must be >= 1, got {min_resource}")
    return {"min_resource": min_resource, "max_resource": values.get("max_iter", "auto"),
            "reduction_factor": eta}


def _run_cap(raw: dict[str, Any], method: str) -> int | None:
    cap = raw.get("run_cap")
    if cap is None:
        if method != "grid":
            raise _fail("run_cap", f"required for method {method} (a local sweep must end)")
        return None
    if _number("run_cap", cap, integer=True) < 1:
        raise _fail("run_cap", f"must be >= 1, got {cap}")
    return cap


def _check_values(spec: SweepSpec, base: dict[str, Any]) -> None:
    """Every choice and bound of every parameter, then every grid point, through make_config."""
    def check(key: str, values: dict[str, Any]) -> None:
        try:
            spec.trial_config(base, values, Path("."), "check")
        except ValueError as err:
            raise _fail(key, str(err)) from None

    for name, value in spec.fixed.items():
        check(f"parameters.{name}", {name: value})
    for param in spec.params:
        for value in param.candidates():
            check(f"parameters.{param.name}", {param.name: value})
    if spec.method == "grid":
        for point in spec.grid():
            check(f"parameters (grid point {point})", spec.decode(point))


def _combinations(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """The grid points, or every combination of the categorical choices (ranges stay at the
    base value: they do not decide the data or the network), at most ``MAX_PREFLIGHTS``."""
    if spec.method == "grid":
        points: Iterable[dict[str, Any]] = map(spec.decode, spec.grid())
    else:
        choices = [p for p in spec.params if isinstance(p.distribution, CategoricalDistribution)]
        points = (dict(zip([p.name for p in choices], combo, strict=True))
                  for combo in itertools.product(*(p.candidates() for p in choices)))
    return itertools.islice(points, MAX_PREFLIGHTS)


def _preflight_trials(spec: SweepSpec, base: dict[str, Any]) -> None:
    """Each combination through the training's preflight (data set and folder, network
    against the data's shape, backend) and the sweep's metric against what training logs."""
    from .preflight import preflight

    for values in _combinations(spec):
        try:
            logged = preflight(spec.trial_config(base, values, Path("."), "check"))
        except ValueError as err:
            raise _fail(f"parameters {values}" if values else "parameters", str(err)) from None
        if spec.metric not in logged:
            raise _fail("metric.name", f"{spec.metric!r} is not logged by the trainer; logged "
                        f"metrics: {logged}")


def parse_sweep(raw: Any, name: str, base: dict[str, Any], *, preflight: bool = True
                ) -> SweepSpec:
    """Validate a sweep mapping (``name`` unless it sets its own) against ``base``; with
    ``preflight``, also what its trials need to run (see ``_preflight_trials``)."""
    raw = _mapping("file", raw)
    _only("", raw, TOP_KEYS)
    method = raw.get("method")
    if method not in METHODS:
        raise _fail("method", f"unknown {method!r}; choose from {list(METHODS)}")
    params_raw = _mapping("parameters", raw.get("parameters"))
    parsed = [parse_param(str(key), value) for key, value in params_raw.items()]
    params = tuple(p for p in parsed if isinstance(p, Param))
    if method == "grid":
        for param in params:
            if not isinstance(param.distribution, CategoricalDistribution):
                raise _fail(f"parameters.{param.name}",
                            "grid search needs `values` (or `value`), not a distribution")
    name = raw.get("name", name)
    try:
        check_folder_name("name", name)
    except ValueError as err:
        raise _fail("name", str(err).removeprefix("name: ")) from None
    project = raw.get("project")
    if project is not None and not isinstance(project, str):
        raise _fail("project", f"expected a W&B project name, got {project!r}")
    metric, goal = _metric(raw)
    spec = SweepSpec(name=name, method=method, metric=metric, goal=goal, params=params,
                     fixed=dict(p for p in parsed if not isinstance(p, Param)),
                     run_cap=_run_cap(raw, method), hyperband=_hyperband(raw),
                     project=project, raw=raw)
    _check_values(spec, base)
    if preflight:
        _preflight_trials(spec, base)
    return spec


def load_sweep(path: str | Path, base: dict[str, Any]) -> SweepSpec:
    """Read and validate a sweep file; its name defaults to the file's stem."""
    path = Path(path)
    return parse_sweep(load_yaml(path), path.stem, base)
