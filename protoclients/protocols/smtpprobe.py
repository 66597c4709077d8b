"""The SMTP part of :func:`protoclients.probe`: greeting, ``EHLO`` before and after STARTTLS.

Uses the client's strict connection (:class:`.smtpconn.SMTPConnection`), so replies are
bounded and STARTTLS injection is refused exactly as when sending; nothing is
authenticated and no mail transaction is started.
"""

from __future__ import annotations

import contextlib
import smtplib
from typing import TYPE_CHECKING

from ..errors import ProtocolError, ServerError, clean_server_text
from .smtpaddr import check_ehlo_name
from .smtpconn import MalformedReply, SMTPConnection
from .smtperrors import error_boundary, reply_text

if TYPE_CHECKING:
    from ..client import Client
    from ..prober import ProbeTarget
    from ..probereport import ProbeReport

__all__ = ["COMMAND", "login_capabilities", "probe_server"]

#: The capability command of this protocol.
COMMAND = "EHLO"


def _ehlo_name(target: ProbeTarget, conn: SMTPConnection) -> str:
    name = target.url.decoded_path.strip("/")
    if name:
        return check_ehlo_name(name)
    try:
        address = str(conn.sock.getsockname()[0]) if conn.sock is not None else "127.0.0.1"
    except OSError:
        address = "127.0.0.1"
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _features(conn: SMTPConnection) -> dict[str, str] | None:
    """``EHLO`` (``None`` when the server only knows ``HELO``)."""
    code, _ = conn.ehlo()
    if code == 250:
        return {name.upper(): value.strip() for name, value in conn.esmtp_features.items()}
    code, reply = conn.helo()
    if not 200 <= code < 300:
        raise smtplib.SMTPHeloError(code, reply)
    return None


def probe_server(report: ProbeReport, target: ProbeTarget) -> None:
    """Fill ``report`` from one SMTP session (QUIT at the end)."""
    url, tls = target.url, target.tls_mode
    conn = SMTPConnection(
        context=target.context,
        implicit_tls=tls == "implicit",
        timeout=target.timeout,
        local_hostname="localhost",
        on_trace=target.trace_sink,
    )
    try:
        with error_boundary("probe", url, scrub=lambda text: text, drop=conn.close):
            try:
                code, text = conn.connect(url.host, target.port)
            except MalformedReply as exc:
                raise ProtocolError(
                    "unexpected greeting from the server", protocol="smtp", url=url, reply=str(exc)
                ) from None
            report.greeting = f"{code} {reply_text(text)}"
            _check_greeting(code, text, target)
            if tls == "implicit":
                target.record_tls(report, conn.sock, "implicit")
            conn.local_hostname = _ehlo_name(target, conn)
            features = _features(conn)
            report.add_capabilities(COMMAND, target.first_stage, features, encrypted=conn.is_tls)
            offered = features is not None and "STARTTLS" in features
            target.note_plaintext(report, starttls_offered=offered, word="STARTTLS")
            if tls == "starttls":
                conn.starttls_strict()
                target.record_tls(report, conn.sock, "starttls")
                report.add_capabilities(COMMAND, "tls", _features(conn), encrypted=True)
    finally:
        _quit(conn)


def _check_greeting(code: int, text: bytes, target: ProbeTarget) -> None:
    if code == 220:
        return
    reply = f"{code} {clean_server_text(reply_text(text))}"
    if 400 <= code < 600:
        raise ServerError(
            "the server refused the session in its greeting",
            protocol="smtp",
            url=target.url,
            reply=reply,
            status=code,
            temporary=code < 500,
        )
    raise ProtocolError(
        "unexpected greeting from the server", protocol="smtp", url=target.url, reply=reply
    )


def _quit(conn: SMTPConnection) -> None:
    if conn.sock is None:
        return
    try:
        conn.set_timeout(min(conn.timeout or 5.0, 5.0))
        conn.docmd("QUIT")
    except (smtplib.SMTPException, OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def login_capabilities(client: Client) -> tuple[dict[str, str] | None, str | None]:
    """Log in with ``client`` (an :class:`~.smtp.SMTPClient`).

    SMTP servers announce no new extensions after ``AUTH``, so no capabilities are
    returned.
    """
    from .smtp import SMTPClient

    assert isinstance(client, SMTPClient)
    client.login()
    return None, None
