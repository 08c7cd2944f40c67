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


def activity(res: SimResult) -> torch.Tensor:
    """Spike density of the hidden layers (spikes / (hidden neurons x timesteps), averaged over
    the batch): the activity regularizer that ``activity_reg`` weighs into the loss."""
    n_out = res.layer_sizes[-1]
    hidden = res.counts[..., : res.counts.shape[-1] - n_out]
    if hidden.shape[-1] == 0:
        return res.counts.new_zeros(())
    return hidden.sum(dim=(0, 2)).mean() / (hidden.shape[0] * hidden.shape[-1])


LOSS_FUNCTIONS = {"rate_ce": rate_ce, "count_ce": count_ce, "membrane": membrane}
