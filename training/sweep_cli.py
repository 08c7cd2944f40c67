"""``asyncsim sweep run|worker|report``: W&B sweep files executed by Optuna (docs/sweeps.md).

Optuna (the ``sweeps`` extra) is imported only when a sweep command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from asyncsim.commands import COMMANDS
from asyncsim.tables import print_written

from .config import load_yaml

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from .sweep_study import Sweep
    from .sweep_worker import WorkerOptions

STUDY_FILE = "study.db"


def _dir(args: argparse.Namespace, name: str) -> Path:
    return Path(args.dir) if args.dir else Path("sweeps") / name


def _storage_url(args: argparse.Namespace, sweep_dir: Path) -> str:
    if args.storage:
        return args.storage
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(sweep_dir / STUDY_FILE).resolve()}"


def _worker_args(args: argparse.Namespace, sweep_dir: Path, url: str) -> list[str]:
    """What each launched worker is given: this command's sweep, resolved folder and storage."""
    forwarded = [args.sweep, "--dir", str(sweep_dir.resolve()), "--storage", url,
                 "--seed", str(args.seed), "--max-retries", str(args.max_retries),
                 "--heartbeat", str(args.heartbeat), "--quiet"]
    if args.config:
        forwarded += ["--config", args.config]
    if args.no_wandb:
        forwarded.append("--no-wandb")
    return forwarded


def _join(args: argparse.Namespace, progress: bool
          ) -> tuple[Sweep, BaseStorage, int, WorkerOptions]:
    from .sweep_spec import load_sweep
    from .sweep_study import Sweep, make_storage, open_study
    from .sweep_worker import WorkerOptions

    for flag, value, low in (("--seed", args.seed, 0), ("--max-retries", args.max_retries, 0),
                             ("--heartbeat", args.heartbeat, 1)):
        if not low <= value < 2**32:
            raise ValueError(f"{flag}: must lie in [{low}, 2**32), got {value}")
    base = load_yaml(args.config) if args.config else {}
    spec = load_sweep(args.sweep, base)
    sweep = Sweep(spec, base, args.seed)
    sweep_dir = _dir(args, spec.name)
    url = _storage_url(args, sweep_dir)
    storage = make_storage(url, args.heartbeat, args.max_retries)
    opts = WorkerOptions(sweep_dir=sweep_dir, storage_url=url, heartbeat_s=args.heartbeat,
                         max_retries=args.max_retries, wandb=not args.no_wandb,
                         progress=progress)
    return sweep, storage, open_study(sweep, storage), opts


def _cmd_worker(args: argparse.Namespace) -> int:
    from .sweep_report import trial_rows
    from .sweep_worker import work

    sweep, storage, study_id, opts = _join(args, progress=not args.quiet)
    ran = work(sweep, storage, study_id, opts)
    print(f"worker done: ran {ran} trial(s) of sweep {sweep.spec.name}")
    return _failures_status(sweep, trial_rows(sweep, storage, study_id))


def _failures_status(sweep: Sweep, rows: list[dict]) -> int:
    """1 when some trial of the study ended failed (its last attempt), else 0."""
    from .sweep_report import state_counts

    failed = state_counts(rows).get("fail", 0)
    if failed:
        print(f"asyncsim: error: sweep {sweep.spec.name}: {failed} trial(s) failed (each one's "
              f"error is in asyncsim sweep report)", file=sys.stderr)
    return 1 if failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .sweep_report import print_report, state_counts, trial_rows
    from .sweep_worker import launch, visible_gpus, work

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers: must be >= 1, got {args.workers}")
    gpus = visible_gpus()
    n_workers = args.workers or max(1, len(gpus))
    sweep, storage, study_id, opts = _join(args, progress=n_workers == 1 and not args.quiet)
    if n_workers == 1:
        work(sweep, storage, study_id, opts)
        status = 0
    else:
        status = launch(_worker_args(args, opts.sweep_dir, opts.storage_url), n_workers,
                        args.threads)
    rows = trial_rows(sweep, storage, study_id)
    print_report(sweep, rows)
    print(f"sweep {sweep.spec.name}: {state_counts(rows)}")
    print_written("trial folders (checkpoints, W&B runs)", opts.sweep_dir / "trials")
    return max(status, _failures_status(sweep, rows))


def _cmd_report(args: argparse.Namespace) -> int:
    from .sweep_report import report
    from .sweep_study import make_storage, sweep_from_study

    target = Path(args.sweep)
    if target.is_dir():
        sweep_dir, name = target, None
        if not args.storage and not (target / STUDY_FILE).exists():
            raise ValueError(f"sweep: no {STUDY_FILE} in {target} (give --storage)")
    else:
        name = load_yaml(target).get("name", target.stem)
        sweep_dir = _dir(args, name)
    storage = make_storage(_storage_url(args, sweep_dir))
    sweep = sweep_from_study(storage, name)
    study_id = storage.get_study_id_from_name(sweep.spec.name)
    report(sweep, storage, study_id, Path(args.out) if args.out else sweep_dir / "report",
           wandb=not args.no_wandb)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", metavar="DIR",
                        help="sweep folder: the study database and trials/<run folders> "
                        "(default sweeps/<sweep name>)")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage URL, e.g. postgresql://user:pw@host/db (default: "
                        "SQLite, <sweep folder>/study.db)")
    parser.add_argument("--no-wandb", action="store_true",
                        help="no W&B runs (default: offline unless an API key is set)")


def _execution(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--config", metavar="YAML",
                        help="base config (TrainConfig keys, examples/base.yaml) under the "
                        "sweep's parameters (default: none)")
    parser.add_argument("--seed", type=int, default=0,
                        help="sampler seed of random and bayes sweeps (default %(default)s)")
    parser.add_argument("--max-retries", type=int, default=2,
                        help="retries of a trial whose worker crashed or died (default "
                        "%(default)s)")
    parser.add_argument("--heartbeat", type=int, default=10, metavar="SECONDS",
                        help="seconds between a running trial's heartbeats; a trial silent for "
                        "3 heartbeats is retried (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser("sweep", help=COMMANDS["sweep"].help,
                           description=COMMANDS["sweep"].help + " (docs/sweeps.md)")
    commands = sweep.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run (or resume) a sweep with workers on this "
                              "machine, then print its report")
    run.add_argument("sweep", help="sweep file (W&B format, e.g. examples/sweep_grid.yaml)")
    _execution(run)
    run.add_argument("--workers", type=int, help="worker processes (default: one per GPU, "
                     "else 1)")
    run.set_defaults(func=_cmd_run)

    worker = commands.add_parser("worker", help="join a sweep's study and run its trials "
                                 "(one per machine or GPU; e.g. a SLURM array task)")
    worker.add_argument("sweep", help="sweep file (W&B format)")
    _execution(worker)
    worker.set_defaults(func=_cmd_worker)

    rep = commands.add_parser("report", help="table of trials, best per strategy, plots")
    rep.add_argument("sweep", help="sweep file or sweep folder")
    _common(rep)
    rep.add_argument("--out", metavar="DIR",
                     help="folder for the plots (default <sweep folder>/report)")
    rep.set_defaults(func=_cmd_report)
