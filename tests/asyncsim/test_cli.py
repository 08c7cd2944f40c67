"""`asyncsim` itself: every user-facing error is one `asyncsim: error:` line naming the flag."""

import pytest

from asyncsim.cli import main


@pytest.mark.parametrize(("argv", "message"), [
    (["--threads", "0", "bench"], "--threads: must be >= 1, got 0"),
    (["bench", "--batch", "8,x"], "--batch: expected comma-separated ints, got '8,x'"),
    (["bench", "--rate", "fast"], "--rate: expected comma-separated floats, got 'fast'"),
    (["bench", "--arch", "fc(4)", "--in-shape", "2,a"], "--in-shape: expected"),
])
def test_bad_flags_are_one_line_naming_the_flag(capsys, argv, message):
    """Before: a RuntimeError traceback (--threads 0); int()'s message without the flag."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"asyncsim: error: {message}") and len(err.splitlines()) == 1


def test_bench_outputs_are_checked_before_measuring(tmp_path, capsys):
    assert main(["bench", "--sizes", "4,3,2", "--json", str(tmp_path)]) == 2
    assert f"--json: {tmp_path} is a folder" in capsys.readouterr().err
