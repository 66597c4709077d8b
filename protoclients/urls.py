"""The URL model: one strict parse used for connecting, credential lookup and display.

``urllib.parse`` silently strips tabs and newlines and accepts bracketed junk as a
host (CVE-2022-0391, CVE-2024-11168); protoclients parses URLs itself, strictly,
once, and everything else (connecting, finding credentials, printing, redirect
checks) works from that one parse.

A :class:`URL` never shows its password: ``str(url)`` drops it and masks
sensitive query parameters, ``repr(url)`` does the same.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from .errors import InvalidURL

__all__ = ["URL", "Secret", "parse_url", "redact_url_text"]

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_REG_NAME_RE = re.compile(r"[A-Za-z0-9\-._~]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")
#: ASCII characters RFC 3986 never allows raw in the user info (they must be %-encoded).
_USERINFO_FORBIDDEN = frozenset('\\"<>^`{|}[]')
#: Query parameter names whose values are never shown.
SENSITIVE_QUERY_KEYS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "client_secret",
        "code",
        "key",
        "pass",
        "passwd",
        "password",
        "pwd",
        "secret",
        "session",
        "sig",
        "signature",
        "token",
        "x-amz-signature",
        "x-goog-signature",
    }
)


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` print ``***``.

    Call :meth:`reveal` to get the value; do so only at the point where it is
    handed to the protocol library.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _decode(text: str, what: str, original: str) -> str:
    try:
        value = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidURL(f"{what} is not valid UTF-8 after percent-decoding") from None
    if _has_control(value):
        raise InvalidURL(
            f"{what} contains a control character (CR, LF, NUL...) after percent-decoding",
            url=_rough_redact(original),
        )
    return value


@dataclass(frozen=True)
class URL:
    """A parsed URL. Build one with :func:`parse_url` or :meth:`URL.parse`.

    Attributes:
        scheme: lower-case scheme (``"https"``, ``"ftp"``...).
        host: lower-case host in ASCII (IDNA-encoded); IPv6 without brackets.
        port: the explicit port, or ``None`` for the scheme's default.
        username: the percent-decoded user name, or ``None``.
        password: the percent-decoded password as a :class:`Secret`, or ``None``.
        path: the path as written (still percent-encoded), ``""`` or starting with ``/``.
        query: the query without ``?``, as written, or ``""``.
        fragment: the fragment without ``#``, or ``""``.
        auth_mechanism: an RFC 5092 ``;AUTH=`` mechanism from the user part, or ``None``.
    """

    scheme: str
    host: str
    port: int | None = None
    username: str | None = None
    password: Secret | None = field(default=None, repr=False, compare=False)
    path: str = ""
    query: str = ""
    fragment: str = ""
    auth_mechanism: str | None = None

    # -- construction -------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | URL) -> URL:
        """Parse ``text`` strictly; raise :class:`~protoclients.errors.InvalidURL` if malformed."""
        if isinstance(text, URL):
            return text
        if not isinstance(text, str):
            raise InvalidURL(f"a URL must be a string, not {type(text).__name__}")
        if text != text.strip():
            raise InvalidURL("URL has leading or trailing whitespace", url=_rough_redact(text))
        if _has_control(text):
            raise InvalidURL(
                "URL contains a control character (tab, CR, LF, NUL...)",
                url=_rough_redact(text),
            )
        scheme, sep, rest = text.partition("://")
        if not sep or not _SCHEME_RE.fullmatch(scheme):
            raise InvalidURL(
                "URL must start with a scheme such as https://, ftp:// or imaps://",
                url=_rough_redact(text),
            )
        cut = len(rest)
        for ch in "/?#":
            pos = rest.find(ch)
            if pos != -1:
                cut = min(cut, pos)
        authority, tail = rest[:cut], rest[cut:]
        userinfo, at, hostport = authority.rpartition("@")
        username = password = auth = None
        if at:
            user_part, colon, pass_part = userinfo.partition(":")
            if ";" in user_part:
                user_part, _, params = user_part.partition(";")
                key, eq, value = params.partition("=")
                if key.upper() != "AUTH" or not eq or not value:
                    raise InvalidURL("unknown parameter in the user part of the URL")
                auth = _decode(value, "AUTH mechanism", text)
            username = _decode(user_part, "user name", text)
            if colon:
                password = Secret(_decode(pass_part, "password", text))
            if " " in userinfo:
                raise InvalidURL("user name contains a space", url=_rough_redact(text))
            if any(ch in _USERINFO_FORBIDDEN for ch in userinfo):
                # RFC 3986 allows none of these raw; "\\" even means "/" to browsers, so
                # "http://good\\@evil/" would go to another host than it seems to.
                raise InvalidURL(
                    "user info contains a character that must be percent-encoded "
                    '(one of \\ " < > ^ ` { | } [ ])',
                    url=_rough_redact(text),
                )
        host, port = _parse_hostport(hostport, text)
        path, _, query = tail.partition("?")
        if "#" in path:
            path, _, fragment = path.partition("#")
            query = ""
        else:
            query, _, fragment = query.partition("#")
        url = cls(
            scheme=scheme.lower(),
            host=host,
            port=port,
            username=username or None,
            password=password,
            path=path,
            query=query,
            fragment=fragment,
            auth_mechanism=auth,
        )
        url.decoded_path  # noqa: B018 - validates the path (CR/LF/NUL after decoding)
        url.decoded_query  # noqa: B018
        return url

    # -- derived values ---------------------------------------------------------

    @property
    def decoded_path(self) -> str:
        """The percent-decoded path; CR, LF and NUL are rejected."""
        return _decode(self.path, "path", str(self))

    @property
    def decoded_query(self) -> str:
        """The percent-decoded query; CR, LF and NUL are rejected."""
        return _decode(self.query, "query", str(self))

    @property
    def default_port(self) -> int | None:
        """The scheme's registered default port, or ``None`` for an unknown scheme."""
        from .registry import lookup_scheme

        info = lookup_scheme(self.scheme, required=False)
        return info.default_port if info else None

    @property
    def effective_port(self) -> int:
        """The explicit port, else the scheme's default port."""
        if self.port is not None:
            return self.port
        default = self.default_port
        if default is None:
            raise InvalidURL(f"no default port known for scheme {self.scheme!r}", url=self)
        return default

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: what must match for credentials to be reused."""
        return (self.scheme, self.host, self.effective_port)

    @property
    def hostport(self) -> str:
        """``host[:port]`` as written in a URL (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """Whether the host is a loopback address or ``localhost``."""
        if self.host == "localhost" or self.host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def name(self) -> str:
        """The last path segment, decoded (``""`` for a directory URL)."""
        return self.decoded_path.rstrip("/").rpartition("/")[2] if self.path else ""

    # -- derivation --------------------------------------------------------------

    def replace(self, **changes: Any) -> URL:
        """Return a copy with some fields changed (the result is validated again)."""
        new = dataclasses.replace(self, **changes)
        new.decoded_path  # noqa: B018
        return new

    def without_password(self) -> URL:
        """Return a copy without the password."""
        return dataclasses.replace(self, password=None)

    def join(self, target: str | URL | None) -> URL:
        """Resolve ``target`` against this URL, treating this URL's path as a directory.

        ``None`` or ``""`` gives this URL; an absolute URL is parsed and returned;
        ``/abs/path`` replaces the path; ``name`` or ``sub/name`` is appended to it.
        A relative target is percent-encoded as needed (spaces, ``%``, ``#``, ``?``).
        """
        if target is None or target == "":
            return self
        if isinstance(target, URL):
            return target
        if "://" in target:
            return URL.parse(target)
        if _has_control(target):
            raise InvalidURL("path contains a control character (CR, LF, NUL...)")
        encoded = quote(target, safe="/;=@:!$&'()*+,~")
        if target.startswith("/"):
            return self.replace(path=encoded, query="", fragment="")
        base = self.path if self.path.endswith("/") else self.path + "/"
        return self.replace(path=base + encoded, query="", fragment="")

    # -- display ------------------------------------------------------------------

    def display(self, *, show_user: bool = True) -> str:
        """The URL as shown to users: never the password, sensitive query values masked."""
        user = ""
        if show_user and self.username:
            user = quote(self.username, safe="")
            if self.auth_mechanism:
                user += ";AUTH=" + quote(self.auth_mechanism, safe="")
            user += "@"
        text = f"{self.scheme}://{user}{self.hostport}{self.path}"
        if self.query:
            text += "?" + _redact_query(self.query)
        return text

    def __str__(self) -> str:
        return self.display()

    def __repr__(self) -> str:
        return f"URL({self.display()!r})"

    def geturl_without_credentials(self) -> str:
        """The full URL (query unmasked) without user or password, for handing to a library."""
        text = f"{self.scheme}://{self.hostport}{self.path}"
        if self.query:
            text += "?" + self.query
        return text


def _parse_hostport(hostport: str, original: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            raise InvalidURL("unclosed '[' in host", url=_rough_redact(original))
        host = hostport[1:end]
        rest = hostport[end + 1 :]
        try:
            addr = ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise InvalidURL(
                "bracketed host is not an IPv6 address", url=_rough_redact(original)
            ) from None
        host = addr.compressed
        if rest and not rest.startswith(":"):
            raise InvalidURL("junk after ']' in host", url=_rough_redact(original))
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
        if not host:
            raise InvalidURL("URL has no host", url=_rough_redact(original))
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise InvalidURL(
                    "host is not a valid internationalised domain name",
                    url=_rough_redact(original),
                ) from None
        if not _REG_NAME_RE.fullmatch(host):
            raise InvalidURL(
                "host contains characters that are not allowed", url=_rough_redact(original)
            )
        host = host.lower().rstrip(".") or host
    port: int | None = None
    if port_text is not None:
        if not _PORT_RE.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
            raise InvalidURL(
                f"port {port_text!r} is not a number from 1 to 65535",
                url=_rough_redact(original),
            )
        port = int(port_text)
    return host, port


def _redact_query(query: str) -> str:
    parts = []
    for item in query.split("&"):
        key, eq, _value = item.partition("=")
        if eq and unquote(key).lower() in SENSITIVE_QUERY_KEYS:
            parts.append(f"{key}=***")
        else:
            parts.append(item)
    return "&".join(parts)


_USERINFO_RE = re.compile(r"(//[^/@\s]*?):[^/@\s]*@")


def _rough_redact(text: str) -> str:
    """Redact without parsing (used for URLs that failed to parse)."""
    from .errors import clean_server_text

    redacted = _USERINFO_RE.sub(r"\1@", text)
    if "?" in redacted:
        head, _, query = redacted.partition("?")
        redacted = head + "?" + _redact_query(query)
    return clean_server_text(redacted) or ""


def redact_url_text(text: str) -> str:
    """Redact a URL given as text, even a malformed one: drop the password, escape controls."""
    try:
        return URL.parse(text).display()
    except InvalidURL:
        return _rough_redact(text)


def parse_url(text: str | URL) -> URL:
    """Parse ``text`` into a :class:`URL` (a ``URL`` is returned unchanged)."""
    return URL.parse(text)
