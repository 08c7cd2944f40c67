"""``asyncsim nir export`` and the NIR side of ``asyncsim eval`` (docs/nir.md).

The ``nir`` package is imported only when a NIR file is used, so the command line works
without it. An exported graph carries the training config in its metadata
(``asyncsim_config``), which tells ``asyncsim eval`` the data set; a NIR file from another
framework needs ``--dataset``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncsim.training.experiment import TrainedModel

CONFIG_KEY = "asyncsim_config"


def _interchange():  # noqa: ANN202 - the module, imported on use
    try:
        from asyncsim import interchange
    except ImportError as err:
        raise ValueError(str(err)) from None
    return interchange


def load_nir_model(
    path: str | Path, dataset: str | None = None, dt: float | None = None
) -> TrainedModel:
    """The network of a ``.nir`` file with the config it was trained under (its metadata) or
    a default one on ``dataset``; checked against the data set's input."""
    from asyncsim.training.config import make_config
    from asyncsim.training.experiment import TrainedModel
    from asyncsim.training.trainer import load_splits

    interchange = _interchange()
    path = Path(path)
    graph = interchange.read_graph(path)
    recorded = (graph.metadata or {}).get(CONFIG_KEY)
    base = json.loads(str(recorded)) if recorded is not None else {}
    if dataset is not None:
        base["dataset"] = dataset
    elif recorded is None:
        raise ValueError(f"nir: {path} records no data set (asyncsim exports do); pass --dataset")
    cfg = make_config(base)
    net = interchange.from_nir(graph, dt=dt)
    train_set, _ = load_splits(cfg)
    if math.prod(train_set.in_shape) != net.n_in:
        raise ValueError(
            f"nir: {path} takes {net.n_in} inputs, the {cfg.dataset} data set "
            f"gives {tuple(train_set.in_shape)}"
        )
    return TrainedModel(path.name, cfg, net)


def _cmd_export(args: argparse.Namespace) -> int:
    from asyncsim.training.experiment import load_model

    interchange = _interchange()  # first: a missing nir package is the user's to install
    import nir

    model = load_model(args.checkpoint)
    graph = interchange.to_nir(model.net)
    graph.metadata[CONFIG_KEY] = json.dumps(model.config.to_dict())
    nir.write(args.out, graph)
    print(
        f"wrote {args.out}: {len(model.net.projections)} projections, layers "
        f"{model.net.layer_sizes}, dt={model.net.dt} (docs/nir.md)"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``nir export CHECKPOINT OUT``."""
    from .commands import COMMANDS

    parser = subparsers.add_parser(
        "nir", help=COMMANDS["nir"].help, description=COMMANDS["nir"].help
    )
    commands = parser.add_subparsers(dest="nir_command", required=True)
    export = commands.add_parser("export", help="write a checkpoint's network as a NIR file")
    export.add_argument("checkpoint", help="checkpoint file (best.pt, checkpoint.pt)")
    export.add_argument("out", help="NIR file to write (model.nir)")
    export.set_defaults(func=_cmd_export)
