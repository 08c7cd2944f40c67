"""NIR's continuous-time LIF neuron as asyncsim's discrete one (docs/semantics.md#nir-interchange).

NIR writes ``tau dv/dt = (v_leak - v) + r I``. The frameworks that export and import NIR
(snnTorch, Norse) step it with forward Euler over a timestep ``dt``:
``v <- (1 - dt/tau) v + (r dt/tau) I``. asyncsim's timestep is ``u <- u exp(-dt/tau_a) + I``
(docs/semantics.md#dynamics), so a NIR neuron is an asyncsim neuron exactly when its input gain
``r dt/tau`` is 1, and then asyncsim's decay is the Euler factor ``1 - dt/tau``. This module
holds that mapping, in both directions, and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# The exporters compute r = tau/dt in float32; the gain r*dt/tau then differs from 1 by a few
# float32 roundings, never more.
GAIN_TOLERANCE = 1e-6
# Steps of one float32 ulp tried when matching asyncsim's float32 decay to a target factor.
_MAX_NUDGES = 64


def reject(node: str, kind: str, param: str, why: str, value: object) -> ValueError:
    """The one error of the NIR interchange: the node, the parameter, why, the value."""
    return ValueError(f"NIR node {node!r} ({kind}): {param} {why}, got {value!r}")


def euler_decay(node: str, kind: str, tau: np.ndarray, dt: float) -> np.ndarray:
    """``[n]`` float64 decay per timestep ``1 - dt/tau`` of NIR neurons, which must lie in
    (0, 1)."""
    bad = ~(np.isfinite(tau) & (tau > dt))
    if bad.any():
        raise reject(
            node,
            kind,
            "tau",
            f"must be finite and > dt={dt} (the decay 1 - dt/tau "
            "of one timestep must lie in (0, 1))",
            float(tau[bad][0]),
        )
    return 1.0 - dt / tau


def input_gain(
    node: str, kind: str, tau: np.ndarray, r: np.ndarray, dt: float, fold: bool
) -> np.ndarray | None:
    """``[n]`` input gains ``r dt/tau`` of NIR neurons that differ from asyncsim's 1, to be
    folded into the weights and bias that feed them (``fold``); None where every gain is 1.
    Without ``fold`` such a gain is refused."""
    gain = r * dt / tau
    off = ~(np.abs(gain - 1.0) <= GAIN_TOLERANCE)
    if not off.any():
        return None
    i = int(np.flatnonzero(off)[0])
    if not fold or not np.isfinite(gain).all():
        raise reject(
            node,
            kind,
            "r",
            f"must equal tau/dt={tau[i] / dt!r} (an input gain r*dt/tau of 1, as asyncsim adds "
            "a current to the membrane unscaled; from_nir(..., fold_input_gain=True) folds the "
            "gain into the weights and bias instead)",
            float(r[i]),
        )
    return gain


def nir_tau(decay: torch.Tensor, dt: float) -> np.ndarray:
    """The NIR ``tau`` whose Euler factor ``1 - dt/tau`` is asyncsim's ``decay`` (float64)."""
    d = decay.detach().cpu().double().numpy()
    return dt / (1.0 - d)


def match_decay(tau: torch.Tensor, target: torch.Tensor, dt: float) -> torch.Tensor:
    """float32 ``tau`` nudged ulp by ulp until ``exp(-dt/tau)`` (``Network.decay``'s float32
    arithmetic) equals ``target`` (float32) wherever a float32 ``tau`` can reach it; where
    none can (one ulp of ``tau`` moves the float32 exp past ``target``), one of the two
    values around it."""
    tau = tau.clone()
    for _ in range(_MAX_NUDGES):
        decay = torch.exp(-dt / tau)  # the arithmetic of Network.decay
        low, high = decay < target, decay > target
        if not bool((low | high).any()):
            break
        tau = torch.where(low, torch.nextafter(tau, torch.full_like(tau, math.inf)), tau)
        tau = torch.where(high, torch.nextafter(tau, torch.zeros_like(tau)), tau)
    return tau


def asyncsim_tau(decay: np.ndarray, dt: float, guess: np.ndarray | None = None) -> torch.Tensor:
    """float32 asyncsim ``tau`` of a float64 decay factor, matched so that asyncsim's own
    float32 decay equals ``decay`` rounded to float32. ``guess`` (the ``tau`` an asyncsim export
    recorded) is taken as it is when its decay is exactly that, so that a round trip returns
    it unchanged; otherwise the search starts at ``-dt / ln(decay)``."""
    target = torch.from_numpy(decay).float()
    if guess is not None:
        tau = torch.from_numpy(np.asarray(guess, dtype=np.float64)).float()
        if torch.equal(torch.exp(-dt / tau), target):  # the arithmetic of Network.decay
            return tau
    tau = torch.from_numpy(-dt / np.log(decay)).float()
    return match_decay(tau, target, dt)
