"""Experiment configuration: defaults < YAML file < command-line overrides, validated up front.

Every field of ``TrainConfig`` can be set in the YAML file and overridden on the command line
(``--lr 0.01``, ``--hidden "[64, 64]"``, values parsed as YAML; ``--arch "conv(8,3,s2)-fc(64)"``
is kept as written). A bad value raises one ``ValueError`` naming the key, before any work
starts.

The network is ``hidden`` (dense layer sizes) or, when set, ``arch`` (the hidden layers as an
architecture string or list, asyncsim/architecture.py), followed in both cases by the output
layer ``fc(n_classes)`` that the trainer appends (docs/training.md#architectures).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from asyncsim.architecture import Dense, LayerSpec, Link, parse_arch
from asyncsim.network import READOUTS
from asyncsim.simulate import BACKENDS, GRAD_RULES, parse_f
from asyncsim.strategies import STRATEGIES
from asyncsim.surrogates import make_surrogate

LOSSES = ("rate_ce", "count_ce", "membrane")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("none", "cosine", "step")
DEFAULT_HIDDEN = [128]
BOOLEANS = ("bias", "wandb", "trace")
BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
WANDB_FORBIDDEN = "/\\#?%:"  # characters W&B refuses in project and group names


@dataclass
class TrainConfig:
    """One training run (see docs/training.md for every field)."""

    dataset: str = "digits"
    data_dir: str | None = None
    binning: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    hidden: list[int] = field(default_factory=lambda: list(DEFAULT_HIDDEN))
    arch: str | list[Any] | None = None
    tau: float = 10.0
    theta: float = 1.0
    dt: float = 1.0
    bias: bool = False
    surrogate: str = "atan"
    refractory_dropout: float = 0.0
    strategy: str = "sync"
    F: int | str | None = 8  # noqa: N815 - the paper's name
    lam: float = 0.0
    grad: str = "surrogate"
    loss: str = "count_ce"
    activity_reg: float = 0.0
    train_stop: str = "complete"
    optimizer: str = "adam"
    lr: float = 5e-3
    weight_decay: float = 0.0
    schedule: str = "none"
    epochs: int = 5
    batch_size: int = 64
    seed: int = 0
    backend: str = "auto"
    device: str = "auto"
    out_dir: str = "runs"
    name: str | None = None
    wandb: bool = True
    wandb_project: str = "asyncsim"
    wandb_group: str | None = None
    trace: bool = False

    @property
    def f(self) -> int | None:
        return parse_f(self.F)

    @property
    def readout(self) -> str:
        return "membrane" if self.loss == "membrane" else "spikes"

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        f = "" if self.strategy == "sync" else f"-F{'inf' if self.f is None else self.f}"
        return f"{self.dataset}-{self.strategy}{f}-s{self.seed}"

    @property
    def torch_device(self) -> torch.device:
        """Where the network and the batches live: ``auto`` is the first CUDA device when
        there is one, else the CPU; an unavailable CUDA device is a ``ValueError``."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and (not torch.cuda.is_available()
                                      or (device.index or 0) >= torch.cuda.device_count()):
            raise ValueError(f"device: {self.device!r}, but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return device

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.run_name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(key: str, value: object, options: tuple[str, ...] | list[str]) -> None:
    if value not in options:
        raise ValueError(f"{key}: unknown {value!r}; choose from {list(options)}")


def _positive(key: str, value: object, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{key}: must be a positive {'int' if integer else 'number'}, "
                         f"got {value!r}")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check every field; raise ``ValueError`` naming the first bad one."""
    _choice("strategy", cfg.strategy, list(STRATEGIES))
    _choice("loss", cfg.loss, LOSSES)
    _choice("optimizer", cfg.optimizer, OPTIMIZERS)
    _choice("schedule", cfg.schedule, SCHEDULES)
    _choice("grad", cfg.grad, GRAD_RULES)
    _choice("backend", cfg.backend, BACKENDS)
    if not isinstance(cfg.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device):
        raise ValueError(f"device: one of auto, cpu, cuda, cuda:N, got {cfg.device!r}")
    assert cfg.readout in READOUTS
    parse_f(cfg.F)
    make_surrogate(cfg.surrogate)
    for key in ("tau", "theta", "dt", "lr"):
        _positive(key, getattr(cfg, key))
    for key in ("epochs", "batch_size"):
        _positive(key, getattr(cfg, key), integer=True)
    if not isinstance(cfg.hidden, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in cfg.hidden):
        raise ValueError(f"hidden: expected a list of positive ints, got {cfg.hidden!r}")
    if cfg.arch is not None:
        if not isinstance(cfg.arch, (str, list)):
            raise ValueError(f"arch: expected an architecture string like "
                             f"'conv(8,3,s2)-fc(64)' or a list of layers, got {cfg.arch!r}")
        parse_arch(cfg.arch)  # its errors name arch
        if cfg.hidden != DEFAULT_HIDDEN:
            raise ValueError(f"arch: set either arch or hidden, not both (arch={cfg.arch!r}, "
                             f"hidden={cfg.hidden!r})")
    if not (isinstance(cfg.weight_decay, (int, float)) and cfg.weight_decay >= 0):
        raise ValueError(f"weight_decay: must be >= 0, got {cfg.weight_decay!r}")
    if not (isinstance(cfg.refractory_dropout, (int, float))
            and 0 <= cfg.refractory_dropout < 1):
        raise ValueError(f"refractory_dropout: must lie in [0, 1), got "
                         f"{cfg.refractory_dropout!r}")
    if isinstance(cfg.activity_reg, bool) or not isinstance(cfg.activity_reg, (int, float)) \
            or not math.isfinite(cfg.activity_reg) or cfg.activity_reg < 0:
        raise ValueError(f"activity_reg: must be a finite number >= 0, got {cfg.activity_reg!r}")
    _train_stop(cfg)
    if not (isinstance(cfg.lam, (int, float)) and math.isfinite(cfg.lam)):
        raise ValueError(f"lam: must be a finite number, got {cfg.lam!r}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**32:
        raise ValueError(f"seed: must be an int in [0, 2**32), got {cfg.seed!r}")
    for key in BOOLEANS:
        if not isinstance(getattr(cfg, key), bool):
            raise ValueError(f"{key}: expected true or false, got {getattr(cfg, key)!r}")
    if cfg.name is not None:
        check_folder_name("name", cfg.name)
    for key in ("wandb_project", "wandb_group"):
        value = getattr(cfg, key)
        if value is not None and (not isinstance(value, str) or not value
                                  or set(value) & set(WANDB_FORBIDDEN)):
            raise ValueError(f"{key}: expected a non-empty name without any of "
                             f"{WANDB_FORBIDDEN}, got {value!r}")
    if not isinstance(cfg.out_dir, str) or not cfg.out_dir:
        raise ValueError(f"out_dir: expected a folder, got {cfg.out_dir!r}")
    _check_data_keys(cfg)
    return cfg


def check_folder_name(key: str, name: object) -> str:
    """``name`` as one folder name: not empty, no path separator, not ``.`` or ``..`` (a run or
    sweep name must not write outside its parent folder)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name \
            or "\0" in name:
        raise ValueError(f"{key}: expected a folder-safe name (no '/', '\\', '.' or '..'), "
                         f"got {name!r}")
    return name


def _check_data_keys(cfg: TrainConfig) -> None:
    """``dataset`` is registered; ``binning`` holds valid binning knobs and ``dataset_options``
    the data set's own options (its folder and the network's fit are checked by preflight).
    The data package is imported here: it loads h5py, which checking other keys does not need."""
    from asyncsim.datasets.frames import Binning
    from asyncsim.datasets.loader import BINNING_KNOBS, check_options, dataset_names, get_source

    _choice("dataset", cfg.dataset, dataset_names())
    for key in ("binning", "dataset_options"):
        if not isinstance(getattr(cfg, key), dict):
            raise ValueError(f"{key}: expected a mapping, got {getattr(cfg, key)!r}")
    source = get_source(cfg.dataset)
    for key, known in (("binning", BINNING_KNOBS),
                       ("dataset_options", tuple(source.option_defaults))):
        unknown = sorted(map(str, set(getattr(cfg, key)) - set(known)))
        if unknown:
            raise ValueError(f"{key}: unknown key(s) {unknown} for data set {cfg.dataset}; "
                             f"known: {list(known) or 'none'}")
    try:
        Binning(**cfg.binning)
    except ValueError as err:
        raise ValueError(f"binning: {err}") from None
    try:
        check_options(source, cfg.dataset_options)
    except ValueError as err:
        raise ValueError(f"dataset_options: {err}") from None


def _train_stop(cfg: TrainConfig) -> None:
    """``train_stop`` is an evaluation stopping mode used while training (a readout trained to
    decide early); the layered model (``sync``) has no stopping modes."""
    from .evaluation import parse_stop  # lazy: evaluation imports torch

    if not isinstance(cfg.train_stop, str):
        raise ValueError(f"train_stop: expected a stopping mode such as 'output', got "
                         f"{cfg.train_stop!r}")
    try:
        parse_stop(cfg.train_stop)
    except ValueError as err:
        raise ValueError(f"train_stop: {err}") from None
    if cfg.strategy == "sync" and cfg.train_stop != "complete":
        raise ValueError(f"train_stop: {cfg.train_stop!r} needs an asynchronous strategy; "
                         f"'sync' (the layered model) only runs timesteps to completion")


def network_layers(cfg: TrainConfig, n_classes: int) -> list[int | LayerSpec]:
    """The layers above the input: ``hidden`` or ``arch``, then the output layer
    ``fc(n_classes)``. ``arch`` lists the hidden layers only: one whose last layer is a plain
    ``fc(n_classes)`` reads as an output layer given twice and is refused."""
    if cfg.arch is None:
        return [*cfg.hidden, n_classes]
    specs = parse_arch(cfg.arch)
    layers = [spec for spec in specs if not isinstance(spec, Link)]
    if layers and layers[-1] == Dense(n_classes):
        raise ValueError(f"arch: lists the hidden layers only, and the trainer appends the "
                         f"output layer fc({n_classes}) itself; {cfg.arch!r} already ends in "
                         f"fc({n_classes}): drop it")
    return [*specs, Dense(n_classes)]


def make_config(base: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """A validated config from a mapping (e.g. a YAML file's) and overrides (None = unset)."""
    values = dict(base or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in BOOLEANS:  # YAML's 1 and 0 (yes and no already read as booleans)
        if type(values.get(key)) is int and values[key] in (0, 1):
            values[key] = bool(values[key])
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config: unknown key(s) {unknown}; known keys: {sorted(known)}")
    return validate(TrainConfig(**values))


def bool_value(text: str) -> bool | str:
    """A command-line boolean: true/false, yes/no or 1/0 (any case); anything else is returned
    as written, for ``validate`` to refuse with the key's name."""
    return BOOL_WORDS.get(text.strip().lower(), text)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's mapping; a clear error for a missing file or non-mapping content."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config: file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"config: {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config: {path} must hold a mapping of keys to values")
    return data
