"""The exoqc command has the contract's subcommands (README "The exoqc command"), each with
its own help."""

import typer
from typer.testing import CliRunner

from exoqc.cli import app

runner = CliRunner()
CONTRACT_COMMANDS = {"simulate", "dls", "nta", "features", "train", "score", "monitor", "ui"}


def test_the_design_subcommands_are_registered_by_name():
    registered = set(typer.main.get_command(app).commands)
    assert registered >= CONTRACT_COMMANDS, CONTRACT_COMMANDS - registered


def test_each_design_subcommand_answers_its_own_help():
    for command in sorted(CONTRACT_COMMANDS):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert f"exoqc {command}" in result.output.replace("  ", " "), (command, result.output)
