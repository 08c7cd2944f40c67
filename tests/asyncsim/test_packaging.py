"""The four top-level folders install as one namespace, from a wheel and editable."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_OUTPUTS = (".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                 ".ruff_cache", ".venv", "runs", "sweeps", "wandb")
PROBE = """
import importlib.util, json
import asyncsim, asyncsim.kernels, asyncsim.training, asyncsim.datasets, asyncsim.traces
found = {m.__name__: m.__file__ for m in
         (asyncsim, asyncsim.kernels, asyncsim.training, asyncsim.datasets, asyncsim.traces)}
for name in ("kernels", "datasets", "training"):
    spec = importlib.util.find_spec(name)
    found[name] = spec.origin if spec else None
from asyncsim.datasets.embedded import DIGITS_FILE  # package data: the 8x8 digits
found["digits_file"] = str(DIGITS_FILE) if DIGITS_FILE.is_file() else None
print(json.dumps(found))
"""


def make_venv(path: Path) -> Path:
    """A venv that sees this interpreter's packages (torch...) but none of their .pth hooks,
    so an editable asyncsim installed outside it cannot leak in."""
    venv.create(path, with_pip=True)
    python = path / "bin" / "python"
    purelib = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True)
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib.strip()) / "outer_site.pth").write_text("\n".join(deps) + "\n")
    # An old setuptools bundled by ensurepip would shadow the outer, current one.
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "setuptools"],
                   capture_output=True)
    return python


def probe(python: Path, cwd: Path) -> dict[str, str | None]:
    out = subprocess.check_output([python, "-c", PROBE], cwd=cwd, text=True)
    return json.loads(out.strip().splitlines()[-1])


def pip(python: Path, *args: str) -> None:
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", *args], check=True, capture_output=True)


def source_copy(tmp_path: Path) -> Path:
    """The repository's sources in a temporary folder: building a wheel or an editable install
    writes ``build/`` and ``*.egg-info`` beside the sources, and tests write only under tmp."""
    src = tmp_path / "src"
    outputs = shutil.ignore_patterns(*BUILD_OUTPUTS)

    def ignore(folder: str, names: list[str]) -> set[str]:
        # Symbolic links (a development checkout's asyncsim/kernels -> ../kernels) are not
        # part of a clone.
        return set(outputs(folder, names)) | {n for n in names if Path(folder, n).is_symlink()}

    shutil.copytree(REPO, src, ignore=ignore)
    return src


@pytest.mark.slow
def test_wheel_and_editable_installs_import_the_namespace(tmp_path):
    src = source_copy(tmp_path)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(src)],
                   check=True, capture_output=True)
    python = make_venv(tmp_path / "venv")
    pip(python, str(next(wheels.glob("asyncsim-*.whl"))))
    found = probe(python, tmp_path)
    venv_dir = str(tmp_path / "venv")
    for name in ("asyncsim", "asyncsim.kernels", "asyncsim.training", "asyncsim.datasets",
                 "asyncsim.traces", "digits_file"):
        assert found[name].startswith(venv_dir), (name, found[name])
    for name in ("kernels", "datasets", "training"):  # never shadowed by this project
        assert found[name] is None or not found[name].startswith((venv_dir, str(src)))

    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "asyncsim"], check=True)
    pip(python, "-e", str(src))
    found = probe(python, tmp_path)
    assert found["asyncsim"] == str(src / "asyncsim" / "__init__.py")
    assert found["asyncsim.kernels"] == str(src / "kernels" / "__init__.py")
    assert found["asyncsim.training"] == str(src / "training" / "__init__.py")
    assert found["asyncsim.datasets"] == str(src / "datasets" / "__init__.py")
    assert found["kernels"] is None or not found["kernels"].startswith(str(src))
