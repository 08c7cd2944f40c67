"""Weights & Biases logging: offline unless the user has a key, never blocking on the network.

Mode: ``--no-wandb`` → disabled; else ``$WANDB_MODE`` if set; else online when an API key is
configured (``$WANDB_API_KEY`` or a netrc entry for the W&B host), offline otherwise (sync later
with ``wandb sync``).
"""

from __future__ import annotations

import netrc
import os
import re
import secrets
from pathlib import Path
from typing import Any

LARGE_ARTIFACT_BYTES = 100 * 2**20  # larger files are logged by reference, not uploaded


def has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        hosts = netrc.netrc().hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def resolve_mode(enabled: bool) -> str:
    if not enabled:
        return "disabled"
    return os.environ.get("WANDB_MODE") or ("online" if has_api_key() else "offline")


def artifact_name(text: str) -> str:
    """``text`` as a W&B artifact name: letters, digits, ``-``, ``_`` and ``.`` only (a stop
    mode's ``+`` or a run name's spaces would fail the upload, after all the work)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "artifact"


class Tracker:
    """A W&B run, or nothing at all when disabled: then wandb is not even imported, and no
    file is written (W&B's own disabled mode still stages artifacts under the home folder)."""

    def __init__(self, *, enabled: bool, project: str, name: str, run_dir: Path,
                 config: dict[str, Any], job_type: str, group: str | None = None) -> None:
        self.mode = resolve_mode(enabled)
        self.run = None
        if self.mode == "disabled":
            return
        import wandb

        self._wandb = wandb
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file = run_dir / f"wandb_{job_type}_id"
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
        self.run = wandb.init(project=project, name=name, group=group, job_type=job_type,
                              config=config, dir=str(run_dir), mode=self.mode, id=run_id,
                              resume="allow", settings=wandb.Settings(init_timeout=90,
                                                                      silent=True))
        id_file.write_text(run_id)

    @property
    def run_path(self) -> str | None:
        """The run's local directory (offline runs: what ``wandb sync`` takes)."""
        return None if self.run is None else str(Path(self.run.dir).parent)

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        if self.run is not None:
            self.run.log(values, step=step)

    def log_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        if self.run is None or not rows:
            return
        columns = list(rows[0])
        data = [[_plain(row.get(c)) for c in columns] for row in rows]
        self.run.log({key: self._wandb.Table(columns=columns, data=data)})

    def log_images(self, images: dict[str, Path]) -> None:
        if self.run is not None:
            self.run.log({key: self._wandb.Image(str(path)) for key, path in images.items()})

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Upload ``path``, or reference it when it is large."""
        if self.run is None:
            return
        artifact = self._wandb.Artifact(artifact_name(name), type=kind)
        if path.stat().st_size > LARGE_ARTIFACT_BYTES:
            artifact.add_reference(path.resolve().as_uri())
        else:
            artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
