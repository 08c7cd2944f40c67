"""The demo's printed grids and verdict, and the README's result block (docs/study.md)."""

import json
import sys
from pathlib import Path

import pytest

from asyncsim.training.demo import (
    SUMMARY_BEGIN,
    SUMMARY_END,
    WIDTH,
    summary_markdown,
    text_grid,
    verdict,
)

ROOT = Path(__file__).resolve().parents[2]
EXECUTED = [
    "sync",
    "random F=2",
    "random F=8",
    "momentum F=2",
    "momentum F=8",
    "fifo F=2",
    "fifo F=8",
]


def records(unlayered_gain):
    """Layered accuracy 0.8 under sync, 0.5 asynchronously; the unlayered model 0.75 under sync
    and 0.5 + gain[seed] asynchronously. Spike densities 0.2 and 0.3."""
    out = []
    for seed, gain in enumerate(unlayered_gain):
        for executed in EXECUTED:
            strategy, _, f = executed.partition(" F=")
            base = {
                "factors": "-",
                "seed": seed,
                "budget": "final",
                "matched_to": "",
                "executed": executed,
                "strategy": strategy,
                "F": f or "inf",
                "stop": "complete",
                "spikes_before_decision": 100.0,
                "decision_steps": 50.0,
            }
            sync = strategy == "sync"
            out.append(
                {
                    **base,
                    "trained": "sync",
                    "layered": True,
                    "accuracy": 0.8 if sync else 0.5,
                    "spike_density": 0.2,
                }
            )
            out.append(
                {
                    **base,
                    "trained": "random F=4",
                    "layered": False,
                    "accuracy": 0.75 if sync else 0.5 + gain,
                    "spike_density": 0.3,
                }
            )
    return out


def test_grid_fits_80_columns_and_shows_means():
    text = text_grid(records([0.2, 0.1]), "accuracy", "test accuracy:", 3)
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    assert lines[1].split() == [
        "trained",
        "sync",
        "random",
        "random",
        "momentum",
        "momentum",
        "fifo",
        "fifo",
    ]
    assert lines[2].split() == ["F=2", "F=8"] * 3
    assert lines[3].split() == ["sync", "0.800"] + ["0.500"] * 6
    assert lines[4].split() == ["random", "F=4", "0.750"] + ["0.650"] * 6  # 0.5 + mean(0.2, 0.1)


def test_verdict_is_computed_from_the_numbers():
    lines = verdict(records([0.2, 0.1]))
    assert "recovers accuracy" in lines[0] and "+15.0 points" in lines[0]
    assert "6 asynchronous executions" in lines[0] and "2 seeds" in lines[0]
    accuracy = next(line for line in lines if line.startswith("accuracy"))
    assert "0.650 vs layered-trained 0.500" in accuracy
    assert "per seed +10.0 to +20.0 points, in every seed" in accuracy
    density = next(line for line in lines if line.startswith("spike density"))
    assert "+50%" in density
    mixed = verdict(records([0.2, -0.1]))
    assert "did not raise accuracy" in mixed[0]


def summary():
    return {
        "epochs": 5,
        "seeds": [0, 1],
        "commit": "abc1234",
        "date": "2026-01-01 00:00 UTC",
        "machine": "CPU",
        "seconds": 1.0,
        "grids": ["grid"],
        "verdict": ["a", "b"],
        "table": "| x |",
    }


def test_readme_result_block_is_the_rendered_demo_summary():
    """Fails when the README's block was edited by hand, or when the demo's summary format
    changed without `python scripts/readme_result.py` being rerun on a demo run."""
    record = json.loads((ROOT / "docs" / "demo_result.json").read_text())
    readme = (ROOT / "README.md").read_text()
    start = readme.index(SUMMARY_BEGIN)
    end = readme.index(SUMMARY_END) + len(SUMMARY_END)
    assert readme[start:end] == summary_markdown(record)


def test_readme_script_replaces_only_the_block():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from readme_result import replace_block
    finally:
        sys.path.pop(0)
    block = summary_markdown(summary())
    old = f"# title\n\n{SUMMARY_BEGIN}\nstale\n{SUMMARY_END}\n\n## next\n"
    new = replace_block(old, block)
    assert new == f"# title\n\n{block}\n\n## next\n"
    assert replace_block(new, block) == new
    with pytest.raises(ValueError, match="markers|expected one"):
        replace_block("# no markers\n", block)
