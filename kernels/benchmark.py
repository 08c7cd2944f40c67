"""Benchmark of the Triton kernels against the reference and layered backends.

``python -m asyncsim.kernels.benchmark`` times ``asyncsim.simulate(..., backend="triton")``
end to end (weight packing, input projection and the one launch) for every strategy and F on an
N-MNIST-like workload (binary input frames with ``rate`` of the channels active per bin), and
reports per configuration: ms per batch, forward steps/s and synaptic events/s (summed over the
batch), GB/s of weight reads (one weight per synaptic event plus the dense input projection),
the speedup over the reference backend on the same device, and for F=inf the ratio to the
layered dense simulation (``strategy="sync"``). On a GPU the times come from
``triton.testing.do_bench`` (the reference is timed once: it is slow); on the CPU (Triton's
interpreter, tiny shapes only) from one wall-clock run, meaningful only as a smoke test.

``--backward`` times forward + backward instead (a loss on the counts and the output membrane,
gradients of every weight): ms per batch and peak memory (``torch.cuda.max_memory_allocated``
above what was allocated before, GPU only) for the Triton backend and the reference on the same
device, for every (strategy, F) at T = ``--steps``, then the Triton backend alone at the first F
for every T of ``--grow-steps``: how time and memory grow with F and with T.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import triton.testing

import asyncsim


@dataclass(frozen=True)
class Row:
    """One configuration's measurements."""

    strategy: str
    f: int | None
    ms: float
    reference_ms: float
    layered_ms: float | None  # F=inf only
    forward_steps: int
    synops: int
    weight_bytes: int

    def per_second(self, amount: int) -> float:
        return amount / (self.ms * 1e-3)


def time_ms(fn: Callable[[], object], device: torch.device, repeat: bool = True) -> float:
    """Milliseconds per call: ``do_bench`` on a GPU when ``repeat``, else one timed call."""
    if device.type == "cuda" and repeat:
        return float(triton.testing.do_bench(fn))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def measure(net: asyncsim.Network, x: torch.Tensor, strategy: str, f: int | None) -> Row:
    """Time one configuration on the device of ``x`` (no gradients, no records)."""
    def simulate(backend: str, strat: str = strategy) -> asyncsim.SimResult:
        return asyncsim.simulate(net, x, strategy=strat, F=f, backend=backend, seed=0)

    with torch.no_grad():
        res = simulate("triton")
        ms = time_ms(lambda: simulate("triton"), x.device)
        reference_ms = time_ms(lambda: simulate("reference"), x.device, repeat=False)
        layered_ms = time_ms(lambda: simulate("auto", "sync"), x.device) if f is None else None
    element = net.weights[0].element_size()
    synops = int(res.synops.sum())
    return Row(strategy, f, ms, reference_ms, layered_ms, int(res.forward_steps.sum()), synops,
               (synops + net.weights[0].numel()) * element)


@dataclass(frozen=True)
class BackwardRow:
    """One forward + backward configuration; memory in bytes (None off the GPU); reference
    figures None where not run (or ``inf`` ms where it ran out of memory)."""

    strategy: str
    f: int | None
    steps: int
    ms: float
    peak: int | None
    reference_ms: float | None
    reference_peak: int | None


def _train_step(net: asyncsim.Network, x: torch.Tensor, strategy: str, f: int | None,
                backend: str) -> None:
    net.zero_grad(set_to_none=True)
    res = asyncsim.simulate(net, x, strategy=strategy, F=f, backend=backend, seed=0)
    (res.counts.sum() + res.output_membrane.sum()).backward()


def _peak_bytes(fn: Callable[[], object], device: torch.device) -> int | None:
    """Peak memory ``fn`` allocates above what is allocated before it (GPU only)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(device) - before


def measure_backward(net: asyncsim.Network, x: torch.Tensor, strategy: str, f: int | None,
                     with_reference: bool) -> BackwardRow:
    """Time and peak memory of forward + backward on both backends (the reference optional)."""
    def step(backend: str) -> Callable[[], None]:
        return lambda: _train_step(net, x, strategy, f, backend)

    peak = _peak_bytes(step("triton"), x.device)
    ms = time_ms(step("triton"), x.device)
    reference_ms = reference_peak = None
    if with_reference:
        try:
            reference_peak = _peak_bytes(step("reference"), x.device)
            reference_ms = time_ms(step("reference"), x.device, repeat=False)
        except torch.cuda.OutOfMemoryError:
            reference_ms = float("inf")
    return BackwardRow(strategy, f, x.shape[0], ms, peak, reference_ms, reference_peak)


def _workload(sizes: Sequence[int], batch: int, steps: int, rate: float, device: torch.device,
              dtype: torch.dtype, seed: int) -> tuple[asyncsim.Network, torch.Tensor]:
    """A fresh network of the default init and Bernoulli input frames (``rate`` active)."""
    gen = torch.Generator().manual_seed(seed)
    net = asyncsim.Network(list(sizes), generator=gen).to(device, dtype)
    x = (torch.rand(steps, batch, sizes[0], generator=gen) < rate).float().to(device)
    return net, x


def run_backward_benchmark(sizes: Sequence[int], batch: int, steps: int, rate: float,
                           strategies: Sequence[str], f_values: Sequence[int | None],
                           grow_steps: Sequence[int], device: torch.device,
                           dtype: torch.dtype = torch.float32,
                           seed: int = 0) -> list[BackwardRow]:
    """Every (strategy, F) at ``steps`` against the reference, then the Triton backend at the
    first strategy and F for every T of ``grow_steps``."""
    net, x = _workload(sizes, batch, max([steps, *grow_steps]), rate, device, dtype, seed)
    rows = [measure_backward(net, x[:steps], strategy, f, with_reference=True)
            for strategy in strategies for f in f_values]
    return rows + [measure_backward(net, x[:t], strategies[0], f_values[0], with_reference=False)
                   for t in grow_steps]


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def format_backward_table(rows: Sequence[BackwardRow]) -> str:
    head = (f"{'strategy':<9} {'F':>4} {'T':>3} {'ms/batch':>10} {'peak MiB':>9} "
            f"{'ref ms':>10} {'ref MiB':>9} {'speedup':>8} {'mem ratio':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        ref = r.reference_ms
        speedup = "-" if ref is None else f"{ref / r.ms:7.1f}x"
        ratio = ("-" if r.peak is None or r.reference_peak is None
                 else f"{r.reference_peak / max(r.peak, 1):8.1f}x")
        lines.append(
            f"{r.strategy:<9} {'inf' if r.f is None else r.f:>4} {r.steps:>3} {r.ms:>10.3f} "
            f"{_mib(r.peak):>9} {'-' if ref is None else f'{ref:.3f}':>10} "
            f"{_mib(r.reference_peak):>9} {speedup:>8} {ratio:>9}")
    return "\n".join(lines)


def run_benchmark(sizes: Sequence[int], batch: int, steps: int, rate: float,
                  strategies: Sequence[str], f_values: Sequence[int | None],
                  device: torch.device, dtype: torch.dtype = torch.float32,
                  seed: int = 0) -> list[Row]:
    """Every (strategy, F) on one random network (weights in ``dtype``) and one input batch."""
    net, x = _workload(sizes, batch, steps, rate, device, dtype, seed)
    net.requires_grad_(False)
    return [measure(net, x, strategy, f) for strategy in strategies for f in f_values]


def format_table(rows: Sequence[Row]) -> str:
    head = (f"{'strategy':<9} {'F':>4} {'ms/batch':>10} {'steps/s':>10} {'synops/s':>10} "
            f"{'GB/s':>7} {'vs ref':>8} {'vs sync':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        layered = f"{r.layered_ms / r.ms:7.2f}x" if r.layered_ms is not None else f"{'':>8}"
        lines.append(
            f"{r.strategy:<9} {'inf' if r.f is None else r.f:>4} {r.ms:>10.3f} "
            f"{r.per_second(r.forward_steps):>10.3g} {r.per_second(r.synops):>10.3g} "
            f"{r.per_second(r.weight_bytes) / 1e9:>7.3g} {r.reference_ms / r.ms:>7.1f}x {layered}")
    return "\n".join(lines)


def _f_value(text: str) -> int | None:
    return None if text == "inf" else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2312,256,256,10",
                        help="n_in and layer sizes, comma-separated")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timesteps T")
    parser.add_argument("--rate", type=float, default=0.015,
                        help="fraction of input channels active per bin")
    parser.add_argument("--strategies", default="random,momentum")
    parser.add_argument("--F", dest="f_values", default="1,8,64,inf")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="weight dtype")
    parser.add_argument("--backward", action="store_true",
                        help="time forward + backward and measure peak memory")
    parser.add_argument("--grow-steps", default="5,20",
                        help="with --backward: further T values for the first strategy and F")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")]
    f_values = [_f_value(f) for f in args.f_values.split(",")]
    dtype = getattr(torch, args.dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (interpreter)"
    mode = "forward + backward" if args.backward else "forward"
    print(f"asyncsim Triton {mode}: sizes {args.sizes}, B={args.batch}, T={args.steps}, "
          f"input rate {args.rate}, {args.dtype} weights, {name}")
    if args.backward:
        grow = [int(t) for t in args.grow_steps.split(",") if t]
        print(format_backward_table(run_backward_benchmark(
            sizes, args.batch, args.steps, args.rate, args.strategies.split(","), f_values,
            grow, device, dtype)))
    else:
        print(format_table(run_benchmark(sizes, args.batch, args.steps, args.rate,
                                         args.strategies.split(","), f_values, device, dtype)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
