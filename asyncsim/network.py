"""LIF network definition (docs/semantics.md#network and #architecture).

A ``Network`` holds the parameters only; ``asyncsim.simulate`` runs it. All neurons of all layers
share one flat index space ``0..N-1``: layers contiguous, in order, the output layer last. The
layers' shapes and the projections between them come from ``asyncsim.architecture``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .architecture import LayerSpec, Projection, build, input_shape
from .surrogates import Surrogate, make_surrogate

ParamSpec = float | Sequence[float | torch.Tensor] | torch.Tensor
READOUTS = ("spikes", "membrane")


def _fail(name: str, value: object, why: str) -> ValueError:
    return ValueError(f"{name}: {why}, got {value!r}")


def all_finite(t: torch.Tensor) -> torch.Tensor:
    """Whether every element of the floating tensor ``t`` is finite: a 0-dim bool tensor on its
    device (reading it is the host synchronisation). ``aminmax`` propagates NaN and keeps
    +-inf, so the two extremes are finite exactly when all elements are: one reduction with no
    temporary of ``t``'s size, where ``torch.isfinite(t).all()`` allocates four (for a float32
    ``[T, B, n_in]`` input, 1.75x the input: the whole forward's peak memory at the standard
    shape, benchmarks/RESULTS.md)."""
    if t.numel() == 0:
        return torch.ones((), dtype=torch.bool, device=t.device)
    lo, hi = torch.aminmax(t)
    return torch.isfinite(lo) & torch.isfinite(hi)


def expand_neuron_param(name: str, value: ParamSpec, sizes: Sequence[int]) -> torch.Tensor:
    """A scalar, one value per layer, one tensor per layer, or a flat ``[N]`` tensor → ``[N]``.

    Every value must be finite and > 0.
    """
    n = sum(sizes)
    if isinstance(value, torch.Tensor) and value.dim() == 1 and value.numel() == n:
        flat = value.detach().to(torch.float32).clone()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        flat = torch.full((n,), float(value))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != len(sizes):
            raise _fail(name, value, f"expected one entry per layer ({len(sizes)})")
        parts = []
        for size, item in zip(sizes, value, strict=True):
            part = torch.as_tensor(item, dtype=torch.float32).detach().reshape(-1)
            if part.numel() == 1:
                part = part.expand(size)
            elif part.numel() != size:
                raise _fail(name, value, f"a layer of {size} neurons got {part.numel()} values")
            parts.append(part)
        flat = torch.cat(parts).clone()
    else:
        raise _fail(name, value, f"expected a number, a per-layer list or a [{n}] tensor")
    bad = ~(torch.isfinite(flat) & (flat > 0))
    if bool(bad.any()):
        raise _fail(name, flat[bad][0].item(), "must be finite and > 0")
    return flat


class Network(nn.Module):
    """LIF layers ``sizes[1:]`` fed by the input ``sizes[0]``, each through the layer below.

    Args:
        sizes: ``[n_in, n_1, ..., n_L]`` for dense layers; layer L is the output layer. The
            input may be a shape ``(C, H, W)`` and a layer a ``Conv``, ``Dense`` (optionally
            recurrent) or an extra ``Link`` projection (asyncsim/architecture.py; strings
            like ``"conv(8,3,s2)-fc(10)"`` go through ``Network.from_arch``).
        tau: membrane time constant (same unit as ``dt``): scalar, per layer or per neuron.
        theta: firing threshold: scalar, per layer or per neuron.
        dt: width of one timestep.
        bias: whether every layer has a bias (delivered once per timestep): one per neuron,
            one per channel for a conv layer.
        surrogate: ``"atan"``, ``"fast_sigmoid"``, ``"sigmoid"`` (optionally ``"name:scale"``)
            or a ``Surrogate``.
        refractory_dropout: probability that a spiking neuron stays non-refractory (training).
        weight_gain: initial weights of layer l are ``U(-b, b)`` with standard deviation
            ``weight_gain * mean(theta_l) / sqrt(fan_in)`` (docs/semantics.md#initialization).
        readout: ``"spikes"``, or ``"membrane"`` for a non-spiking output layer that only
            integrates (its membrane is the readout).
        generator: optional ``torch.Generator`` for the initial weights.
    """

    def __init__(
        self,
        sizes: Sequence[int | Sequence[int] | LayerSpec],
        tau: ParamSpec = 20.0,
        theta: ParamSpec = 1.0,
        dt: float = 1.0,
        bias: bool = False,
        surrogate: str | Surrogate = "atan",
        refractory_dropout: float = 0.0,
        weight_gain: float = 3.0,
        readout: str = "spikes",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise _fail("sizes", sizes, "expected [n_in, n_1, ..., n_L] of positive ints")
        shapes, projections = build(input_shape(sizes[0]), sizes[1:])
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise _fail("dt", dt, "must be finite and > 0")
        if not (isinstance(refractory_dropout, (int, float)) and 0.0 <= refractory_dropout < 1.0):
            raise _fail("refractory_dropout", refractory_dropout, "must lie in [0, 1)")
        if not (isinstance(weight_gain, (int, float)) and math.isfinite(weight_gain)
                and weight_gain > 0):
            raise _fail("weight_gain", weight_gain, "must be finite and > 0")
        if readout not in READOUTS:
            raise _fail("readout", readout, f"expected one of {list(READOUTS)}")
        self.readout = readout
        self.in_shape = shapes[0]
        self.layer_shapes = shapes[1:]
        self.projections: list[Projection] = projections
        self.n_in = math.prod(self.in_shape)
        self.layer_sizes: list[int] = [math.prod(shape) for shape in self.layer_shapes]
        self.dt = float(dt)
        self.surrogate = make_surrogate(surrogate)
        self.refractory_dropout = float(refractory_dropout)
        self.register_buffer("tau", expand_neuron_param("tau", tau, self.layer_sizes))
        self.register_buffer("theta", expand_neuron_param("theta", theta, self.layer_sizes))
        self.weights = nn.ParameterList()
        for proj in projections:
            theta_l = self.theta[self.layer_slice(proj.target - 1)].mean().item()
            bound = weight_gain * theta_l * math.sqrt(3.0 / proj.fan_in)
            w = (torch.rand(proj.weight_shape, generator=generator) * 2.0 - 1.0) * bound
            self.weights.append(nn.Parameter(w))
        self.biases = None
        if bias:
            self.biases = nn.ParameterList(nn.Parameter(torch.zeros(shape[0]))
                                           for shape in self.layer_shapes)

    @classmethod
    def from_arch(cls, in_shape: int | Sequence[int], arch: str | Sequence[object],
                  **kwargs: object) -> Network:
        """``Network.from_arch((2, 34, 34), "conv(8,3,s2)-conv(16,3,s2,p1)-fc(10)")``; ``arch``
        as in ``asyncsim.architecture.parse_arch``, ``kwargs`` as in ``Network``."""
        from .architecture import parse_arch

        return cls([in_shape, *parse_arch(arch)], **kwargs)  # type: ignore[arg-type]

    # Layout of the flat neuron index space.
    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes)

    @property
    def n_neurons(self) -> int:
        return sum(self.layer_sizes)

    @property
    def n_out(self) -> int:
        return self.layer_sizes[-1]

    @property
    def offsets(self) -> list[int]:
        """Flat index of the first neuron of each layer, plus ``N`` at the end."""
        out = [0]
        for size in self.layer_sizes:
            out.append(out[-1] + size)
        return out

    def layer_slice(self, layer: int) -> slice:
        """Flat indices of neuron layer ``layer`` (0-based: 0 is the first hidden layer)."""
        off = self.offsets
        return slice(off[layer], off[layer + 1])

    def layer_index(self) -> torch.Tensor:
        """``[N]`` long tensor: the layer of every neuron."""
        sizes = torch.tensor(self.layer_sizes, device=self.theta.device)
        return torch.repeat_interleave(torch.arange(self.n_layers, device=sizes.device), sizes)

    def spiking(self) -> torch.Tensor:
        """``[N]`` bool: which neurons can fire (all but a membrane-readout output layer)."""
        mask = torch.ones(self.n_neurons, dtype=torch.bool, device=self.theta.device)
        if self.readout == "membrane":
            mask[self.layer_slice(self.n_layers - 1)] = False
        return mask

    def fan_out(self) -> torch.Tensor:
        """``[N]`` long: the target neurons one spike of each neuron reaches (SynOps)."""
        out = torch.zeros(self.n_neurons, dtype=torch.long)
        for proj in self.projections:
            if proj.source > 0:
                out[self.layer_slice(proj.source - 1)] += proj.fan_out()
        return out.to(self.theta.device)

    def bias_vector(self) -> torch.Tensor | None:
        """``[N]`` bias of every neuron (a conv layer's per-channel bias repeated over its
        positions), differentiable; None without biases."""
        if self.biases is None:
            return None
        parts = [bias.repeat_interleave(size // shape[0])
                 for bias, shape, size in zip(self.biases, self.layer_shapes, self.layer_sizes,
                                              strict=True)]
        return torch.cat(parts)

    def first_step_currents(self, frames: torch.Tensor,
                            dtype: torch.dtype | None = None) -> torch.Tensor:
        """``[M, N]`` deliveries of step 1 (docs/semantics.md#integrate) for ``frames [M, n_in]``:
        every input projection of the whole frame plus every neuron's bias; weights and biases
        cast to ``dtype`` if given. Differentiable."""
        current = frames.new_zeros(frames.shape[0], self.n_neurons)
        for proj, weight in zip(self.projections, self.weights, strict=True):
            if proj.source == 0:
                weight = weight if dtype is None else weight.to(dtype)
                current[:, self.layer_slice(proj.target - 1)] += proj.apply(weight, frames)
        bias = self.bias_vector()
        if bias is None:
            return current
        return current + (bias if dtype is None else bias.to(dtype))

    def first_reach(self) -> torch.Tensor:
        """``[N]`` bool: the neurons reached at forward step 1 (targets of the input, whose
        frame is delivered whole, and every neuron when the layers have biases)."""
        mask = torch.zeros(self.n_neurons, dtype=torch.bool, device=self.theta.device)
        if self.biases is not None:
            return ~mask
        for proj in self.projections:
            if proj.source == 0:
                mask[self.layer_slice(proj.target - 1)] = True
        return mask

    def decay(self) -> torch.Tensor:
        """``[N]`` membrane decay per timestep, ``exp(-dt/tau)``."""
        return torch.exp(-self.dt / self.tau)

    def check_weights(self) -> None:
        """Raise ``ValueError`` naming the first weight or bias holding NaN or inf.

        One host synchronisation for all of them, and none while no parameter changed since
        the last check passed (their storage and in-place versions are remembered; an edit
        through ``.data`` bypasses the version counter and so this check, not the simulation).
        """
        named = [(f"weights[{i}]", w) for i, w in enumerate(self.weights)]
        if self.biases is not None:
            named += [(f"biases[{i}]", b) for i, b in enumerate(self.biases)]
        version = tuple((t.data_ptr(), t._version) for _, t in named)
        if version == getattr(self, "_checked_version", None):
            return
        finite = [all_finite(t.detach()) for _, t in named]
        if not bool(torch.stack(finite).all()):
            for (name, tensor), ok in zip(named, finite, strict=True):
                if not bool(ok):
                    bad = tensor.detach()[~torch.isfinite(tensor.detach())][0].item()
                    raise _fail(name, bad, "must be finite")
        self._checked_version = version

    def extra_repr(self) -> str:
        arch = ", ".join(p.describe() for p in self.projections)
        return (f"sizes={[self.n_in, *self.layer_sizes]}, projections=[{arch}], dt={self.dt}, "
                f"bias={self.biases is not None}, surrogate={self.surrogate.name}, "
                f"readout={self.readout}, "
                f"refractory_dropout={self.refractory_dropout}")
