"""``protoclients probe URL``: connect and report what a server offers (and its TLS).

A thin layer over :func:`protoclients.probe`: the global options become client options,
the report is printed as a table or one JSON document (:mod:`.render_probe`), and a probe
that ended early (refused connection, certificate that does not verify, STARTTLS refused)
prints what it learnt, then the error as one stderr line, and exits with that error's code.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .state import state_of

__all__ = ["probe"]


def probe(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(help="Server to probe, e.g. smtp://mail.example.org:587/ or https://host/."),
    ],
    login: Annotated[
        bool,
        typer.Option(
            "--login",
            help="Also log in (the URL or --user names the user) and report the "
            "capabilities after login. Default: no login, no password needed.",
        ),
    ] = False,
) -> None:
    """Connect and report what the server offers: greeting, capabilities, HTTP status, TLS.

    Reports the greeting; SMTP EHLO extensions, IMAP CAPABILITY, POP3 CAPA, FTP FEAT and
    SYST (before and after STARTTLS, labelled); the HTTP status line, Server and Location
    (redirects are reported, not followed); the TLS version and cipher; and the
    certificate: subject, issuer, alternative names, validity, days left, SHA-256
    fingerprint and whether it verified. A certificate that does not verify is an error
    (exit 4); with --insecure the probe says why it failed and shows it anyway.

    Examples:

      protoclients probe https://example.org/

      protoclients probe smtp://mail.example.org:587/ --tls starttls

      protoclients probe imaps://imap.example.org/ --json

      protoclients probe https://self-signed.example/ --insecure

      protoclients probe imap://alice@imap.example.org/ --tls starttls --login
    """
    import protoclients

    from .render_probe import echo_probe

    st = state_of(ctx)
    kwargs = st.call_kwargs(url) if login else st.client_options()
    report = st.run(protoclients.probe, url, login=login, **kwargs)
    echo_probe(report, as_json=st.json, quiet=st.quiet)
    if report.exception is not None:
        if st.traceback:
            raise report.exception
        st.fail(report.exception)
