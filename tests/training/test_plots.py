"""Evaluation figures: F ticks only where F ran, one panel per trained model, a bounded size."""

import matplotlib.image
import numpy as np

from asyncsim.plotting import f_axis
from asyncsim.training import plots

TRAINED = ["sync", "random F=8", "momentum F=8"]


def rows(settings):
    out = []
    for model in TRAINED:
        for strategy, f in settings:
            label = "sync" if strategy == "sync" else f"{strategy} F={f}"
            out.append({"trained": model, "label": label, "strategy": strategy, "F": f,
                        "stop": "complete", "accuracy": 0.5, "spike_density/layer1": 0.2,
                        "spike_density/output": 0.1})
    return out


def test_f_axis_ticks_the_values_that_ran_in_order_inf_last():
    positions, labels = f_axis(["32", "inf", "2", "32"])
    assert labels == ["2", "32", "inf"]
    assert positions == {"2": 0.0, "32": 1.0, "inf": 2.0}


def test_figures_have_a_panel_per_model_and_a_readable_size(tmp_path):
    many = [("sync", "inf")] + [(s, f) for s in ("random", "momentum", "fifo")
                                for f in ("1", "2", "4", "8", "16", "32", "64", "inf")]
    table = rows(many)
    decisions = {(r["trained"], r["label"]): np.arange(10.0) for r in table}
    for path in (plots.accuracy_vs_f(table, tmp_path / "a.png"),
                 plots.density_per_layer(table, tmp_path / "d.png"),
                 plots.decision_times(decisions, tmp_path / "t.png")):
        height, width = matplotlib.image.imread(path).shape[:2]
        assert width <= plots.MAX_WIDTH_IN * 110 and height <= 1400, (path, width, height)
    fig, axes = plots.panel_grid(TRAINED, per_panel=25, suptitle="x")
    assert [ax.get_title() for ax in axes] == [f"trained: {m}" for m in TRAINED]
    assert len(fig.axes) == len(TRAINED)  # one column: no empty panel left visible
