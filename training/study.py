"""Studies: the paper's experiment as a fixed plan of training runs and evaluations
(``asyncsim study run``, docs/study.md).

A study file names a base config, the training conditions (e.g. layered ``sync`` and unlayered
``random`` at F = 4), crossed factors (any ``TrainConfig`` key: depth, tau, grad, loss, ...),
seeds, and the execution settings every trained model is evaluated under
(docs/semantics.md#metrics). Training reuses the trainer (its checkpoints make a killed run
resume where it stopped); evaluation reuses ``evaluate`` and caches one JSON per (model,
checkpoint, split, setting), so a killed study loses at most the unit in progress.

Matched budgets are reported both ways: *equal epochs* (every model's final checkpoint), and
*equal sync accuracy*: the layered model's checkpoint (one per epoch) whose sync accuracy on the
training split is nearest to that of the unlayered model it is compared with.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import TrainConfig, load_yaml, make_config

STUDY_KEYS = ("name", "base", "seeds", "trained", "factors", "evaluate", "match_sync_accuracy")
EVAL_KEYS = ("strategies", "F", "stops", "batch_size")
FINAL = "final"  # budget: equal epochs (the last checkpoint)
MATCHED = "matched"  # budget: equal sync accuracy (a layered checkpoint picked per comparison)
SNAPSHOT = "epoch{:03d}.pt"
DONE = "done.json"


def _fail(key: str, message: str) -> ValueError:
    return ValueError(f"study {key}: {message}")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


@dataclass(frozen=True)
class Condition:
    """A training condition: a label and the config keys it sets (``strategy``, ``F``, ...)."""

    label: str
    overrides: dict[str, Any]

    @property
    def layered(self) -> bool:
        return self.overrides.get("strategy", "sync") == "sync"


@dataclass(frozen=True)
class Run:
    """One training run of the plan: a condition, one value per factor, a seed."""

    condition: Condition
    factors: tuple[tuple[str, Any], ...]
    seed: int
    config: TrainConfig

    @property
    def factor_text(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.factors) or "-"


@dataclass(frozen=True)
class StudySpec:
    name: str
    base: dict[str, Any]
    seeds: list[int]
    trained: list[Condition]
    factors: dict[str, list[Any]]
    strategies: list[str]
    fs: list[Any]
    stops: list[str]
    batch_size: int = 128
    match_sync_accuracy: bool = True
    raw: dict[str, Any] = field(default_factory=dict)

    def settings(self):
        from .evaluation import settings_grid

        return settings_grid(self.strategies, self.fs, self.stops)

    def runs(self, study_dir: Path) -> list[Run]:
        """The plan: every condition x factor combination x seed, each validated."""
        names = list(self.factors)
        combos = list(itertools.product(*self.factors.values())) or [()]
        plan = []
        for values in combos:
            factors = tuple(zip(names, values, strict=True))
            for condition in self.trained:
                for seed in self.seeds:
                    name = "__".join(
                        filter(
                            None,
                            [
                                slug(condition.label),
                                *(slug(f"{k}={json.dumps(v)}") for k, v in factors),
                                f"s{seed}",
                            ],
                        )
                    )
                    values_ = {
                        **self.base,
                        **dict(factors),
                        **condition.overrides,
                        "seed": seed,
                        "out_dir": str(study_dir / "runs"),
                        "name": name,
                        "wandb_group": self.name,
                    }
                    try:
                        cfg = make_config(values_)
                    except ValueError as err:
                        raise _fail(f"run {name}", str(err)) from None
                    plan.append(Run(condition, factors, seed, cfg))
        return plan


def _list(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(key, f"expected a non-empty list, got {value!r}")
    return value


def _condition(index: int, entry: Any) -> Condition:
    if not isinstance(entry, dict):
        raise _fail(f"trained[{index}]", f"expected a mapping of config keys, got {entry!r}")
    overrides = {k: v for k, v in entry.items() if k != "label"}
    strategy = overrides.get("strategy", "sync")
    f = overrides.get("F")
    default = "sync" if strategy == "sync" else f"{strategy} F={'inf' if f is None else f}"
    extra = [f"{k}={v}" for k, v in overrides.items() if k not in ("strategy", "F")]
    label = entry.get("label") or " ".join([default, *extra])
    return Condition(str(label), overrides)


def parse_study(raw: dict[str, Any], name: str) -> StudySpec:
    """A study file's mapping -> ``StudySpec``; every run's config is validated by ``runs``."""
    for key in raw:
        if key not in STUDY_KEYS:
            raise _fail(key, f"unknown key; allowed: {list(STUDY_KEYS)}")
    base = raw.get("base", {})
    if not isinstance(base, dict):
        raise _fail("base", f"expected a mapping of config keys, got {base!r}")
    seeds = _list("seeds", raw.get("seeds", [0, 1, 2]))
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise _fail("seeds", f"expected ints >= 0, got {seeds!r}")
    trained = [_condition(i, e) for i, e in enumerate(_list("trained", raw.get("trained")))]
    labels = [c.label for c in trained]
    if len(set(labels)) != len(labels):
        raise _fail("trained", f"labels repeat: {labels}")
    factors = raw.get("factors") or {}
    if not isinstance(factors, dict):
        raise _fail("factors", f"expected a mapping key -> list of values, got {factors!r}")
    factors = {k: _list(f"factors.{k}", v) for k, v in factors.items()}
    ev = raw.get("evaluate") or {}
    if not isinstance(ev, dict):
        raise _fail("evaluate", f"expected a mapping, got {ev!r}")
    for key in ev:
        if key not in EVAL_KEYS:
            raise _fail(f"evaluate.{key}", f"unknown key; allowed: {list(EVAL_KEYS)}")
    spec = StudySpec(
        name=str(raw.get("name", name)),
        base=base,
        seeds=seeds,
        trained=trained,
        factors=factors,
        strategies=_list(
            "evaluate.strategies", ev.get("strategies", ["sync", "random", "momentum", "fifo"])
        ),
        fs=_list("evaluate.F", ev.get("F", [1, 2, 4, 8, "inf"])),
        stops=_list("evaluate.stops", ev.get("stops", ["complete"])),
        batch_size=int(ev.get("batch_size", 128)),
        match_sync_accuracy=bool(raw.get("match_sync_accuracy", True)),
        raw=raw,
    )
    try:
        spec.settings()
    except ValueError as err:
        raise _fail("evaluate", str(err)) from None
    if spec.match_sync_accuracy and not any(c.layered for c in trained):
        raise _fail("match_sync_accuracy", "needs a layered (strategy: sync) condition")
    return spec


def load_study(path: str | Path) -> StudySpec:
    path = Path(path)
    return parse_study(load_yaml(path), path.stem)


def nearest_snapshot(target: float, snapshots: dict[int, float]) -> int:
    """The epoch whose accuracy is nearest to ``target`` (ties: the earlier epoch): the layered
    checkpoint matched to an unlayered model at equal sync accuracy."""
    if not snapshots:
        raise ValueError("match: no layered checkpoints to match against")
    return min(sorted(snapshots), key=lambda epoch: abs(snapshots[epoch] - target))


# --- execution -------------------------------------------------------------------------------


def study_dir_of(spec: StudySpec, directory: str | Path | None) -> Path:
    return Path(directory) if directory else Path("runs") / "study" / spec.name


def write_spec(spec: StudySpec, study_dir: Path) -> None:
    """Record the study file in its folder; refuse to reuse a folder made by another file."""
    study_dir.mkdir(parents=True, exist_ok=True)
    path = study_dir / "study.yaml"
    text = yaml.safe_dump(spec.raw, sort_keys=False)
    if path.exists() and yaml.safe_load(path.read_text()) != spec.raw:
        raise ValueError(
            f"study: {study_dir} holds a different study; give another --dir or remove it"
        )
    path.write_text(text)


def train_run(run: Run, progress: bool) -> None:
    """Train (or resume) one run; the layered runs keep a checkpoint per epoch for matching."""
    from .checkpoint import LAST
    from .trainer import train

    done = run.config.run_dir / DONE
    if done.exists():
        return

    def snapshot(epoch: int, _record: dict[str, Any]) -> None:
        shutil.copyfile(run.config.run_dir / LAST, run.config.run_dir / SNAPSHOT.format(epoch))

    outcome = train(
        run.config,
        resume=True,
        progress=progress,
        on_epoch=snapshot if run.condition.layered else None,
    )
    done.write_text(json.dumps(outcome.history[-1] if outcome.history else {}))


def _eval_path(run: Run, checkpoint: str, split: str, label: str) -> Path:
    return run.config.run_dir / "eval" / f"{Path(checkpoint).stem}__{split}__{slug(label)}.json"


class Evaluator:
    """Cached evaluations of a run's checkpoints (one JSON per checkpoint, split and setting)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._frames: dict[tuple[str, str], Any] = {}

    def _split(self, cfg: TrainConfig, split: str):
        from .trainer import load_splits

        key = (
            cfg.dataset,
            json.dumps([cfg.data_dir, cfg.binning, cfg.dataset_options], sort_keys=True),
        )
        if key not in self._frames:
            self._frames[key] = load_splits(cfg)
        train_set, test_set = self._frames[key]
        return train_set if split == "train" else test_set

    def summary(self, run: Run, checkpoint: str, setting, split: str = "test") -> dict[str, float]:
        path = _eval_path(run, checkpoint, split, setting.label)
        if path.exists():
            return json.loads(path.read_text())
        from .evaluation import evaluate, split_batches
        from .experiment import load_model

        model = load_model(run.config.run_dir / checkpoint)
        frames = self._split(run.config, split)
        summary, _ = evaluate(
            model.net,
            split_batches(frames, self.batch_size),
            setting,
            seed=run.seed,
            backend=run.config.backend,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary))
        tmp.replace(path)
        return summary


def _layered_partner(run: Run, runs: list[Run]) -> Run | None:
    """The layered run with the same factors and seed (the first layered condition)."""
    for other in runs:
        if other.condition.layered and other.factors == run.factors and other.seed == run.seed:
            return other
    return None


def match(run: Run, layered: Run, evaluator: Evaluator) -> int:
    """The layered epoch matched to ``run`` at equal sync accuracy on the training split."""
    from .checkpoint import LAST
    from .evaluation import ExecSetting

    sync = ExecSetting("sync", None)
    target = evaluator.summary(run, LAST, sync, "train")["accuracy"]
    snapshots = {
        epoch: evaluator.summary(layered, SNAPSHOT.format(epoch), sync, "train")["accuracy"]
        for epoch in range(1, layered.config.epochs + 1)
    }
    return nearest_snapshot(target, snapshots)


@dataclass
class Unit:
    """One evaluation to do: a run's checkpoint under a setting, recorded as ``budget``."""

    run: Run
    checkpoint: str
    setting: Any
    budget: str
    matched_to: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def eval_units(spec: StudySpec, runs: list[Run], evaluator: Evaluator) -> Iterator[Unit]:
    """Every run's final checkpoint under every setting; with matching, each unlayered run's
    matched layered checkpoint under every setting too."""
    from .checkpoint import LAST

    settings = spec.settings()
    for run in runs:
        for setting in settings:
            yield Unit(run, LAST, setting, FINAL)
    if not spec.match_sync_accuracy:
        return
    for run in runs:
        layered = None if run.condition.layered else _layered_partner(run, runs)
        if layered is None:
            continue
        epoch = match(run, layered, evaluator)
        # The last epoch's snapshot is the final checkpoint: reuse its cached evaluations.
        checkpoint = LAST if epoch == layered.config.epochs else SNAPSHOT.format(epoch)
        for setting in settings:
            yield Unit(
                layered,
                checkpoint,
                setting,
                MATCHED,
                matched_to=run.condition.label,
                meta={"matched_epoch": epoch},
            )


def record_of(unit: Unit, summary: dict[str, float]) -> dict[str, Any]:
    setting = unit.setting
    return {
        "trained": unit.run.condition.label,
        "layered": unit.run.condition.layered,
        "factors": unit.run.factor_text,
        "seed": unit.run.seed,
        "budget": unit.budget,
        "matched_to": unit.matched_to,
        "executed": setting.label,
        "strategy": setting.strategy,
        "F": setting.f_text,
        "stop": setting.stop,
        "checkpoint": unit.checkpoint,
        **unit.meta,
        **summary,
    }


def shard_of(runs: list[Run], shard: tuple[int, int] | None) -> list[Run]:
    if shard is None:
        return runs
    index, count = shard
    return [run for i, run in enumerate(runs) if i % count == index]


# --- worker processes (``--jobs``) -----------------------------------------------------------

_WORKER_EVALUATOR: Evaluator | None = None


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_task(run: Run) -> None:
    train_run(run, progress=False)


def _summary_task(task: tuple[Run, str, Any, str, int]) -> None:
    """Compute (and cache) one evaluation in a worker; each worker keeps its data splits."""
    global _WORKER_EVALUATOR
    run, checkpoint, setting, split, batch_size = task
    if _WORKER_EVALUATOR is None or _WORKER_EVALUATOR.batch_size != batch_size:
        _WORKER_EVALUATOR = Evaluator(batch_size)
    _WORKER_EVALUATOR.summary(run, checkpoint, setting, split)


def _in_workers(function, tasks: list[Any], jobs: int, desc: str, progress: bool) -> None:
    """Run ``function`` over ``tasks`` in ``jobs`` fresh processes (spawned: no forked thread
    pools) with this process's torch thread count; the first failure stops the rest."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch
    from tqdm import tqdm

    if not tasks:
        return
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(torch.get_num_threads(),),
    )
    with tqdm(total=len(tasks), desc=desc, disable=not progress) as bar:
        try:
            for future in as_completed([pool.submit(function, task) for task in tasks]):
                future.result()  # a worker's exception is raised here
                bar.update()
        finally:
            pool.shutdown(cancel_futures=True)


def _prefetch_evaluations(
    spec: StudySpec, runs: list[Run], evaluator: Evaluator, jobs: int, progress: bool
) -> None:
    """Fill the evaluation cache in ``jobs`` workers: first the training-split sync
    evaluations that matching reads, then every unit not cached yet."""
    from .checkpoint import LAST
    from .evaluation import ExecSetting

    sync = ExecSetting("sync", None)
    matching = []
    if spec.match_sync_accuracy:
        for run in runs:
            layered = None if run.condition.layered else _layered_partner(run, runs)
            if layered is not None:
                matching.append((run, LAST, sync, "train", spec.batch_size))
                matching += [
                    (layered, SNAPSHOT.format(epoch), sync, "train", spec.batch_size)
                    for epoch in range(1, layered.config.epochs + 1)
                ]
    _fill_cache(matching, jobs, f"study {spec.name}: matching", progress)
    units = [
        (u.run, u.checkpoint, u.setting, "test", spec.batch_size)
        for u in eval_units(spec, runs, evaluator)
    ]
    _fill_cache(units, jobs, f"study {spec.name}: evaluation", progress)


def _fill_cache(tasks: list[tuple[Run, str, Any, str, int]], jobs: int, desc: str,
                progress: bool) -> None:
    """Evaluate, in workers, each task whose cache file is missing (each once)."""
    todo = {_eval_path(run, ckpt, split, setting.label): (run, ckpt, setting, split, size)
            for run, ckpt, setting, split, size in tasks}
    _in_workers(
        _summary_task, [t for path, t in todo.items() if not path.exists()], jobs, desc, progress
    )


def run_study(
    spec: StudySpec,
    study_dir: Path,
    *,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Train every run of the plan (of this shard), evaluate every unit; write and return the
    records (``records.json``: one per run x checkpoint x setting). ``jobs > 1`` trains and
    evaluates in that many worker processes (same results: every run and evaluation is seeded
    on its own)."""
    from tqdm import tqdm

    write_spec(spec, study_dir)
    runs = spec.runs(study_dir)
    mine = shard_of(runs, shard)
    if jobs > 1:
        todo = [run for run in mine if not (run.config.run_dir / DONE).exists()]
        _in_workers(_train_task, todo, jobs, f"study {spec.name}: training", progress)
    else:
        for run in tqdm(mine, desc=f"study {spec.name}: training", unit="run",
                        disable=not progress):
            train_run(run, progress)
    if (
        shard is not None
        and shard[1] > 1
        and not all((run.config.run_dir / DONE).exists() for run in runs)
    ):
        print(
            f"study {spec.name}: shard {shard[0]}/{shard[1]} trained; evaluate once every "
            f"shard is done (asyncsim study run without --shard)"
        )
        return []
    evaluator = Evaluator(spec.batch_size)
    if jobs > 1:
        _prefetch_evaluations(spec, runs, evaluator, jobs, progress)
    records = []
    matched = sum(not run.condition.layered for run in runs) if spec.match_sync_accuracy else 0
    total = (len(runs) + matched) * len(spec.settings())
    bar = tqdm(
        total=total, desc=f"study {spec.name}: evaluation", unit="eval", disable=not progress
    )
    for unit in eval_units(spec, runs, evaluator):
        bar.set_postfix_str(
            f"{unit.run.config.run_name} {unit.checkpoint} {unit.setting.label}", refresh=False
        )
        records.append(record_of(unit, evaluator.summary(unit.run, unit.checkpoint, unit.setting)))
        bar.update()
    bar.close()
    (study_dir / "records.json").write_text(json.dumps(records, indent=1))
    return records
