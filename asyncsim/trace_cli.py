"""``asyncsim trace summary|raster``: inspect HDF5 spike traces (docs/traces.md).

``register(subparsers)`` adds the ``trace`` command to the ``asyncsim`` parser. Every
sub-command sets ``func`` (``args -> exit code``); a bad file or argument raises a
``ValueError`` (``TraceError``), which ``asyncsim.cli.main`` prints as one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .commands import COMMANDS
from .outputs import output_file
from .tables import print_table, print_written
from .traces import load, plot_raster, summary

LONG_VALUE = 80  # metadata values longer than this are shortened in the table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``trace summary PATH`` and ``trace raster PATH --out PNG [--samples 0,1]``."""
    trace = subparsers.add_parser("trace", help=COMMANDS["trace"].help,
                                  description=COMMANDS["trace"].help + " (docs/traces.md)")
    commands = trace.add_subparsers(dest="trace_command", required=True, metavar="COMMAND")
    info = commands.add_parser("summary", help="samples, spikes and rates per layer, accuracy")
    info.add_argument("path", type=Path, help="a trace file (.h5)")
    info.set_defaults(func=run_summary)
    raster = commands.add_parser("raster", help="raster plot (PNG) of some samples")
    raster.add_argument("path", type=Path, help="a trace file (.h5)")
    raster.add_argument("--out", type=Path, required=True, help="PNG file to write")
    raster.add_argument("--samples", type=_int_list, default=[0],
                        help="comma-separated global sample indices (default: 0)")
    raster.set_defaults(func=run_raster)


def run_summary(args: argparse.Namespace) -> int:
    """Print one table of layers and one of the run metadata."""
    trace = load(args.path)
    info = summary(trace)
    accuracy = "n/a" if info["accuracy"] is None else f"{info['accuracy']:.4g}"
    title = (f"{args.path}: {info['samples']} samples x {info['timesteps']} timesteps, "
             f"accuracy {accuracy}{'' if info['complete'] else ', INCOMPLETE (cut off)'}")
    rows = [{"layer": name, "neurons": info["neurons"][name], "spikes": spikes,
             "per_sample": spikes / info["samples"] if info["samples"] else float("nan"),
             "rate": info["rate"][name]} for name, spikes in info["spikes"].items()]
    print_table(title, [("layer", "layer"), ("neurons", "neurons"), ("spikes", "spikes"),
                        ("per_sample", "spikes/sample"), ("rate", "spikes/neuron/timestep")],
                rows)
    meta = [{"key": key, "value": _short(value)} for key, value in trace.metadata.items()]
    print_table("run metadata", [("key", "key"), ("value", "value")], meta)
    return 0


def run_raster(args: argparse.Namespace) -> int:
    """Plot the chosen samples to ``--out``."""
    path = plot_raster(load(args.path, sample=args.samples), output_file("--out", args.out))
    print_written("raster", path)
    return 0


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}"
                                         ) from None


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= LONG_VALUE else text[:LONG_VALUE - 1] + "…"
