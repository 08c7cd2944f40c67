"""Checkpoints: written atomically every epoch, the best one kept, read back to resume.

A checkpoint holds only tensors, plain containers (dicts, lists, tuples), numbers, strings and
booleans: the model's and the optimizer's state dicts, the config as a dict of plain values, the
history of plain-float records. It is read with ``torch.load(weights_only=True)``, which
unpickles nothing else, so a crafted file cannot run code; a file that needs anything else is
refused (docs/training.md#checkpoints).
"""

from __future__ import annotations

import os
import pickle
import re
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
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        needed = re.search(r"GLOBAL (\S+) was not an allowed global", str(err))
        if needed is None:
            raise ValueError(
                f"checkpoint: cannot read {path}: not a checkpoint, or damaged"
            ) from None
        raise ValueError(
            f"checkpoint: refusing {path}: it needs {needed[1]}, and asyncsim "
            f"loads only tensors, plain containers, numbers and strings (anything "
            f"else could run code from the file)"
        ) from None
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(f"checkpoint: cannot read {path}: {err}") from None
    if not (
        isinstance(state, dict)
        and isinstance(state.get("model"), dict)
        and isinstance(state.get("config"), dict)
    ):
        raise ValueError(f"checkpoint: {path} is not an asyncsim checkpoint")
    return state
