"""A layer-synchronized snnTorch model through asyncsim and back, via NIR (docs/nir.md).

1. Train a small snnTorch network (AvgPool2d, Conv2d, Leaky, Linear, Leaky; reset to zero)
   with BPTT on asyncsim's embedded digits data set.
2. Export it with snnTorch's own ``export_to_nir``; import it with ``asyncsim.from_nir``
   (snnTorch's timestep: dt = 1e-4) and check that ``strategy="sync"`` gives snnTorch's spikes.
3. Evaluate it under asynchronous execution (strategies x F): accuracy, spikes, decision time.
4. Fine-tune it with unlayered backprop (asyncsim, momentum strategy), evaluate again.
5. Export it back with ``asyncsim.to_nir``; snnTorch's ``import_from_nir`` gives asyncsim's
   spikes.

Needs snntorch, nir and nirtorch (``pip install 'asyncsim[test]'``). Run from the repository:
``PYTHONPATH=. python examples/nir_roundtrip.py --out runs/nir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nir
import snntorch as snn
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
from snntorch import utils
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import import_from_nir

import asyncsim
from asyncsim.datasets import load_dataset, make_loader
from asyncsim.tables import print_table
from asyncsim.training.evaluation import evaluate, settings_grid, split_batches
from asyncsim.training.losses import count_ce

SNNTORCH_DT = 1e-4  # snnTorch's NIR export and import step LIF neurons with this dt
COLUMNS = [
    ("label", "evaluated under"),
    ("accuracy", "accuracy"),
    ("spike_density", "spike density"),
    ("forward_steps", "fwd steps"),
    ("decision_steps", "decision step"),
    ("spikes_before_decision", "spikes to decision"),
]


def snntorch_model(beta: float) -> torch.nn.Sequential:
    """snnTorch 1.0's export needs beta and threshold as per-neuron tensors."""
    leaky = {"reset_mechanism": "zero", "reset_delay": False, "init_hidden": True}
    return torch.nn.Sequential(
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(2, 8, 3, padding=1),
        snn.Leaky(beta=torch.full((8, 5, 5), beta), threshold=torch.ones(8, 5, 5), **leaky),
        torch.nn.Flatten(),
        torch.nn.Linear(200, 10),
        snn.Leaky(beta=torch.full((10,), beta), threshold=torch.ones(10), output=True, **leaky),
    )


def run_snntorch(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output spikes ``[T, B, 10]`` of ``x`` ``[T, B, 2, 10, 10]``."""
    utils.reset(model)
    return torch.stack([model(frame)[0] for frame in x])


def train_snntorch(model: torch.nn.Module, train_set: object, epochs: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(epochs):
        for x, y in make_loader(train_set, 64, shuffle=True, seed=epoch):
            logits = run_snntorch(model, x.reshape(*x.shape[:2], 2, 10, 10)).sum(0)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()


def evaluate_grid(
    net: asyncsim.Network, test_set: object, fs: list[str], title: str
) -> dict[str, float]:
    """Print the metrics under every setting; return the accuracy per setting."""
    rows = []
    for setting in settings_grid(["sync", "random", "momentum", "fifo"], fs, ["complete"]):
        summary, _ = evaluate(net, split_batches(test_set), setting, seed=0)
        rows.append({"label": setting.label, **summary})
    print_table(title, COLUMNS, rows)
    return {row["label"]: row["accuracy"] for row in rows}


def fine_tune(net: asyncsim.Network, train_set: object, epochs: int, f: int) -> None:
    """Unlayered backprop under the momentum strategy with F spikes per forward step."""
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    for epoch in range(epochs):
        for step, (x, y) in enumerate(make_loader(train_set, 64, shuffle=True, seed=100 + epoch)):
            res = asyncsim.simulate(net, x, strategy="momentum", F=f, seed=step)
            loss = count_ce(res, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()


def check_snntorch_import(net: asyncsim.Network, path: Path, x: torch.Tensor) -> bool:
    """snnTorch's import of ``path`` gives ``net``'s sync output spikes on ``x``."""
    back = import_from_nir(nir.read(path))
    ours = asyncsim.simulate(net, x, strategy="sync").output_counts.detach()
    theirs = torch.zeros_like(ours)
    with torch.no_grad():
        for b in range(x.shape[1]):  # snnTorch's NIR Flatten(start_dim=0) needs one sample
            utils.reset(back)
            state = None
            for t in range(x.shape[0]):
                theirs[t, b], state = back(x[t, b].reshape(2, 10, 10), state)
    return torch.equal(ours, theirs)


def one_seed(
    args: argparse.Namespace, seed: int, train_set: object, test_set: object
) -> tuple[dict[str, float], dict[str, float]]:
    """Steps 1-5 for one seed: accuracy per setting before and after the fine-tuning."""
    torch.manual_seed(seed)
    model = snntorch_model(beta=0.9)
    train_snntorch(model, train_set, args.epochs)
    graph = export_to_nir(model, torch.zeros(1, 2, 10, 10), ignore_dims=[0])
    nir.write(args.out / f"snntorch_s{seed}.nir", graph)
    net = asyncsim.from_nir(args.out / f"snntorch_s{seed}.nir", dt=SNNTORCH_DT)

    x, _ = next(iter(make_loader(test_set, 64)))
    with torch.no_grad():
        theirs = run_snntorch(model, x.reshape(*x.shape[:2], 2, 10, 10))
    ours = asyncsim.simulate(net, x, strategy="sync").output_counts
    print(
        f"seed {seed}: snnTorch -> asyncsim: sync output spikes equal snnTorch's: "
        f"{torch.equal(ours, theirs)} ({int(theirs.sum())} spikes, 64 test samples)"
    )

    fs = args.F.split(",")
    before = evaluate_grid(
        net,
        test_set,
        fs,
        f"seed {seed}: snnTorch model (layer-sync BPTT, {args.epochs} epochs) under asyncsim",
    )
    fine_tune(net, train_set, args.finetune_epochs, args.finetune_F)
    after = evaluate_grid(
        net,
        test_set,
        fs,
        f"seed {seed}: after {args.finetune_epochs} "
        f"epoch(s) of unlayered backprop (momentum, F={args.finetune_F})",
    )
    nir.write(args.out / f"finetuned_s{seed}.nir", asyncsim.to_nir(net))
    print(
        f"seed {seed}: asyncsim -> snnTorch: snnTorch's output spikes equal asyncsim's sync "
        f"run: {check_snntorch_import(net, args.out / f'finetuned_s{seed}.nir', x)}"
    )
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="snnTorch BPTT epochs")
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--finetune-F", type=int, default=4)
    parser.add_argument("--F", default="1,4,inf", help="F values of the evaluation")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=Path("runs/nir"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    train_set = load_dataset("digits", None, "train")
    test_set = load_dataset("digits", None, "test")
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [one_seed(args, seed, train_set, test_set) for seed in seeds]
    rows = []
    for label in runs[0][0]:
        row = {"label": label}
        for i, name in enumerate(("before", "after")):
            acc = torch.tensor([run[i][label] for run in runs], dtype=torch.float64)
            spread = f" ± {acc.std():.3f}" if len(acc) > 1 else ""
            row[name] = f"{acc.mean():.3f}{spread}"
        rows.append(row)
    print_table(
        f"test accuracy, mean ± std over seeds {seeds}",
        [
            ("label", "evaluated under"),
            ("before", "snnTorch model"),
            ("after", "after fine-tuning"),
        ],
        rows,
    )


if __name__ == "__main__":
    main()
