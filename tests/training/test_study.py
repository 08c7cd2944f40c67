"""Studies: confidence intervals, paired comparisons, matched budgets, resume, the activity
regularizer and the early-decision training option (docs/study.md)."""

import json
import math

import pytest
import torch

import asyncsim
from asyncsim.cli import main
from asyncsim.training.config import make_config
from asyncsim.training.losses import activity
from asyncsim.training.study import DONE, MATCHED, nearest_snapshot, parse_study
from asyncsim.training.study_cli import parse_shard
from asyncsim.training.study_report import compare, direction, estimate, report_markdown
from asyncsim.training.study_summary import regime_map, summary_markdown, trade_off


def test_confidence_interval_matches_a_hand_computed_case():
    # values 1, 2, 3: mean 2, sd 1, t(0.975, df=2) = 4.303 -> half-width 4.303 / sqrt(3)
    est = estimate([1.0, 2.0, 3.0])
    assert est.mean == pytest.approx(2.0)
    assert est.half == pytest.approx(4.303 / math.sqrt(3), rel=1e-9)
    assert est.n == 3
    # five values 0.70, 0.72, 0.74, 0.76, 0.78: sd = 0.0316228, t(df=4) = 2.776
    est = estimate([0.70, 0.72, 0.74, 0.76, 0.78, float("nan")])
    assert est.n == 5 and est.half == pytest.approx(2.776 * 0.0316228 / math.sqrt(5), rel=1e-5)
    one = estimate([0.5])
    assert one.mean == 0.5 and math.isnan(one.half)


def record(trained, seed, executed, accuracy, layered=False, budget="final", matched_to=""):
    strategy, _, f = executed.partition(" F=")
    return {
        "trained": trained,
        "layered": layered,
        "factors": "-",
        "seed": seed,
        "budget": budget,
        "matched_to": matched_to,
        "executed": executed,
        "strategy": strategy,
        "F": f or "inf",
        "stop": "complete",
        "accuracy": accuracy,
    }


def test_paired_comparison_averages_async_executions_per_seed():
    records = []
    # layered: 0.5 at random F=1, 0.6 at random F=4 (mean 0.55) for every seed; sync and F=inf
    # executions are excluded from the claim.
    for seed, (u1, u4) in enumerate([(0.70, 0.80), (0.65, 0.75), (0.60, 0.70)]):
        records += [
            record("sync", seed, "random F=1", 0.5, layered=True),
            record("sync", seed, "random F=4", 0.6, layered=True),
            record("sync", seed, "sync", 0.9, layered=True),
            record("random F=4", seed, "random F=1", u1),
            record("random F=4", seed, "random F=4", u4),
            record("random F=4", seed, "random F=inf", 0.0),
            record("random F=4", seed, "sync", 0.1),
        ]
    (comp,) = compare(records, "accuracy", relative=False)
    # per-seed changes: 0.75 - 0.55, 0.70 - 0.55, 0.65 - 0.55 = 0.20, 0.15, 0.10
    assert comp.change.mean == pytest.approx(0.15)
    assert comp.change.half == pytest.approx(4.303 * 0.05 / math.sqrt(3), rel=1e-6)
    assert comp.layered_mean == pytest.approx(0.55) and comp.unlayered_mean == pytest.approx(0.70)
    assert direction(comp.change) == "higher"
    (rel,) = compare(records, "accuracy", relative=True)
    assert rel.change.mean == pytest.approx(0.15 / 0.55)
    assert "accuracy (stop: complete)" in report_markdown(records)


def test_matched_records_pair_with_the_condition_they_were_matched_to():
    records = []
    for seed in range(2):
        records += [
            record("sync", seed, "random F=1", 0.3, layered=True, budget=MATCHED, matched_to="a"),
            record("sync", seed, "random F=1", 0.6, layered=True, budget=MATCHED, matched_to="b"),
            record("a", seed, "random F=1", 0.5),
            record("b", seed, "random F=1", 0.5),
        ]
    changes = {c.unlayered: c.change.mean for c in compare(records, "accuracy", False)}
    assert changes == pytest.approx({"a": 0.2, "b": -0.1})


def test_regime_map_pairs_cost_and_gain_by_seed():
    records = []
    # layered: sync 0.9, async 0.5 and 0.6 -> cost 0.35 every seed; unlayered async 0.7 + seed/10
    # (mean over F=1 and F=4) -> gains 0.15, 0.25, 0.35: mean 0.25, recovered 0.25 / 0.35.
    for seed in range(3):
        records += [
            record("sync", seed, "sync", 0.9, layered=True),
            record("sync", seed, "random F=1", 0.5, layered=True),
            record("sync", seed, "random F=4", 0.6, layered=True),
            record("random F=4", seed, "sync", 0.8),
            record("random F=4", seed, "random F=1", 0.65 + seed / 10),
            record("random F=4", seed, "random F=4", 0.75 + seed / 10),
            record("random F=4", seed, "random F=inf", 0.0),  # not asynchronous: left out
        ]
    for r in records:
        r["spike_density"] = 0.2 if r["layered"] else 0.1
    # A second layered condition gets its own rows; the verdicts' partner stays the first.
    records += [record("sync reg", seed, executed, 0.0, layered=True)
                for seed in range(3) for executed in ("sync", "random F=1", "random F=4")]
    row, other = regime_map(records)
    assert (row.factors, row.layered, row.unlayered) == ("-", "sync", "random F=4")
    assert other.layered == "sync reg" and other.gain.mean == pytest.approx(0.8)
    assert compare(records, "accuracy", False)[0].layered == "sync"
    assert row.layered_sync.mean == pytest.approx(0.9) and row.layered_async.mean == \
        pytest.approx(0.55)
    assert row.cost.mean == pytest.approx(0.35) and row.cost.half == pytest.approx(0.0)
    assert row.gain.mean == pytest.approx(0.25)
    assert row.gain.half == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert row.recovered == pytest.approx(0.25 / 0.35)
    points = {p.trained: p for p in trade_off(records)}
    assert points["sync"].density.mean == pytest.approx(0.2)
    assert points["random F=4"].accuracy.mean == pytest.approx(0.8)
    assert points["sync reg"].accuracy.mean == 0.0
    assert "| - | sync | random F=4 | 0.900 ± 0.000 | 0.550 ± 0.000 | +35.0 ± 0.0 |" in \
        summary_markdown(records)


def test_nearest_snapshot_picks_equal_sync_accuracy_earliest_on_ties():
    snapshots = {1: 0.40, 2: 0.55, 3: 0.65, 4: 0.75}
    assert nearest_snapshot(0.62, snapshots) == 3
    assert nearest_snapshot(0.60, snapshots) == 2  # 0.55 and 0.65 are equally near
    assert nearest_snapshot(0.99, snapshots) == 4
    with pytest.raises(ValueError, match="no layered checkpoints"):
        nearest_snapshot(0.5, {})


def test_study_files_are_validated_naming_the_key(tmp_path):
    good = {
        "base": {"dataset": "digits"},
        "trained": [{"strategy": "sync"}, {"strategy": "random", "F": 2}],
    }
    spec = parse_study(good, "s")
    runs = spec.runs(tmp_path)
    assert [r.condition.label for r in runs] == ["sync"] * 3 + ["random F=2"] * 3
    assert [r.config.seed for r in runs] == [0, 1, 2] * 2
    with pytest.raises(ValueError, match="study epochz: unknown key"):
        parse_study({**good, "epochz": 3}, "s")
    with pytest.raises(ValueError, match="match_sync_accuracy: needs a layered"):
        parse_study({"trained": [{"strategy": "random", "F": 2}]}, "s")
    with pytest.raises(ValueError, match="run random_F_0__s0.*F"):
        parse_study(
            {**good, "trained": [{"strategy": "sync"}, {"strategy": "random", "F": 0}]}, "s"
        ).runs(tmp_path)
    with pytest.raises(ValueError, match="evaluate.*stop"):
        parse_study({**good, "evaluate": {"stops": ["soon"]}}, "s")
    assert parse_shard("1/4") == (1, 4)
    with pytest.raises(ValueError, match="--shard"):
        parse_shard("4/4")


TINY = {
    "name": "tiny",
    "base": {"dataset": "digits", "hidden": [8], "epochs": 2, "wandb": False},
    "seeds": [0, 1],
    "trained": [{"strategy": "sync"}, {"strategy": "random", "F": 8}],
    "evaluate": {"strategies": ["sync", "random"], "F": [8], "batch_size": 200},
}


def test_study_runs_reports_and_resumes_without_redoing_work(tmp_path, capsys):
    study_file = tmp_path / "tiny.yaml"
    study_file.write_text(json.dumps(TINY))
    study_dir = tmp_path / "study"
    assert main(["study", "run", str(study_file), "--dir", str(study_dir), "--quiet"]) == 0
    records = json.loads((study_dir / "records.json").read_text())
    # 4 runs x 2 settings at equal epochs, + 2 matched layered checkpoints x 2 settings
    assert len(records) == 4 * 2 + 2 * 2
    matched = [r for r in records if r["budget"] == MATCHED]
    assert {r["matched_to"] for r in matched} == {"random F=8"}
    assert all(r["layered"] and 1 <= r["matched_epoch"] <= 2 for r in matched)
    report = (study_dir / "report" / "report.md").read_text()
    assert "equal sync accuracy" in report and "sync≈random F=8" in report
    assert sorted(p.name for p in (study_dir / "report").glob("*.png")) == [
        "group0_accuracy_vs_F.png",
        "group0_decision_complete.png",
        "group0_density_per_layer.png",
        "group0_trade_off.png",
    ]
    assert "## Regime map" in report and "| - | sync | random F=8 |" in report
    printed = capsys.readouterr().out
    assert "random F=8-trained models have accuracy" in printed

    # A study killed mid-way: one run lost its end marker and one evaluation its cache.
    runs = sorted(p for p in (study_dir / "runs").iterdir())
    kept = {p: (p / "checkpoint.pt").stat().st_mtime_ns for p in runs}
    (runs[0] / DONE).unlink()
    next((runs[1] / "eval").glob("*.json")).unlink()
    assert main(["study", "run", str(study_file), "--dir", str(study_dir), "--quiet"]) == 0
    assert {p: (p / "checkpoint.pt").stat().st_mtime_ns for p in runs} == kept
    assert json.loads((study_dir / "records.json").read_text()) == records
    assert main(["study", "report", str(study_dir), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.md").read_text() == report
    assert main(["study", "report", str(study_dir), "--out", str(tmp_path / "rep"),
                 "--partner", "random F=8"]) == 2
    assert "--partner: 'random F=8' is not a layered condition" in capsys.readouterr().err

    # Two worker processes train and evaluate the same plan to the same records.
    parallel = tmp_path / "parallel"
    assert main(["study", "run", str(study_file), "--dir", str(parallel), "--quiet",
                 "--jobs", "2"]) == 0
    assert json.loads((parallel / "records.json").read_text()) == records
    assert main(["study", "run", str(study_file), "--jobs", "0"]) == 2
    assert "--jobs: must be >= 1, got 0" in capsys.readouterr().err

    other = tmp_path / "other.yaml"
    other.write_text(json.dumps({**TINY, "seeds": [5]}))
    assert main(["study", "run", str(other), "--dir", str(study_dir), "--quiet"]) == 2
    assert "holds a different study" in capsys.readouterr().err


def test_activity_is_the_hidden_spike_density():
    torch.manual_seed(0)
    net = asyncsim.Network([6, 5, 4, 3], tau=2.0, theta=0.5)
    x = (torch.rand(7, 2, 6) < 0.5).float()
    res = asyncsim.simulate(net, x, strategy="random", F=2)
    hidden = res.counts[..., :9]
    expected = sum(float(hidden[:, b].detach().sum()) for b in range(2)) / 2 / (7 * 9)
    assert float(activity(res).detach()) == pytest.approx(expected)
    assert expected > 0
    activity(res).backward()  # differentiable: the regularizer trains
    assert net.weights[0].grad is not None and net.weights[0].grad.abs().sum() > 0


def test_activity_regularizer_lowers_spikes_and_train_stop_trains_early(tmp_path, monkeypatch):
    import asyncsim.training.trainer as trainer_module

    def run(**values):
        cfg = make_config(
            {
                "dataset": "digits",
                "hidden": [32],
                "epochs": 1,
                "strategy": "random",
                "F": 8,
                "out_dir": str(tmp_path),
                "wandb": False,
                "name": json.dumps(values),
                **values,
            }
        )
        return trainer_module.train(cfg, progress=False).history[-1]

    plain, sparse = run(), run(activity_reg=20.0)
    assert sparse["test/spike_density"] < 0.8 * plain["test/spike_density"]
    stops = []
    real_simulate = trainer_module.simulate

    def spy(*args, **kwargs):
        stops.append(kwargs.get("stop_on_output"))
        return real_simulate(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "simulate", spy)
    run(train_stop="output")
    assert stops and set(stops) == {0}  # every training batch ends its timesteps early


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"activity_reg": -1.0}, "activity_reg"),
        ({"activity_reg": "x"}, "activity_reg"),
        ({"train_stop": "later", "strategy": "random"}, "train_stop"),
        ({"train_stop": "output"}, "train_stop: 'output' needs an asynchronous strategy"),
    ],
)
def test_bad_training_options_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        make_config(values)
