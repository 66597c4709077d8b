"""HOS-12: random scripted server replies for every client (in the spirit of curl-fuzzer).

For each of HTTP, FTP, SMTP, POP3 and IMAP, Hypothesis builds a server: a greeting and up
to 11 replies, the n-th sent after the client's n-th line. Replies mix valid ones (the
protocol's usual answers, IMAP replies carrying the client's tag), truncated ones, oversized
ones, non-UTF-8 and NUL bytes, random status codes and silence. The client runs one real
operation (a download to a file, or SMTP ``send``) with a 1 s timeout. Whatever happens:

* only documented exceptions (:class:`~protoclients.errors.ProtoClientError` subclasses);
* bounded time (the operation ends within :data:`TIME_BOUND` seconds);
* bounded memory (peak Python allocation below :data:`MEMORY_BOUND`, via ``tracemalloc``);
* no partial final file (after a failure the destination does not exist);
* no secret (password or its base64 forms) in the exception's ``str`` or ``repr``.

``PROTOCLIENTS_FUZZ_EXAMPLES`` sets the number of examples per protocol (default 20).
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protoclients_fixtures import HostileServer
from protoclients_fixtures import hostile as h
from protoclients_fixtures import hostile_protocols as hp
from protoclients_fixtures.hostile_steps import Data

import protoclients
from protoclients.errors import ProtoClientError

pytestmark = pytest.mark.timeout(120)

EXAMPLES = int(os.environ.get("PROTOCLIENTS_FUZZ_EXAMPLES", "20"))
TIMEOUT = 1.0
TIME_BOUND = 8.0
MEMORY_BOUND = 32 * 1024 * 1024
PASSWORD = "Fz-s3cret-9q"
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- reply strategies --------------------------------------------------------------------------

_VALID: dict[str, list[bytes]] = {
    "pop3": [
        b"+OK\r\n",
        b"+OK 1 20\r\n",
        b"+OK 20 octets\r\nSubject: x\r\n\r\nbody\r\n.\r\n",
        b"+OK\r\n1 20\r\n.\r\n",
        b"+OK\r\n1 uid-1\r\n.\r\n",
        b"+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n",
        b"-ERR no\r\n",
    ],
    "smtp": [
        b"250 ok\r\n",
        b"250-hostile\r\n250-AUTH PLAIN LOGIN\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        b"235 authenticated\r\n",
        b"334 VXNlcm5hbWU6\r\n",
        b"354 go\r\n",
        b"421 closing\r\n",
        b"550 no\r\n",
        b"221 bye\r\n",
    ],
    "ftp": [
        b"331 password\r\n",
        b"230 in\r\n",
        b"200 ok\r\n",
        b"211-Features:\r\n SIZE\r\n MDTM\r\n REST STREAM\r\n211 End\r\n",
        b'257 "/" is here\r\n',
        b"213 20\r\n",
        b"213 20240101000000\r\n",
        b"227 Entering Passive Mode (127,0,0,1,0,1)\r\n",
        b"150 go\r\n",
        b"226 done\r\n",
        b"550 no\r\n",
    ],
    "http": [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-4/5\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 401 No\r\nWWW-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
        b"",
    ],
}
_IMAP_UNTAGGED = [
    b"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS\r\n",
    b"* 1 EXISTS\r\n",
    b"* OK [UIDVALIDITY 7] ok\r\n",
    b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n",
    b"* 1 FETCH (UID 1 BODY[] {50000000000}\r\n",
    b"* SEARCH 1\r\n",
    b"* BYE going\r\n",
    b"+ go\r\n",
]
_IMAP_TAGGED = [
    b"OK done\r\n",
    b"NO nope\r\n",
    b"BAD what\r\n",
    b"OK [READ-ONLY] x\r\n",
    b"WHAT\r\n",
]
_GREETINGS = {
    "pop3": b"+OK ready\r\n",
    "smtp": b"220 ready\r\n",
    "ftp": b"220 ready\r\n",
    "http": b"",
    "imap": b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n",
}


def _mangle(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Valid replies, and the ways a hostile server spoils them."""
    return st.one_of(
        valid,
        st.tuples(valid, st.integers(0, 200)).map(lambda t: t[0][: t[1]]),  # truncated
        valid.map(lambda v: v.replace(b"\r\n", b"\n")),  # bare LF
        st.tuples(valid, st.sampled_from([b"\0", b"\xff\xfe", b"\x1b]8;;x\x07", b"\r"])).map(
            lambda t: t[1] + t[0]
        ),
        st.integers(0, 999).map(lambda code: b"%d random status\r\n" % code),
        st.integers(1, 200_000).map(lambda n: b"x" * n + b"\r\n"),  # oversized
        st.binary(max_size=64),
    )


def _replies(proto: str) -> st.SearchStrategy[list[Data | None]]:
    if proto == "imap":
        untagged = st.lists(_mangle(st.sampled_from(_IMAP_UNTAGGED)), max_size=3).map(b"".join)
        status = _mangle(st.sampled_from(_IMAP_TAGGED))
        reply: st.SearchStrategy[Data | None] = st.one_of(
            st.tuples(untagged, status).map(lambda t: h.tagged(t[1], untagged=t[0])),
            untagged,
            st.none(),
        )
    else:
        reply = st.one_of(_mangle(st.sampled_from(_VALID[proto])), st.none())
    return st.lists(reply, max_size=11)


def _greeting(proto: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(_GREETINGS[proto]), _mangle(st.just(_GREETINGS[proto])))


# -- one run -------------------------------------------------------------------------------------


def _operation(proto: str, srv: HostileServer, dest: Path) -> Callable[[], Any]:
    common: dict[str, Any] = {"timeout": TIMEOUT, "retries": 0}
    if proto == "smtp":
        url = srv.url("smtp", user="alice")
        return lambda: protoclients.send(url, hp.MESSAGE, password=PASSWORD, **common)
    if proto == "http":
        url = srv.url("http", user="alice", path="/f.bin")
        return lambda: protoclients.fetch(url, dest, password=PASSWORD, **common)
    path = {"pop3": "/1", "imap": "/INBOX;UID=1", "ftp": "/f.bin"}[proto]
    url = srv.url(proto, user="alice", path=path)
    return lambda: protoclients.fetch(url, dest, password=PASSWORD, **common)


def _run(proto: str, greeting: bytes, replies: list[Data | None]) -> None:
    steps = [h.send(greeting), h.respond(replies, line_timeout=2 * TIMEOUT)]
    srv = HostileServer(steps, drain=0, max_connections=8)
    srv.start()
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "out.bin"
        call = _operation(proto, srv, dest)
        error: BaseException | None = None
        tracemalloc.start()
        started = time.monotonic()
        try:
            call()
        except ProtoClientError as exc:
            error = exc
        finally:
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            srv.close()
        assert elapsed < TIME_BOUND, f"took {elapsed:.1f}s"
        assert peak < MEMORY_BOUND, f"peak allocation {peak} bytes"
        if error is not None:
            assert not dest.exists(), "a failed transfer left a final file"
            text = (str(error) + repr(error)).encode("utf-8", "replace")
            assert not hp.leaks(text, "alice", PASSWORD), text
        # Anything left in the directory is a .part (kept for resume) or metadata.
        for leftover in Path(tmp).iterdir():
            assert leftover == dest or ".part" in leftover.name, leftover.name


@pytest.mark.parametrize("proto", ["http", "ftp", "smtp", "pop3", "imap"])
def test_HOS_12_fuzz_replies(proto: str) -> None:
    @_SETTINGS
    @given(greeting=_greeting(proto), replies=_replies(proto))
    def check(greeting: bytes, replies: list[Data | None]) -> None:
        _run(proto, greeting, replies)

    check()
