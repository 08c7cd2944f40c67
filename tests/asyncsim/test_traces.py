"""HDF5 spike traces (docs/traces.md): exact round trips, libsonata, crashes, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import libsonata
import numpy as np
import pytest
import torch

import asyncsim
from asyncsim.cli import main
from asyncsim.trace_cli import register
from asyncsim.traces import TraceError, TraceWriter, load, plot_raster, summary

from .helpers import binary_input, dyadic_network, set_weights

T, BATCH, DT = 5, 4, 0.5
SIZES = [16, 10, 6, 3]
NAMES = ["layer1", "layer2", "output"]
META = {"strategy": "random", "F": 2, "seeds": np.arange(12, dtype=np.uint32),
        "config": {"lr": 0.01, "sizes": SIZES}, "dataset": "synthetic"}

Batch = tuple[asyncsim.SimResult, torch.Tensor, torch.Tensor]


@pytest.fixture(scope="module")
def batches() -> list[Batch]:
    """Three recorded batches of one network: (result, labels, predictions)."""
    net = dyadic_network(SIZES, seed=3, dt=DT)
    out = []
    for i in range(3):
        with torch.no_grad():
            res = asyncsim.simulate(net, binary_input(T, BATCH, SIZES[0], 0.3, seed=i),
                                    strategy="random", F=2, seed=BATCH * i, record=True)
        labels = torch.arange(BATCH) % SIZES[-1]
        out.append((res, labels, res.output_counts.sum(0).argmax(1)))
    return out


def write(path: Path, batches: list[Batch], **kwargs) -> Path:
    with TraceWriter(path, SIZES[1:], DT, T, META, **kwargs) as writer:
        for res, labels, predictions in batches:
            writer.append(res, labels=labels, predictions=predictions)
    return path


@pytest.fixture(scope="module")
def trace_file(batches, tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("trace") / "run.h5", batches)


def expected(batches: list[Batch]) -> dict[str, dict[str, list]]:
    """Per-layer columns built event by event from the Records, with global sample indices."""
    offsets = np.cumsum([0, *SIZES[1:]])
    cols: dict[str, dict[str, list]] = {
        name: {c: [] for c in ("timestamps", "node_ids", "sample", "timestep", "forward_step",
                               "v_pre")} for name in NAMES}
    for i, (res, _, _) in enumerate(batches):
        ev = res.events
        for s, t, k, j, v in zip(ev.sample.tolist(), ev.timestep.tolist(),
                                 ev.forward_step.tolist(), ev.neuron.tolist(), ev.value.tolist(),
                                 strict=True):
            layer = int(np.searchsorted(offsets, j, side="right")) - 1
            row = cols[NAMES[layer]]
            sample = i * BATCH + s
            row["timestamps"].append((sample * T + t) * DT)
            row["node_ids"].append(j - int(offsets[layer]))
            row["sample"].append(sample)
            row["timestep"].append(t)
            row["forward_step"].append(k)
            row["v_pre"].append(v)
    return cols


def assert_holds(trace, batches: list[Batch]) -> None:
    """The trace holds exactly these batches: every event, label and prediction."""
    for name, columns in expected(batches).items():
        for column, values in columns.items():
            assert getattr(trace[name], column).tolist() == values, (name, column)
    assert trace.samples.tolist() == list(range(len(batches) * BATCH))
    assert trace.labels.tolist() == torch.cat([b[1] for b in batches]).tolist()
    assert trace.predictions.tolist() == torch.cat([b[2] for b in batches]).tolist()


def test_every_event_round_trips_exactly(trace_file, batches):
    trace = load(trace_file)
    assert_holds(trace, batches)
    assert trace.complete and trace.dt == DT and trace.n_steps == T
    for spikes in trace.layers.values():
        assert np.all(np.diff(spikes.timestamps) >= 0)
    meta = trace.metadata
    assert meta["strategy"] == "random" and meta["F"] == 2 and meta["dataset"] == "synthetic"
    assert meta["config"] == META["config"] and meta["seeds"].tolist() == list(range(12))
    assert meta["asyncsim_version"] == asyncsim.__version__
    assert meta["layer_names"] == NAMES and meta["layer_sizes"].tolist() == SIZES[1:]


def test_file_layout_follows_sonata(trace_file):
    with h5py.File(trace_file, "r") as f:
        assert json.loads(f.attrs["config"]) == META["config"]
        for name in NAMES:
            group = f["spikes"][name]
            sorting = group.attrs["sorting"]
            assert h5py.check_enum_dtype(group.attrs.get_id("sorting").dtype) == {
                "none": 0, "by_id": 1, "by_time": 2}
            assert sorting == 2
            assert group["timestamps"].dtype == np.float64
            assert group["timestamps"].attrs["units"] == "ms"
            assert group["node_ids"].dtype == np.uint64
            assert group["timestamps"].compression is None
            assert group["node_ids"].compression is None
            assert group["sample"].compression == "gzip"


def test_libsonata_reads_layers_node_ids_and_times(trace_file):
    reader = libsonata.SpikeReader(str(trace_file))
    trace = load(trace_file)
    assert sorted(reader.get_population_names()) == sorted(NAMES)
    for name in NAMES:
        population, spikes = reader[name], trace[name]
        assert population.sorting == "by_time"
        assert population.time_units == "ms"
        pairs = list(zip(spikes.node_ids.tolist(), spikes.timestamps.tolist(), strict=True))
        assert population.get() == pairs
        assert population.times == (spikes.timestamps.min(), spikes.timestamps.max())
        node = int(spikes.node_ids[0])
        assert population.get(node_ids=[node]) == [p for p in pairs if p[0] == node]


CHILD = """
import itertools, sys, time, torch
from asyncsim.traces import TraceWriter
path, saved, mode = sys.argv[1:4]
batches = torch.load(saved, weights_only=False)
res = batches[0][0]
with TraceWriter(path, res.layer_sizes, 0.5, res.counts.shape[0],
                 flush_every=2 if mode == "hold" else 1) as writer:
    for i in itertools.count():
        res, labels, predictions = batches[i % len(batches)]
        writer.append(res, labels=labels, predictions=predictions)
        print(i, flush=True)
        if mode == "hold" and i == 4:
            time.sleep(120)
"""


def kill_writer(tmp_path: Path, batches: list[Batch], mode: str, kill_after: int) -> list[int]:
    """Run a writer process, SIGKILL it once it printed ``kill_after``; the indices printed."""
    saved = tmp_path / "batches.pt"
    torch.save(batches, saved)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "run.h5"), str(saved),
                             mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed = []
    while kill_after not in printed:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        printed.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    printed += [int(line) for line in proc.stdout.read().split()]
    proc.stderr.close()
    proc.stdout.close()
    return printed


def test_sigkill_between_flushes_keeps_every_flushed_batch(tmp_path, batches):
    # flush_every=2: batches 0-3 are flushed, batch 4 is pending when the writer dies.
    kill_writer(tmp_path, batches, "hold", kill_after=4)
    trace = load(tmp_path / "run.h5")
    assert not trace.complete
    assert_holds(trace, [batches[i % 3] for i in range(4)])
    stored = libsonata.SpikeReader(str(tmp_path / "run.h5"))["output"].get()
    assert stored == list(zip(trace["output"].node_ids.tolist(),
                              trace["output"].timestamps.tolist(), strict=True))


def test_sigkill_while_writing_keeps_every_flushed_batch(tmp_path, batches):
    printed = kill_writer(tmp_path, batches, "loop", kill_after=8)
    trace = load(tmp_path / "run.h5")
    written = len(trace.samples) // BATCH
    # Every printed batch was flushed; the next one may have been flushed before the kill.
    assert written in (printed[-1] + 1, printed[-1] + 2)
    assert_holds(trace, [batches[i % 3] for i in range(written)])


def test_filters_select_samples_layers_and_timesteps(trace_file):
    full = load(trace_file)
    part = load(trace_file, sample=[9, 2, 3], layer="output", timesteps=(1, 4))
    assert list(part.layers) == ["output"] and part.timesteps == (1, 4)
    assert part.samples.tolist() == [2, 3, 9]
    assert part.labels.tolist() == full.labels[[2, 3, 9]].tolist()
    out = full["output"]
    keep = np.isin(out.sample, [2, 3, 9]) & (out.timestep >= 1) & (out.timestep < 4)
    for column in ("timestamps", "node_ids", "sample", "timestep", "forward_step", "v_pre"):
        assert getattr(part["output"], column).tolist() == getattr(out, column)[keep].tolist()
    one = load(trace_file, sample=5, layer=["output", "layer1"])
    assert list(one.layers) == ["layer1", "output"]
    assert set(one["layer1"].sample.tolist()) <= {5}
    assert one["layer1"].timestamps.tolist() == full["layer1"].timestamps[
        full["layer1"].sample == 5].tolist()
    again = full.select(sample=[2, 3, 9], layer="output", timesteps=(1, 4))
    assert again["output"].v_pre.tolist() == part["output"].v_pre.tolist()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sample": 12}, "sample"), ({"layer": "hidden"}, "layer"),
    ({"timesteps": (3, 3)}, "timesteps"), ({"timesteps": (0, T + 1)}, "timesteps")])
def test_filters_reject_what_the_trace_lacks(trace_file, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load(trace_file, **kwargs)


def test_dataframe_lists_every_spike_in_record_order(trace_file, batches):
    df = load(trace_file).to_dataframe()
    assert list(df.columns) == ["layer", "sample", "timestep", "forward_step", "node_id",
                                "neuron", "v_pre", "timestamp"]
    events = [res.events for res, _, _ in batches]
    assert df["neuron"].tolist() == torch.cat([e.neuron for e in events]).tolist()
    assert df["sample"].tolist() == torch.cat(
        [e.sample + i * BATCH for i, e in enumerate(events)]).tolist()
    assert df["v_pre"].tolist() == torch.cat([e.value for e in events]).tolist()
    assert df["timestamp"].tolist() == ((df["sample"] * T + df["timestep"]) * DT).tolist()
    assert df["layer"].cat.categories.tolist() == NAMES


def hand_built_trace(path: Path) -> Path:
    """Input -> A (fires every timestep), B (0.5 per timestep, no leak: fires at t=2) ->
    output C (driven by A only). Sample 0 gets input, sample 1 none; labels 0 and 1."""
    net = set_weights(asyncsim.Network([1, 2, 1], tau=1e9, dt=DT),
                      [[2.0], [0.5]], [[1.5, 0.0]])
    x = torch.zeros(4, 2, 1)
    x[:, 0] = 1.0
    res = asyncsim.simulate(net, x, F=8, record=True)
    with TraceWriter(path, net, DT, 4, {"strategy": "random"}) as writer:
        writer.append(res, labels=[0, 1], predictions=res.output_counts.sum(0).argmax(1))
    return path


def test_summary_of_a_hand_built_network(tmp_path):
    trace = load(hand_built_trace(tmp_path / "hand.h5"))
    assert trace["layer1"].node_ids.tolist() == [0, 0, 0, 1, 0]
    assert trace["layer1"].timestamps.tolist() == [0.0, 0.5, 1.0, 1.0, 1.5]
    assert trace["output"].forward_step.tolist() == [2] * 4
    assert summary(trace) == {
        "path": str(tmp_path / "hand.h5"), "samples": 2, "timesteps": 4, "complete": True,
        "neurons": {"layer1": 2, "output": 1}, "spikes": {"layer1": 5, "output": 4},
        "rate": {"layer1": 5 / 16, "output": 4 / 8}, "accuracy": 0.5}
    assert summary(trace.select(sample=0, timesteps=(2, 4)))["rate"] == {
        "layer1": 3 / 4, "output": 2 / 2}


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="asyncsim")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_summary_and_raster(tmp_path, capsys):
    path = hand_built_trace(tmp_path / "hand.h5")
    assert run_cli("trace", "summary", str(path)) == 0
    out = capsys.readouterr().out
    for text in ("layer1", "output", "0.3125", "accuracy 0.5", "strategy", "random"):
        assert text in out
    png = tmp_path / "raster.png"
    assert run_cli("trace", "raster", str(path), "--out", str(png), "--samples", "0,1") == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run_cli("trace", "raster", str(path), "--out", str(png), "--samples", "0,x")


def test_cli_reports_a_bad_file(tmp_path, capsys):
    assert main(["trace", "summary", str(tmp_path / "none.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asyncsim: error: ") and "none.h5" in err
    assert len(err.strip().splitlines()) == 1


def test_plot_raster_draws_the_chosen_samples(trace_file, tmp_path):
    import matplotlib.image

    png = plot_raster(load(trace_file), tmp_path / "r.png", samples=[1, 2])
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 300 and image.shape[1] > 600 and image.min() < 0.5
    with pytest.raises(ValueError, match="sample"):
        plot_raster(load(trace_file), tmp_path / "r.png", samples=[99])


def not_hdf5(path: Path) -> None:
    path.write_text("spikes")


def plain_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["spikes/x/timestamps"] = [0.0]


def truncated(path: Path) -> None:
    hand_built_trace(path.with_suffix(".full"))
    path.write_bytes(path.with_suffix(".full").read_bytes()[:3000])


@pytest.mark.parametrize(("make", "problem"), [
    (None, "no such trace file"), (not_hdf5, "not a readable HDF5 file"),
    (plain_hdf5, "not an asyncsim spike trace"), (truncated, "HDF5|damaged")])
def test_bad_files_raise_one_clear_error(tmp_path, make, problem):
    path = tmp_path / "bad.h5"
    if make:
        make(path)
    with pytest.raises(TraceError, match=problem) as err:
        load(path)
    assert str(path) in str(err.value)


def test_writer_refuses_to_overwrite_and_checks_its_input(tmp_path, batches):
    res = batches[0][0]
    path = write(tmp_path / "run.h5", batches[:1])
    with pytest.raises(FileExistsError, match=str(path)):
        TraceWriter(path, SIZES[1:], DT, T)
    with TraceWriter(path, SIZES[1:], DT, T, overwrite=True) as writer:
        with pytest.raises(ValueError, match="record=True"):
            writer.append(dataclasses.replace(res, events=None))
        with pytest.raises(ValueError, match="labels"):
            writer.append(res, labels=[0, 1])
    assert len(load(path).samples) == 0
    with pytest.raises(ValueError, match="layer sizes"):
        TraceWriter(tmp_path / "b.h5", [10, 6, 4], DT, T).append(res)
    with pytest.raises(ValueError, match="reserved"):
        TraceWriter(tmp_path / "c.h5", SIZES[1:], DT, T, {"dt": 1.0})
    with pytest.raises(ValueError, match="layer_names"):
        TraceWriter(tmp_path / "d.h5", SIZES[1:], DT, T, layer_names=["a", "a", "b"])


def test_traces_and_rasters_create_their_folders(tmp_path, capsys):
    """Before: a trace or raster in a folder that did not exist was a FileNotFoundError."""
    path = hand_built_trace(tmp_path / "new" / "traces" / "hand.h5")
    png = tmp_path / "other" / "plots" / "raster.png"
    assert main(["trace", "raster", str(path), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["trace", "raster", str(path), "--out", str(tmp_path)]) == 2
    assert f"--out: {tmp_path} is a folder" in capsys.readouterr().err


@pytest.mark.parametrize(("stored", "read"), [(8, 8), (math.inf, math.inf),
                                              ("8", 8), ("inf", math.inf), ("fast", "fast")])
def test_metadata_f_reads_as_a_number(tmp_path, stored, read):
    """F is stored as a number (inf as a float); traces that stored it as text ('2', 'inf')
    read the same way; any other text is left alone."""
    path = hand_built_trace(tmp_path / "hand.h5")
    with h5py.File(path, "a") as f:
        f.attrs["F"] = stored
    value = load(path).metadata["F"]
    assert value == read and type(value) is type(read)
