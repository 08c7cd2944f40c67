"""A study's results (``asyncsim study report``, docs/study.md): means with 95% confidence
intervals over seeds, trained x executed grids per metric, paired differences between the
unlayered-trained and the layered-trained models, and a verdict per claim computed from them.

Metrics are those of docs/semantics.md#metrics. A confidence interval is Student's t interval of
the mean over seeds; a difference is paired by seed (same seed, same factors, same execution).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from .study import FINAL, MATCHED

# Two-sided 95% quantiles of Student's t, by degrees of freedom; beyond 30, the normal's.
T_975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
NORMAL_975 = 1.960
METRICS = {
    "accuracy": "accuracy",
    "spike_density": "spike density",
    "spikes_before_decision": "spikes to decision",
    "decision_steps": "decision step",
    "steps_to_first_output": "steps to 1st output",
    "synops": "SynOps",
    "no_output": "no output",
}


@dataclass(frozen=True)
class Estimate:
    """Mean over seeds and the half-width of its 95% interval (NaN below 2 seeds)."""

    mean: float
    half: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def text(self, digits: int = 3, scale: float = 1.0, sign: bool = False) -> str:
        if math.isnan(self.mean):
            return "-"
        mean = f"{self.mean * scale:+.{digits}f}" if sign else f"{self.mean * scale:.{digits}f}"
        return mean if math.isnan(self.half) else f"{mean} ± {self.half * scale:.{digits}f}"


def t_quantile(df: int) -> float:
    if df < 1:
        raise ValueError(f"df: need at least 1 degree of freedom, got {df}")
    return T_975[df - 1] if df <= len(T_975) else NORMAL_975


def estimate(values: Iterable[float]) -> Estimate:
    """Mean and 95% t-interval half-width of the finite values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return Estimate(math.nan, math.nan, 0)
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return Estimate(mean, math.nan, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    return Estimate(mean, t_quantile(len(xs) - 1) * sd / math.sqrt(len(xs)), len(xs))


def trained_label(record: dict[str, Any]) -> str:
    if record["budget"] == MATCHED:
        return f"sync≈{record['matched_to']}"
    return record["trained"]


def budget_records(records: list[dict[str, Any]], budget: str) -> list[dict[str, Any]]:
    """Equal epochs: every final checkpoint. Equal sync accuracy: the unlayered models' final
    checkpoints and the layered checkpoints matched to them."""
    if budget == FINAL:
        return [r for r in records if r["budget"] == FINAL]
    return [
        r for r in records if r["budget"] == MATCHED or (r["budget"] == FINAL and not r["layered"])
    ]


def grid(
    records: list[dict[str, Any]], metric: str
) -> tuple[list[str], list[str], dict[tuple[str, str], Estimate]]:
    """Trained x executed estimates of ``metric`` over seeds (one factor combination)."""
    trained = list(dict.fromkeys(trained_label(r) for r in records))
    executed = list(dict.fromkeys(r["executed"] for r in records))
    cells = {}
    for row in trained:
        for col in executed:
            cells[row, col] = estimate(
                r.get(metric) for r in records if trained_label(r) == row and r["executed"] == col
            )
    return trained, executed, cells


def markdown_grid(records: list[dict[str, Any]], metric: str, digits: int = 3) -> str:
    trained, executed, cells = grid(records, metric)
    lines = [
        "| trained \\ executed | " + " | ".join(executed) + " |",
        "|---" * (len(executed) + 1) + "|",
    ]
    for row in trained:
        lines.append(
            f"| {row} | " + " | ".join(cells[row, col].text(digits) for col in executed) + " |"
        )
    return "\n".join(lines)


def is_async(record: dict[str, Any]) -> bool:
    """An asynchronous execution with a finite F (F = inf delivers whole layers)."""
    return record["strategy"] != "sync" and record["F"] != "inf"


@dataclass(frozen=True)
class Comparison:
    """An unlayered condition against its layered partner over a set of executions."""

    unlayered: str
    layered: str
    metric: str
    relative: bool
    change: Estimate  # per seed: mean over executions of (unlayered - layered), or relative
    unlayered_mean: float
    layered_mean: float
    per_seed: tuple[float, ...] = ()


def compare(
    records: list[dict[str, Any]],
    metric: str,
    relative: bool,
    keep: Callable[[dict[str, Any]], bool] = is_async,
    partner: str | None = None,
) -> list[Comparison]:
    """Per unlayered condition: the paired per-seed change of the mean of ``metric`` over the
    kept executions, against the layered condition ``partner`` (default: the study's first,
    as study._layered_partner; its final checkpoint, or for matched records the checkpoint
    matched to that condition)."""
    kept = [
        r for r in records if keep(r) and r.get(metric) is not None and math.isfinite(r[metric])
    ]
    partner = partner or next((r["trained"] for r in records if r["layered"]), None)
    out = []
    for name in dict.fromkeys(r["trained"] for r in kept if not r["layered"]):
        per_seed, u_all, l_all = [], [], []
        for seed in sorted({r["seed"] for r in kept}):
            mine = {
                r["executed"]: r[metric]
                for r in kept
                if r["trained"] == name and not r["layered"] and r["seed"] == seed
            }
            theirs = {
                r["executed"]: r[metric]
                for r in kept
                if r["layered"]
                and r["trained"] == partner
                and r["seed"] == seed
                and r["matched_to"] in ("", name)
            }
            common = sorted(set(mine) & set(theirs))
            if not common:
                continue
            u = sum(mine[c] for c in common) / len(common)
            lay = sum(theirs[c] for c in common) / len(common)
            u_all.append(u)
            l_all.append(lay)
            per_seed.append((u - lay) / lay if relative and lay else u - lay)
        if per_seed:
            layered = next(
                trained_label(r)
                for r in kept
                if r["layered"] and r["trained"] == partner and r["matched_to"] in ("", name)
            )
            out.append(
                Comparison(
                    name,
                    layered,
                    metric,
                    relative,
                    estimate(per_seed),
                    sum(u_all) / len(u_all),
                    sum(l_all) / len(l_all),
                    tuple(per_seed),
                )
            )
    return out


def direction(change: Estimate) -> str:
    """``higher``/``lower`` when the 95% interval excludes 0, else ``no clear difference``."""
    if change.n < 2 or math.isnan(change.half):
        return "higher" if change.mean > 0 else "lower" if change.mean < 0 else "equal"
    if change.low > 0:
        return "higher"
    if change.high < 0:
        return "lower"
    return "no clear difference"


def change_text(comp: Comparison) -> str:
    if comp.relative:
        return f"{comp.change.mean:+.1%} (95% CI {comp.change.low:+.1%} to {comp.change.high:+.1%})"
    return (
        f"{comp.change.mean * 100:+.1f} points (95% CI {comp.change.low * 100:+.1f} to "
        f"{comp.change.high * 100:+.1f})"
    )


def verdict_sentence(comp: Comparison, what: str, scope: str) -> str:
    """One sentence, computed from the numbers, e.g. "Under asynchronous execution (...),
    random F=4-trained models reach accuracy 0.71 vs 0.49 for the layered model: +22.0 points
    (95% CI ...), higher over 3 seeds."""
    fmt = "{:.3f}" if comp.metric in ("accuracy", "spike_density", "no_output") else "{:.1f}"
    verdict = direction(comp.change)
    return (
        f"{scope}, {comp.unlayered}-trained models have {what} "
        f"{fmt.format(comp.unlayered_mean)} vs {fmt.format(comp.layered_mean)} for the "
        f"layered-trained ({comp.layered}): {change_text(comp)}, {verdict} over "
        f"{comp.change.n} seeds."
    )


CLAIMS = (  # metric, relative change?, words, the paper's direction
    ("accuracy", False, "accuracy", "higher"),
    ("spike_density", True, "spike density", "lower"),
    ("spikes_before_decision", True, "spikes to decision", "lower"),
    ("decision_steps", True, "decision step", "lower"),
)


def async_with_stop(record: dict[str, Any], stop: str = "complete") -> bool:
    """An asynchronous execution with finite F and stopping mode ``stop``."""
    return is_async(record) and record["stop"] == stop


def claim_verdicts(
    records: list[dict[str, Any]], stop: str = "complete", partner: str | None = None
) -> list[tuple[str, Comparison, bool]]:
    """(metric, comparison, whether the paper's direction holds with 95% confidence) for every
    claim and unlayered condition, over asynchronous executions with stopping mode ``stop``."""
    out = []
    for metric, relative, _, paper in CLAIMS:
        for comp in compare(records, metric, relative, partial(async_with_stop, stop=stop),
                            partner):
            out.append((metric, comp, direction(comp.change) == paper))
    return out


BUDGET_TITLES = {
    FINAL: "equal epochs",
    MATCHED: "equal sync accuracy (layered checkpoint matched on the training split)",
}


def groups(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records by factor combination, in plan order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        out.setdefault(record["factors"], []).append(record)
    return out


def _verdict_lines(records: list[dict[str, Any]], stop: str, partner: str | None) -> list[str]:
    scope = (
        "Over asynchronous executions (every strategy, finite F"
        + ("" if stop == "complete" else f", stop {stop}")
        + ")"
    )
    lines = []
    for metric, comp, holds in claim_verdicts(records, stop, partner):
        words = next(c[2] for c in CLAIMS if c[0] == metric)
        mark = "paper's direction holds" if holds else "paper's direction not shown"
        lines.append(f"- {verdict_sentence(comp, words, scope)} ({mark})")
    return lines


def _matched_epochs(records: list[dict[str, Any]]) -> str:
    pairs = sorted(
        {
            (r["matched_to"], r["seed"], r["matched_epoch"])
            for r in records
            if r["budget"] == MATCHED
        }
    )
    return "; ".join(f"{name} seed {seed}: epoch {epoch}" for name, seed, epoch in pairs)


def report_markdown(records: list[dict[str, Any]], partner: str | None = None) -> str:
    """The whole report: per factor combination and budget, one grid per metric and stopping
    mode (mean ± 95% CI half-width over seeds), then the verdict sentences; first the regime
    map and the spikes/accuracy table across factor combinations. ``partner``: the layered
    condition the verdicts compare with (default: the study's first; only the first has
    matched checkpoints)."""
    from .study_summary import summary_markdown

    out = [
        "# Study report",
        "",
        "Cells: mean ± half-width of the 95% t-interval over seeds. Verdicts: paired by "
        "seed, mean over asynchronous executions with finite F.",
        "",
        summary_markdown(records),
    ]
    for factors, mine in groups(records).items():
        out += [f"## factors: {factors}", ""]
        budgets = [FINAL] + ([MATCHED] if any(r["budget"] == MATCHED for r in mine) else [])
        for budget in budgets:
            chosen = budget_records(mine, budget)
            seeds = len({r["seed"] for r in chosen})
            out += [f"### budget: {BUDGET_TITLES[budget]} ({seeds} seeds)", ""]
            if budget == MATCHED:
                out += [f"Matched layered checkpoints: {_matched_epochs(mine)}.", ""]
            for stop in dict.fromkeys(r["stop"] for r in chosen if r["strategy"] != "sync"):
                shown = [r for r in chosen if r["stop"] == stop or r["strategy"] == "sync"]
                for metric, title in METRICS.items():
                    digits = 3 if metric in ("accuracy", "spike_density", "no_output") else 1
                    out += [
                        f"#### {title} (stop: {stop})",
                        "",
                        markdown_grid(shown, metric, digits),
                        "",
                    ]
                verdicts = _verdict_lines(chosen, stop, partner)
                out += [f"#### verdicts (stop: {stop})", "", *verdicts, ""]
    return "\n".join(out)


def write_report(
    records: list[dict[str, Any]], out_dir, quiet: bool = False, partner: str | None = None
) -> dict[str, Any]:
    """Write ``report.md`` and the plots into ``out_dir``; print the verdicts (unless
    ``quiet``). ``partner`` as in ``report_markdown``; an unknown one is a ValueError."""
    from pathlib import Path

    from .study_plots import study_plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layered = {r["trained"] for r in records if r["layered"] and r["budget"] == FINAL}
    if partner is not None and partner not in layered:
        raise ValueError(f"--partner: {partner!r} is not a layered condition of this study; "
                         f"choose from {sorted(layered)}")
    text = report_markdown(records, partner)
    (out_dir / "report.md").write_text(text)
    images = []
    for index, (factors, mine) in enumerate(groups(records).items()):
        images += study_plots(
            [r for r in mine if r["budget"] == FINAL], factors, out_dir / f"group{index}"
        )
    if quiet:
        return {"markdown": text, "images": images}
    for line in text.splitlines():
        if line.startswith(("## ", "### ", "- ")):
            print(line)
    print(f"report: {(out_dir / 'report.md').resolve()}")
    print("plots: " + ", ".join(str(p.resolve()) for p in images))
    return {"markdown": text, "images": images}
