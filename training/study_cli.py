"""``asyncsim study run|report``: the paper's experiment as a study (docs/study.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise ValueError(f"--shard: expected i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    return index, count


def _cmd_run(args: argparse.Namespace) -> int:
    from .study import load_study, run_study, study_dir_of
    from .study_report import write_report

    spec = load_study(args.study)
    study_dir = study_dir_of(spec, args.dir)
    shard = parse_shard(args.shard) if args.shard else None
    if args.jobs < 1:
        raise ValueError(f"--jobs: must be >= 1, got {args.jobs}")
    records = run_study(spec, study_dir, shard=shard, progress=not args.quiet, jobs=args.jobs)
    if records:
        write_report(records, study_dir / "report")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import json

    from .study import load_study, study_dir_of
    from .study_report import write_report

    target = Path(args.study)
    study_dir = target if target.is_dir() else study_dir_of(load_study(target), args.dir)
    records_path = study_dir / "records.json"
    if not records_path.is_file():
        raise ValueError(f"study: no records.json in {study_dir}; run `asyncsim study run` first")
    write_report(
        json.loads(records_path.read_text()),
        Path(args.out) if args.out else study_dir / "report",
        partner=args.partner,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser(
        "study",
        help="layered vs unlayered training at matched budgets, "
        "cross-evaluated over seeds (docs/study.md)",
    )
    commands = study.add_subparsers(dest="study_command", required=True)
    run = commands.add_parser(
        "run",
        help="train and evaluate every run of a study file "
        "(resumes where a killed run stopped), then write the report",
    )
    run.add_argument("study", help="study YAML, e.g. studies/quick.yaml")
    run.add_argument("--dir", help="study folder (default runs/study/<study name>)")
    run.add_argument(
        "--shard",
        help="i/n: train only every n-th run starting at i (one shard "
        "per machine); rerun without --shard to evaluate (default: all runs)",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes for training and evaluation, each with --threads torch threads "
        "(default: %(default)s; 2 uses both cores of a 2-core machine)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=_cmd_run)
    rep = commands.add_parser(
        "report", help="tables with 95%% CIs, verdicts and plots from a study's records"
    )
    rep.add_argument("study", help="study YAML or study folder")
    rep.add_argument("--dir", help="study folder (default runs/study/<study name>)")
    rep.add_argument("--out", help="report folder (default <study folder>/report)")
    rep.add_argument(
        "--partner",
        help="the layered condition (its label) the verdicts compare every unlayered one "
        "with (default: the study's first layered condition, the only one with matched "
        "checkpoints)",
    )
    rep.set_defaults(func=_cmd_report)
