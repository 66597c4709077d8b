"""``auth show``: where the password for a URL would come from, without revealing it.

The same order as a real command (:mod:`protoclients.credentials` plus the CLI's prompt):
``--password-stdin`` -> a password in the URL -> ``PROTOCLIENTS_PASSWORD`` -> the keyring
-> netrc -> (nothing found: a prompt on a terminal, else an error). Every source is
checked and reported (so a source hidden by an earlier one shows up too); the first one
found wins. Nothing is consumed: stdin is not read and ``PROTOCLIENTS_PASSWORD`` stays in
the environment.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protoclients.urls import URL

    from .state import CLIState

__all__ = ["Check", "Explanation", "explain"]


@dataclass(frozen=True)
class Check:
    """One source: ``found`` is ``None`` when it does not apply (no user name)."""

    source: str
    found: bool | None
    detail: str


@dataclass(frozen=True)
class Explanation:
    """Every check, in lookup order, and the winner (``"none"`` when nothing is found)."""

    url: str
    user: str | None
    source: str
    detail: str
    checks: list[Check]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


def _netrc_name(st: CLIState) -> str:
    if st.netrc_file is not None:
        return str(st.netrc_file)
    return os.environ.get("NETRC") or "~/.netrc"


def _keyring_check(url: URL, user: str, timeout: float, notes: list[str]) -> Check:
    from protoclients.credentials import KEYRING_SERVICE, keyring_entry_names
    from protoclients.errors import ProtoClientError

    from .auth_keyring import backend_info, keyring_call

    info = backend_info()
    if info.kind in {"fail", "null", "broken"}:
        return Check("keyring", False, info.reason)
    import keyring

    names = keyring_entry_names(url, user)
    for name in names:
        try:
            value = keyring_call(
                keyring.get_password, KEYRING_SERVICE, name, what="look up", timeout=timeout
            )
        except ProtoClientError as exc:
            return Check("keyring", False, str(exc))
        if value is not None:
            return Check("keyring", True, f"entry {name} (service {KEYRING_SERVICE}, {info.name})")
    if info.kind == "plaintext":
        notes.append(info.reason)
    tried = " or ".join(names)
    return Check("keyring", False, f"no entry {tried} (service {KEYRING_SERVICE}, {info.name})")


def _netrc_check(st: CLIState, url: URL, user: str | None, notes: list[str]) -> Check:
    from protoclients.credentials import netrc_lookup
    from protoclients.errors import ProtoClientError
    from protoclients.options import ClientOptions

    options = ClientOptions(
        **{k: v for k, v in st.client_options().items() if k not in {"trace", "timeout"}}
    )
    diagnostics: list[str] = []
    where = _netrc_name(st)
    try:
        found = netrc_lookup(url, user, options, diagnostics)
    except ProtoClientError as exc:
        return Check("netrc", False, str(exc))
    notes.extend(diagnostics)
    if found is None:
        return Check("netrc", False, f"{where}: no usable entry for {url.host}")
    login = found[0]
    return Check("netrc", True, f"{where}: machine {url.host} login {login}")


def explain(st: CLIState, url: URL) -> Explanation:
    """Check every source for ``url`` (see the module docstring)."""
    from protoclients.credentials import ENV_PASSWORD

    user = st.user or url.username
    notes: list[str] = []
    checks = [
        Check(
            "argument",
            st.password_stdin,
            "--password-stdin given (read when a command runs)"
            if st.password_stdin
            else "--password-stdin not given",
        ),
        Check(
            "url",
            url.password is not None,
            "the URL holds a password (avoid it: shells keep history)"
            if url.password is not None
            else "no password in the URL",
        ),
    ]
    if user:
        env_set = ENV_PASSWORD in os.environ
        checks.append(
            Check(
                "environment",
                env_set,
                f"{ENV_PASSWORD} is set" if env_set else f"{ENV_PASSWORD} is not set",
            )
        )
        checks.append(_keyring_check(url, user, st.timeout, notes))
    else:
        skipped = "not used: no user name (put it in the URL or use --user)"
        checks.append(Check("environment", None, skipped))
        checks.append(Check("keyring", None, skipped))
    checks.append(_netrc_check(st, url, user, notes))
    winner = next((c for c in checks if c.found), None)
    if winner is not None:
        source, detail = winner.source, winner.detail
    else:
        source = "none"
        detail = (
            "nothing found: a command goes without a password (anonymous FTP, plain HTTP) "
            "or fails with CredentialsNotFound"
        )
        if user:
            detail = "nothing found: a command would ask on a terminal (hidden input), else fail"
    return Explanation(
        url=str(url.without_password()),
        user=user,
        source=source,
        detail=detail,
        checks=checks,
        notes=notes,
    )
