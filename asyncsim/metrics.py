"""Readout and metrics of a simulation (docs/semantics.md#losses, #metrics).

Per-sample values come from ``sample_metrics``; ``summarize`` averages them over samples.
Latency metrics (first output, decision time) need the event records of ``record=True``.
Cumulative forward steps count across timesteps: step k of timestep t is
``sum(forward_steps[:t]) + k``.
"""

from __future__ import annotations

import math

import torch

from .result import SimResult, default_layer_names


def predict(res: SimResult) -> torch.Tensor:
    """``[B]`` argmax of ``res.logits`` (summed output counts, or the final membrane of a
    membrane readout); ties and all-zero go to the lowest index."""
    return res.logits.detach().argmax(dim=1)


def _cumulative_step(res: SimResult, timestep: torch.Tensor, sample: torch.Tensor,
                     step: torch.Tensor) -> torch.Tensor:
    before = torch.cumsum(res.forward_steps, dim=0) - res.forward_steps
    return before[timestep, sample] + step


def latency_metrics(res: SimResult) -> dict[str, torch.Tensor]:
    """Per-sample first-output and decision latencies (NaN where a sample never spiked out).

    - ``steps_to_first_output``: cumulative step of the first output spike;
    - ``spikes_before_first_output``: spikes emitted at earlier steps;
    - ``decision_steps``: first cumulative step after which the running argmax of output counts
      (undefined until an output spike) never changes again;
    - ``spikes_before_decision``: spikes emitted at steps before the decision step.
    """
    if res.events is None or res.emissions is None:
        raise ValueError("record: latency metrics need simulate(..., record=True)")
    batch = res.forward_steps.shape[1]
    n_out = res.layer_sizes[-1]
    first_out = sum(res.layer_sizes) - n_out
    total = int(res.forward_steps.sum(dim=0).max())
    device = res.forward_steps.device
    ev = res.events
    is_out = ev.neuron >= first_out
    step = _cumulative_step(res, ev.timestep[is_out], ev.sample[is_out], ev.forward_step[is_out])
    fires = torch.zeros(batch, total + 1, n_out, device=device)
    fires.index_put_((ev.sample[is_out], step, ev.neuron[is_out] - first_out),
                     torch.ones_like(step, dtype=fires.dtype), accumulate=True)
    em = res.emissions
    emit_step = _cumulative_step(res, em.timestep, em.sample, em.forward_step)
    emitted = torch.zeros(batch, total + 1, device=device)
    emitted.index_put_((em.sample, emit_step), em.value.to(emitted.dtype), accumulate=True)
    emitted_before = torch.cumsum(emitted, dim=1) - emitted  # at steps < s

    running = torch.cumsum(fires, dim=1)
    spiked = running.sum(dim=2) > 0
    leader = running.argmax(dim=2)
    undecided = ~spiked | (leader != leader[:, -1:])
    steps = torch.arange(total + 1, device=device)
    nan = torch.full((batch,), math.nan, device=device)
    any_out = spiked[:, -1]
    first = torch.where(spiked, steps, total + 1).min(dim=1).values
    decision = torch.where(undecided, steps, -1).max(dim=1).values + 1
    rows = torch.arange(batch, device=device)
    return {
        "steps_to_first_output": torch.where(any_out, first.float(), nan),
        "spikes_before_first_output": torch.where(
            any_out, emitted_before[rows, first.clamp(max=total)], nan),
        "decision_steps": torch.where(any_out, decision.float(), nan),
        "spikes_before_decision": torch.where(
            any_out, emitted_before[rows, decision.clamp(max=total)], nan),
    }


def sample_metrics(res: SimResult, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-sample metrics ``[B]`` (floats); latency metrics are included when recorded."""
    counts = res.counts.detach()
    steps_t = counts.shape[0]
    pred = predict(res)
    out: dict[str, torch.Tensor] = {
        "prediction": pred.float(),
        "no_output": (res.output_counts.detach().sum(dim=(0, 2)) == 0).float(),
        "spike_density": counts.sum(dim=(0, 2)) / (counts.shape[2] * steps_t),
        "synops": res.synops.sum(dim=0).float(),
        "forward_steps": res.forward_steps.sum(dim=0).float(),
        "emitted": res.emitted.sum(dim=0).float(),
    }
    names = default_layer_names(len(res.layer_sizes))
    for layer, size in enumerate(res.layer_sizes):
        out[f"spike_density/{names[layer]}"] = (
            res.layer_counts(layer).detach().sum(dim=(0, 2)) / (size * steps_t))
    if labels is not None:
        out["correct"] = (pred == labels.to(pred.device)).float()
    if res.events is not None:
        out.update(latency_metrics(res))
    return out


def summarize(per_sample: dict[str, torch.Tensor]) -> dict[str, float]:
    """Means over samples (NaN-skipping for latencies); with labels, decision latencies of the
    correctly classified samples too (``*_correct``) and ``accuracy``."""
    summary = {name: float(values.nanmean()) for name, values in per_sample.items()
               if name != "prediction"}
    if "correct" in per_sample:
        summary["accuracy"] = summary.pop("correct")
        right = per_sample["correct"] > 0
        for name in ("decision_steps", "spikes_before_decision"):
            if name in per_sample:
                summary[f"{name}_correct"] = float(per_sample[name][right].nanmean())
    return summary
