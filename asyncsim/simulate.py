"""``asyncsim.simulate``: validation and backend dispatch (docs/semantics.md#api)."""

from __future__ import annotations

import logging
import math

import torch

from .layered import simulate_layered
from .network import Network, all_finite
from .reference import RunOptions, simulate_reference
from .result import SimResult
from .rng import sample_seeds
from .strategies import get_strategy

BACKENDS = ("auto", "reference", "triton")
GRAD_RULES = ("surrogate", "dense", "events")


def _positive_int_or_none(name: str, value: object, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected None or an int >= {minimum}, got {value!r}")
    return value


def parse_f(f: object) -> int | None:
    """F as an int >= 1, or None for infinity (``None``, ``math.inf`` or ``"inf"``); digit
    strings (command lines) count as ints."""
    if f is None or f == "inf" or (isinstance(f, float) and math.isinf(f) and f > 0):
        return None
    if isinstance(f, str) and f.isdigit():
        f = int(f)
    if isinstance(f, float) and f.is_integer():
        f = int(f)
    if isinstance(f, bool) or not isinstance(f, int) or f < 1:
        raise ValueError(f"F: expected an int >= 1 or inf, got {f!r}")
    return f


def check_input(net: Network, x: torch.Tensor) -> torch.Tensor:
    """Validate ``x`` against ``net``; return it in the weights' dtype."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x: expected a tensor [T, B, n_in], got {type(x).__name__}")
    if x.dim() != 3 or x.shape[2] != net.n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x: expected shape [T, B, {net.n_in}], got {list(x.shape)}")
    weight = net.weights[0]
    if x.device != weight.device:
        raise ValueError(f"x: on {x.device} but the network is on {weight.device}")
    if not (x.dtype.is_floating_point or x.dtype in (torch.uint8, torch.int16, torch.int32,
                                                     torch.int64, torch.bool)):
        raise ValueError(f"x: unsupported dtype {x.dtype}")
    # Integer and boolean inputs (spike counts) are finite in float32 and bfloat16 alike, so
    # only a floating input costs the host synchronisation of the check.
    floating = x.dtype.is_floating_point
    x = x.to(weight.dtype)
    if floating and not bool(all_finite(x)):
        raise ValueError("x: contains NaN or inf")
    return x


def simulate(
    net: Network,
    x: torch.Tensor,
    strategy: str = "random",
    F: int | float | None = 8,  # noqa: N803 - the paper's name
    seed: int | torch.Tensor = 0,
    backend: str = "auto",
    lam: float = 0.0,
    max_steps: int | None = None,
    stop_on_output: int | None = None,
    grad: str = "surrogate",
    record: bool = False,
) -> SimResult:
    """Simulate ``net`` on ``x`` ``[T, B, n_in]`` asynchronously (docs/semantics.md).

    Args:
        strategy: ``"random"``, ``"momentum"``, ``"fifo"`` or ``"sync"`` (the layered model;
            F and the budgets do not apply to it).
        F: spikes delivered per forward step; ``None`` or ``math.inf`` for all pending.
        seed: int (sample b gets ``seed + b``) or an integer tensor ``[B]``.
        backend: ``"auto"`` (Triton for CUDA tensors, else the reference), ``"reference"``
            or ``"triton"``.
        lam: momentum noise scale.
        max_steps: at most this many forward steps per timestep.
        stop_on_output: end a timestep this many steps after its first output spike.
        grad: the gradient rule (docs/semantics.md#gradients): ``"surrogate"`` (silent tests
            pass their zero spike variable on, and it tests what it reaches), ``"dense"``
            (every open neuron tested at every step, for the gradient) or ``"events"`` (only
            emitted spikes carry gradient through currents).
        record: also return fire and emission records.
    """
    strat = get_strategy(strategy)
    f = parse_f(F)
    if backend not in BACKENDS:
        raise ValueError(f"backend: unknown {backend!r}; choose from {list(BACKENDS)}")
    if grad not in GRAD_RULES:
        raise ValueError(f"grad: unknown {grad!r}; choose from {list(GRAD_RULES)}")
    if not (isinstance(lam, (int, float)) and math.isfinite(lam)):
        raise ValueError(f"lam: must be a finite number, got {lam!r}")
    max_steps = _positive_int_or_none("max_steps", max_steps, 1)
    stop_on_output = _positive_int_or_none("stop_on_output", stop_on_output, 0)
    net.check_weights()
    x = check_input(net, x)
    if strat.key is None:
        if max_steps is not None or stop_on_output is not None:
            raise ValueError("strategy: 'sync' is the layered model and takes no max_steps or "
                             "stop_on_output; use another strategy with F=None for budgets")
        return simulate_layered(net, x, record)
    opts = RunOptions(
        strategy=strat,
        f=f,
        seeds=sample_seeds(seed, x.shape[1], x.device),
        lam=float(lam),
        max_steps=max_steps,
        stop_on_output=stop_on_output,
        grad=grad,
        record=bool(record),
    )
    if backend == "triton" or (backend == "auto" and auto_uses_triton(net, x)):
        from .triton_autograd import simulate_triton

        return simulate_triton(net, x, opts)
    return simulate_reference(net, x, opts)


def auto_uses_triton(net: Network, x: torch.Tensor) -> bool:
    """``backend="auto"``: the Triton kernels for CUDA tensors, else the reference. A network
    past ``MAX_NEURONS`` runs the chunked kernels (state in global memory, forward and
    backward); that choice is logged (logger ``asyncsim``, info, once per size)."""
    if not x.is_cuda:
        return False
    from .kernels.forward import MAX_NEURONS

    if net.n_neurons > MAX_NEURONS:
        reason = (f"backend='auto': Triton's chunked kernels for this CUDA network: its "
                  f"{net.n_neurons} neurons exceed the register kernels' {MAX_NEURONS}")
        if reason not in _LOGGED:
            _LOGGED.add(reason)
            _log.info(reason)
    return True


_log = logging.getLogger("asyncsim")
_LOGGED: set[str] = set()
