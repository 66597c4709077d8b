"""docs/cli-reference.md is generated from the CLI and must match it."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from protoclients_cli.docgen import COMMAND, render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli-reference.md"


def test_cli_reference_is_up_to_date() -> None:
    expected = render()
    actual = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if actual != expected:
        diff = difflib.unified_diff(
            actual.splitlines(), expected.splitlines(), "docs/cli-reference.md", "generated",
            lineterm="", n=1,
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/cli-reference.md is out of date: run {COMMAND}\n{shown}")


def test_reference_does_not_depend_on_the_terminal() -> None:
    env = {**os.environ, "COLUMNS": "20", "LINES": "5", "TERM": "xterm-256color",
           "FORCE_COLOR": "1", "CLICOLOR_FORCE": "1"}
    env.pop("NO_COLOR", None)
    proc = subprocess.run([sys.executable, "-m", "protoclients_cli.docgen"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout == render()
    assert "\x1b" not in proc.stdout and "\x08" not in proc.stdout


def test_reference_covers_every_command_and_the_exit_codes() -> None:
    text = render()
    for heading in ("## protoclients fetch", "## protoclients serve", "## protoclients mail send",
                    "## protoclients auth set", "## protoclients probe", "## Exit codes"):
        assert heading + "\n" in text
    assert "| 5 | <code>AuthenticationError</code> |" in text
    assert "| 130 | interrupted |" in text
