"""The Optuna study behind a sweep: storage, samplers, pruner, the trial queue and retries.

Storage is an Optuna RDB storage: SQLite in the sweep folder by default (transactions survive a
SIGKILL of any worker, several local processes share it), or any SQLAlchemy URL such as
``postgresql://`` for workers on many machines. Its heartbeat marks the trials of dead workers
as failed; ``requeue`` then puts each back in the queue (same parameters, intermediate values
and run folder) up to ``max_retries`` times.

The study is created once with one WAITING trial per planned run (the grid points for grid
sweeps, empty slots that the sampler fills for random and bayes). Workers claim a queued trial
with one atomic state change, so trials are never duplicated and the count equals ``run_cap``
exactly, however many workers race on however many machines.
"""

from __future__ import annotations

import inspect
import json
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from .sweep_spec import SweepSpec, parse_sweep

MARKER = "asyncsim_sweep"  # study user attribute: what defines the sweep, set once it is ready
ROOT = "asyncsim_root"  # trial system attributes of a retry: first trial number, attempt index
ATTEMPT = "asyncsim_attempt"
SETUP_WAIT_S = 60.0

# asyncsim prints its own progress and report; Optuna's INFO lines ("A new study created in RDB
# ...", "Trial 3 finished with value ...") would interleave with them. Warnings still show.
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Sweep:
    """A sweep's definition as the study records it: file, base config and sampler seed."""

    spec: SweepSpec
    base: dict[str, Any]
    seed: int

    def marker(self) -> dict[str, Any]:
        return {"name": self.spec.name, "sweep": self.spec.raw, "base": self.base,
                "seed": self.seed}


def root_number(trial: FrozenTrial) -> int:
    """The number of the first attempt of this trial (names its run folder)."""
    return trial.system_attrs.get(ROOT, trial.number)


def attempt(trial: FrozenTrial) -> int:
    return trial.system_attrs.get(ATTEMPT, 0)


def requeue_callback(max_retries: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Queue a failed trial again with its parameters and reports, unless it ran out of tries."""
    def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
        if attempt(trial) >= max_retries:
            return
        system_attrs = {**trial.system_attrs, ROOT: root_number(trial),
                        ATTEMPT: attempt(trial) + 1}
        study.add_trial(optuna.create_trial(
            state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
            user_attrs=trial.user_attrs, system_attrs=system_attrs,
            intermediate_values=trial.intermediate_values))
    return requeue


def driver_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://``: psycopg 3 (the ``sweeps`` extra) whatever
    SQLAlchemy's default PostgreSQL driver is."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if sep and scheme in ("postgresql", "postgres") else url


_SCHEMA_TRIES = 5


def make_storage(url: str, heartbeat_s: int = 0, max_retries: int = 0) -> BaseStorage:
    """An RDB storage; with ``heartbeat_s``, trials silent for 3 heartbeats are failed and
    requeued.

    It comes wrapped in Optuna's cache, as ``optuna.load_study`` would wrap it: every study and
    trial of a worker then shares one view of the trials, including those it claimed itself.
    """
    engine = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": 60}
    heartbeat: dict[str, Any] = {}
    if heartbeat_s:
        # The stale-trial callback's keyword was renamed in Optuna 4.9.
        names = inspect.signature(RDBStorage).parameters
        callback = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in names
                    else "failed_trial_callback")
        heartbeat = {"heartbeat_interval": heartbeat_s, "grace_period": 3 * heartbeat_s,
                     callback: requeue_callback(max_retries)}
    for tries_left in reversed(range(_SCHEMA_TRIES)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats (2.9)
                rdb = RDBStorage(driver_url(url), engine_kwargs=engine, **heartbeat)
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError,
                sqlalchemy.exc.ProgrammingError):
            # Processes opening a new database at once race to create its tables and its
            # schema version row; the loser finds the schema complete on a second look.
            if not tries_left:
                raise
            time.sleep(0.1 + 0.3 * random.random())
    return optuna.storages.get_storage(rdb)


def reap(study: optuna.Study) -> None:
    """Fail the trials of dead workers (their heartbeat is stale), which requeues them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def make_sampler(sweep: Sweep, trial_number: int) -> optuna.samplers.BaseSampler:
    """Seeded per trial, so a trial's random draw does not depend on the number of workers
    (mod 2**32: numpy's seeds are uint32)."""
    seed = (sweep.seed * 1_000_003 + trial_number) % 2**32
    if sweep.spec.method == "bayes":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.hyperband is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.HyperbandPruner(**spec.hyperband)


def load_study(sweep: Sweep, storage: BaseStorage, trial_number: int = 0) -> optuna.Study:
    return optuna.load_study(study_name=sweep.spec.name, storage=storage,
                             sampler=make_sampler(sweep, trial_number),
                             pruner=make_pruner(sweep.spec))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _check_joined(sweep: Sweep, stored: dict[str, Any]) -> None:
    mine = sweep.marker()
    for key, what in (("sweep", "sweep file"), ("base", "--config"), ("seed", "--seed")):
        if not _same(mine[key], stored[key]):
            raise ValueError(f"sweep {sweep.spec.name}: this {what} differs from the one the "
                             f"study was created with; give the sweep a new name to change it")


def _wait_for_marker(storage: BaseStorage, study_id: int, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETUP_WAIT_S
    while MARKER not in (attrs := storage.get_study_user_attrs(study_id)):
        if time.monotonic() > deadline:
            raise ValueError(f"sweep {name}: the study exists but its setup never finished "
                             f"(its creator died); delete it (optuna delete-study) and rerun")
        time.sleep(0.5)
    return attrs[MARKER]


def open_study(sweep: Sweep, storage: BaseStorage) -> int:
    """Create the study with its queue of trials, or join it; return its id."""
    spec = sweep.spec
    direction = "maximize" if spec.goal == "maximize" else "minimize"
    try:
        study = optuna.create_study(study_name=spec.name, storage=storage, direction=direction)
    except DuplicatedStudyError:
        study_id = storage.get_study_id_from_name(spec.name)
        _check_joined(sweep, _wait_for_marker(storage, study_id, spec.name))
        return study_id
    slots = spec.grid() if spec.method == "grid" else [{}] * spec.n_trials
    for params in slots:
        study.enqueue_trial(params)
    study.set_user_attr(MARKER, sweep.marker())
    return study._study_id


def sweep_from_study(storage: BaseStorage, name: str | None = None) -> Sweep:
    """The sweep recorded in a storage (by name, or its only study)."""
    names = [s.study_name for s in storage.get_all_studies()]
    if name is None:
        if len(names) != 1:
            raise ValueError(f"sweep: expected one study in the storage, found {names}")
        name = names[0]
    if name not in names:
        raise ValueError(f"sweep {name}: no such study in the storage (found {names})")
    stored = _wait_for_marker(storage, storage.get_study_id_from_name(name), name)
    spec = parse_sweep(stored["sweep"], stored["name"], stored["base"], preflight=False)
    return Sweep(spec, stored["base"], stored["seed"])


def claim(storage: BaseStorage, study_id: int) -> FrozenTrial | None:
    """Take the first queued trial (atomically), or None when the queue is empty."""
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        # The heartbeat comes first: a worker killed right after claiming then still leaves a
        # trial that goes stale and is retried, instead of one RUNNING forever.
        storage.record_heartbeat(trial._trial_id)
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return storage.get_trial(trial._trial_id)
        except UpdateFinishedTrialError:
            continue
    return None


def latest_attempts(storage: BaseStorage, study_id: int) -> list[FrozenTrial]:
    """The last attempt of every planned trial, by first trial number."""
    latest: dict[int, FrozenTrial] = {}
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        root = root_number(trial)
        if root not in latest or attempt(trial) > attempt(latest[root]):
            latest[root] = trial
    return [latest[root] for root in sorted(latest)]
