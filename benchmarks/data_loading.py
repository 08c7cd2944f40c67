"""Time loading + binning one epoch: the embedded tasks and a synthetic N-MNIST-sized folder.

``python benchmarks/data_loading.py WORKDIR`` prints one JSON line per measurement and a
median summary. Every measurement runs in a fresh process (cold = empty frame cache, then the
same call again from the cache). Figures are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from asyncsim.datasets import load_dataset, make_loader
t1 = time.perf_counter()
name, data_dir, cache, split = sys.argv[1:5]
frames = load_dataset(name, data_dir or None, split, cache_dir=cache)
t2 = time.perf_counter()
n = sum(len(y) for _, y in make_loader(frames, batch_size=64))
t3 = time.perf_counter()
print(json.dumps({"name": name, "from_cache": frames.from_cache, "samples": n,
                  "import_s": t1 - t0, "load_bin_s": t2 - t1, "epoch_iter_s": t3 - t2}))
"""


def write_synthetic_nmnist(root: Path, n_files: int = 1000, events_per_file: int = 4200,
                           seed: int = 0) -> None:
    """N-MNIST byte format: 5 bytes per event (x, y, polarity<<7 | t[22:16], t[15:8], t[7:0])."""
    rng = np.random.default_rng(seed)
    for i in range(n_files):
        folder = root / "Train" / str(i % 10)
        folder.mkdir(parents=True, exist_ok=True)
        n = rng.poisson(events_per_file)
        x, y = rng.integers(0, 34, n), rng.integers(0, 34, n)
        p = rng.integers(0, 2, n)
        t = np.sort(rng.integers(0, 300_000, n))
        raw = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], 1)
        (folder / f"{i:05d}.bin").write_bytes(raw.astype(np.uint8).tobytes())


def measure(name: str, data_dir: str, cache: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, name, data_dir, str(cache), "train"],
                         capture_output=True, text=True, check=True).stdout
    print(out.strip(), flush=True)
    return json.loads(out)


def main(work: Path, repeats: int = 3) -> None:
    nmnist = work / "nmnist1000"
    if not nmnist.exists():
        write_synthetic_nmnist(nmnist)
    rows: dict[tuple[str, str], list[dict]] = {}
    for _ in range(repeats):
        for name, data_dir in (("digits", ""), ("timing", ""), ("nmnist", str(nmnist))):
            cache = work / f"cache-{name}"
            shutil.rmtree(cache, ignore_errors=True)
            for attempt in ("cold", "cache"):
                rows.setdefault((name, attempt), []).append(measure(name, data_dir, cache))
    for (name, attempt), runs in rows.items():
        median = {key: statistics.median(r[key] for r in runs)
                  for key in ("load_bin_s", "epoch_iter_s", "import_s")}
        print(name, attempt, json.dumps(median))


if __name__ == "__main__":
    started = time.perf_counter()
    main(Path(sys.argv[1]))
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
