"""The README's commands: every `elec` line in its code blocks names a command that
exists, with options that command has (continuation lines of options included)."""

import re
from pathlib import Path

import typer.main

from elec.cli import app

README = Path(__file__).parent.parent / "README.md"


def commands() -> list[tuple[str, list[str]]]:
    """(line, its words before any comment) of every elec command in a code block; an
    indented line of [--options] continues the command above it."""
    found, inside = [], False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        words = line.split("#", 1)[0].split()
        if inside and words[:1] == ["elec"]:
            found.append((line, words))
        elif inside and found and line.startswith(" ") and words[:1] and \
                words[0].startswith("[--"):
            found[-1][1].extend(words)
    return found


def test_every_readme_command_and_option_exists():
    group = typer.main.get_command(app)
    seen = commands()
    assert len(seen) >= 15
    for line, words in seen:
        command, rest = group, words[1:]
        while hasattr(command, "commands") and rest and rest[0] in command.commands:
            command, rest = command.commands[rest[0]], rest[1:]
        assert not hasattr(command, "commands"), f"no such command: {line}"
        known = {opt for p in command.params for opt in [*p.opts, *p.secondary_opts]}
        for word in rest:
            option = re.match(r"\[?(--?[a-z][a-z-]*)", word)
            if option:
                assert option.group(1) in known, f"{option.group(1)} is no option of: {line}"
