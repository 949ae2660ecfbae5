"""Every heatcast command and subcommand has help text, every option has help, and --help works."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from heatcast.firmware.cli import COMMANDS, main


def walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """The command and, for groups, every subcommand below it."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
            yield from walk(sub, (*path, name))


def load(name: str) -> click.Command:
    module_name, _, attr = COMMANDS[name].partition(":")
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"{module_name} (heatcast {name}) is not written yet")
    module = importlib.import_module(module_name)  # an import error fails the test
    command = getattr(module, attr, None)
    assert isinstance(command, click.Command), f"{COMMANDS[name]} is not a click command"
    return command


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_has_help(name: str) -> None:
    missing = []
    for path, command in walk(load(name), (name,)):
        where = "heatcast " + " ".join(path)
        if not (command.help or "").strip():
            missing.append(f"{where}: no help text")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{where} {'/'.join(param.opts)}: no help text")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_exits_0(name: str) -> None:
    runner = CliRunner()
    for path, command in walk(load(name), (name,)):
        result = runner.invoke(main, [*path, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, f"heatcast {' '.join(path)} --help: {result.output}"
        assert "Usage:" in result.output
        first_line = (command.help or "").strip().splitlines()[0]
        assert first_line.split()[0] in result.output


def test_main_help_lists_the_commands_that_exist() -> None:
    result = CliRunner().invoke(main, ["--help"], catch_exceptions=False)
    assert result.exit_code == 0 and "heatcast" in result.output
    for name, target in COMMANDS.items():
        if importlib.util.find_spec(target.partition(":")[0]) is not None:
            assert f"  {name}" in result.output, name


def test_walk_finds_nested_subcommands() -> None:
    """The checker itself: a group's subcommands, and theirs, are all visited."""

    @click.group(help="top")
    def top() -> None: ...

    @top.group(help="middle")
    def middle() -> None: ...

    @middle.command(help="leaf")
    @click.option("--x")
    def leaf(x: str) -> None: ...

    paths = [path for path, _ in walk(top, ("top",))]
    assert paths == [("top",), ("top", "middle"), ("top", "middle", "leaf")]
