"""``asyncsim data info <name>``: what a data set holds once binned.

``register(subparsers)`` adds the ``data`` command to the ``asyncsim`` parser. ``info`` loads
both splits (from the frame cache when possible) and prints, per split: samples, classes,
chance level (most frequent class), T, n_in, events per sample, event rate (mean count per
channel per timestep) and how long loading took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from asyncsim.commands import COMMANDS

from .loader import BINNING_KNOBS, dataset_names, get_source, load_dataset
from .source import SPLITS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data info`` to an argparse sub-command set."""
    data = subparsers.add_parser("data", help=COMMANDS["data"].help,
                                 description=COMMANDS["data"].help + " (docs/datasets.md)")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    info = commands.add_parser("info", help="samples, classes, chance, T, n_in and event rate "
                               "per split")
    info.add_argument("name", choices=dataset_names(), help="the data set")
    info.add_argument("--data-dir", type=Path, metavar="DIR",
                      help="folder holding a published data set (default: $ASYNCSIM_DATA_DIR)")
    info.add_argument("--split", choices=SPLITS, help="one split only (default: both)")
    info.add_argument("--dt-ms", type=float,
                      help="bin width in milliseconds (default: the data set's)")
    info.add_argument("--n-steps", type=int,
                      help="number of timesteps; later events are dropped (default: as long "
                      "as each sample)")
    info.add_argument("--pool", type=int,
                      help="k x k pixels (cameras) or k channels (SHD) summed into one "
                      "(default: the data set's)")
    info.add_argument("--merge-polarity", action="store_true", default=None,
                      help="sum ON and OFF events into one polarity")
    info.add_argument("--clip", type=int, help="cap on each count (default: none)")
    info.add_argument("--cache-dir", type=Path, metavar="DIR",
                      help="frame cache folder (default: $ASYNCSIM_CACHE_DIR or "
                      "~/.cache/asyncsim/frames)")
    info.add_argument("--no-cache", dest="use_cache", action="store_false",
                      help="bin afresh, neither reading nor writing the cache")
    info.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    """Print the table; returns 0. Unusable data raise ``DatasetError`` (a ``ValueError``),
    which ``asyncsim.cli.main`` prints as one line."""
    source = get_source(args.name)
    knobs = {knob: getattr(args, knob) for knob in BINNING_KNOBS if getattr(args, knob) is not None}
    rows = []
    for split in [args.split] if args.split else SPLITS:
        start = time.perf_counter()
        frames = load_dataset(
            args.name,
            args.data_dir,
            split,
            cache_dir=args.cache_dir,
            use_cache=args.use_cache,
            **knobs,
        )
        seconds = time.perf_counter() - start
        rows.append(
            (
                split,
                str(len(frames)),
                str(frames.n_classes),
                f"{100 * frames.chance_level():.1f}%",
                str(frames.n_steps),
                str(frames.n_in),
                f"{frames.total_events() / len(frames):.1f}",
                f"{frames.event_rate():.4f}",
                f"{seconds:.2f} s ({'cache' if frames.from_cache else 'binned'})",
            )
        )
    binning = frames.meta["binning"]
    sensor = source.sensor
    print(f"{args.name}: {source.title}")
    print(
        f"sensor {sensor.width}x{sensor.height}x{sensor.polarities} -> n_in {frames.n_in} "
        f"(channel = p*H*W + y*W + x); "
        + ", ".join(f"{knob} {value}" for knob, value in binning.items())
    )
    header = (
        "split",
        "samples",
        "classes",
        "chance",
        "T",
        "n_in",
        "events/sample",
        "event rate",
        "load",
    )
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0
