"""``bookwire --version`` and the exit codes every command documents in its ``--help``."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from worker.cli import EXIT_CODES, _parser, main

COMMANDS = sorted(
    name
    for action in _parser()._actions
    if isinstance(action, argparse._SubParsersAction)
    for name in action.choices
)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"bookwire {version('bookwire')}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_documents_its_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    codes = text.split("exit codes:\n", 1)[1].splitlines()
    listed = {int(line.split()[0]) for line in codes if line.strip()}
    assert {0, 130} <= listed <= set(EXIT_CODES)
    for line in codes:
        if line.strip():
            assert line.split(None, 1)[1] == EXIT_CODES[int(line.split()[0])]


def test_up_documents_that_a_part_failing_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    assert "  3    a part could not start or stopped (named on stderr)" in capsys.readouterr().out
