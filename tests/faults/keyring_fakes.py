"""Keyring backends that misbehave, for the CRED-07 subprocess tests (not a test module).

Selected in a child process with ``PYTHON_KEYRING_BACKEND=keyring_fakes.<Class>`` and this
directory on ``PYTHONPATH``:

- :class:`LockedKeyring`: every call raises ``KeyringLocked`` (a locked Secret Service
  collection on a headless session).
- :class:`SlowKeyring`: every call hangs for a minute (a D-Bus peer that never answers).
- :class:`PlaintextKeyring`: works, but keeps passwords unencrypted in a JSON file under
  ``$HOME`` — a stand-in with the name and behaviour of ``keyrings.alt``'s backend.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked


class LockedKeyring(KeyringBackend):
    """A keyring whose collection is locked."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the collection is locked")


class SlowKeyring(KeyringBackend):
    """A keyring that never answers (within a minute)."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(60)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        time.sleep(60)

    def delete_password(self, service: str, username: str) -> None:
        time.sleep(60)


class PlaintextKeyring(KeyringBackend):
    """Passwords in ``$HOME/plaintext-keyring.json``, unencrypted."""

    priority = 1  # type: ignore[assignment]

    @property
    def file(self) -> Path:
        return Path(os.environ["HOME"]) / "plaintext-keyring.json"

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self.file.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}/{username}", None)
        self.file.write_text(json.dumps(data))
