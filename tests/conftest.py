"""Test-wide settings: Triton runs in its CPU interpreter, W&B never reaches the network,
torch uses one thread (the tests' tensors are tiny; spinning thread pools of concurrent test
processes otherwise slow each other down tenfold), and binned frames are cached under pytest's
temporary folder, never in the user's ~/.cache (tests write only there)."""

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402  (after the environment it reads)

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _frame_cache_under_tmp(tmp_path_factory):
    """One frame cache for the session (the embedded tasks are binned once), in tmp."""
    os.environ["ASYNCSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("frame-cache"))


@pytest.fixture
def benchmark_script():
    """Load ``benchmarks/<name>.py`` as a module (the folder is not a package)."""

    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
