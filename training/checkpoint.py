"""Checkpoints: written atomically every epoch, the best one kept, read back to resume."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "checkpoint.pt"
BEST = "best.pt"


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` so that a kill at any moment leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``save_atomic``; a clear error naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint: file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(f"checkpoint: cannot read {path}: {err}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"checkpoint: {path} is not an asyncsim checkpoint")
    return state
