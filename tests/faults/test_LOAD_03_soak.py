"""LOAD-03: the soak test — many seeded operations across all five protocols, with faults.

Bounded in count (``PROTOCLIENTS_SOAK_OPS``, default 500) and time (< 60 s), loopback only.
Every server port sits behind a :class:`FaultyRelay` that cuts connections at random points
(``drop_rate``), holds back replies (``slow_rate``) and refuses some connections; the HTTP
and FTP servers also cut random downloads short with their own ``faults.drop_after`` (FTP
data connections do not pass the relay). Six worker threads run a seeded mix of:

* SMTP ``send`` of a uniquely tagged message to one of the mail users;
* POP3 "download then delete" of a user's maildrop (``delete_after=True``);
* IMAP mailbox download to a directory, then ``delete`` of each UID stored locally;
* HTTP and FTP downloads (``resume=True``) of files of 1 KB .. 1.5 MB; FTP uploads.

Then the faults are switched off and every mailbox is drained the same way. Invariants,
checked after the faulty phase and again after the drain:

* every message the client reported sent is on the server or stored locally, exactly once;
  no stored message is truncated or unknown; after the drain the server holds nothing;
* every downloaded final file is complete (a ``.part`` may remain, never a short final file);
  an uploaded final name on the server is absent or complete;
* only :class:`ProtoClientError` subclasses were raised;
* open file descriptors and threads are back to the baseline.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from protoclients_fixtures import serve_ftp, serve_http, serve_mail
from protoclients_fixtures.hostile_relay import FaultyRelay

import protoclients

# Import every protocol module before the worker threads start: CPython 3.11 can raise
# "SystemError: AST constructor recursion depth mismatch" when two threads compile modules
# at once (gh-106905), which a stale or missing .pyc makes happen on first use.
import protoclients.protocols.ftp
import protoclients.protocols.http
import protoclients.protocols.imap
import protoclients.protocols.pop3
import protoclients.protocols.smtp
from protoclients.errors import ProtoClientError, TransferInProgress
from protoclients.transfer import fsync_directory

pytestmark = pytest.mark.timeout(180)

OPS = int(os.environ.get("PROTOCLIENTS_SOAK_OPS", "500"))
SEED = int(os.environ.get("PROTOCLIENTS_SOAK_SEED", "20251122"))
WORKERS = 6
TIME_BOUND = 60.0
TIMEOUT = 5.0
POP_USERS = ("p0", "p1", "p2")
IMAP_USERS = ("i0", "i1", "i2")
FILE_SIZES = (1_000, 40_000, 300_000, 1_500_000)
FAULTS = {"drop_rate": 0.1, "slow_rate": 0.1, "delay": 0.02, "refuse_rate": 0.02}
#: Server bytes after which a dropped connection is cut: about one session's worth, so the
#: cut lands anywhere from the greeting to the end of the transfer.
DROP_WITHIN = {"http": 400_000, "ftp": 700, "smtp": 450, "pop3": 30_000, "imaps": 30_000}


@dataclass
class SoakState:
    """What the run did, for the invariants and the summary."""

    attempted: dict[bytes, str] = field(default_factory=dict)  # message -> user
    sent: set[bytes] = field(default_factory=set)  # reported sent
    uploads: dict[str, bytes] = field(default_factory=dict)  # name -> data (reported ok)
    tried_uploads: dict[str, bytes] = field(default_factory=dict)
    ops: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _message(n: int, user: str, rng: random.Random) -> bytes:
    lines = rng.randint(3, 600)
    body = b"".join(
        b"soak %d line %d %s\r\n" % (n, i, b"x" * rng.randint(0, 70)) for i in range(lines)
    )
    return (
        f"From: soak@example.org\r\nTo: {user}@example.org\r\nSubject: soak-{n}\r\n"
        f"Message-ID: <soak-{n}@example.org>\r\n\r\n"
    ).encode() + body


def _settle(measure: Callable[[], int], baseline: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        value = measure()
        if value <= baseline or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def _servers(tmp: Path) -> Iterator[dict[str, object]]:
    http_root, ftp_root = tmp / "http-root", tmp / "ftp-root"
    http_root.mkdir()
    ftp_root.mkdir()
    for size in FILE_SIZES:
        data = hashlib.sha256(b"%d" % size).digest() * (size // 32 + 1)
        (http_root / f"f{size}.bin").write_bytes(data[:size])
        (ftp_root / f"f{size}.bin").write_bytes(data[:size])
    users = {name: f"{name}-password" for name in (*POP_USERS, *IMAP_USERS)}
    with ExitStack() as stack:
        http = stack.enter_context(serve_http(http_root))
        ftp = stack.enter_context(serve_ftp(ftp_root))
        mail = stack.enter_context(serve_mail(tls=True, users=users))
        relays = {}
        targets = {
            "http": (http.host, http.port),
            "ftp": (ftp.host, ftp.port),
            "smtp": (mail.smtp.host, mail.smtp.port),
            "pop3": (mail.pop3.host, mail.pop3.port),
            "imaps": (mail.imap.host, mail.imap.tls_port),
        }
        for n, (name, (host, port)) in enumerate(targets.items()):
            assert port is not None
            relays[name] = stack.enter_context(
                FaultyRelay(host, port, seed=SEED + n, max_drop_bytes=DROP_WITHIN[name], **FAULTS)
            )
        yield {"http": http, "ftp": ftp, "mail": mail, "relays": relays, "users": users}


def test_LOAD_03_soak(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    state = SoakState()
    local = tmp_path / "local"
    local.mkdir()
    for user in (*POP_USERS, *IMAP_USERS):
        (local / user).mkdir()
    (local / "dl").mkdir()
    with _servers(tmp_path) as env:
        http, ftp, mail = env["http"], env["ftp"], env["mail"]
        relays: dict[str, FaultyRelay] = env["relays"]  # type: ignore[assignment]
        users: dict[str, str] = env["users"]  # type: ignore[assignment]
        ftp_user, ftp_password = next(iter(ftp.users.items()))  # type: ignore[attr-defined]
        ca_file = mail.ca_file  # type: ignore[attr-defined]
        user_locks = {user: threading.Lock() for user in users}
        urls = {
            "http": relays["http"].url(http.url),  # type: ignore[attr-defined]
            "ftp": relays["ftp"].url(ftp.url).replace("://", f"://{ftp_user}@"),  # type: ignore[attr-defined]
            "smtp": relays["smtp"].url(mail.smtp_url),  # type: ignore[attr-defined]
            "pop3": relays["pop3"].url(mail.pop3_url),  # type: ignore[attr-defined]
            "imaps": relays["imaps"].url(mail.imaps_url),  # type: ignore[attr-defined]
        }

        def user_url(kind: str, user: str) -> str:
            return urls[kind].replace("://", f"://{user}@")

        def smtp_send(n: int, op_rng: random.Random) -> None:
            user = op_rng.choice((*POP_USERS, *IMAP_USERS))
            message = _message(n, user, op_rng)
            with state.lock:
                state.attempted[message] = user
            protoclients.send(urls["smtp"], message, timeout=TIMEOUT, retries=0)
            with state.lock:
                state.sent.add(message)

        def pop3_drain(user: str) -> None:
            with user_locks[user]:
                protoclients.fetch(
                    user_url("pop3", user),
                    local / user,
                    password=users[user],
                    delete_after=True,
                    timeout=TIMEOUT,
                )

        def imap_drain(user: str) -> None:
            with (
                user_locks[user],
                protoclients.connect(
                    user_url("imaps", user), password=users[user], timeout=TIMEOUT, ca_file=ca_file
                ) as client,
            ):
                client.fetch("INBOX", local / user)
                fsync_directory(local / user)  # durable before anything is deleted
                stored = {int(p.stem) for p in (local / user).glob("*.eml")}
                for entry in client.ls("INBOX"):
                    if int(entry.name) in stored:
                        client.delete(f"INBOX;UID={entry.name}")

        def download(kind: str, op_rng: random.Random) -> None:
            size = op_rng.choice(FILE_SIZES)
            if op_rng.random() < 0.3:
                server = http if kind == "http" else ftp
                server.faults.drop_after = op_rng.randint(0, size)  # type: ignore[attr-defined]
            dest = local / "dl" / f"{kind}-f{size}.bin"
            # TransferInProgress: another worker is downloading the same file.
            with contextlib.suppress(TransferInProgress):
                protoclients.fetch(
                    urls[kind] + f"f{size}.bin",
                    dest,
                    resume=True,
                    password=ftp_password if kind == "ftp" else None,
                    timeout=TIMEOUT,
                    retries=0,
                )

        def upload(n: int, op_rng: random.Random) -> None:
            name = f"up{n}.bin"
            data = op_rng.randbytes(op_rng.choice((500, 20_000, 200_000)))
            with state.lock:
                state.tried_uploads[name] = data
            protoclients.send(
                urls["ftp"] + name, data, password=ftp_password, timeout=TIMEOUT, retries=0
            )
            with state.lock:
                state.uploads[name] = data

        kinds = ["smtp"] * 5 + ["pop3"] * 2 + ["imap"] * 2 + ["http"] * 2 + ["ftp"] * 2 + ["up"]
        plan = [(n, rng.choice(kinds), rng.randrange(2**32)) for n in range(OPS)]

        def run_op(item: tuple[int, str, int]) -> None:
            n, kind, op_seed = item
            op_rng = random.Random(op_seed)
            try:
                if kind == "smtp":
                    smtp_send(n, op_rng)
                elif kind == "pop3":
                    pop3_drain(op_rng.choice(POP_USERS))
                elif kind == "imap":
                    imap_drain(op_rng.choice(IMAP_USERS))
                elif kind in {"http", "ftp"}:
                    download(kind, op_rng)
                else:
                    upload(n, op_rng)
            except ProtoClientError as exc:
                with state.lock:
                    state.errors[f"{kind}:{type(exc).__name__}"] += 1
            except Exception as exc:  # anything else breaks the contract
                with state.lock:
                    state.unexpected.append(f"{kind}: {type(exc).__name__}: {exc}")
            with state.lock:
                state.ops[kind] += 1

        threads_before = threading.active_count()
        fds_before = _open_fds()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(run_op, plan))
        faulty_elapsed = time.monotonic() - started
        assert state.unexpected == [], state.unexpected[:5]
        _check_mail(state, mail, local, drained=False)
        _check_files(local / "dl", tmp_path)
        _check_uploads(state, tmp_path / "ftp-root")

        # Faults off: drain every mailbox (a few rounds: the last faulty sends may land late).
        for relay in relays.values():
            relay.drop_rate = relay.slow_rate = relay.refuse_rate = 0.0
        http.faults.reset()  # type: ignore[attr-defined]
        ftp.faults.reset()  # type: ignore[attr-defined]
        for _ in range(2):
            for user in POP_USERS:
                pop3_drain(user)
            for user in IMAP_USERS:
                imap_drain(user)
        _check_mail(state, mail, local, drained=True)
        elapsed = time.monotonic() - started
        threads_after = _settle(threading.active_count, threads_before)
        fds_after = _settle(_open_fds, fds_before)
        stats = {name: dict(relay.stats) for name, relay in relays.items()}

    summary = (
        f"soak: {OPS} ops (seed {SEED}) in {faulty_elapsed:.1f}s faulty + drain = {elapsed:.1f}s; "
        f"ops {dict(state.ops)}; errors {dict(state.errors)}; "
        f"sent {len(state.sent)}/{len(state.attempted)}; relays {stats}; "
        f"fds {fds_before}->{fds_after}; threads {threads_before}->{threads_after}"
    )
    print(summary)
    assert elapsed < TIME_BOUND, summary
    assert threads_after <= threads_before, summary
    assert fds_after <= fds_before, summary
    assert sum(state.errors.values()) > 0, "the faults never fired"


def _stored(local: Path, users: tuple[str, ...]) -> dict[str, list[bytes]]:
    return {user: [p.read_bytes() for p in (local / user).glob("*.eml")] for user in users}


def _check_mail(state: SoakState, mail: object, local: Path, *, drained: bool) -> None:
    store = mail.store  # type: ignore[attr-defined]
    users = (*POP_USERS, *IMAP_USERS)
    stored = _stored(local, users)
    for user in users:
        remote = [m.data for m in store.messages(user, "INBOX")]
        here = stored[user]
        # Stored locally at most once, and never a truncated or unknown message.
        assert len(set(here)) == len(here), f"{user}: a message was stored twice"
        for data in here:
            assert state.attempted.get(data) == user, f"{user}: unknown or truncated message"
        for data in remote:
            assert state.attempted.get(data) == user
        if drained:
            assert remote == [], f"{user}: {len(remote)} messages left on the server"
    for message in state.sent:  # reported sent: on the server or stored locally
        user = state.attempted[message]
        on_server = any(m.data == message for m in store.messages(user, "INBOX"))
        assert on_server or message in stored[user], f"lost a sent message for {user}"


def _check_files(dl: Path, tmp: Path) -> None:
    for path in dl.iterdir():
        if path.name.endswith((".part", ".part.json")):
            continue
        kind, _, name = path.name.partition("-")
        source = tmp / ("http-root" if kind == "http" else "ftp-root") / name
        assert path.read_bytes() == source.read_bytes(), f"truncated final file {path.name}"


def _check_uploads(state: SoakState, root: Path) -> None:
    for name, data in state.tried_uploads.items():
        remote = root / name
        if name in state.uploads:
            assert remote.read_bytes() == data
        elif remote.exists():
            assert remote.read_bytes() == data, f"partial upload under the final name {name}"
