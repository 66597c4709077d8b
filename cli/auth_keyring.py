"""The keyring side of ``protoclients auth``: which backend, is it safe, timed calls, the index.

* :func:`backend_info` classifies the backend ``keyring`` would use: ``ok``; ``fail`` (no
  backend: typical on a headless machine); ``null`` (stores nothing); ``plaintext`` (its
  name says plaintext/unencrypted, e.g. ``keyrings.alt.file.PlaintextKeyring``, or keyring
  itself does not recommend it, priority below 1, and its name does not mention encryption);
  ``broken`` (the backend failed to load).
* :func:`keyring_call` runs one keyring operation in a thread with a deadline (a locked
  desktop keyring may wait for a dialog forever) and turns its errors into
  :class:`~protoclients.errors.ProtoClientError` subclasses.
* The keyring cannot enumerate entries, so ``auth set`` keeps an **index**: the entry
  names it stored (``user@host[:port]``, never a secret), as JSON, in the keyring itself
  under the service ``protoclients`` and the entry :data:`INDEX_ENTRY` (it has no ``@``, so
  it can never be taken for a credential). ``auth list`` reads it and checks each name is
  still present; ``auth delete`` removes names from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from protoclients.errors import ProtoClientError

__all__ = [
    "INDEX_ENTRY",
    "BackendInfo",
    "backend_info",
    "index_add",
    "index_remove",
    "keyring_call",
    "read_index",
    "storing_refusal",
]

T = TypeVar("T")

#: The keyring entry (service ``protoclients``) holding the list of entry names.
INDEX_ENTRY = "protoclients-index"

_PLAINTEXT_WORDS = ("plaintext", "plain_text", "plain text", "unencrypted", "insecure")
_HEADLESS_HINT = (
    "put 'machine HOST login USER password SECRET' in ~/.netrc (chmod 600), or set "
    "PROTOCLIENTS_PASSWORD for one command, or pipe the secret with --password-stdin; "
    "or install a keyring backend (see the credentials page of the docs)"
)


@dataclass(frozen=True)
class BackendInfo:
    """The keyring backend: ``name`` (module.Class), ``kind`` and a ``reason`` for people."""

    name: str
    kind: str
    reason: str

    @property
    def can_store(self) -> bool:
        """Whether passwords can be stored at all (``ok`` or ``plaintext``)."""
        return self.kind in {"ok", "plaintext"}


def _name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_plaintext(backend: object) -> bool:
    cls = type(backend)
    text = f"{cls.__module__}.{cls.__qualname__} {getattr(cls, 'name', '')}".lower()
    if any(word in text for word in _PLAINTEXT_WORDS):
        return True
    try:
        priority = float(getattr(cls, "priority", 1))
    except Exception:  # a backend's priority may raise (RuntimeError: not viable)
        return False
    return 0 < priority < 1 and "crypt" not in text


def backend_info() -> BackendInfo:
    """Classify the keyring backend (never raises)."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null
    except Exception as exc:  # pragma: no cover - keyring is a dependency
        return BackendInfo("-", "broken", f"the keyring library cannot be imported ({exc!r})")
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return BackendInfo("-", "broken", f"the keyring backend failed to load: {exc!r}")
    name = _name(backend)
    effective = backend
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return BackendInfo(name, "null", f"keyring backend {name} has nothing to chain")
        effective = chained[0]  # set_password goes to the first one
        name = f"{name} -> {_name(effective)}"
    if isinstance(effective, fail.Keyring):
        return BackendInfo(
            name,
            "fail",
            "no keyring backend is available (typical on a headless machine)",
        )
    if isinstance(effective, null.Keyring) or "null" in _name(effective).lower():
        return BackendInfo(name, "null", f"keyring backend {name} stores nothing")
    if _is_plaintext(effective):
        return BackendInfo(
            name,
            "plaintext",
            f"keyring backend {name} stores passwords unencrypted (plaintext) on disk",
        )
    return BackendInfo(name, "ok", f"keyring backend {name}")


def storing_refusal(info: BackendInfo, *, allow_plaintext: bool) -> ProtoClientError | None:
    """The error to show instead of storing in this backend, or ``None`` when it is fine."""
    from protoclients.errors import InsecureAuthError, KeyringUnavailable

    if info.kind in {"fail", "null", "broken"}:
        return KeyringUnavailable(f"{info.reason}; nothing was stored. Instead: {_HEADLESS_HINT}")
    if info.kind == "plaintext" and not allow_plaintext:
        return InsecureAuthError(
            f"{info.reason}; refusing to store a password there. Use --allow-plaintext to "
            "store it anyway, or ~/.netrc (chmod 600), or a real keyring backend"
        )
    return None


def _translate(exc: BaseException, what: str) -> Exception:
    from protoclients.errors import KeyringUnavailable, clean_server_text

    kind = type(exc).__name__
    text = clean_server_text(str(exc), 200) or ""
    if kind == "KeyringLocked":
        return KeyringUnavailable(f"the keyring is locked; unlock it and try again ({what})")
    if kind == "NoKeyringError":
        return KeyringUnavailable(f"no keyring backend is available ({what}). {_HEADLESS_HINT}")
    detail = f": {text}" if text else ""
    return KeyringUnavailable(f"the keyring failed to {what} ({kind}{detail})")


def keyring_call(func: Callable[..., T], *args: Any, what: str, timeout: float) -> T:
    """``func(*args)`` in a daemon thread; an error or no answer within ``timeout`` seconds
    becomes a :class:`~protoclients.errors.ProtoClientError` naming ``what`` was tried."""
    from protoclients.credentials import call_with_timeout
    from protoclients.errors import OperationTimeoutError

    try:
        return call_with_timeout(lambda: func(*args), timeout)
    except TimeoutError:
        raise OperationTimeoutError(
            f"the keyring did not answer within {timeout:g} s ({what}); is it locked or "
            "waiting for a dialog?"
        ) from None
    except Exception as exc:
        raise _translate(exc, what) from None


# -- the index ---------------------------------------------------------------------------


def read_index(service: str, timeout: float, warnings: list[str] | None = None) -> list[str]:
    """The entry names ``auth set`` stored (sorted; empty when there is no index)."""
    import keyring

    raw = keyring_call(
        keyring.get_password, service, INDEX_ENTRY, what="read its index", timeout=timeout
    )
    if raw is None:
        return []
    try:
        doc = json.loads(raw)
        names = doc["entries"] if isinstance(doc, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("entries")
    except (ValueError, KeyError, TypeError):
        if warnings is not None:
            warnings.append(f"the index entry {INDEX_ENTRY!r} is damaged; it was ignored")
        return []
    return sorted(set(names))


def _write_index(service: str, names: list[str], timeout: float) -> None:
    import keyring

    value = json.dumps({"version": 1, "entries": sorted(set(names))})
    keyring_call(
        keyring.set_password, service, INDEX_ENTRY, value, what="update its index", timeout=timeout
    )


def index_add(service: str, entry: str, timeout: float) -> None:
    """Record ``entry`` in the index."""
    names = read_index(service, timeout)
    if entry not in names:
        _write_index(service, [*names, entry], timeout)


def index_remove(service: str, entry: str, timeout: float) -> None:
    """Remove ``entry`` from the index (no-op when absent)."""
    names = read_index(service, timeout)
    if entry in names:
        _write_index(service, [n for n in names if n != entry], timeout)
