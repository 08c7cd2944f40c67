"""Test-wide settings: Triton runs in its CPU interpreter, W&B never reaches the network, and
torch uses one thread (the tests' tensors are tiny; spinning thread pools of concurrent test
processes otherwise slow each other down tenfold)."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402  (after the environment it reads)

torch.set_num_threads(1)
