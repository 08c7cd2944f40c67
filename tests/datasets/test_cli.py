"""``asyncsim data info``, registered on a parser of our own as asyncsim's CLI does."""

import argparse

import pytest

from asyncsim.cli import main
from asyncsim.datasets.cli import register


def run(argv):
    parser = argparse.ArgumentParser(prog="asyncsim")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_info_of_an_embedded_task_then_from_the_cache(tmp_path, capsys):
    argv = ["data", "info", "timing", "--cache-dir", str(tmp_path)]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "timing: spike-timing manifolds (embedded)" in out
    assert "n_in 40" in out and "dt_ms 5.0" in out and "p*H*W + y*W + x" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["split"][:6] == ["split", "samples", "classes", "chance", "T", "n_in"]
    assert rows["train"][:8] == ["train", "1200", "10", "10.0%", "20", "40", "40.0", "0.0500"]
    assert rows["test"][:3] == ["test", "400", "10"]
    assert "binned" in rows["train"][-1]
    assert run(argv) == 0
    assert "(cache)" in capsys.readouterr().out


def test_info_applies_binning_knobs_to_a_data_folder(tmp_path, capsys):
    folder = tmp_path / "Test" / "4"
    folder.mkdir(parents=True)
    (folder / "00001.bin").write_bytes(bytes([3, 4, 0x80, 0x27, 0x10]) * 3)  # t = 10 ms
    argv = f"data info nmnist --data-dir {tmp_path} --split test --dt-ms 2 --pool 2".split()
    argv += ["--merge-polarity", "--clip", "2", "--no-cache"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "pool 2" in out and "merge_polarity True" in out and "clip 2" in out
    (row,) = [line.split() for line in out.splitlines() if line.startswith("test")]
    assert row[1:8] == ["1", "10", "100.0%", "6", "289", "2.0", f"{2 / (6 * 289):.4f}"]


def test_missing_or_bad_data_is_one_error_line_not_a_traceback(tmp_path, capsys):
    assert main(["data", "info", "shd", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asyncsim: error: SHD train split not found") and "shd_train.h5" in err
    (tmp_path / "Test" / "4" / "00001.bin").mkdir(parents=True)
    assert main(["data", "info", "nmnist", "--data-dir", str(tmp_path), "--split", "test"]) == 2
    err = capsys.readouterr().err
    odd = tmp_path / "Test" / "4" / "00001.bin"
    assert err == f"asyncsim: error: {odd}: a folder, where a data file was expected\n"


def test_unknown_name_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        run(["data", "info", "mnist"])
    assert "invalid choice: 'mnist'" in capsys.readouterr().err
