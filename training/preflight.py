"""Checks of a training that need more than its config's values, run before anything is written
(docs/training.md#checks-before-work): the output folder, the data set's files, the network
against the data's shape, and one frame through the network under the training's strategy and
backend. That frame also tells which metrics a training logs, against which a sweep's metric is
checked before its study starts.
"""

from __future__ import annotations

from pathlib import Path

import torch

from asyncsim.datasets.loader import get_source
from asyncsim.datasets.source import SPLITS
from asyncsim.network import Network
from asyncsim.outputs import output_folder

from .config import TrainConfig
from .evaluation import ExecSetting, evaluate

EPOCH_KEYS = ("epoch", "train/loss", "train/accuracy", "seconds")
"""What a training logs per epoch besides the test metrics (``test/<metric>``)."""


def data_shape(cfg: TrainConfig) -> tuple[tuple[int, int, int], int]:
    """The input map ``(C, H, W)`` and the number of classes of the config's data set, after
    checking that both splits are where the config says (nothing is read or binned)."""
    source = get_source(cfg.dataset)
    options = {**source.option_defaults, **cfg.dataset_options}
    data_dir = None if cfg.data_dir is None else Path(cfg.data_dir)
    for split in SPLITS:
        source.plan(data_dir, split, options)
    sensor = source.default_binning.replace(**cfg.binning).output_sensor(source.sensor)
    return sensor.in_shape, source.n_classes


def logged_metrics(cfg: TrainConfig, net: Network) -> list[str]:
    """Run one all-zero frame through ``net`` under the config's strategy and backend (what
    fails there would fail at the first batch) and return the names a training logs."""
    frame = torch.zeros(1, 1, net.n_in)
    setting = ExecSetting(cfg.strategy, cfg.f)
    try:
        summary, _ = evaluate(
            net,
            [(frame, torch.zeros(1, dtype=torch.int64))],
            setting,
            seed=cfg.seed,
            backend=cfg.backend,
        )
    except ValueError as err:
        if cfg.backend != "triton":
            raise
        raise ValueError(f"backend: 'triton' cannot run here: {err}") from None
    return [*EPOCH_KEYS, *(f"test/{key}" for key in summary)]


def preflight(cfg: TrainConfig) -> list[str]:
    """Every check above; the metrics the training will log."""
    from .trainer import build_network

    output_folder("out_dir", cfg.run_dir)
    device = cfg.torch_device
    in_shape, n_classes = data_shape(cfg)
    return logged_metrics(cfg, build_network(cfg, in_shape, n_classes).to(device))
