"""The exoqc command lists the DESIGN subcommands."""

from typer.testing import CliRunner

from exoqc.cli import app

runner = CliRunner()


def test_help_lists_design_subcommands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "dls", "features", "train", "score", "ui"):
        assert command in result.output
