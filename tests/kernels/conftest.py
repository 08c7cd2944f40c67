"""Kernel tests: on a GPU when one is usable, else in Triton's CPU interpreter.

``TRITON_INTERPRET`` must be set before triton is first imported; ``TRITON_INTERPRET=0`` on a
CUDA machine runs the compiled kernels (scripts/gpu_check.sh does this).
"""

import os

import pytest
import torch

os.environ.setdefault("TRITON_INTERPRET", "0" if torch.cuda.is_available() else "1")
INTERPRETED = os.environ["TRITON_INTERPRET"] == "1"


@pytest.fixture(scope="session")
def device() -> torch.device:
    """CUDA when the kernels are compiled for it, else the interpreter's CPU tensors."""
    if INTERPRETED:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        pytest.skip("TRITON_INTERPRET=0 needs a CUDA device")
    return torch.device("cuda")
