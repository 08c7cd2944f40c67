"""``asyncsim train``, ``asyncsim eval`` and ``asyncsim demo``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import yaml

from asyncsim.outputs import output_file, output_folder
from asyncsim.tables import print_table

from .config import BOOLEANS, TrainConfig, bool_value, load_yaml, make_config
from .evaluation import STOP_MODES_HELP, settings_grid

EVAL_COLUMNS = [("trained", "trained under"), ("label", "evaluated under"),
                ("accuracy", "accuracy"), ("no_output", "no output"),
                ("spike_density", "density"), ("synops", "SynOps"),
                ("forward_steps", "fwd steps"), ("steps_to_first_output", "1st output"),
                ("spikes_before_first_output", "spikes to 1st"),
                ("decision_steps", "decision"), ("spikes_before_decision", "spikes to decide"),
                ("decision_steps_correct", "decision (correct)")]


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _split_top_level(text: str) -> list[str]:
    """``"conv(8,3,s2), fc(16)"`` -> ``["conv(8,3,s2)", "fc(16)"]``: commas inside parentheses
    stay with their token."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip().strip("'\"") for item in items if item.strip()]


def arch_value(text: str) -> str | list[object]:
    """``--arch``: an architecture string is kept as written (``conv(8,3,s2)-fc(16,rec)``);
    a YAML list (``"[conv(8,3,s2), fc(64)]"``, ``"[64, 64]"``) is read with the commas inside
    a layer's parentheses kept, which plain YAML would split."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return stripped
    try:
        value = yaml.safe_load(stripped)
    except yaml.YAMLError:
        value = None
    if isinstance(value, list) and all(
            not isinstance(item, str) or item.count("(") == item.count(")") for item in value):
        return value
    if not stripped.endswith("]"):
        return stripped  # make_config reports it, naming arch
    return [int(item) if item.isdigit() else item
            for item in _split_top_level(stripped[1:-1])]


def yaml_value(text: str) -> object:
    """A flag's value read as YAML (``--hidden "[64, 64]"``); text that is not valid YAML is
    kept as written, for the config's validation to refuse with the key's name."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _cmd_train(args: argparse.Namespace) -> int:
    from .trainer import train

    base = load_yaml(args.config) if args.config else {}
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    if args.no_wandb:
        overrides["wandb"] = False
    cfg = make_config(base, **overrides)
    outcome = train(cfg, resume=args.resume, progress=not args.quiet)
    print(f"best test accuracy {outcome.best_accuracy:.4f}; checkpoints in {outcome.run_dir}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .experiment import cross_table, evaluate_models, load_model, log_traces, report
    from .tracking import Tracker

    settings = settings_grid(_csv(args.strategies), _csv(args.F), _csv(args.stops))
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {args.batch_size}")
    out_dir = output_folder("--out", args.out)
    trace = output_file("--trace", args.trace) if args.trace else None
    if args.json:
        output_file("--json", args.json)
    models = [load_model(path) for path in args.checkpoints]
    rows, decisions = evaluate_models(models, settings, split=args.split,
                                      batch_size=args.batch_size, trace=trace,
                                      progress=not args.quiet)
    print_table(f"asyncsim eval ({args.split} split)", EVAL_COLUMNS, rows)
    cross = cross_table(rows)
    print_table("accuracy: trained under x evaluated under",
                [(key, key) for key in cross[0]], cross)
    tracker = Tracker(enabled=not args.no_wandb, project=models[0].config.wandb_project,
                      name="eval", run_dir=out_dir, job_type="eval",
                      config={"checkpoints": args.checkpoints, "settings": [
                          s.label for s in settings], "split": args.split})
    traces = sorted(trace.parent.glob(f"{trace.stem}*.h5")) if trace is not None else []
    report(rows, decisions, out_dir, tracker, raster_trace=traces[0] if traces else None)
    log_traces(tracker, traces)
    tracker.finish()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_folder("--out", args.out), epochs=args.epochs, wandb=not args.no_wandb,
             progress=not args.quiet)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a network (layered or unlayered backprop)")
    train.add_argument("--config", help="YAML file of TrainConfig keys")
    for f in dataclasses.fields(TrainConfig):
        # Both spellings: `wandb agent` passes sweep parameters as --batch_size=64.
        flags = dict.fromkeys([f"--{f.name.replace('_', '-')}", f"--{f.name}"])
        if f.name == "arch":
            train.add_argument(*flags, dest=f.name, type=arch_value, default=None,
                               help='the hidden layers, e.g. "conv(8,3,s2)-conv(16,3,s2,p1)" '
                               'or "fc(128,rec)"; the output layer fc(n_classes) is appended '
                               '(docs/training.md)')
            continue
        if f.name in BOOLEANS:
            train.add_argument(*flags, dest=f.name, type=bool_value, default=None,
                               help=f"override {f.name} (true/false, yes/no, 1/0)")
            continue
        train.add_argument(*flags, dest=f.name, type=yaml_value,
                           default=None, help=f"override {f.name} (YAML value)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    train.add_argument("--no-wandb", action="store_true")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help="evaluate checkpoints under execution settings")
    ev.add_argument("checkpoints", nargs="+", help="checkpoint files (checkpoint.pt, best.pt)")
    ev.add_argument("--strategies", default="sync,random,momentum,fifo")
    ev.add_argument("--F", default="1,8,64,inf")
    ev.add_argument("--stops", default="complete", help=STOP_MODES_HELP)
    ev.add_argument("--split", default="test", choices=["train", "test"])
    ev.add_argument("--batch-size", type=int, default=128)
    ev.add_argument("--trace", help="write HDF5 spike traces (one file per model x setting)")
    ev.add_argument("--out", default="runs/eval", help="folder for plots and the W&B run")
    ev.add_argument("--json", help="also write the metric rows to this JSON file")
    ev.add_argument("--no-wandb", action="store_true")
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=_cmd_eval)

    demo = sub.add_parser("demo", help="the main job: layered vs unlayered training on the "
                          "embedded digits, cross-evaluated")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--epochs", type=int, default=6)
    demo.add_argument("--no-wandb", action="store_true")
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_cmd_demo)
