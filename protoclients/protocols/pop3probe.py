"""The POP3 part of :func:`protoclients.probe`: greeting, ``CAPA`` before and after ``STLS``.

Uses the client's bounded connection (:class:`.pop3conn.POP3Connection`): the greeting and
``CAPA`` are bounded and bytes sent around the ``STLS`` go-ahead are refused. The probe
never sends ``USER``/``PASS``; ``QUIT`` in the authorization state changes nothing.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..errors import TLSRequiredError
from .pop3conn import ErrReply, POP3Connection
from .pop3errors import error_boundary

if TYPE_CHECKING:
    from ..client import Client
    from ..prober import ProbeTarget
    from ..probereport import ProbeReport

__all__ = ["COMMAND", "login_capabilities", "probe_server"]

#: The capability command of this protocol.
COMMAND = "CAPA"


def _items(caps: dict[str, list[str]]) -> dict[str, str]:
    return {name.upper(): " ".join(args) for name, args in caps.items()}


def _capa(pop: POP3Connection) -> dict[str, str] | None:
    """``CAPA`` (``None`` when the server does not implement it)."""
    try:
        return _items(pop.capa())
    except ErrReply:
        return None


def probe_server(report: ProbeReport, target: ProbeTarget) -> None:
    """Fill ``report`` from one POP3 session (``QUIT`` at the end)."""
    url, tls = target.url, target.tls_mode
    pops: list[POP3Connection] = []

    def drop() -> None:
        for pop in pops:
            pop.close()

    try:
        with error_boundary("probe", url, scrub=lambda text: text, drop=drop):
            pop = POP3Connection(
                url.host,
                target.port,
                timeout=target.timeout,
                context=target.context,
                implicit_tls=tls == "implicit",
                on_trace=target.trace_sink,
                max_response_bytes=256 * 1024,
            )
            pops.append(pop)
            report.greeting = pop.welcome.decode("utf-8", "replace")
            if pop.has_apop:
                report.notes.append("the greeting carries an APOP timestamp (APOP is offered)")
            if tls == "implicit":
                target.record_tls(report, pop.sock, "implicit")
            caps = _capa(pop)
            report.add_capabilities(COMMAND, target.first_stage, caps, encrypted=pop.is_tls)
            offered = caps is not None and "STLS" in caps
            target.note_plaintext(report, starttls_offered=offered, word="STLS")
            if tls == "starttls":
                if not offered:
                    raise TLSRequiredError(
                        f"{url.host} does not offer STLS", protocol="pop3", url=url
                    )
                try:
                    pop.stls()
                except ErrReply as exc:
                    raise TLSRequiredError(
                        f"{url.host} refused STLS", protocol="pop3", url=url, reply=exc.text
                    ) from None
                target.record_tls(report, pop.sock, "starttls")
                report.add_capabilities(COMMAND, "tls", _capa(pop), encrypted=True)
    finally:
        for pop in pops:
            _quit(pop, target.timeout)


def _quit(pop: POP3Connection, timeout: float) -> None:
    if pop.sock is None:
        return
    try:
        pop.set_timeout(min(timeout, 5.0))
        pop.quit()
    except Exception:  # noqa: S110 - the session is over whatever QUIT answers
        pass
    finally:
        with contextlib.suppress(OSError):
            pop.close()


def login_capabilities(client: Client) -> tuple[dict[str, str] | None, str | None]:
    """``CAPA`` after login on ``client`` (a connected POP3 client) and its login mechanism."""
    from .pop3 import POP3Client

    assert isinstance(client, POP3Client)
    caps = client.capabilities()
    return _items(caps), client.login_mechanism
