"""Training losses on a simulation result (docs/semantics.md#losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from asyncsim.result import SimResult


def rate_ce(res: SimResult, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with each timestep's output counts as logits, averaged over T
    (snnTorch's ``ce_rate_loss``)."""
    counts = res.output_counts
    steps = counts.shape[0]
    return F.cross_entropy(counts.flatten(0, 1), labels.repeat(steps))


def count_ce(res: SimResult, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the output counts summed over time as logits."""
    return F.cross_entropy(res.output_counts.sum(dim=0), labels)


def membrane(res: SimResult, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the final membrane of a non-spiking output layer as logits."""
    if res.readout != "membrane":
        raise ValueError("loss: 'membrane' needs a network built with readout='membrane'")
    return F.cross_entropy(res.output_membrane[-1], labels)


LOSS_FUNCTIONS = {"rate_ce": rate_ce, "count_ce": count_ce, "membrane": membrane}
