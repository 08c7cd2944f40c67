"""``asyncsim train``, ``asyncsim eval`` and ``asyncsim demo``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import yaml

from asyncsim.commands import COMMANDS
from asyncsim.outputs import output_file, output_folder
from asyncsim.tables import print_table, print_written

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
    print(f"best test accuracy {outcome.best_accuracy:.4f}")
    print_written("run folder (checkpoint.pt, best.pt)", outcome.run_dir)
    if outcome.wandb_dir:
        print_written("W&B run", outcome.wandb_dir)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .experiment import evaluate_models, load_model, log_traces, report, settings_table
    from .tracking import Tracker

    settings = settings_grid(_csv(args.strategies), _csv(args.F), _csv(args.stops))
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {args.batch_size}")
    out_dir = output_folder("--out", args.out)
    trace = output_file("--trace", args.trace) if args.trace else None
    if args.json:
        output_file("--json", args.json)
    models = [load_model(path, args.dataset, args.dt) for path in args.checkpoints]
    rows, decisions = evaluate_models(models, settings, split=args.split,
                                      batch_size=args.batch_size, trace=trace,
                                      progress=not args.quiet)
    print_table(f"asyncsim eval ({args.split} split)", EVAL_COLUMNS, rows, keep=2)
    accuracy = settings_table(rows)
    print_table("test accuracy: executed with (rows) x trained under (columns)",
                [(key, key) for key in accuracy[0]], accuracy)
    tracker = Tracker(enabled=not args.no_wandb, project=models[0].config.wandb_project,
                      name="eval", run_dir=out_dir, job_type="eval",
                      config={"checkpoints": args.checkpoints, "settings": [
                          s.label for s in settings], "split": args.split})
    traces = sorted(trace.parent.glob(f"{trace.stem}*.h5")) if trace is not None else []
    images = report(rows, decisions, out_dir, tracker,
                    raster_trace=traces[0] if traces else None)
    log_traces(tracker, traces)
    tracker.finish()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
        print_written("metric rows", args.json)
    for path in images.values():
        print_written("plot", path)
    if traces:
        print_written(f"{len(traces)} spike trace(s), {trace.stem}*.h5, in", trace.parent)
    if tracker.run_path:
        print_written(f"W&B run ({tracker.mode})", tracker.run_path)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_folder("--out", args.out), epochs=args.epochs, wandb=not args.no_wandb,
             progress=not args.quiet)
    return 0


# What each TrainConfig key means, for ``asyncsim train --help`` (docs/training.md has the same
# table); the default and the choices are added from the code.
TRAIN_OPTION_HELP = {
    "dataset": "data set name",
    "data_dir": "folder holding a published data set (or set ASYNCSIM_DATA_DIR; "
                "docs/datasets.md)",
    "binning": "binning knobs as a YAML mapping, e.g. '{dt_ms: 5, n_steps: 20, pool: 2}' "
               "(dt_ms, n_steps, pool, merge_polarity, clip)",
    "dataset_options": "the data set's own options as a YAML mapping, e.g. '{seed: 1}'",
    "hidden": "hidden layer sizes of a dense network, a YAML list, e.g. '[256, 256]'",
    "arch": "instead of --hidden: the hidden layers as an architecture, e.g. "
            "'conv(8,3,s2)-conv(16,3,s2,p1)' or 'fc(128,rec)'; the output layer fc(n_classes) "
            "is appended (docs/training.md#architectures)",
    "tau": "membrane time constant, in units of dt",
    "theta": "firing threshold",
    "dt": "timestep length",
    "bias": "per-neuron (per-channel) biases, true or false",
    "surrogate": "surrogate derivative of the spike function, NAME or NAME:SCALE "
                 "(docs/semantics.md#gradients)",
    "refractory_dropout": "probability in [0, 1) that a neuron stays open after a spike, "
                          "in training only",
    "strategy": "scheduling strategy during training: sync = layered BPTT, the others "
                "unlayered backprop (docs/semantics.md#strategies)",
    "F": "spikes delivered per forward step during training, an int >= 1 or inf "
         "(ignored by sync)",
    "lam": "momentum noise scale (strategy momentum)",
    "grad": "what a tested neuron that did not fire sends on for the gradient "
            "(docs/semantics.md#gradients)",
    "loss": "training loss: rate_ce, count_ce (spike counts) or membrane (non-spiking output "
            "layer; docs/semantics.md#losses)",
    "activity_reg": "weight of the activity regularizer: the loss gains this times the hidden "
                    "layers' spike density (0 = off; docs/study.md)",
    "train_stop": "stopping mode while training, as in asyncsim eval --stops: output trains a "
                  "readout to decide at the first output spike (asynchronous strategies only)",
    "optimizer": "optimizer (sgd with momentum 0.9)",
    "lr": "learning rate",
    "weight_decay": "weight decay, >= 0",
    "schedule": "learning-rate schedule over the epochs",
    "epochs": "training epochs",
    "batch_size": "samples per batch",
    "seed": "seed of everything random: weights, shuffling, scheduling",
    "backend": "simulation backend: auto = Triton kernels for CUDA tensors, else reference",
    "device": "where the network and batches live: auto (the first CUDA device if there is "
              "one, else cpu), cpu, cuda or cuda:N",
    "out_dir": "folder of the run folders",
    "name": "run name and folder name (default: DATASET-STRATEGY[-FF]-sSEED)",
    "wandb": "log to Weights & Biases, true or false (offline without an API key; "
             "see also --no-wandb)",
    "wandb_project": "W&B project",
    "wandb_group": "W&B group of the run",
    "trace": "stream the last epoch's test evaluation to an HDF5 spike trace "
             "(RUN_FOLDER/trace_test.h5), true or false",
}


def _option_choices() -> dict[str, list[str]]:
    """The allowed values of the TrainConfig keys that have a fixed set of them."""
    from asyncsim.datasets import dataset_names
    from asyncsim.simulate import BACKENDS, GRAD_RULES
    from asyncsim.strategies import STRATEGIES
    from asyncsim.surrogates import SURROGATE_GRADS

    from .config import LOSSES, OPTIMIZERS, SCHEDULES

    return {"dataset": list(dataset_names()), "strategy": list(STRATEGIES),
            "surrogate": list(SURROGATE_GRADS), "grad": list(GRAD_RULES), "loss": list(LOSSES),
            "optimizer": list(OPTIMIZERS), "schedule": list(SCHEDULES),
            "backend": list(BACKENDS)}


def train_option_help(field: dataclasses.Field) -> str:
    """``--key``'s help: its meaning, choices and default."""
    choices = _option_choices().get(field.name)
    default = field.default if field.default is not dataclasses.MISSING \
        else field.default_factory()  # type: ignore[misc]
    text = TRAIN_OPTION_HELP[field.name]
    if choices:
        text += f"; one of {', '.join(choices)}"
    if field.name != "name":
        text += f" (default {_yaml_text(default)})"
    return text.replace("%", "%%")


def _yaml_text(value: object) -> str:
    """A value as it is written on the command line: ``none``, ``true``, ``atan``, ``[128]``."""
    if value is None:
        return "none"
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo``, ``train`` and ``eval`` to the ``asyncsim`` parser."""
    demo = sub.add_parser("demo", help=COMMANDS["demo"].help,
                          description=COMMANDS["demo"].help + " (docs/training.md#asyncsim-demo)")
    demo.add_argument("--out", default="runs/demo", metavar="DIR",
                      help="folder for the runs, checkpoints, summary and plots "
                      "(default %(default)s)")
    demo.add_argument("--epochs", type=int, default=5,
                      help="training epochs of each model (default %(default)s)")
    demo.add_argument("--no-wandb", action="store_true",
                      help="no W&B runs (default: offline runs unless an API key is set)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)

    train = sub.add_parser("train", help=COMMANDS["train"].help, description=(
        COMMANDS["train"].help + ". Every key of the config can be set in the YAML file and "
        "overridden here; values are read as YAML (docs/training.md)."))
    train.add_argument("--config", metavar="YAML",
                       help="YAML file of config keys (examples/train.yaml); options override it")
    keys = train.add_argument_group("config keys (each overrides the YAML file's value)")
    for f in dataclasses.fields(TrainConfig):
        value_type = (arch_value if f.name == "arch" else bool_value if f.name in BOOLEANS
                      else yaml_value)
        flag = f"--{f.name.replace('_', '-')}"
        keys.add_argument(flag, dest=f.name, type=value_type, default=None,
                          metavar=f.name.upper(), help=train_option_help(f))
        if flag != f"--{f.name}":  # `wandb agent` passes sweep parameters as --batch_size=64
            keys.add_argument(f"--{f.name}", dest=f.name, type=value_type, default=None,
                              help=argparse.SUPPRESS)
    train.add_argument("--resume", action="store_true",
                       help="continue from the run folder's last checkpoint")
    train.add_argument("--no-wandb", action="store_true", help="the same as --wandb false")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help=COMMANDS["eval"].help, description=(
        COMMANDS["eval"].help + ": every checkpoint under every setting, then the "
        "cross-evaluation table (docs/training.md#asyncsim-eval)."))
    ev.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                    help="checkpoint files written by asyncsim train (checkpoint.pt, best.pt) "
                    "or NIR files (.nir, docs/nir.md)")
    ev.add_argument("--dataset", metavar="NAME",
                    help="the data set of NIR files (default: the one an asyncsim export "
                    "records; needed for NIR files from other frameworks)")
    ev.add_argument("--dt", type=float, metavar="DT",
                    help="the timestep of NIR files (default: the one an asyncsim export "
                    "records; snnTorch's files need 1e-4)")
    ev.add_argument("--strategies", default="sync,random,momentum,fifo", metavar="S,...",
                    help="execution strategies, comma-separated, of sync, random, momentum, "
                    "fifo (default %(default)s)")
    ev.add_argument("--F", default="1,8,64,inf", metavar="F,...",
                    help="spikes delivered per forward step, comma-separated ints >= 1 or inf; "
                    "sync runs once, without F (default %(default)s)")
    ev.add_argument("--stops", default="complete", metavar="MODE,...",
                    help=f"stopping modes, comma-separated: {STOP_MODES_HELP} "
                    "(default %(default)s)")
    ev.add_argument("--split", default="test", choices=["train", "test"],
                    help="the data split evaluated (default %(default)s)")
    ev.add_argument("--batch-size", type=int, default=128,
                    help="samples per batch; results do not depend on it (default %(default)s)")
    ev.add_argument("--trace", metavar="H5",
                    help="write HDF5 spike traces: this file for a single model and setting, "
                    "else one file per pair beside it (default: none)")
    ev.add_argument("--out", default="runs/eval", metavar="DIR",
                    help="folder for the plots and the W&B run (default %(default)s)")
    ev.add_argument("--json", metavar="FILE",
                    help="also write the metric rows to this JSON file")
    ev.add_argument("--no-wandb", action="store_true",
                    help="no W&B run (default: offline unless an API key is set)")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=_cmd_eval)
