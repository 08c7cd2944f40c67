"""Put the demo's result into the README: ``python scripts/readme_result.py [runs/demo]``.

Reads the demo's ``summary.json``, keeps a copy as docs/demo_result.json (from which
tests/training/test_demo.py re-renders the block and compares it with the README), and replaces
the README's block between the demo summary markers. The block is never typed by hand.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from asyncsim.training.demo import SUMMARY_END, summary_markdown

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RECORD = ROOT / "docs" / "demo_result.json"
BEGIN_PREFIX = "<!-- demo summary"


def replace_block(readme: str, block: str) -> str:
    """``readme`` with the lines from the begin marker to the end marker replaced by ``block``."""
    lines = readme.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(BEGIN_PREFIX)]
    ends = [i for i, line in enumerate(lines) if line == SUMMARY_END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(
            f"README: expected one '{BEGIN_PREFIX} ...' line followed by one '{SUMMARY_END}' line"
        )
    return "\n".join([*lines[: starts[0]], block, *lines[ends[0] + 1 :]]) + "\n"


def main(argv: list[str]) -> int:
    demo_dir = Path(argv[0]) if argv else ROOT / "runs" / "demo"
    summary_path = demo_dir / "summary.json"
    if not summary_path.is_file():
        print(f"readme_result: no {summary_path}; run `asyncsim demo` first", file=sys.stderr)
        return 2
    block = summary_markdown(json.loads(summary_path.read_text()))
    README.write_text(replace_block(README.read_text(), block))
    shutil.copyfile(summary_path, RECORD)
    print(f"README result block updated from {summary_path.resolve()}; record in {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
