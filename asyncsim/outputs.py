"""Where commands write: output paths checked before any work, so that a file standing where a
folder is needed (or a folder where a file is) fails at once, with the path named, rather than
after an hour of training or evaluation."""

from __future__ import annotations

from pathlib import Path


def output_folder(key: str, path: str | Path) -> Path:
    """``path`` as a folder to write into: it is one, or can be created (no file stands at it or
    above it). Nothing is created."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ValueError(f"{key}: {part} is a file, not a folder")
    return path


def output_file(key: str, path: str | Path) -> Path:
    """``path`` as a file to write: not a folder, its folder checked and created."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{key}: {path} is a folder, not a file")
    output_folder(key, path.parent).mkdir(parents=True, exist_ok=True)
    return path
