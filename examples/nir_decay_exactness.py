"""How exactly a snnTorch ``Leaky`` beta survives snnTorch's NIR export and ``asyncsim.from_nir``
(docs/nir.md#exactness): for betas drawn uniformly in a few ranges, the fraction whose asyncsim
decay equals beta bit for bit, and the largest gap in float32 ulps of beta.

Needs snntorch, nir and nirtorch. ``PYTHONPATH=. python examples/nir_decay_exactness.py``.
"""

from __future__ import annotations

import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

import asyncsim
from asyncsim.tables import print_table

RANGES = [(0.05, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 0.999)]
N = 20000


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    rows = []
    for low, high in RANGES:
        beta = torch.rand(N, generator=gen) * (high - low) + low
        model = torch.nn.Sequential(
            torch.nn.Linear(1, N, bias=False),
            snn.Leaky(
                beta=beta,
                threshold=torch.ones(N),
                reset_mechanism="zero",
                reset_delay=False,
                init_hidden=True,
                output=True,
            ),
        )
        graph = export_to_nir(model, torch.zeros(1, 1), ignore_dims=[0])
        decay = asyncsim.from_nir(graph, dt=1e-4).decay()
        ulps = (decay - beta).abs() / (torch.finfo(torch.float32).eps * beta)
        rows.append(
            {
                "range": f"[{low}, {high})",
                "exact": f"{(decay == beta).double().mean():.4f}",
                "max_ulps": f"{ulps.max():.2f}",
            }
        )
    print_table(
        f"snnTorch beta -> NIR -> asyncsim decay ({N} betas per range)",
        [("range", "beta range"), ("exact", "bit-exact fraction"), ("max_ulps", "max gap (ulps)")],
        rows,
    )


if __name__ == "__main__":
    main()
