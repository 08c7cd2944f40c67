"""Peak tensor memory of a benchmark configuration, measured on the CPU as a GPU would count it.

``python benchmarks/peak_memory.py [--batch 256] [--f 8 64 inf] [--mode forward backward]``
prints one line per configuration and backend: the largest sum of live tensor storages while
``asyncsim.bench.run_once`` runs, above what existed before it (the input, the network and its
gradients), which is what ``torch.cuda.max_memory_allocated`` above the start counts on a GPU
(`asyncsim bench`'s "peak MiB" there), and the largest tensors alive at that peak.
Network 2312-256-256-10, T = 10, input rate 0.015, random strategy: the standard GPU profile.

Every tensor an operator returns is followed until its storage is freed (a
``TorchDispatchMode``; the asyncsim custom ops are entered, so what their launchers allocate
counts). The reference backend runs as it is. The Triton backend runs with its kernels replaced
by stubs that only write the forward steps the reference took on the same input (the backends
agree on them exactly, docs/kernels.md#exactness-what-is-compared): what it allocates depends
on the shapes and those step counts only, and the interpreter would take hours at this batch.
Run with ``PYTHONPATH`` at the tree; figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything defines a kernel

import torch  # noqa: E402
from torch._library.custom_ops import OPDEFS  # noqa: E402
from torch.multiprocessing.reductions import StorageWeakRef  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402

import asyncsim.triton_autograd  # noqa: E402, F401 - registers the custom ops
from asyncsim.bench import BenchConfig, make_workload, run_once  # noqa: E402
from asyncsim.kernels import backward, forward  # noqa: E402


class LiveTensors(TorchDispatchMode):
    """Follows the storages that operators return and keeps the peak of their sum."""

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__()
        # What existed before (while it lives: a freed gradient's address may be reused).
        self.existing = {t.untyped_storage()._cdata: StorageWeakRef(t.untyped_storage())
                         for t in existing}
        self.live: dict[int, tuple[StorageWeakRef, int, tuple[int, ...]]] = {}
        self.peak = 0
        self.at_peak: list[tuple[int, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in OPDEFS:  # an asyncsim op: count what its launcher allocates too
            with self:
                out = OPDEFS[name]._init_fn(*args, **(kwargs or {}))
        else:
            out = func(*args, **(kwargs or {}))
        # Freed storages first: a new one may take a freed one's address (the key).
        self.live = {k: v for k, v in self.live.items() if not v[0].expired()}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                old = self.existing.get(key)
                if key not in self.live and (old is None or old.expired()):
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes(), tuple(t.shape))
        total = sum(v[1] for v in self.live.values())
        if total > self.peak:
            self.peak = total
            self.at_peak = sorted(((v[1], v[2]) for v in self.live.values()), reverse=True)
        return out


class _StubLaunch:
    """Stands for ``kernel[grid]``: the forward stub writes the given forward steps."""

    def __init__(self, steps: torch.Tensor | None) -> None:
        self.steps = steps

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            if self.steps is not None:
                args[11].copy_(self.steps)  # forward._event_loop_kernel's steps row

        return launch


def peak(cfg: BenchConfig, steps: torch.Tensor | None) -> tuple[LiveTensors, torch.Tensor]:
    """The measured run's live tensors and its forward steps (the Triton backend's stubs
    write ``steps``)."""
    net, x = make_workload(cfg)
    if cfg.backend == "triton":
        forward._event_loop_kernel = _StubLaunch(steps)
        backward._backward_kernel = _StubLaunch(None)
        forward._interpreted = lambda: True
    run_once(cfg, net, x)  # as the bench measures: after the timed runs
    mode = LiveTensors([x, *net.parameters(),
                        *(p.grad for p in net.parameters() if p.grad is not None)])
    with mode:
        res = run_once(cfg, net, x)
    return mode, res.forward_steps.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--f", nargs="+", default=["8", "64", "inf"])
    parser.add_argument("--mode", nargs="+", default=["forward", "backward"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for f_text in args.f:
        f = None if f_text == "inf" else int(f_text)
        for mode in args.mode:
            base = dict(sizes=(2312, 256, 256, 10), batch=args.batch, steps=10,
                        strategy="random", f=f, mode=mode, rate=0.015)
            steps = None  # the reference's, for the Triton backend's stubs
            for backend in ("reference", "triton"):
                cfg = BenchConfig(**base, backend=backend)
                live, steps = peak(cfg, steps)
                top = ", ".join(f"{list(shape)} {size / 2**20:.2f}"
                                for size, shape in live.at_peak[:8])
                print(f"{cfg.network} B={args.batch} F={f_text} {mode} {backend}: peak "
                      f"{live.peak / 2**20:.2f} MiB; largest at the peak (MiB): {top}",
                      flush=True)


if __name__ == "__main__":
    main()
