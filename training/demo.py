"""``asyncsim demo``, the main job: the clearest finding of the study (docs/study.md), small
enough for a laptop.

On the embedded digits task, a network with 3 hidden layers of 64 and a short membrane time
constant (tau = 0.5 with dt = 1) is trained layer-synchronized (``sync``) and with unlayered
backprop at random F = 4, for the same epochs and on two seeds; every model is then executed
under every strategy at F = 2 and F = 8. The demo prints one trained x executed grid per metric
(80 columns), a verdict computed from the numbers, writes the full table, the plots and a
Markdown summary (with commit, date and machine; ``scripts/readme_result.py`` puts it in the
README) under ``runs/demo``, and logs the runs to W&B (offline unless a key is configured).

It is a small study (training/study.py): rerunning it resumes and reuses what was done.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from .study import parse_study, run_study
from .study_report import Comparison, compare, direction, estimate, is_async, markdown_grid

SUMMARY_VERSION = 1
SUMMARY_BEGIN = f"<!-- demo summary v{SUMMARY_VERSION}: written by scripts/readme_result.py -->"
SUMMARY_END = "<!-- end of demo summary -->"
DEMO_SEEDS = [0, 1]
GRID_METRICS = (
    ("accuracy", "test accuracy", 3),
    ("spike_density", "spike density", 3),
    ("spikes_before_decision", "spikes processed before the decision", 0),
)
VERDICT_METRICS = (
    ("accuracy", False, "accuracy"),
    ("spike_density", True, "spike density"),
    ("spikes_before_decision", True, "spikes processed before the decision"),
    ("decision_steps", True, "forward steps to the decision"),
)
WIDTH = 80


def demo_study(epochs: int, wandb: bool, seeds: list[int]) -> dict[str, Any]:
    """The demo's study file (as a mapping)."""
    return {
        "name": "demo",
        "base": {
            "dataset": "digits",
            "hidden": [64, 64, 64],
            "tau": 0.5,
            "dt": 1.0,
            "loss": "count_ce",
            "epochs": epochs,
            "wandb": wandb,
        },
        "seeds": seeds,
        "trained": [{"strategy": "sync"}, {"strategy": "random", "F": 4}],
        "evaluate": {"strategies": ["sync", "random", "momentum", "fifo"], "F": [2, 8]},
        "match_sync_accuracy": False,
    }


def text_grid(records: list[dict[str, Any]], metric: str, title: str, digits: int) -> str:
    """Trained (rows) x executed (columns) means over seeds, at most ``WIDTH`` columns: the
    executed setting's strategy and F on two header lines."""
    trained = list(dict.fromkeys(r["trained"] for r in records))
    executed = list(dict.fromkeys(r["executed"] for r in records))
    first = max(len("trained"), *(len(t) for t in trained)) + 1
    cell = max(8, (WIDTH - first) // max(1, len(executed)))
    heads = [label.partition(" ")[::2] for label in executed]
    lines = [
        title,
        "trained".ljust(first) + "".join(s.rjust(cell) for s, _ in heads),
        " " * first + "".join(f.rjust(cell) for _, f in heads),
    ]
    for name in trained:
        values = [
            estimate(
                r[metric] for r in records if r["trained"] == name and r["executed"] == col
            ).mean
            for col in executed
        ]
        lines.append(
            name.ljust(first)
            + "".join(("-" if math.isnan(v) else f"{v:.{digits}f}").rjust(cell) for v in values)
        )
    return "\n".join(lines)


def seed_range(comp: Comparison, percent: bool) -> str:
    low, high = min(comp.per_seed), max(comp.per_seed)
    if percent:
        return f"{low:+.0%} to {high:+.0%}"
    return f"{low * 100:+.1f} to {high * 100:+.1f} points"


def verdict(records: list[dict[str, Any]]) -> list[str]:
    """Sentences computed from the numbers: per metric, the unlayered-trained models against
    the layered-trained one over the asynchronous executions, with the per-seed range."""
    executions = sorted({r["executed"] for r in records if is_async(r)})
    lines = []
    for metric, relative, words in VERDICT_METRICS:
        for comp in compare(records, metric, relative):
            agree = (
                "in every seed"
                if all(d > 0 for d in comp.per_seed) or all(d < 0 for d in comp.per_seed)
                else "not in every seed"
            )
            change = (
                f"{comp.change.mean:+.0%}" if relative else f"{comp.change.mean * 100:+.1f} points"
            )
            fmt = ".3f" if metric in ("accuracy", "spike_density") else ".1f"
            lines.append(
                f"{words}: {comp.unlayered}-trained {comp.unlayered_mean:{fmt}} vs "
                f"layered-trained {comp.layered_mean:{fmt}}, {change} "
                f"({direction(comp.change)}; per seed {seed_range(comp, relative)}, "
                f"{agree})"
            )
    accuracy = next(c for c in compare(records, "accuracy", False))
    better = all(d > 0 for d in accuracy.per_seed)
    head = (
        f"Verdict over {len(executions)} asynchronous executions ({', '.join(executions)}) "
        f"and {accuracy.change.n} seeds: "
    )
    if better:
        head += (
            f"unlayered training recovers accuracy that layer-synchronized training loses "
            f"when run without layer synchronization ({accuracy.change.mean * 100:+.1f} "
            f"points)."
        )
    else:
        head += (
            "unlayered training did not raise accuracy under asynchronous execution in every seed."
        )
    return [head, *lines]


def machine() -> str:
    import torch

    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    )
    return (
        f"{device}, {platform.system()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = _git(root, "rev-parse", "--short", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha + (" with uncommitted changes" if dirty else "")


def summary_markdown(summary: dict[str, Any]) -> str:
    """The README's result block, from the demo's summary record (``summary.json``)."""
    return "\n".join(
        [
            SUMMARY_BEGIN,
            f"`asyncsim demo` ({summary['epochs']} epochs, seeds {summary['seeds']}), run on "
            f"{summary['date']} at commit {summary['commit']} on {summary['machine']}: "
            f"{summary['seconds']:.0f} s.",
            "",
            "```text",
            "\n\n".join(summary["grids"]),  # as printed
            "```",
            "",
            *(f"- {line}" if i else line for i, line in enumerate(summary["verdict"])),
            "",
            "Full table (every metric, mean ± 95% CI half-width over seeds):",
            "",
            summary["table"],
            SUMMARY_END,
        ]
    )


def run_demo(
    out_dir: Path, epochs: int, wandb: bool, progress: bool = True, seeds: list[int] | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    raw = demo_study(epochs, wandb, seeds or DEMO_SEEDS)
    records = run_study(parse_study(raw, "demo"), out_dir, progress=progress)
    grids = [
        text_grid(records, metric, f"{title}, mean of {len(raw['seeds'])} seeds:", digits)
        for metric, title, digits in GRID_METRICS
    ]
    lines = verdict(records)
    print("\n\n".join(grids))
    print()
    print("\n".join(lines))
    table = "\n\n".join(
        f"{title}:\n\n{markdown_grid(records, metric, digits)}"
        for metric, title, digits in (
            *GRID_METRICS,
            ("decision_steps", "decision step", 1),
            ("synops", "SynOps", 0),
            ("no_output", "no output", 3),
        )
    )
    images = _log(records, out_dir, raw)
    summary = {
        "epochs": epochs,
        "seeds": raw["seeds"],
        "commit": commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "seconds": time.perf_counter() - started,
        "grids": grids,
        "verdict": lines,
        "table": table,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    (out_dir / "summary.md").write_text(summary_markdown(summary) + "\n")
    print(f"full table: {(out_dir / 'report' / 'report.md').resolve()}")
    print(
        f"summary (for the README: scripts/readme_result.py): {(out_dir / 'summary.md').resolve()}"
    )
    print("plots: " + ", ".join(str(p.resolve()) for p in images))
    print(f"demo took {summary['seconds']:.0f} s")
    return {"records": records, "verdict": lines, "summary": summary}


def _log(records: list[dict[str, Any]], out_dir: Path, study: dict[str, Any]) -> list[Path]:
    """The report (tables, plots) to ``out_dir/report`` and to a W&B evaluation run."""
    from .study_report import write_report
    from .tracking import Tracker

    report = write_report(records, out_dir / "report", quiet=True)
    tracker = Tracker(
        enabled=study["base"]["wandb"],
        project="asyncsim",
        name="demo-eval",
        run_dir=out_dir,
        config=study,
        job_type="eval",
        group="demo",
    )
    tracker.log_table("eval/records", records)
    tracker.log_images({f"plots/{p.stem}": p for p in report["images"]})
    if tracker.run_path:
        print(f"W&B ({tracker.mode}) run: {tracker.run_path}")
    tracker.finish()
    return report["images"]
