"""Spike function with surrogate derivatives (docs/semantics.md#gradients).

Forward: the Heaviside step ``1[z > 0]`` (strict) of ``z = v - theta``. Backward: the derivative
of a smooth stand-in. Each surrogate is a named derivative formula with one scale parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


def atan_grad(z: torch.Tensor, alpha: float) -> torch.Tensor:
    """``1 / (pi * (1 + (pi*alpha*z/2)^2))``."""
    return 1.0 / (math.pi * (1.0 + (math.pi * alpha * z / 2.0) ** 2))


def fast_sigmoid_grad(z: torch.Tensor, k: float) -> torch.Tensor:
    """``1 / (1 + k*|z|)^2``."""
    return 1.0 / (1.0 + k * z.abs()) ** 2


def sigmoid_grad(z: torch.Tensor, k: float) -> torch.Tensor:
    """``k * sig(k z) * (1 - sig(k z))``."""
    sig = torch.sigmoid(k * z)
    return k * sig * (1.0 - sig)


SURROGATE_GRADS: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], float]] = {
    "atan": (atan_grad, 2.0),
    "fast_sigmoid": (fast_sigmoid_grad, 25.0),
    "sigmoid": (sigmoid_grad, 1.0),
}


@dataclass(frozen=True)
class Surrogate:
    """A surrogate choice: ``name`` in ``SURROGATE_GRADS`` and its scale (alpha or k)."""

    name: str
    scale: float

    def grad(self, z: torch.Tensor) -> torch.Tensor:
        return SURROGATE_GRADS[self.name][0](z, self.scale)


def make_surrogate(spec: str | Surrogate) -> Surrogate:
    """Resolve ``"atan"``, ``"atan:3.0"`` or a ``Surrogate``; raise ``ValueError`` otherwise."""
    if isinstance(spec, Surrogate):
        name, scale = spec.name, spec.scale
    elif isinstance(spec, str):
        name, _, scale_text = spec.partition(":")
        if name not in SURROGATE_GRADS:
            raise ValueError(f"surrogate: unknown name {spec!r}; choose from "
                             f"{sorted(SURROGATE_GRADS)}")
        try:
            scale = float(scale_text) if scale_text else SURROGATE_GRADS[name][1]
        except ValueError:
            raise ValueError(f"surrogate: bad scale in {spec!r}") from None
    else:
        raise ValueError(f"surrogate: expected a name or a Surrogate, got {spec!r}")
    if name not in SURROGATE_GRADS:
        raise ValueError(f"surrogate: unknown name {name!r}; choose from {sorted(SURROGATE_GRADS)}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"surrogate: scale must be finite and > 0, got {scale!r}")
    return Surrogate(name, float(scale))


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z)
        ctx.surrogate = surrogate
        return (z > 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (z,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(z), None


def spike(z: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
    """``1[z > 0]`` with the surrogate derivative in the backward pass."""
    return _SpikeFunction.apply(z, surrogate)
