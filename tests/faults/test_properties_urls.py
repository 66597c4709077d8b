"""Property tests of the URL model (protoclients.urls): one strict parse, nothing leaks.

Generated URLs are built from their parts (percent-encoding every part the way a URL
must), then the properties are checked: the parse gives back exactly those parts, the
displayed form re-parses to the same URL, the password never appears in ``str``/``repr``/
``display`` or in an error message, joining a relative name never changes the origin, and
arbitrary text either parses or raises :class:`~protoclients.errors.InvalidURL`.
"""

from __future__ import annotations

import string
from urllib.parse import quote

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from protoclients.errors import InvalidURL
from protoclients.registry import schemes
from protoclients.urls import SENSITIVE_QUERY_KEYS, URL, parse_url, redact_url_text

_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SCHEMES = sorted(info.scheme for info in schemes())
# Text that may appear (percent-encoded) in a user name, password or path segment:
# anything except control characters, surrogates and "/" (no name can hold one).
_TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\x7f/"),
    min_size=1,
    max_size=12,
)
_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
_HOST = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.just("localhost"),
)
_PORT = st.one_of(st.none(), st.integers(min_value=1, max_value=65535))
_QUERY_KEY = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)
_QUERY = st.lists(
    st.tuples(_QUERY_KEY, st.text(alphabet=string.ascii_letters + string.digits, max_size=8)),
    max_size=3,
)
# A password that can be searched for in any output without false hits.
_PASSWORD = st.text(alphabet=string.ascii_letters + string.digits, min_size=6, max_size=16).map(
    lambda text: "Pw" + text + "Zq"
)


def _enc(text: str) -> str:
    return quote(text, safe="")


def _build(
    scheme: str,
    host: str,
    port: int | None,
    user: str | None,
    password: str | None,
    segments: list[str],
    query: list[tuple[str, str]],
) -> str:
    userinfo = ""
    if user is not None:
        userinfo = _enc(user)
        if password is not None:
            userinfo += ":" + _enc(password)
        userinfo += "@"
    hostport = host if port is None else f"{host}:{port}"
    path = "".join("/" + _enc(seg) for seg in segments)
    text = f"{scheme}://{userinfo}{hostport}{path}"
    if query:
        text += "?" + "&".join(f"{k}={v}" for k, v in query)
    return text


@_SETTINGS
@given(
    scheme=st.sampled_from(_SCHEMES),
    host=_HOST,
    port=_PORT,
    user=st.one_of(st.none(), _TEXT),
    password=st.one_of(st.none(), _PASSWORD),
    segments=st.lists(_TEXT, max_size=4),
    query=_QUERY,
)
def test_properties_url_round_trip(
    scheme: str,
    host: str,
    port: int | None,
    user: str | None,
    password: str | None,
    segments: list[str],
    query: list[tuple[str, str]],
) -> None:
    """Parse(build(parts)) == parts; display re-parses to the same URL; no password shown."""
    if user is None:
        password = None
    text = _build(scheme, host, port, user, password, segments, query)
    url = parse_url(text)
    assert url.scheme == scheme
    assert url.host == host
    assert url.port == port
    assert url.username == user
    if password is None:
        assert url.password is None
    else:
        assert url.password is not None and url.password.reveal() == password
    assert url.decoded_path == "".join("/" + seg for seg in segments)
    assert url.name == (segments[-1] if segments else "")
    assert url.origin == (scheme, host, port or url.default_port)
    # The displayed forms never carry the password ...
    shown = [str(url), repr(url), url.display(), url.geturl_without_credentials()]
    if password is not None:
        for item in shown:
            assert password not in item
            assert _enc(password) not in item
    # ... and re-parse to the same URL (password aside; sensitive query values masked).
    sensitive = any(k in SENSITIVE_QUERY_KEYS for k, _ in query)
    again = parse_url(str(url))
    assert again.origin == url.origin
    assert again.username == url.username
    assert again.path == url.path
    assert again.password is None
    if not sensitive:
        assert again == url
    bare = parse_url(url.geturl_without_credentials())
    assert bare.origin == url.origin
    assert (bare.path, bare.query) == (url.path, url.query)
    assert bare.username is None and bare.password is None


@_SETTINGS
@given(scheme=st.sampled_from(_SCHEMES), host=_HOST, port=_PORT, name=_TEXT)
def test_properties_url_join_keeps_origin(
    scheme: str, host: str, port: int | None, name: str
) -> None:
    """A relative name joined to a URL stays on that URL's origin and is its last segment."""
    base = parse_url(_build(scheme, host, port, "u", None, ["dir"], []))
    assume("://" not in name)
    joined = base.join(name)
    assert joined.origin == base.origin
    assert joined.username == base.username
    if "/" not in name:
        assert joined.decoded_path == "/dir/" + name
        assert joined.name == name
    # Absolute paths replace the path but never the origin either.
    absolute = base.join("/" + name)
    assert absolute.origin == base.origin


@_SETTINGS
@given(scheme=st.sampled_from(_SCHEMES), host=_HOST)
def test_properties_url_case_and_defaults(scheme: str, host: str) -> None:
    """Scheme and host are case-insensitive; an explicit default port is the same origin."""
    lower = parse_url(f"{scheme}://{host}/x")
    upper = parse_url(f"{scheme.upper()}://{host.upper()}/x")
    assert lower.origin == upper.origin
    explicit = parse_url(f"{scheme}://{host}:{lower.effective_port}/x")
    assert explicit.origin == lower.origin


_HOSTILE = st.lists(
    st.sampled_from(
        [*"ab:/@?#[]%.; \t\r\n\x00\x7f", "%0d", "%0a", "%00", "ü", "1", "9", "//", "::"]
    ),
    max_size=30,
).map("".join)


@_SETTINGS
@given(
    prefix=st.sampled_from(["http://", "https://", "ftp://", "imap://", "", "HTTP://"]),
    rest=_HOSTILE,
)
def test_properties_url_parse_is_total_and_strict(prefix: str, rest: str) -> None:
    """Any text parses or raises InvalidURL; what parses has no control characters anywhere."""
    text = prefix + rest
    try:
        url = parse_url(text)
    except InvalidURL as exc:
        message = str(exc)
        url = None
    if url is None:
        assert "\r" not in message and "\n" not in message and "\x00" not in message
        return
    for part in (url.host, url.decoded_path, url.decoded_query, url.username or "", str(url)):
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in part)
    assert url.host and url.host == url.host.lower()
    assert url.port is None or 0 < url.port <= 65535
    # One canonical parse: parsing the displayed form again gives the same origin.
    assert parse_url(url.geturl_without_credentials()).origin == url.origin


@_SETTINGS
@given(
    scheme=st.sampled_from(_SCHEMES),
    host=_HOST,
    password=_PASSWORD,
    junk=st.sampled_from(["\r\n", " ", "\x00", "[", "%0d%0a", ":99999"]),
)
def test_properties_url_secret_never_in_errors(
    scheme: str, host: str, password: str, junk: str
) -> None:
    """A malformed URL with a password: the error and the redacted text never show it."""
    text = f"{scheme}://bob:{password}@{host}{junk}/p"
    redacted = redact_url_text(text)
    assert password not in redacted
    shown: list[str] = []
    try:
        url = URL.parse(text)
    except InvalidURL as exc:
        shown += [str(exc), repr(exc), exc.url or ""]
    else:
        shown += [str(url), repr(url)]
    assert not any(password in item for item in shown)
