"""Every ``asyncsim`` command in the README, examples/README.md and docs/ runs as written, in
a fresh folder holding the repository's examples/, at a tiny size: the options appended below
only shrink the work (a later option wins over an earlier one). Commands that need what a
fresh clone cannot have (a published data set, a GPU, a PostgreSQL server, minutes of CPU) are
listed with the reason; their files must still exist. A new documented command that is in
neither list fails the test. The sweep example files and the README's Python run too."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from asyncsim.cli import main
from asyncsim.training.config import make_config
from asyncsim.training.sweep_spec import parse_sweep

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "examples/README.md", "docs/training.md", "docs/traces.md",
             "docs/sweeps.md", "docs/datasets.md", "docs/bench.md"]
NOT_RUN = {  # command prefix -> why a fresh clone on a CPU cannot run it in a test
    "asyncsim demo": "the main job, minutes of training",
    "asyncsim train --dataset nmnist": "needs the published N-MNIST files",
    "asyncsim data info nmnist": "needs the published N-MNIST files",
    "asyncsim sweep worker": "needs a PostgreSQL server",
    "asyncsim --threads 4 sweep worker": "a SLURM job with a PostgreSQL server",
    "asyncsim bench --config benchmarks/profiles/gpu_": "needs a GPU",
    "asyncsim bench --config benchmarks/profiles/cpu_": "a profile of minutes",
}
TINY_DATA = {"dataset": "timing", "dataset_options": {"n_train": 40, "n_test": 20},
             "hidden": [16], "epochs": 1, "batch_size": 20}


def documented_commands() -> list[tuple[str, str]]:
    """``(document, command)`` for every command of a code block that starts with ``asyncsim``
    (lines or ``&&``-joined parts; continuation lines joined, comments dropped), in document
    order, each once."""
    found: dict[str, str] = {}
    for name in DOCUMENTS:
        text = (ROOT / name).read_text()
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    if part.strip().startswith("asyncsim "):
                        found.setdefault(shlex.join(shlex.split(part, comments=True)), name)
    return [(document, command) for command, document in found.items()]


def tiny(words: list[str], tiny_base: Path) -> list[str]:
    """Options appended to a documented command so that it runs in seconds."""
    command = words[1] if words[1] != "sweep" else f"sweep {words[2]}"
    train_keys = []
    for key, value in TINY_DATA.items():
        train_keys += [f"--{key.replace('_', '-')}", yaml.safe_dump(value,
                       default_flow_style=True).removesuffix("\n...\n").strip()]
    # One F and one strategy: each configuration measures its peak memory in a fresh process.
    bench = ["--batch", "2", "--steps", "2", "--repeats", "1", "--warmup", "0", "--F", "8",
             "--strategy", "random"]
    return {
        "train": [*train_keys, "--no-wandb", "--quiet"],
        "eval": ["--no-wandb", "--quiet"],
        "sweep run": ["--config", str(tiny_base), "--no-wandb", "--quiet", "--heartbeat", "1"],
        "sweep report": ["--no-wandb"],
        "bench": [*bench, "--in-shape", "2,8,8"] if "--arch" in words
        else [*bench, "--sizes", "20,8,4"],
    }.get(command, [])


def skipped_because(command: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


def test_every_documented_command_is_run_or_excused():
    commands = [command for _, command in documented_commands()]
    assert len(commands) >= 15
    for prefix in NOT_RUN:
        assert any(c.startswith(prefix) for c in commands), f"stale exception {prefix!r}"
    for command in commands:
        for word in shlex.split(command):  # files a documented command reads exist
            if word.endswith((".yaml", ".yml")):
                assert (ROOT / word).is_file(), f"{command}: no {word} in the repository"


@pytest.mark.slow
def test_documented_commands_run_verbatim(tmp_path, monkeypatch, capfd):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    tiny_base = tmp_path / "tiny_base.yaml"
    tiny_base.write_text(yaml.safe_dump({**yaml.safe_load(
        (ROOT / "examples" / "base.yaml").read_text()), **TINY_DATA}))
    monkeypatch.chdir(tmp_path)
    ran = []
    for document, command in documented_commands():
        if skipped_because(command):
            continue
        words = shlex.split(command)
        status = main([*words[1:], *tiny(words, tiny_base)])
        out, err = capfd.readouterr()
        assert status == 0, f"{document}: {command}\n{out[-2000:]}\n{err[-2000:]}"
        assert "[I 20" not in err, f"{command}: Optuna's log lines leak into the output"
        writes = words[1] in ("train", "eval") or words[1:3] == ["trace", "raster"] or (
            words[1] == "bench" and "--json" in words)
        if writes:
            assert f": {tmp_path.resolve()}" in out, f"{command}: no absolute path printed"
        ran.append(command)
    assert any(c.startswith("asyncsim sweep run examples/sweep_random") for c in ran)
    assert (tmp_path / "runs" / "eval" / "raster.png").stat().st_size > 0


def test_example_configs_and_documented_sweep_files_are_valid():
    make_config(yaml.safe_load((ROOT / "examples" / "train.yaml").read_text()))
    base = yaml.safe_load((ROOT / "examples" / "base.yaml").read_text())
    make_config(base)
    files = {path.name: yaml.safe_load(path.read_text())
             for path in (ROOT / "examples").glob("sweep_*.yaml")}
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "sweeps.md").read_text(), re.S)
    files |= {f"docs/sweeps.md block {i}": yaml.safe_load(block)
              for i, block in enumerate(blocks) if "method:" in block}
    assert len(files) >= 3
    for name, raw in files.items():
        spec = parse_sweep(raw, raw.get("name", name), base)
        assert spec.n_trials >= 1, name
    grid = parse_sweep(files["sweep_grid.yaml"], "grid-f", base)
    assert grid.n_trials == 5  # sync x {2, 32} runs once


def test_readme_python_runs():
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
