"""The command line's help: every option described, choices and defaults given, and
``asyncsim --help`` answered without importing torch (asyncsim/commands.py)."""

import argparse
import dataclasses
import subprocess
import sys

import pytest

from asyncsim.cli import build_parser, main
from asyncsim.commands import COMMANDS
from asyncsim.simulate import BACKENDS, GRAD_RULES
from asyncsim.strategies import STRATEGIES
from asyncsim.training.cli import TRAIN_OPTION_HELP
from asyncsim.training.config import LOSSES, TrainConfig


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the full command line, with its command words."""
    out, todo = [], [("asyncsim", build_parser())]
    while todo:
        name, parser = todo.pop()
        out.append((name, parser))
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            todo += [(f"{name} {sub}", p) for sub, p in _subparsers(parser).items()]
    return out


def test_help_lists_every_command_without_importing_torch():
    code = ("import sys, contextlib, io\nfrom asyncsim.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as o:"
            "\n    main(['--help'])\n"
            "print('torch' in sys.modules); print(o.getvalue())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("False")
    for name, command in COMMANDS.items():
        assert name in out
        assert " ".join(command.help.split()[:4]) in " ".join(out.split())
    assert "``" not in out


def test_full_and_lazy_parsers_agree_on_the_commands():
    full = _subparsers(build_parser())
    lazy = _subparsers(build_parser(commands=()))
    assert list(full) == list(lazy) == list(COMMANDS)
    for name in COMMANDS:
        chosen = _subparsers(build_parser(commands=[name]))[name]
        assert chosen.format_help() == full[name].format_help()


def test_every_option_has_a_help_text_without_markup():
    for name, parser in _all_parsers():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(
                    action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue  # a command's help is its sub-commands' own
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
            assert "``" not in action.help, name


def test_every_valued_option_states_its_default():
    for name, parser in _all_parsers():
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or action.help in (
                    None, argparse.SUPPRESS) or action.required:
                continue
            text = action.help % {"default": action.default, "prog": name}
            if action.dest in {"json", "plot", "compare", "config", "out", "name"} \
                    and action.default is None:
                continue  # an output or input file: nothing is written or read without it
            assert "default" in text, f"{name} {action.option_strings}: {text}"


def test_train_help_names_every_key_and_every_choice():
    assert set(TRAIN_OPTION_HELP) == {f.name for f in dataclasses.fields(TrainConfig)}
    train = _subparsers(build_parser(commands=["train"]))["train"]
    text = " ".join(train.format_help().split())
    for choices in (STRATEGIES, BACKENDS, GRAD_RULES, LOSSES):
        for choice in choices:
            assert choice in text
    assert "(default 0.005)" in text and "(default [128])" in text and "(default sync)" in text


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["sweep", "run", "--help"]])
def test_help_exits_zero(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    assert "usage: asyncsim" in capsys.readouterr().out
