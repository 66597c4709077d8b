"""The FTP part of :func:`protoclients.probe`: greeting, ``FEAT`` before and after
``AUTH TLS``, and ``SYST``.

Uses the client's bounded connection (:class:`.ftpconn.FTPConnection`): replies are
bounded and bytes sent after the ``AUTH TLS`` go-ahead are refused. The probe does not log
in (not even anonymously); RFC 2389 allows ``FEAT`` before login, and most servers answer
``SYST`` too (a refusal is simply not reported).
"""

from __future__ import annotations

import contextlib
import ftplib
import re
from typing import TYPE_CHECKING

from ..errors import ProtocolError, TLSRequiredError
from .ftpconn import FTPConnection
from .ftperrors import error_boundary

if TYPE_CHECKING:
    from ..client import Client
    from ..prober import ProbeTarget
    from ..probereport import ProbeReport

__all__ = ["COMMAND", "login_capabilities", "parse_feat", "probe_server"]

#: The capability command of this protocol.
COMMAND = "FEAT"


def parse_feat(reply: str) -> dict[str, str]:
    """The features of a multi-line ``211`` reply to ``FEAT``: name (upper-case) -> params.

    A name listed more than once (``AUTH TLS`` and ``AUTH SSL``) keeps every parameter,
    joined with ``", "``.
    """
    features: dict[str, str] = {}
    for line in reply.split("\n")[1:-1]:
        name, _, params = line.strip().partition(" ")
        if not name:
            continue
        name = name.upper()
        features[name] = f"{features[name]}, {params}" if features.get(name) else params
    return features


def _feat(ftp: FTPConnection) -> dict[str, str] | None:
    """``FEAT`` (``None`` when the server does not implement it)."""
    try:
        reply = ftp.sendcmd("FEAT")
    except ftplib.error_perm:
        return None
    return parse_feat(reply) if reply.startswith("211") else None


def _syst(ftp: FTPConnection) -> str | None:
    try:
        reply = ftp.sendcmd("SYST")
    except (ftplib.error_perm, ftplib.error_temp):
        return None
    return reply[4:].strip() if reply.startswith("215") else None


def _no_exists_check(url: object) -> bool | None:
    return None


def probe_server(report: ProbeReport, target: ProbeTarget) -> None:
    """Fill ``report`` from one FTP control session (``QUIT`` at the end)."""
    url, tls = target.url, target.tls_mode
    ftp = FTPConnection(
        context=target.context,
        implicit_tls=tls == "implicit",
        timeout=target.timeout,
        on_trace=target.trace_sink,
    )
    try:
        with error_boundary(
            "probe", url, scrub=lambda text: text, drop=ftp.close, probe_exists=_no_exists_check
        ):
            welcome = ftp.connect(url.host, target.port)
            if welcome.startswith("120"):
                welcome = ftp.getresp()
            report.greeting = welcome
            if not welcome.startswith("220"):
                raise ProtocolError(
                    "unexpected greeting from the server", protocol="ftp", url=url, reply=welcome
                )
            if tls == "implicit":
                target.record_tls(report, ftp.sock, "implicit")
            features = _feat(ftp)
            report.add_capabilities(COMMAND, target.first_stage, features, encrypted=ftp.is_tls)
            mechanisms = re.split(r"[,; ]+", (features or {}).get("AUTH", "").upper())
            offered = bool({"TLS", "TLS-C", "SSL"} & set(mechanisms))
            target.note_plaintext(report, starttls_offered=offered, word="AUTH TLS")
            if tls == "starttls":
                try:
                    ftp.auth()
                except (ftplib.error_perm, ftplib.error_temp, ftplib.error_reply) as exc:
                    raise TLSRequiredError(
                        f"{url.host} refused AUTH TLS", protocol="ftp", url=url, reply=str(exc)
                    ) from None
                target.record_tls(report, ftp.sock, "starttls")
                report.add_capabilities(COMMAND, "tls", _feat(ftp), encrypted=True)
            report.system = _syst(ftp)
    finally:
        _quit(ftp, target.timeout)


def _quit(ftp: FTPConnection, timeout: float) -> None:
    if ftp.sock is None:
        return
    try:
        ftp.set_timeout(min(timeout, 5.0))
        ftp.voidcmd("QUIT")
    except (ftplib.Error, OSError, EOFError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            ftp.close()


def login_capabilities(client: Client) -> tuple[dict[str, str] | None, str | None]:
    """``FEAT`` as read after login by ``client`` (a connected FTP client)."""
    from .ftp import FTPClient

    assert isinstance(client, FTPClient)
    return client.features, None
