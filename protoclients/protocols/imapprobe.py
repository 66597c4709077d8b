"""The IMAP part of :func:`protoclients.probe`: greeting, ``CAPABILITY`` before and after
STARTTLS.

Uses the client's bounded connection (:class:`.imapconn.IMAPConnection`): responses are
bounded and data around the STARTTLS go-ahead is refused as an injection attempt, exactly
as when the client logs in. The probe itself never logs in; ``LOGOUT`` ends the session.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import TLSRequiredError
from .imapconn import CommandFailed, IMAPConnection, Response
from .imaperrors import error_boundary

if TYPE_CHECKING:
    from ..client import Client
    from ..prober import ProbeTarget
    from ..probereport import ProbeReport

__all__ = ["COMMAND", "login_capabilities", "probe_server"]

#: The capability command of this protocol.
COMMAND = "CAPABILITY"


def _greeting_text(resp: Response) -> str:
    code = ""
    if resp.code:
        data = resp.code_data.decode("utf-8", "replace") if resp.code_data else ""
        code = f"[{resp.code} {data}] " if data else f"[{resp.code}] "
    return f"* {resp.kind} {code}{resp.text.decode('utf-8', 'replace')}".rstrip()


def _capabilities(conn: IMAPConnection) -> dict[str, str]:
    conn.set_timeout(conn.op_timeout, time.monotonic() + conn.op_timeout)
    conn.capability()
    return dict.fromkeys(conn.capabilities, "")


def probe_server(report: ProbeReport, target: ProbeTarget) -> None:
    """Fill ``report`` from one IMAP session (``LOGOUT`` at the end)."""
    url, tls = target.url, target.tls_mode
    conns: list[IMAPConnection] = []

    def drop() -> None:
        for conn in conns:
            conn.close_socket()

    try:
        with error_boundary("probe", url, scrub=lambda text: text, drop=drop):
            conn = IMAPConnection(
                url.host,
                target.port,
                context=target.context,
                implicit_tls=tls == "implicit",
                timeout=target.timeout,
                on_trace=target.trace_sink,
            )
            conns.append(conn)
            conn.set_timeout(target.timeout, time.monotonic() + target.timeout)
            greeting = conn.read_greeting()
            report.greeting = _greeting_text(greeting)
            if tls == "implicit":
                target.record_tls(report, conn.sock, "implicit")
            preauth = greeting.kind == "PREAUTH"
            caps = _capabilities(conn)
            report.add_capabilities(
                COMMAND, target.first_stage, caps, encrypted=conn.is_tls, authenticated=preauth
            )
            target.note_plaintext(report, starttls_offered="STARTTLS" in caps, word="STARTTLS")
            if preauth:
                report.notes.append("the server greeted with PREAUTH: the session is logged in")
            if tls == "starttls":
                _starttls(conn, target, preauth=preauth, offered="STARTTLS" in caps)
                target.record_tls(report, conn.sock, "starttls")
                report.add_capabilities(
                    COMMAND, "tls", _capabilities(conn), encrypted=True, authenticated=preauth
                )
    finally:
        for conn in conns:
            conn.logout_quietly(min(target.timeout, 5.0))


def _starttls(conn: IMAPConnection, target: ProbeTarget, *, preauth: bool, offered: bool) -> None:
    url = target.url
    if preauth:
        raise TLSRequiredError(
            f"{url.host} greeted with PREAUTH, so STARTTLS is impossible",
            protocol="imap",
            url=url,
        )
    if not offered:
        raise TLSRequiredError(f"{url.host} does not offer STARTTLS", protocol="imap", url=url)
    conn.set_timeout(target.timeout, time.monotonic() + target.timeout)
    try:
        conn.starttls()
    except CommandFailed as exc:
        raise TLSRequiredError(
            f"{url.host} refused STARTTLS", protocol="imap", url=url, reply=exc.reply
        ) from None


def login_capabilities(client: Client) -> tuple[dict[str, str] | None, str | None]:
    """The capabilities ``client`` (a connected, logged-in IMAP client) read after login."""
    from .imap import IMAPClient

    assert isinstance(client, IMAPClient)
    return dict.fromkeys(sorted(client.capabilities()), ""), None
