"""README's Quick start stays true: two commands, the second is what CI runs."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quick_start_commands():
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "Quick start has exactly one fenced shell block"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_quick_start_has_two_commands():
    cmds = quick_start_commands()
    assert len(cmds) == 2
    assert "pcaps/" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_the_second_command_verbatim():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci
