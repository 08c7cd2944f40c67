"""Train a small layered SNN a few epochs on each embedded task and print its test accuracy.

The record of docs/datasets.md ("learnable but not trivial"): a feed-forward LIF network
``[n_in, hidden, n_classes]`` simulated with ``strategy="sync"`` (the layered model), trained
with Adam on the cross-entropy of the output spike counts summed over time, evaluated by the
argmax of the summed counts (ties, silence: the lowest class index; docs/semantics.md#metrics).

    python scripts/embedded_baseline.py [--epochs 5] [--hidden 128] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import asyncsim
from asyncsim.datasets import load_dataset, make_loader


def accuracy(net: asyncsim.Network, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose summed output counts peak at their label."""
    with torch.no_grad():
        counts = asyncsim.simulate(net, x, strategy="sync").output_counts.sum(0)
    return (counts.argmax(1) == labels).float().mean().item()


def train_task(name: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Train on one embedded task from weight seed ``seed``; returns the chance level, the
    accuracies and the training time."""
    train = load_dataset(name, split="train", seed=args.data_seed)
    test = load_dataset(name, split="test", seed=args.data_seed)
    torch.manual_seed(seed)
    net = asyncsim.Network(
        [train.n_in, args.hidden, train.n_classes], tau=args.tau, theta=args.theta, dt=1.0
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for x, labels in make_loader(train, batch_size=args.batch_size, shuffle=True, seed=epoch):
            counts = asyncsim.simulate(net, x, strategy="sync").output_counts.sum(0)
            loss = F.cross_entropy(counts, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    return {
        "chance": test.chance_level(),
        "train": accuracy(net, *train.tensors()),
        "test": accuracy(net, *test.tensors()),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", nargs="+", default=["digits", "timing"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--tau", type=float, default=10.0)
    parser.add_argument("--theta", type=float, default=1.0)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="weight initialisation seeds"
    )
    parser.add_argument("--data-seed", type=int, default=0, help="embedded task seed")
    args = parser.parse_args()
    for name in args.tasks:
        tests = []
        for seed in args.seeds:
            result = train_task(name, seed, args)
            tests.append(result["test"])
            print(
                f"{name} seed {seed}: chance {result['chance']:.1%}  train {result['train']:.1%}"
                f"  test {result['test']:.1%}  ({args.epochs} epochs, {result['seconds']:.0f} s)"
            )
        if len(tests) > 1:
            print(
                f"{name}: mean test accuracy {sum(tests) / len(tests):.1%} over {len(tests)} seeds"
            )


if __name__ == "__main__":
    main()
