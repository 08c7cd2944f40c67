"""A study's summaries across factor combinations (docs/study.md#report): the regime map (how
much asynchronous execution costs a layered model and how much unlayered training recovers, per
factor combination) and the trade-off between spikes and accuracy per training condition.

Both use the equal-epochs budget and the asynchronous executions with finite F run to
completion (docs/semantics.md#metrics); every interval is Student's t 95% interval over seeds,
differences paired by seed as in ``study_report.compare``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .study import FINAL
from .study_report import Estimate, async_with_stop, compare, estimate, groups


def per_seed_mean(
    records: list[dict[str, Any]], trained: str, metric: str, keep=async_with_stop
) -> dict[int, float]:
    """Per seed: the mean of ``metric`` over the kept executions of condition ``trained``."""
    by_seed: dict[int, list[float]] = {}
    for r in records:
        value = r.get(metric)
        if r["trained"] == trained and keep(r) and value is not None and math.isfinite(value):
            by_seed.setdefault(r["seed"], []).append(value)
    return {seed: sum(v) / len(v) for seed, v in by_seed.items()}


@dataclass(frozen=True)
class RegimeRow:
    """One factor combination and unlayered condition of the regime map."""

    factors: str
    layered: str
    unlayered: str
    layered_sync: Estimate  # the layered model run sync: its own accuracy
    layered_async: Estimate  # ... run asynchronously (mean over async executions)
    cost: Estimate  # paired per seed: layered_sync - layered_async
    unlayered_async: Estimate
    gain: Estimate  # paired per seed: unlayered_async - layered_async

    @property
    def recovered(self) -> float:
        """The share of the layered model's loss under asynchrony that unlayered training wins
        back (NaN unless asynchrony clearly costs something: its 95% interval above 0)."""
        clear = self.cost.mean > 0 and (self.cost.n < 2 or math.isnan(self.cost.half)
                                        or self.cost.low > 0)
        return self.gain.mean / self.cost.mean if clear else math.nan


def regime_map(records: list[dict[str, Any]]) -> list[RegimeRow]:
    """Per factor combination, layered condition and unlayered condition, at equal epochs."""
    rows = []
    for factors, mine in groups([r for r in records if r["budget"] == FINAL]).items():
        for layered in dict.fromkeys(r["trained"] for r in mine if r["layered"]):
            rows += _regime_rows(factors, mine, layered)
    return rows


def _regime_rows(factors: str, mine: list[dict[str, Any]], layered: str) -> list[RegimeRow]:
    sync = per_seed_mean(mine, layered, "accuracy", lambda r: r["strategy"] == "sync")
    lay = per_seed_mean(mine, layered, "accuracy")
    seeds = sorted(set(sync) & set(lay))
    rows = []
    for comp in compare(mine, "accuracy", False, async_with_stop, partner=layered):
        unl = per_seed_mean(mine, comp.unlayered, "accuracy")
        rows.append(
            RegimeRow(
                factors,
                layered,
                comp.unlayered,
                estimate(sync[s] for s in seeds),
                estimate(lay[s] for s in seeds),
                estimate(sync[s] - lay[s] for s in seeds),
                estimate(unl.values()),
                comp.change,
            )
        )
    return rows


def regime_markdown(rows: list[RegimeRow]) -> str:
    lines = [
        "| factors | layered | unlayered | layered, run sync | layered, run async | cost of "
        "asynchrony (points) | unlayered, run async | gain (points) | recovered |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        recovered = "-" if math.isnan(row.recovered) else f"{row.recovered:.0%}"
        lines.append(
            f"| {row.factors} | {row.layered} | {row.unlayered} | {row.layered_sync.text()} | "
            f"{row.layered_async.text()} | {row.cost.text(1, 100, sign=True)} | "
            f"{row.unlayered_async.text()} | {row.gain.text(1, 100, sign=True)} | {recovered} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class TradeOffPoint:
    """A training condition's accuracy and spike density under asynchronous execution."""

    factors: str
    trained: str
    accuracy: Estimate
    density: Estimate


def trade_off(records: list[dict[str, Any]]) -> list[TradeOffPoint]:
    """Per factor combination and training condition (equal epochs)."""
    points = []
    for factors, mine in groups([r for r in records if r["budget"] == FINAL]).items():
        for name in dict.fromkeys(r["trained"] for r in mine):
            acc = per_seed_mean(mine, name, "accuracy")
            dens = per_seed_mean(mine, name, "spike_density")
            points.append(
                TradeOffPoint(factors, name, estimate(acc.values()), estimate(dens.values()))
            )
    return points


def trade_off_markdown(points: list[TradeOffPoint]) -> str:
    lines = [
        "| factors | trained | accuracy, run async | spike density, run async |",
        "|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.factors} | {p.trained} | {p.accuracy.text()} | {p.density.text()} |"
        )
    return "\n".join(lines)


def summary_markdown(records: list[dict[str, Any]]) -> str:
    """The report's first section: the regime map, then the trade-off table."""
    rows = regime_map(records)
    out = [
        "## Regime map (equal epochs)",
        "",
        "Accuracy, mean ± 95% half-width over seeds; *run async*: the mean over asynchronous "
        "executions with finite F run to completion. Cost of asynchrony: the layered model's "
        "sync accuracy minus its async accuracy; gain: the unlayered model's async accuracy "
        "minus the layered model's, both paired by seed; recovered: gain / cost, where the "
        "cost's interval lies above 0.",
        "",
    ]
    out += [regime_markdown(rows) if rows else "(no layered and unlayered pair)", ""]
    out += [
        "## Spikes and accuracy per training condition (equal epochs)",
        "",
        "Both under asynchronous execution (finite F, run to completion), mean ± 95% "
        "half-width over seeds.",
        "",
        trade_off_markdown(trade_off(records)),
        "",
    ]
    return "\n".join(out)
