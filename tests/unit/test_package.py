"""Packaging facts: cheap import, install names, registry and facade behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import protoclients as pc
from protoclients.client import Client
from protoclients.registry import SchemeInfo, lookup_scheme, register_scheme


def _imported_modules(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True, text=True, timeout=60, check=True,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if "|" in line and not line.startswith("import time: self"):
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_import_protoclients_is_cheap() -> None:
    names = _imported_modules("import protoclients")
    heavy = {"ssl", "requests", "ftplib", "smtplib", "imaplib", "poplib", "urllib3", "email",
             "http.client", "socket", "keyring"}
    assert not (names & heavy), sorted(names & heavy)
    assert not any(n.startswith("protoclients.protocols.") for n in names)


def test_cli_and_fixtures_are_not_top_level_names(tmp_path: Path) -> None:
    for name in ("cli", "fixtures"):
        proc = subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=tmp_path,
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert proc.returncode != 0, f"'import {name}' must fail outside the repository"
    proc = subprocess.run(
        [sys.executable, "-c", "import protoclients_cli.app, protoclients_fixtures"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_unknown_scheme_lists_supported() -> None:
    with pytest.raises(pc.InvalidURL) as info:
        pc.connect("gopher://h/")
    assert "https" in str(info.value) and "ftp" in str(info.value)


class _SendOnly(Client):
    protocol = "sendonly"

    def send(self, source: object, url: object = None, **kwargs: object) -> str:  # type: ignore[override]
        return "sent"


def test_unsupported_verb_names_schemes_that_can() -> None:
    register_scheme(SchemeInfo("sendonly", "sendonly", __name__, "_SendOnly", 1, "none"))
    client = _SendOnly("sendonly://h/")
    with pytest.raises(pc.UnsupportedOperation) as info:
        client.ls()
    assert "ftp" in str(info.value) and "http" in str(info.value)
    assert client.send(b"x") == "sent"


def test_client_refuses_other_origin() -> None:
    register_scheme(SchemeInfo("sendonly", "sendonly", __name__, "_SendOnly", 1, "none"))
    client = _SendOnly("sendonly://alice@h/dir/")
    assert client.resolve("f").path == "/dir/f"
    with pytest.raises(pc.InvalidInput):
        client.resolve("sendonly://other/x")


def test_registry_defaults() -> None:
    https = lookup_scheme("HTTPS")
    assert https is not None and (https.default_port, https.tls) == (443, "implicit")
    ftps = lookup_scheme("ftps")
    assert ftps is not None and (ftps.default_port, ftps.tls) == (990, "implicit")


def test_options_validated() -> None:
    with pytest.raises(pc.InvalidInput):
        pc.ClientOptions(timeout=0)
    with pytest.raises(pc.InvalidInput):
        pc.ClientOptions(tls="maybe")  # type: ignore[arg-type]
