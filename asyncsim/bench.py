"""Throughput profiler of the simulator backends (``asyncsim bench``; benchmarks/RESULTS.md).

A profile is a grid of configurations (network: dense ``sizes``, or ``arch`` on an input of
``in_shape`` for convolutional and recurrent networks; batch, T, strategy, F, input rate,
weight dtype, forward or forward+backward, backend, device). Each configuration is timed over
repeats after warm-up, device-synchronized (``triton.testing.do_bench`` on a GPU), and reported
with the work it did and the traffic that work implies:

- forward steps, delivered spikes and synaptic events (count x fan-out) per second;
- weight traffic: one weight read per synaptic event plus one read of the input projections
  (``W_1``) per batch; state traffic: per sample and timestep, the first-step currents read and
  the spike counts written (``N`` float32 each) plus the output membrane written. These are the
  bytes a minimal event-driven implementation must move; GB/s is that over the time, and its
  fraction of the device's copy bandwidth measured in the same run;
- peak memory (GPU: ``max_memory_allocated`` above the start; CPU: the peak resident set
  above the start, in a fresh process);
- baselines in the same run: the reference backend, the layered dense simulation
  (``strategy="sync"``) and, when installed, snnTorch's layered LIF of the same shape (dense
  feed-forward networks only: a baseline that cannot run a configuration is skipped, and the
  row says why in ``<baseline>_note``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import yaml

from .architecture import build, input_shape, parse_arch
from .network import Network
from .result import SimResult
from .simulate import parse_f, simulate

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MODES = ("forward", "backward")
BASELINES = ("reference", "layered", "snntorch")


@dataclass(frozen=True)
class BenchConfig:
    """One configuration; ``mode="backward"`` times forward + backward.

    The network is ``sizes`` (dense layers), or ``arch`` (``"conv(8,3,s2)-fc(10)"``, the
    whole network, output layer included) on an input of ``in_shape`` ``(C, H, W)``; then
    ``sizes`` is ``(n_in, n_1, ..., n_L)`` of that network, for the record.
    """

    sizes: tuple[int, ...]
    batch: int
    steps: int
    strategy: str
    f: int | None
    mode: str = "forward"
    backend: str = "reference"
    rate: float = 0.05
    dtype: str = "float32"
    device: str = "cpu"
    seed: int = 0
    arch: str | None = None
    in_shape: tuple[int, int, int] | None = None

    @property
    def network(self) -> str:
        """The network in words: ``784-256-10`` or ``2x34x34 conv(8,3,s2)-fc(10)``."""
        if self.arch is None:
            return "-".join(map(str, self.sizes))
        return f"{'x'.join(map(str, self.in_shape or ()))} {self.arch}"

    @property
    def key(self) -> str:
        """Identity of a configuration across runs (for ``--compare``)."""
        f = "inf" if self.f is None else self.f
        return (f"{self.network} B={self.batch} T={self.steps} "
                f"{self.strategy} F={f} {self.mode} {self.backend} rate={self.rate} "
                f"{self.dtype} {self.device}")


GRID_KEYS = {"sizes", "arch", "in_shape", "batch", "steps", "strategy", "F", "mode", "backend",
             "rate", "dtype", "device", "seed"}
DEFAULT_SIZES = (784, 256, 256, 10)


def arch_sizes(in_shape: object, arch: object) -> tuple[tuple[int, int, int], tuple[int, ...]]:
    """``(C, H, W)`` and the ``(n_in, n_1, ..., n_L)`` of ``arch`` on it; errors name the key."""
    if not isinstance(arch, str):
        raise ValueError(f"bench: arch must be a string like 'conv(8,3,s2)-fc(10)' (a list "
                         f"of them for several networks), got {arch!r}")
    if in_shape is None:
        raise ValueError(f"bench: in_shape: arch {arch!r} needs the input shape [C, H, W]")
    try:
        shape = input_shape(list(in_shape) if isinstance(in_shape, (list, tuple)) else in_shape)
    except ValueError as err:
        raise ValueError(f"bench: in_shape: {err}") from None
    try:
        shapes, _ = build(shape, parse_arch(arch))
    except ValueError as err:
        message = str(err)
        if not message.startswith("arch"):
            message = f"arch: {arch!r} on in_shape {list(shape)}: {message}"
        raise ValueError(f"bench: {message}") from None
    return shape, tuple(c * h * w for c, h, w in shapes)


def expand_grid(grid: Mapping[str, Any]) -> list[BenchConfig]:
    """Every combination of a grid's value lists (scalars count as one-element lists)."""
    unknown = sorted(set(grid) - GRID_KEYS)
    if unknown:
        raise ValueError(f"bench: unknown key(s) {unknown}; known: {sorted(GRID_KEYS)}")
    if "arch" in grid and "sizes" in grid:
        raise ValueError("bench: give a network as sizes or as arch + in_shape, not both")
    if "in_shape" in grid and "arch" not in grid:
        raise ValueError("bench: in_shape goes with arch (a dense network is sizes)")
    lists = {key: value if isinstance(value, list) else [value] for key, value in grid.items()}
    for key in ("sizes", "in_shape"):
        if key in lists and lists[key] and not isinstance(lists[key][0], list):
            lists[key] = [lists[key]]  # one network (input shape) given as a flat list
    configs = []
    for combo in itertools.product(*lists.values()):
        values = dict(zip(lists, combo, strict=True))
        values["f"] = parse_f(values.pop("F", 8))
        if "arch" in values:
            values["in_shape"], values["sizes"] = arch_sizes(values.get("in_shape"),
                                                             values["arch"])
        values["sizes"] = tuple(int(n) for n in values.get("sizes", DEFAULT_SIZES))
        values.setdefault("batch", 64)
        values.setdefault("steps", 10)
        values.setdefault("strategy", "random")
        configs.append(_checked(BenchConfig(**values)))
    return configs


def _checked(cfg: BenchConfig) -> BenchConfig:
    if cfg.mode not in MODES:
        raise ValueError(f"bench: mode must be one of {list(MODES)}, got {cfg.mode!r}")
    if cfg.dtype not in DTYPES:
        raise ValueError(f"bench: dtype must be one of {list(DTYPES)}, got {cfg.dtype!r}")
    if not 0.0 <= cfg.rate <= 1.0:
        raise ValueError(f"bench: rate must lie in [0, 1], got {cfg.rate!r}")
    return cfg


def load_profile(path: str | Path) -> tuple[list[BenchConfig], dict[str, Any]]:
    """A YAML profile: one grid (a mapping) or a list of grids; the keys ``repeats``,
    ``warmup`` and ``baselines`` of the first grid set the run's options."""
    data = yaml.safe_load(Path(path).read_text())
    grids = data if isinstance(data, list) else [data]
    if not grids or not all(isinstance(g, dict) for g in grids):
        raise ValueError(f"bench: {path} must hold a mapping or a list of mappings")
    option_keys = ("repeats", "warmup", "baselines")
    options = {k: grids[0][k] for k in option_keys if k in grids[0]}
    configs = [cfg for g in grids
               for cfg in expand_grid({k: v for k, v in g.items() if k not in option_keys})]
    return configs, options


def make_workload(cfg: BenchConfig) -> tuple[Network, torch.Tensor]:
    """A fresh network of the default init and Bernoulli frames with ``rate`` active channels."""
    gen = torch.Generator().manual_seed(cfg.seed)
    layers = [cfg.in_shape, *parse_arch(cfg.arch)] if cfg.arch is not None else list(cfg.sizes)
    net = Network(layers, generator=gen).to(cfg.device, DTYPES[cfg.dtype])
    x = torch.rand(cfg.steps, cfg.batch, cfg.sizes[0], generator=gen) < cfg.rate
    return net, x.float().to(cfg.device)


def run_once(cfg: BenchConfig, net: Network, x: torch.Tensor, backend: str | None = None,
             strategy: str | None = None) -> SimResult:
    """One unit of timed work: a simulation, plus its backward pass in ``backward`` mode."""
    backward = cfg.mode == "backward"
    net.requires_grad_(backward)
    strategy = strategy or cfg.strategy
    kwargs = {} if strategy == "sync" else {"F": cfg.f}
    with torch.set_grad_enabled(backward):
        res = simulate(net, x, strategy=strategy, backend=backend or cfg.backend, seed=cfg.seed,
                       **kwargs)
        if backward:
            net.zero_grad(set_to_none=True)
            (res.counts.sum() + res.output_membrane.sum()).backward()
    return res


def count_work(net: Network, res: SimResult) -> dict[str, int]:
    """Work and minimal traffic of one run (see the module docstring)."""
    steps, batch, n = res.counts.shape
    weight_size = net.weights[0].element_size()
    synops = int(res.synops.sum())
    input_weights = sum(w.numel() for w, proj in zip(net.weights, net.projections, strict=True)
                        if proj.source == 0)
    return {
        "forward_steps": int(res.forward_steps.sum()),
        "spikes": int(res.emitted.sum()),
        "synops": synops,
        "weight_bytes": (synops + input_weights) * weight_size,
        "state_bytes": steps * batch * (2 * n + net.n_out) * 4,
    }


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ms(fn: Callable[[], object], device: str, repeats: int, warmup: int,
            precise: bool = True) -> list[float]:
    """Milliseconds per call after ``warmup`` calls, device-synchronized: on a GPU with
    ``precise``, ``triton.testing.do_bench``'s samples; else one wall-clock sample per repeat
    (used for slow baselines, which do_bench would repeat for seconds)."""
    if device.startswith("cuda") and precise:
        import triton.testing

        return [float(t) for t in triton.testing.do_bench(fn, return_mode="all")]
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def cuda_peak_bytes(fn: Callable[[], object]) -> int:
    """GPU memory ``fn`` allocates at its peak, above what was allocated before it."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def release_freed_heap() -> None:
    """Give the heap pages freed by the last runs back to the OS (glibc keeps them: after a
    reference forward+backward this process would hold gigabytes while the fresh process of
    ``cpu_peak_bytes`` needs as much again). No-op where ``malloc_trim`` is unavailable."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def cpu_peak_bytes(cfg: BenchConfig, which: str) -> int:
    """Peak resident memory of one run of ``which`` (``"self"`` or a baseline) above the
    resident set before it, in a fresh process: within one process the peak only grows, and
    freed heap pages would be reused unseen."""
    release_freed_heap()
    args = json.dumps({f.name: getattr(cfg, f.name) for f in fields(cfg)})
    out = subprocess.run([sys.executable, "-m", "asyncsim.bench", args, which],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def _cpu_peak_main(args: str, which: str) -> None:
    values = json.loads(args)
    in_shape = values.get("in_shape")
    cfg = BenchConfig(**{**values, "sizes": tuple(values["sizes"]),
                         "in_shape": tuple(in_shape) if in_shape is not None else None})
    torch.set_num_threads(1)
    net, x = make_workload(cfg)
    run = build_runner(cfg, net, x, which)
    start = _status_bytes("VmRSS")
    if run is not None:
        run()
    print(_status_bytes("VmHWM") - start)


def copy_bandwidth_gbs(device: str, megabytes: int = 256) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second), in GB/s."""
    src = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    samples = time_ms(lambda: dst.copy_(src), device, repeats=5, warmup=1)
    return 2 * src.numel() * 4 / (statistics.median(samples) * 1e-3) / 1e9


def baseline_note(cfg: BenchConfig, net: Network, which: str) -> str | None:
    """Why baseline ``which`` does not run ``cfg`` (None: it does)."""
    if which == "reference" and cfg.backend == "reference":
        return "the configuration itself"
    if which == "layered" and cfg.strategy == "sync":
        return "the configuration itself"
    if which == "snntorch":
        chain = all(p.kind == "dense" and p.pool == 1 and p.target == p.source + 1
                    for p in net.projections)
        if not chain or len(net.projections) != len(net.layer_sizes):
            return "dense feed-forward networks only (this one is convolutional or recurrent)"
        try:
            import snntorch  # noqa: F401
        except ImportError:
            return "snntorch is not installed"
    return None


def snntorch_runner(cfg: BenchConfig, net: Network,
                    x: torch.Tensor) -> Callable[[], object] | None:
    """snnTorch's layered LIF of the same shape and weights (a dense feed-forward network), or
    None where ``baseline_note`` says it cannot run."""
    if baseline_note(cfg, net, "snntorch") is not None:
        return None
    import snntorch

    layers = []
    for i, weight in enumerate(net.weights):
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False).to(
            weight.device, weight.dtype)
        linear.weight.data.copy_(weight.data)
        beta = net.decay()[net.layer_slice(i)].to(weight.dtype)
        layers.append((linear, snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero",
                                              reset_delay=False)))
    x = x.to(net.weights[0].dtype)

    def run() -> None:
        with torch.set_grad_enabled(cfg.mode == "backward"):
            mems = [lif.reset_mem() for _, lif in layers]
            total = 0
            for frame in x:
                below = frame
                for i, (linear, lif) in enumerate(layers):
                    below, mems[i] = lif(linear(below), mems[i])
                    total = total + below.sum()
            if cfg.mode == "backward":
                total.backward()
    return run


def build_runner(cfg: BenchConfig, net: Network, x: torch.Tensor,
                 which: str) -> Callable[[], object] | None:
    """The timed work: ``"self"`` (the configuration) or a baseline on the same network and
    input; None where the baseline does not apply (``baseline_note``)."""
    if which == "self":
        return lambda: run_once(cfg, net, x)
    if baseline_note(cfg, net, which) is not None:
        return None
    if which == "reference":
        return lambda: run_once(cfg, net, x, backend="reference")
    if which == "layered":
        return lambda: run_once(cfg, net, x, strategy="sync")
    return snntorch_runner(cfg, net, x)


def peak_memory(cfg: BenchConfig, run: Callable[[], object], which: str) -> int:
    """Peak memory of ``run`` (GPU: in this process; CPU: ``cpu_peak_bytes``)."""
    if cfg.device.startswith("cuda"):
        return cuda_peak_bytes(run)
    return cpu_peak_bytes(cfg, which)


def measure(cfg: BenchConfig, repeats: int = 3, warmup: int = 1,
            baselines: Iterable[str] = (), peak_gbs: float | None = None) -> dict[str, Any]:
    """Time ``cfg`` (and the requested baselines on the same network and input)."""
    net, x = make_workload(cfg)
    res = run_once(cfg, net, x)
    samples = time_ms(lambda: run_once(cfg, net, x), cfg.device, repeats, warmup)
    ms = statistics.median(samples)
    work = count_work(net, res)
    row: dict[str, Any] = {
        **{f.name: getattr(cfg, f.name) for f in fields(cfg)},
        "f": "inf" if cfg.f is None else cfg.f,
        "key": cfg.key,
        "ms_median": ms, "ms_min": min(samples), "ms_max": max(samples), "samples_ms": samples,
        **work,
        "steps_per_s": work["forward_steps"] / (ms * 1e-3),
        "spikes_per_s": work["spikes"] / (ms * 1e-3),
        "synops_per_s": work["synops"] / (ms * 1e-3),
        "gbps": (work["weight_bytes"] + work["state_bytes"]) / (ms * 1e-3) / 1e9,
    }
    row["peak_mib"] = peak_memory(cfg, lambda: run_once(cfg, net, x), "self") / 2**20
    row["sizes"] = list(cfg.sizes)
    if cfg.in_shape is not None:
        row["in_shape"] = list(cfg.in_shape)
    if peak_gbs:
        row["peak_fraction"] = row["gbps"] / peak_gbs
    for name in baselines:
        if name not in BASELINES:
            raise ValueError(f"bench: unknown baseline {name!r}; choose from {list(BASELINES)}")
        runner = build_runner(cfg, net, x, name)
        if runner is None:
            row[f"{name}_note"] = baseline_note(cfg, net, name)
        else:
            base_ms = statistics.median(time_ms(runner, cfg.device, max(1, repeats // 2), 1,
                                                precise=name != "reference"))
            row[f"{name}_ms"] = base_ms
            row[f"speedup_vs_{name}"] = base_ms / ms
            row[f"{name}_peak_mib"] = peak_memory(cfg, runner, name) / 2**20
    return row


def environment(device: str) -> dict[str, Any]:
    """Versions, device and date for the JSON record."""
    import platform

    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "device": device,
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if device.startswith("cuda"):
        info["card"] = torch.cuda.get_device_name()
    from . import __version__

    info["asyncsim"] = __version__
    return info


if __name__ == "__main__":  # the fresh process of ``cpu_peak_bytes``
    _cpu_peak_main(*sys.argv[1:3])
