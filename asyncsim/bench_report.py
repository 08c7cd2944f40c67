"""Output of ``asyncsim bench``: the table, the JSON record, ``--compare`` and the plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = "asyncsim-bench/1"
SLOWDOWN_FLAG = 2.0  # --compare flags configurations at least this many times slower

COLUMNS = [("strategy", "strategy"), ("f", "F"), ("mode", "mode"), ("batch", "B"),
           ("ms_median", "ms/batch"), ("ms_min", "min"), ("ms_max", "max"),
           ("steps_per_s", "steps/s"), ("spikes_per_s", "spikes/s"),
           ("synops_per_s", "SynOps/s"), ("gbps", "GB/s"), ("peak_fraction", "of peak"),
           ("peak_mib", "peak MiB"), ("speedup_vs_reference", "x reference"),
           ("speedup_vs_layered", "x layered"), ("speedup_vs_snntorch", "x snnTorch")]


def write_json(path: str | Path, rows: list[dict[str, Any]], env: dict[str, Any],
               peak_gbs: float) -> None:
    """The record, replaced atomically (a reader never sees half a file)."""
    record = {"schema": SCHEMA, "environment": env, "copy_bandwidth_gbs": peak_gbs,
              "rows": rows}
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(path)


def failed_row(cfg: Any, err: BaseException) -> dict[str, Any]:
    """The row of a configuration that could not run: its identity and the error."""
    return {"key": cfg.key, "strategy": cfg.strategy, "f": "inf" if cfg.f is None else cfg.f,
            "mode": cfg.mode, "batch": cfg.batch, "error": f"{type(err).__name__}: {err}"}


def row_line(row: dict[str, Any]) -> str:
    """One configuration's result on one line, printed as soon as it is measured."""
    if "error" in row:
        return f"{row['key']}: FAILED {row['error']}"
    parts = [f"{row['ms_median']:.4g} ms", f"{row['synops_per_s']:.3g} SynOps/s",
             f"{row['gbps']:.3g} GB/s"]
    if "peak_fraction" in row:
        parts.append(f"{100 * row['peak_fraction']:.2g}% of copy bw")
    parts.append(f"peak {row['peak_mib']:.4g} MiB")
    parts += [f"{row[k]:.3g}x {k.removeprefix('speedup_vs_')}" for k in row
              if k.startswith("speedup_vs_")]
    parts += [f"{name.removesuffix('_peak_mib')} peak {row[name]:.4g} MiB" for name in row
              if name.endswith("_peak_mib") and name != "peak_mib"]
    return f"{row['key']}: " + ", ".join(parts)


def read_json(path: str | Path) -> dict[str, Any]:
    """A record written by ``write_json``; a clear error for anything else."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"compare: cannot read {path}: {err}") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ValueError(f"compare: {path} is not an asyncsim bench record ({SCHEMA})")
    return record


def compare(rows: list[dict[str, Any]], old_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time ratios new/old for the configurations both runs have; ``flag`` marks slowdowns of
    ``SLOWDOWN_FLAG`` or more."""
    old = {row["key"]: row for row in old_rows}
    out = []
    for row in rows:
        if row["key"] in old:
            ratio = row["ms_median"] / old[row["key"]]["ms_median"]
            out.append({"key": row["key"], "old_ms": old[row["key"]]["ms_median"],
                        "new_ms": row["ms_median"], "ratio": ratio,
                        "flag": "SLOWER" if ratio >= SLOWDOWN_FLAG else ""})
    return out


def plot(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Synaptic events/s over F per strategy and mode (at the most common batch size), and,
    when several batch sizes ran, time per batch over batch size."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    from .plotting import f_axis, set_f_ticks

    batches = [r["batch"] for r in rows]
    common = max(set(batches), key=batches.count)  # F curves at one batch size
    by_batch = len(set(batches)) > 1
    fig = Figure(figsize=(11 if by_batch else 6.5, 4.2), layout="constrained")
    axes = fig.subplots(1, 2 if by_batch else 1, squeeze=False)[0]
    positions, _ = f_axis(r["f"] for r in rows if r["strategy"] != "sync")
    left = axes[0]
    for i, (strategy, mode) in enumerate(sorted({(r["strategy"], r["mode"]) for r in rows})):
        points = sorted((positions[str(r["f"])], r["synops_per_s"]) for r in rows
                        if (r["strategy"], r["mode"]) == (strategy, mode)
                        and r["batch"] == common and str(r["f"]) in positions)
        if points:
            left.plot(*zip(*points, strict=True), marker="osD^vP*X"[i % 8],
                      label=f"{strategy} {mode}")
    set_f_ticks(left, positions, "F (spikes delivered per forward step)")
    left.set(yscale="log", ylabel="synaptic events / s", title=f"batch size {common}")
    _log_ticks(left.yaxis, LogLocator, EngFormatter, NullFormatter)
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    if by_batch:
        right = axes[1]
        for group in sorted({(r["strategy"], r["mode"], str(r["f"])) for r in rows}):
            points = sorted((r["batch"], r["ms_median"]) for r in rows
                            if (r["strategy"], r["mode"], str(r["f"])) == group)
            if len(points) > 1:
                right.plot(*zip(*points, strict=True), marker="o",
                           label=f"{group[0]} {group[1]} F={group[2]}")
        right.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms per batch",
                  title="time per batch")
        right.set_xticks(sorted(set(batches)), [str(b) for b in sorted(set(batches))])
        right.xaxis.set_minor_formatter(NullFormatter())
        _log_ticks(right.yaxis, LogLocator, EngFormatter, NullFormatter)
        right.grid(alpha=0.3)
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.savefig(path, dpi=110)
    return Path(path)


def _log_ticks(axis, locator, formatter, null) -> None:
    """A log axis labelled at 1, 2 and 5 times each power of ten, in engineering notation
    (``20 k``), so that a range of less than a decade still gets several labels."""
    axis.set_major_locator(locator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(formatter())
    axis.set_minor_formatter(null())
