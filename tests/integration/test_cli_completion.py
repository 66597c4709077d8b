"""Shell completion through Typer's standard options, with the installed console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "protoclients"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "protoclients"]


def _run(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([*_script(), *args], capture_output=True, text=True, timeout=45,
                          check=False, env=env, stdin=subprocess.DEVNULL)


def test_show_completion_prints_a_bash_script_for_protoclients() -> None:
    proc = _run("--show-completion", "bash")
    assert proc.returncode == 0, proc.stderr
    assert "protoclients" in proc.stdout
    assert "complete " in proc.stdout and "_PROTOCLIENTS_COMPLETE" in proc.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["protoclients", "se"], {"send", "serve"}),
        (["protoclients", "serve", "--port"], {"--port-base"}),
        (["protoclients", "mail", "s"], {"send"}),
        (["protoclients", "auth", "l"], {"list"}),
    ],
)
def test_bash_completes_commands_and_options(words: list[str], expected: set[str]) -> None:
    script = _run("--show-completion", "bash").stdout
    exe = _script()
    # Run the completion function the way bash's `complete -F` does, on the real program.
    # A wrapper function stands in for the program name when it runs as `python -m`.
    wrapper = "" if len(exe) == 1 else f'protoclients() {{ {" ".join(exe)} "$@"; }}\n'
    bash = (
        f"{wrapper}{script}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        f"_protoclients_completion {exe[0] if len(exe) == 1 else 'protoclients'}\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", bash], capture_output=True,
                          text=True, timeout=45, check=False)
    assert proc.returncode == 0, proc.stderr
    assert expected <= set(proc.stdout.split()), proc.stdout + proc.stderr


def test_install_completion_writes_the_script_under_home(tmp_path: Path) -> None:
    proc = _run("--install-completion", "bash", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / ".bash_completions" / "protoclients.sh"
    assert "protoclients" in installed.read_text()
    assert str(installed) in (tmp_path / ".bashrc").read_text()
