"""The sub-commands of ``asyncsim``: where each is defined and its one-line help.

``asyncsim --help`` lists them from this table alone; only the command that runs (or whose
``--help`` is asked for) imports its module, and with it torch.
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    module: str  # defines ``register(subparsers)``, which adds the command's parser
    help: str


COMMANDS: dict[str, Command] = {
    "demo": Command("asyncsim.training.cli", "the main job: train layered and unlayered "
                    "networks (3 hidden layers, tau 0.5, 2 seeds) on the embedded digits, "
                    "cross-evaluate them and print a verdict"),
    "train": Command("asyncsim.training.cli", "train a network (layered BPTT or unlayered "
                     "backprop) from a YAML config and option overrides"),
    "eval": Command("asyncsim.training.cli", "evaluate checkpoints or NIR files under "
                    "execution settings (strategy x F x stopping mode)"),
    "sweep": Command("asyncsim.training.sweep_cli", "hyper-parameter sweeps: W&B sweep files "
                     "run by Optuna, locally or across machines"),
    "study": Command("asyncsim.training.study_cli", "layered vs unlayered training at matched "
                     "budgets over seeds: tables with confidence intervals, verdicts, plots"),
    "data": Command("asyncsim.datasets.cli", "data sets: what a data set holds once binned"),
    "trace": Command("asyncsim.trace_cli", "HDF5 spike traces: summary tables and raster "
                     "plots"),
    "nir": Command("asyncsim.nir_cli", "NIR interchange: export a checkpoint as a NIR file "
                   "(needs the nir extra; docs/nir.md)"),
    "bench": Command("asyncsim.cli", "profile a backend over network shapes, batch sizes, "
                     "strategies, F and forward/backward"),
}
