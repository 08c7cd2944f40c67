"""The ``asyncsim`` command line: ``bench`` here, the other commands from their packages
(asyncsim/commands.py lists them)."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Collection, Sequence

from . import __version__
from .commands import COMMANDS

DESCRIPTION = """\
asyncsim: asynchronous spiking neural networks, simulated without layer synchronization and
trained through that dynamics (unlayered backprop). `asyncsim COMMAND --help` describes each
command; docs/ in the repository describes every one in full."""


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _numbers(flag: str, text: str, kind: type[int] | type[float] = int) -> list:
    """A comma-separated list of ``kind``; a bad item is an error naming ``flag``."""
    try:
        return [kind(item) for item in _csv(text)]
    except ValueError:
        raise ValueError(f"{flag}: expected comma-separated {kind.__name__}s, got {text!r}"
                         ) from None


def _cmd_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bench import copy_bandwidth_gbs, environment, expand_grid, load_profile, measure
    from .bench_report import COLUMNS, compare, failed_row, plot, read_json, row_line, write_json
    from .outputs import output_file
    from .tables import print_table, print_written

    options: dict = {}
    if args.config:
        configs, options = load_profile(args.config)
    else:
        if args.arch is not None and args.sizes is not None:
            raise ValueError("bench: give --sizes or --arch (with --in-shape), not both")
        if args.arch is not None:
            if args.in_shape is None:
                raise ValueError("bench: --arch needs --in-shape C,H,W")
            network = {"arch": [a.strip() for a in args.arch.split(";") if a.strip()],
                       "in_shape": _numbers("--in-shape", args.in_shape)}
        elif args.in_shape is not None:
            raise ValueError("bench: --in-shape goes with --arch (a dense network is --sizes)")
        else:
            sizes = args.sizes if args.sizes is not None else "784,256,256,10"
            network = {"sizes": [_numbers("--sizes", s) for s in sizes.split(";")]}
        grid = {**network,
                "batch": _numbers("--batch", args.batch),
                "steps": _numbers("--steps", args.steps), "strategy": _csv(args.strategy),
                "F": _csv(args.F), "mode": _csv(args.mode), "backend": args.backend,
                "rate": _numbers("--rate", args.rate, float), "dtype": _csv(args.dtype),
                "device": args.device}
        configs = expand_grid(grid)
    old = read_json(args.compare) if args.compare else None
    for flag in ("json", "plot"):
        if getattr(args, flag):
            output_file(f"--{flag}", getattr(args, flag))
    baselines = _csv(args.baselines) if args.baselines is not None else options.get(
        "baselines", [])
    repeats = options.get("repeats", args.repeats)
    warmup = options.get("warmup", args.warmup)
    peak = copy_bandwidth_gbs(configs[0].device)
    env = environment(configs[0].device)
    rows: list[dict] = []
    failed = 0
    # Each row is printed and the JSON rewritten as soon as it is measured: a profile cut
    # off by a time limit (scripts/gpu_check.sh) keeps every configuration it finished.
    for cfg in tqdm(configs, desc="bench", unit="config"):
        try:
            row = measure(cfg, repeats=repeats, warmup=warmup, baselines=baselines,
                          peak_gbs=peak)
        except (RuntimeError, ValueError, MemoryError) as err:
            failed += 1
            row = failed_row(cfg, err)
        rows.append(row)
        tqdm.write(row_line(row))
        if args.json:
            write_json(args.json, rows, env, peak)
    first = configs[0]
    network = f"sizes {list(first.sizes)}" if first.arch is None else f"network {first.network}"
    print_table(f"asyncsim bench on {first.device} (copy bandwidth {peak:.1f} GB/s): "
                f"{first.backend}, {network}, T={first.steps}, "
                f"input rate {first.rate}", COLUMNS, rows, keep=4)
    notes = {(name, row[f"{name}_note"]) for row in rows for name in baselines
             if row.get(f"{name}_note") and row[f"{name}_note"] != "the configuration itself"}
    for name, note in sorted(notes):
        print(f"baseline {name} skipped: {note}")
    if args.json:
        print_written("record", args.json)
    if args.plot:
        print_written("plot", plot([r for r in rows if "error" not in r], args.plot))
    if old is None:
        return 1 if failed else 0
    ratios = compare(rows, old["rows"])
    print_table(f"compared with {args.compare}", [("key", "configuration"), ("old_ms", "old ms"),
                ("new_ms", "new ms"), ("ratio", "new/old"), ("flag", "")], ratios)
    return 1 if failed or any(r["flag"] for r in ratios) else 0


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every command's options (``commands=None``), or with only those of
    ``commands``: the others are listed with their one-line help, and their modules (torch
    among their imports) are not loaded."""
    parser = argparse.ArgumentParser(prog="asyncsim", description=DESCRIPTION)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the simulator's per-step tensors "
                             "are small, and more threads lose to any other load; "
                             "benchmarks/RESULTS.md)")
    parser.add_argument("--version", action="version", version=f"asyncsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    wanted = {COMMANDS[name].module for name in (COMMANDS if commands is None else commands)}
    registered: set[str] = set()
    for name, command in COMMANDS.items():
        if command.module not in wanted:
            sub.add_parser(name, help=command.help, add_help=False)
        elif command.module not in registered:  # a module registers all of its commands
            registered.add(command.module)
            register = _register_bench if command.module == __name__ else importlib.import_module(
                command.module).register
            register(sub)
    return parser


def _register_bench(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help=COMMANDS["bench"].help,
                           description=COMMANDS["bench"].help)
    bench.add_argument("--config", metavar="YAML",
                       help="a profile: one grid or a list of grids, in the keys of the options "
                       "below (benchmarks/profiles/ has examples); replaces the grid options")
    bench.add_argument("--sizes", metavar="N,N,...",
                       help="dense network(s) n_in,n_1,...,n_L; ';' between networks (default "
                       "784,256,256,10)")
    bench.add_argument("--arch", metavar="LAYERS",
                       help="network(s) as layers, output layer included, e.g. "
                       "'conv(8,3,s2)-conv(16,3,s2,p1)-fc(10)' (docs/semantics.md#architecture); "
                       "';' between networks; needs --in-shape; instead of --sizes (default: none)")
    bench.add_argument("--in-shape", metavar="C,H,W",
                       help="the input map of --arch, e.g. 2,34,34 (default: none)")
    bench.add_argument("--batch", default="64", metavar="B,...",
                       help="batch sizes, comma-separated (default %(default)s)")
    bench.add_argument("--steps", default="10", metavar="T,...",
                       help="timesteps T per sample, comma-separated (default %(default)s)")
    bench.add_argument("--strategy", default="random,momentum", metavar="S,...",
                       help="scheduling strategies, comma-separated, of random, momentum, fifo, "
                       "sync (default %(default)s)")
    bench.add_argument("--F", default="1,8,64,inf", metavar="F,...",
                       help="spikes delivered per forward step, comma-separated ints >= 1 or "
                       "inf (default %(default)s)")
    bench.add_argument("--mode", default="forward,backward", metavar="M,...",
                       help="forward (simulation only) and/or backward (forward + backward), "
                       "comma-separated (default %(default)s)")
    bench.add_argument("--rate", default="0.05", metavar="R,...",
                       help="fraction of input channels active per timestep, comma-separated "
                       "(default %(default)s)")
    bench.add_argument("--dtype", default="float32", metavar="D,...",
                       help="weight dtypes, comma-separated, of float32, bfloat16 (default "
                       "%(default)s)")
    bench.add_argument("--backend", default="reference", choices=["reference", "triton"],
                       help="the backend timed (default %(default)s)")
    bench.add_argument("--device", default="cpu",
                       help="torch device, e.g. cpu, cuda, cuda:1 (default %(default)s)")
    bench.add_argument("--repeats", type=int, default=3,
                       help="timed runs per configuration on the CPU (default %(default)s)")
    bench.add_argument("--warmup", type=int, default=1,
                       help="untimed runs before them (default %(default)s)")
    bench.add_argument("--baselines", metavar="NAME,...",
                       help="also time, on the same network and input: reference, layered, "
                       "snntorch, comma-separated (default: none)")
    bench.add_argument("--json", metavar="FILE",
                       help="write the rows, the environment and every raw sample here")
    bench.add_argument("--plot", metavar="PNG",
                       help="write a figure: synaptic events/s over F, time over batch size")
    bench.add_argument("--compare", metavar="FILE",
                       help="an earlier --json record: print new/old time ratios and exit with "
                       "status 1 if a configuration got 2x slower")
    bench.set_defaults(func=_cmd_bench)


def _named_command(argv: Sequence[str]) -> set[str]:
    """The command named on the command line (the first word that is one), if any."""
    return next(({word} for word in argv if word in COMMANDS), set())


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_named_command(argv)).parse_args(argv)
    try:
        if args.threads < 1:
            raise ValueError(f"--threads: must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
        return args.func(args)
    except (ValueError, OSError) as err:  # bad input, file or folder: the user's to fix
        print(f"asyncsim: error: {user_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("asyncsim: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - anything else is a bug: show where, ask for a report
        traceback.print_exc()
        print(f"asyncsim: internal error: this is a bug in asyncsim {__version__}; please "
              f"report it with the command line and the traceback above", file=sys.stderr)
        return 1


def user_message(err: ValueError | OSError) -> str:
    """One line naming what is at fault: an ``OSError`` names its file, ``ValueError``s of
    asyncsim name the value themselves."""
    if isinstance(err, OSError) and err.strerror:
        where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        return f"{where}: {err.strerror}" if where else err.strerror
    return " ".join(str(err).split("\n"))
