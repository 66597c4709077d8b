"""Keyring backends for the ``protoclients auth`` subprocess tests (not a test module).

Select one with ``PYTHON_KEYRING_BACKEND=cli_keyring_backend.<Class>`` and this directory
on ``PYTHONPATH``; the entries live in the JSON file named by ``PC_TEST_KEYRING_FILE``, so
they survive from one subprocess to the next.

* :class:`FileKeyring`: priority 1, a name that says nothing about plaintext: the CLI treats
  it like a real (encrypted) keyring. It stores the secrets in clear in the test's tmp dir.
* :class:`PlaintextFileKeyring`: the same, named like ``keyrings.alt``'s plaintext backend.
* :class:`HangingKeyring`: never answers (a locked keyring waiting for a dialog).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


def _path() -> Path:
    return Path(os.environ["PC_TEST_KEYRING_FILE"])


class FileKeyring(KeyringBackend):
    """Entries in a JSON file: ``{"service\\0username": password}``."""

    priority = 1  # type: ignore[assignment]

    def _load(self) -> dict[str, str]:
        path = _path()
        if not path.exists():
            return {}
        data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _save(self, data: dict[str, str]) -> None:
        path = _path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


class PlaintextFileKeyring(FileKeyring):
    """The same file, but named as a plaintext backend."""


class HangingKeyring(FileKeyring):
    """Blocks forever on every operation."""

    def get_password(self, service: str, username: str) -> str | None:
        threading.Event().wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        threading.Event().wait()
