"""Rendering a :class:`~protoclients.probereport.ProbeReport` for people (an aligned
two-column table) and for scripts (one JSON document).

Everything the server chose (greeting, capability names, headers, certificate names) goes
through :func:`protoclients.errors.clean_server_text`, so a hostile server cannot put
escape sequences on the user's terminal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from protoclients.probereport import CapabilitySet, ProbeReport, TLSInfo

__all__ = ["echo_probe", "probe_lines"]

_WIDTH = 11


def _clean(text: str | None, limit: int = 300) -> str:
    from protoclients.errors import clean_server_text

    return clean_server_text(text, limit) or ""


def _row(label: str, value: str) -> str:
    return f"{label:<{_WIDTH}} {value}".rstrip()


def _tls_mode(report: ProbeReport) -> str:
    mode = {
        "implicit": "implicit TLS",
        "starttls": "STARTTLS (required)",
        "none": "no TLS",
    }.get(report.tls_mode, report.tls_mode)
    return f"{report.protocol.upper()}, {mode}"


def _capability_lines(caps: CapabilitySet) -> list[str]:
    lines = ["", caps.label]
    if not caps.supported:
        lines.append(f"  (the server does not support {caps.command})")
        return lines
    if not caps.items:
        lines.append("  (none)")
        return lines
    width = min(max(len(_clean(name, 40)) for name in caps.items), 24)
    for name, value in caps.items.items():
        shown = _clean(name, 40)
        lines.append(f"  {shown:<{width}}  {_clean(value)}".rstrip())
    return lines


def _verified(tls: TLSInfo) -> str:
    if tls.verified:
        return typer.style("yes", fg=typer.colors.GREEN)
    reason = f": {tls.verify_error}" if tls.verify_error else ""
    return typer.style(f"NO{reason}", fg=typer.colors.RED, bold=True)


def _tls_lines(tls: TLSInfo) -> list[str]:
    how = "STARTTLS" if tls.how == "starttls" else "implicit TLS"
    if tls.version is None:
        session = f"handshake not completed ({how})"
    else:
        bits = f" ({tls.cipher_bits} bits)" if tls.cipher_bits else ""
        session = f"{tls.version}, {tls.cipher or '?'}{bits}, {how}"
    lines = ["", _row("TLS", session), _row("Verified", _verified(tls))]
    cert = tls.certificate
    if cert is None:
        return lines
    if cert.expired:
        ago = f"{-cert.days_left} days ago" if cert.days_left < 0 else "today"
        left = typer.style(f"EXPIRED {ago}", fg=typer.colors.RED, bold=True)
    elif cert.not_yet_valid:
        left = typer.style("NOT YET VALID", fg=typer.colors.RED, bold=True)
    else:
        colour = typer.colors.YELLOW if cert.days_left < 30 else None
        left = typer.style(f"{cert.days_left} days left", fg=colour)
    when = "%Y-%m-%d %H:%M:%S UTC"
    lines += [
        _row("Subject", _clean(cert.subject)),
        _row("Issuer", _clean(cert.issuer)),
        _row("SANs", _clean(", ".join(cert.subject_alt_names), 1000) or "(none)"),
        _row("Not before", cert.not_before.strftime(when)),
        _row("Not after", f"{cert.not_after.strftime(when)} ({left})"),
        _row("Serial", cert.serial),
        _row("SHA-256", cert.sha256),
    ]
    return lines


def probe_lines(report: ProbeReport) -> list[str]:
    """The report as lines of text (styles included; Click strips them when piped)."""
    lines = [_row("URL", str(report.url)), _row("Protocol", _tls_mode(report))]
    if report.greeting is not None:
        lines.append(_row("Greeting", _clean(report.greeting)))
    if report.system is not None:
        lines.append(_row("System", _clean(report.system)))
    http = report.http
    if http is not None:
        lines.append(_row("Status", f"{http.version} {http.status} {_clean(http.reason)}"))
        for label, value in (
            ("Server", http.server),
            ("Location", http.location),
            ("Type", http.content_type),
            ("HSTS", http.hsts),
        ):
            if value:
                lines.append(_row(label, _clean(value)))
    for caps in report.capabilities:
        lines += _capability_lines(caps)
    if report.tls is not None:
        lines += _tls_lines(report.tls)
    elif report.tls_mode == "none":
        lines += ["", _row("TLS", "none: the connection was plaintext")]
    if report.login is not None:
        login = report.login
        outcome = "ok" if login.ok else typer.style("FAILED", fg=typer.colors.RED, bold=True)
        mechanism = f" ({login.mechanism})" if login.mechanism else ""
        lines += ["", _row("Login", f"{_clean(login.user)}: {outcome}{mechanism}")]
    if report.notes:
        lines += ["", "Notes"]
        lines += [f"  - {_clean(note, 1000)}" for note in report.notes]
    lines += ["", _row("Elapsed", f"{report.elapsed:.2f} s")]
    return lines


def echo_probe(report: ProbeReport, *, as_json: bool, quiet: bool) -> None:
    """Print ``report`` as a table (``quiet``: nothing) or as one JSON document."""
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    if quiet:
        return
    for line in probe_lines(report):
        typer.echo(line)
