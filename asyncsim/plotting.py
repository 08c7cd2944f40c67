"""Shared pieces of the figures: the F axis (evaluation, sweep report, bench)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def f_axis(values: Iterable[object]) -> tuple[dict[str, float], list[str]]:
    """Evenly spaced x positions for the F values that ran (``2``, ``"32"``, ``"inf"``...),
    keyed by their text, in increasing order with ``inf`` last, and the tick labels."""
    texts = sorted({str(v) for v in values}, key=lambda v: math.inf if v == "inf" else int(v))
    return {text: float(i) for i, text in enumerate(texts)}, texts


def set_f_ticks(ax, positions: dict[str, float], label: str = "F") -> None:
    """Tick exactly the F values that ran, ``inf`` written out."""
    ax.set_xticks(list(positions.values()), list(positions))
    ax.set_xlim(-0.5, len(positions) - 0.5)
    ax.set_xlabel(label)
