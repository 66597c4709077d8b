"""``protoclients.probe(url)``: connect to a server and report what it offers.

(The module is named ``prober`` so that ``protoclients.probe`` stays the function.)

One connection, no login by default: the greeting, the capabilities at each stage (SMTP
``EHLO``, IMAP ``CAPABILITY``, POP3 ``CAPA``, FTP ``FEAT`` and ``SYST``; before and after
``STARTTLS`` when the connection is upgraded), the HTTP status line and headers, and the TLS
session: version, cipher and certificate (subject, issuer, alternative names, validity,
SHA-256 fingerprint, and whether it verified).

TLS follows the same rules as the clients: the scheme's default (``smtps://`` implicit,
``smtp://`` none) unless ``tls=`` says otherwise, and ``tls="starttls"`` on a plain scheme
*requires* the upgrade. The capabilities read before the upgrade are reported as
plaintext and unauthenticated; nothing learnt before the upgrade is trusted afterwards.

A certificate that does not verify ends the probe with a
:class:`~protoclients.errors.CertificateError` in :attr:`ProbeReport.error
<protoclients.probereport.ProbeReport.error>` and the reason in ``report.tls.verify_error``.
With ``insecure=True`` the probe first tries a verified handshake, records why it failed,
and then connects again without verification to show the certificate and the rest, so the
report always says whether the certificate verified.

``login=True`` (with a user name in the URL or ``username=``) then logs in with the
protocol's client, exactly as :func:`protoclients.connect` would, and adds the capabilities
the server announces after login (IMAP, POP3, FTP; SMTP does not announce new ones).
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CertificateError, InvalidInput, ProtoClientError
from .options import ClientOptions
from .probereport import LoginInfo, ProbeReport, Stage, TLSInfo
from .registry import SchemeInfo, TLSMode, lookup_scheme
from .urls import URL, Secret, parse_url

if TYPE_CHECKING:
    import ssl

    from .client import Client

__all__ = ["ProbeTarget", "probe"]


@dataclass
class ProbeTarget:
    """What a protocol's probe needs: where to connect, how, and the TLS context.

    Attributes:
        url: the URL being probed.
        tls_mode: ``"implicit"``, ``"starttls"`` or ``"none"``.
        options: the connection options (``insecure`` reflects :attr:`verified`).
        context: the TLS context, or ``None`` when ``tls_mode`` is ``"none"``.
        verified: whether ``context`` verifies the certificate and host name.
        verify_error: why an earlier verified attempt failed (insecure retry only).
    """

    url: URL
    tls_mode: TLSMode
    options: ClientOptions
    context: ssl.SSLContext | None
    verified: bool
    verify_error: str | None = None

    @property
    def timeout(self) -> float:
        """Seconds for connecting and for each network wait."""
        return self.options.timeout

    @property
    def port(self) -> int:
        """The port to connect to."""
        return self.url.effective_port

    def trace(self, line: str) -> None:
        """Pass a protocol trace line to ``options.trace`` (nothing secret is sent)."""
        if self.options.trace is not None:
            self.options.trace(line)

    @property
    def first_stage(self) -> Stage:
        """The stage of the first capability set: plaintext, before STARTTLS, or TLS."""
        if self.tls_mode == "implicit":
            return "tls"
        return "before-starttls" if self.tls_mode == "starttls" else "plaintext"

    @property
    def trace_sink(self) -> Any:
        """``trace`` when someone listens, else ``None`` (connections skip the work)."""
        return self.trace if self.options.trace is not None else None

    def record_tls(self, report: ProbeReport, sock: object, how: str) -> None:
        """Check the TLS socket (version, verified peer) and describe it in ``report``."""
        import ssl

        from .tls import check_tls_socket
        from .tlsinfo import tls_info

        if isinstance(sock, ssl.SSLSocket):
            info, note = tls_info(
                sock, how=how, verified=self.verified, verify_error=self.verify_error
            )
            report.tls = info
            if note:
                report.notes.append(note)
        check_tls_socket(sock, self.options)

    def note_plaintext(self, report: ProbeReport, *, starttls_offered: bool, word: str) -> None:
        """Explain a plaintext session: the upgrade is offered (``word``) or not."""
        if self.tls_mode != "none":
            return
        if starttls_offered:
            report.notes.append(
                f"{word} is offered: probe with tls='starttls' (--tls starttls) to see the "
                "TLS session, the certificate and the capabilities over TLS"
            )
        else:
            report.notes.append(f"no TLS: the connection is plaintext and {word} is not offered")


def _options(options: ClientOptions | None, option_kwargs: dict[str, Any]) -> ClientOptions:
    unknown = set(option_kwargs) - ClientOptions.field_names()
    if unknown:
        raise InvalidInput(f"unknown keyword argument(s) for probe: {', '.join(sorted(unknown))}")
    if options is None:
        return ClientOptions(**option_kwargs)
    return dataclasses.replace(options, **option_kwargs) if option_kwargs else options


def _check_tls_mode(url: URL, info: SchemeInfo, tls_mode: TLSMode) -> None:
    if info.protocol != "http":
        return
    if tls_mode == "starttls":
        raise InvalidInput("HTTP has no STARTTLS; use an https:// URL", url=url)
    if (tls_mode == "implicit") != (url.scheme == "https"):
        raise InvalidInput(
            f"tls={tls_mode!r} does not fit {url.scheme}:// URLs; choose the scheme instead",
            url=url,
        )


def _attempt(
    module: Any,
    url: URL,
    info: SchemeInfo,
    tls_mode: TLSMode,
    options: ClientOptions,
    *,
    verified: bool,
    verify_error: str | None = None,
) -> ProbeReport:
    """One probe connection with a verifying (or, on the insecure retry, a blind) context."""
    from .tls import create_context

    opts = dataclasses.replace(options, insecure=not verified)
    target = ProbeTarget(
        url=url,
        tls_mode=tls_mode,
        options=opts,
        context=create_context(opts) if tls_mode != "none" else None,
        verified=verified,
        verify_error=verify_error,
    )
    report = ProbeReport(
        url=str(url),
        protocol=info.protocol,
        host=url.host,
        port=url.effective_port,
        tls_mode=tls_mode,
    )
    try:
        module.probe_server(report, target)
    except CertificateError as exc:
        report.tls = TLSInfo(how=tls_mode, verified=False, verify_error=exc.message)
        report.fail(exc)
    except ProtoClientError as exc:
        report.fail(exc)
    return report


def _login(
    report: ProbeReport,
    module: Any,
    url: URL,
    password: str | Secret | None,
    options: ClientOptions,
    user: str,
) -> None:
    """Log in with the protocol's own client; record the outcome and new capabilities."""
    from .errors import AuthenticationError
    from .facade import connect

    client: Client = connect(url, password=password, options=options)
    try:
        with client:
            items, mechanism = module.login_capabilities(client)
    except AuthenticationError as exc:
        report.login = LoginInfo(user=user, ok=False)
        report.fail(exc)
        return
    except ProtoClientError as exc:
        report.fail(exc)
        return
    report.login = LoginInfo(user=user, ok=True, mechanism=mechanism)
    if items is not None:
        report.add_capabilities(
            module.COMMAND,
            "after-login",
            items,
            encrypted=report.tls_mode != "none",
            authenticated=True,
        )


def probe(
    url: str | URL,
    *,
    login: bool = False,
    password: str | Secret | None = None,
    options: ClientOptions | None = None,
    **option_kwargs: Any,
) -> ProbeReport:
    """Connect to ``url``'s server and report what it offers (see the module docstring).

    Args:
        url: any protoclients URL (``https://host/``, ``smtp://host:587/``, ``imaps://host/``).
        login: also log in (needs a user name: in the URL or ``username=``; the password
            is looked up like for every verb) and report the capabilities after login.
        password: the password for ``login=True``.
        options, option_kwargs: connection options (:class:`~protoclients.ClientOptions`):
            ``timeout``, ``ca_file``, ``insecure``, ``tls``, ``username``, ``trace``...

    Returns a :class:`~protoclients.probereport.ProbeReport`; a failure after the probe
    started (refused connection, certificate that does not verify, STARTTLS refused...) is
    recorded in ``report.error`` with what was learnt before it (``report.raise_for_error()``
    raises it). Bad arguments raise :class:`~protoclients.errors.InvalidInput`, and
    ``login=True`` without a password raises
    :class:`~protoclients.errors.CredentialsNotFound`, before anything is sent.

    >>> report = protoclients.probe("smtp://mail.example.org/", tls="starttls")  # doctest: +SKIP
    >>> report.tls.certificate.days_left, report.capabilities[-1].items["AUTH"]  # doctest: +SKIP
    (61, 'PLAIN LOGIN')
    """
    parsed = parse_url(url)
    info = lookup_scheme(parsed.scheme)
    assert info is not None
    opts = _options(options, option_kwargs)
    tls_mode: TLSMode = opts.tls or info.tls
    _check_tls_mode(parsed, info, tls_mode)
    module = importlib.import_module(f"protoclients.protocols.{info.protocol}probe")
    user = opts.username or parsed.username
    if login and module.COMMAND is not None:
        from .credentials import resolve_credentials

        if not user:
            raise InvalidInput(
                "login=True needs a user name (in the URL, user@host, or username=)",
                url=parsed,
            )
        secret = Secret(password) if isinstance(password, str) else password
        resolve_credentials(parsed, opts, secret, required=True)
    started = time.perf_counter()
    report = _attempt(module, parsed, info, tls_mode, opts, verified=True)
    if isinstance(report.exception, CertificateError) and tls_mode != "none":
        if opts.insecure:
            assert report.tls is not None
            report = _attempt(
                module,
                parsed,
                info,
                tls_mode,
                opts,
                verified=False,
                verify_error=report.tls.verify_error,
            )
        else:
            report.notes.append(
                "the certificate did not verify; probe with insecure=True (--insecure) to "
                "see it anyway"
            )
    if login and module.COMMAND is None:
        report.notes.append(f"{info.protocol.upper()} has no login step to probe")
    elif login and report.ok and user:
        _login(report, module, parsed, password, opts, user)
    report.elapsed = time.perf_counter() - started
    return report
