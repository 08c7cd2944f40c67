"""The ``asyncsim`` command line: ``bench`` here; ``train``, ``eval``, ``demo``, ``data`` and
``trace`` from their packages."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _cmd_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bench import BENCH_COLUMNS, grid, measure
    from .tables import print_table

    sizes = tuple(int(s) for s in _csv(args.sizes))
    configs = grid(sizes, args.batch, args.steps, _csv(args.strategy), _csv(args.F),
                   _csv(args.mode), backend=args.backend, rate=args.rate, device=args.device)
    rows = [measure(cfg, repeats=args.repeats, warmup=args.warmup)
            for cfg in tqdm(configs, desc="bench", unit="config")]
    print_table(f"asyncsim bench: {args.backend} on {args.device}, sizes {list(sizes)}, "
                f"B={args.batch}, T={args.steps}, input rate {args.rate}", BENCH_COLUMNS, rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncsim", description=__doc__)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the simulator's per-step tensors "
                             "are small, and more threads lose to any other load; "
                             "benchmarks/RESULTS.md)")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="time a backend over strategies, F and modes")
    bench.add_argument("--sizes", default="784,256,256,10", help="n_in,n_1,...,n_L")
    bench.add_argument("--batch", type=int, default=64)
    bench.add_argument("--steps", type=int, default=10, help="timesteps T")
    bench.add_argument("--strategy", default="random,momentum")
    bench.add_argument("--F", default="1,8,64,inf")
    bench.add_argument("--mode", default="forward,backward", help="forward and/or backward")
    bench.add_argument("--backend", default="reference")
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--rate", type=float, default=0.05, help="active input fraction per bin")
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--warmup", type=int, default=1)
    bench.add_argument("--json", help="also write the rows to this JSON file")
    bench.set_defaults(func=_cmd_bench)

    from .datasets.cli import register as register_data
    from .trace_cli import register as register_trace
    from .training.cli import register as register_training
    from .training.sweep_cli import register as register_sweep

    register_training(sub)
    register_sweep(sub)
    register_data(sub)
    register_trace(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"asyncsim: error: {err}", file=sys.stderr)
        return 2
