#!/usr/bin/env python3
"""Mail benchmark: protoclients vs the raw standard-library clients, curl, mbsync, fetchmail.

    python bench/mail.py [--runs 3] [--parts smtp,imap,pop3] [--imap-count 10000] ...

Three parts, against Postfix + Dovecot started on loopback by tests/interop/mailservers.sh:

* ``smtp``: send ``--smtp-count`` messages (1,000) over one connection -- protoclients
  (``connect`` + ``send`` in a loop), ``smtplib`` reusing one connection, and curl (one process
  per message, ``--curl-count`` of them, extrapolated). With ``--smtp-local`` the same against
  the in-process aiosmtpd server of protoclients_fixtures.
* ``imap``: a ``--imap-count`` (10,000) message mailbox of about ``--imap-size`` (10 KiB) each,
  written straight into Dovecot's maildir (no SMTP) and indexed by one untimed SELECT, is
  listed and downloaded to one ``.eml`` per message in a tmpfs: protoclients' bulk ``fetch``,
  raw ``imaplib`` (one ``UID FETCH`` per message, no files), raw ``imaplib`` (one
  ``FETCH 1:*``, in memory, no files), mbsync (``FSync no``), IMAPClient (``fetch`` in chunks
  of explicit UIDs, files written), curl (one process per message, extrapolated).
* ``pop3``: a ``--pop3-count`` (1,000) message INBOX downloaded to one file per message:
  protoclients' bulk ``fetch``, ``poplib`` (``RETR`` each, files written), fetchmail
  (``keep``, an MDA writing one file per message), curl (one process per message,
  extrapolated).

Every client runs as its own process under ``/usr/bin/time -v`` (peak RSS), interleaved over
``--runs`` rounds with the order rotated each round; medians are reported with the ratio to
the part's reference client (smtplib, mbsync, poplib; > 1 means faster). All files live in
/dev/shm and are removed afterwards.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import CHILD_MARK, Sample, measure

REPO = Path(__file__).resolve().parent.parent
MAILSERVERS_SH = REPO / "tests" / "interop" / "mailservers.sh"
MIB = 1 << 20
PARTS = ["smtp", "imap", "pop3"]
TOOLS = {
    "smtp": ["smtplib", "protoclients", "curl"],
    "imap": [
        "mbsync",
        "imaplib-uid",
        "imaplib-all",
        "imapclient",
        "protoclients",
        "protoclients-durable",
        "protoclients-ls",
        "curl",
    ],
    "pop3": ["poplib", "protoclients", "fetchmail", "curl"],
}
REFERENCE = {"smtp": "smtplib", "imap": "mbsync", "pop3": "poplib"}
COUNT_MARK = "MESSAGES="
BYTES_MARK = "BYTES="
BENCH_MAILBOX = "Bench"
SENDER = "bench@example.org"
# The targets: IMAP bulk download >= 1.5x mbsync under 64 MiB; SMTP >= raw smtplib.
IMAP_TARGET, IMAP_RSS_MIB, SMTP_TARGET = 1.5, 64, 1.0


# ------------------------------------------------------------------------------- child side


def child_main(spec: dict[str, Any]) -> None:
    """One measured run of a Python client; prints seconds, messages and bytes."""
    password = os.environ["PCBENCH_PASSWORD"]
    part, tool = spec["part"], spec["tool"]
    started = time.perf_counter()
    count, nbytes = CHILD_RUNNERS[(part, tool.split("-")[0])](spec, password)
    elapsed = time.perf_counter() - started
    print(f"{CHILD_MARK}{elapsed:.6f}", flush=True)
    print(f"{COUNT_MARK}{count} {BYTES_MARK}{nbytes}", flush=True)


def _smtp_protoclients(spec: dict[str, Any], password: str) -> tuple[int, int]:
    import protoclients

    data = Path(spec["message"]).read_bytes()
    with protoclients.connect(spec["url"], timeout=60, use_keyring=False) as client:
        for _ in range(spec["count"]):
            client.send(data)
    return spec["count"], spec["count"] * len(data)


def _smtp_smtplib(spec: dict[str, Any], password: str) -> tuple[int, int]:
    import smtplib

    data = Path(spec["message"]).read_bytes()
    with smtplib.SMTP(spec["host"], spec["port"], timeout=60) as smtp:
        for _ in range(spec["count"]):
            refused = smtp.sendmail(SENDER, [spec["rcpt"]], data)
            if refused:
                raise RuntimeError(f"refused: {refused}")
    return spec["count"], spec["count"] * len(data)


def _imap_protoclients(spec: dict[str, Any], password: str) -> tuple[int, int]:
    import protoclients

    kwargs: dict[str, Any] = {}
    if spec.get("durable") is not None:
        kwargs["durable"] = spec["durable"]
    with protoclients.connect(
        spec["url"], password=password, timeout=120, use_keyring=False
    ) as client:
        if spec["tool"] == "protoclients-ls":
            entries = client.ls()
            return len(entries), sum(e.size or 0 for e in entries)
        # The operation: one bulk fetch of the mailbox into a directory (it finds
        # the UIDs itself with UID SEARCH, like mbsync's UID FETCH 1:* (UID FLAGS)).
        results = client.fetch(None, spec["out"], **kwargs)
    return len(results), sum(r.bytes for r in results)


def _imap_imaplib(spec: dict[str, Any], password: str) -> tuple[int, int]:
    """``imaplib-uid``: one UID FETCH per message; ``imaplib-all``: one FETCH 1:*."""
    import imaplib

    conn = imaplib.IMAP4(spec["host"], spec["port"], timeout=120)
    conn.login(spec["user"], password)
    typ, _ = conn.select(spec["mailbox"], readonly=True)
    if typ != "OK":
        raise RuntimeError("SELECT failed")
    count = nbytes = 0
    if spec["tool"] == "imaplib-all":
        typ, data = conn.fetch("1:*", "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                count += 1
                nbytes += len(item[1])
    else:
        typ, found = conn.uid("SEARCH", "ALL")
        for uid in found[0].split():
            typ, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            first = data[0]
            if typ != "OK" or not isinstance(first, tuple):
                raise RuntimeError(f"UID FETCH {uid!r} failed")
            count += 1
            nbytes += len(first[1])
    conn.logout()
    return count, nbytes


def _imap_imapclient(spec: dict[str, Any], password: str) -> tuple[int, int]:
    from imapclient import IMAPClient  # type: ignore[import-untyped,unused-ignore]

    out = Path(spec["out"])
    count = nbytes = 0
    with IMAPClient(spec["host"], port=spec["port"], ssl=False, timeout=120) as client:
        client.login(spec["user"], password)
        client.select_folder(spec["mailbox"], readonly=True)
        uids = client.search("ALL")
        chunk = spec["chunk"]
        for start in range(0, len(uids), chunk):
            fetched = client.fetch(uids[start : start + chunk], [b"BODY.PEEK[]"])
            for uid, item in fetched.items():
                body = item[b"BODY[]"]
                (out / f"{uid}.eml").write_bytes(body)
                count += 1
                nbytes += len(body)
    return count, nbytes


def _pop3_protoclients(spec: dict[str, Any], password: str) -> tuple[int, int]:
    import protoclients

    with protoclients.connect(
        spec["url"], password=password, timeout=120, use_keyring=False
    ) as client:
        results = client.fetch(None, spec["out"])
    return len(results), sum(r.bytes for r in results)


def _pop3_poplib(spec: dict[str, Any], password: str) -> tuple[int, int]:
    import poplib

    out = Path(spec["out"])
    conn = poplib.POP3(spec["host"], spec["port"], timeout=120)
    conn.user(spec["user"])
    conn.pass_(password)
    _resp, listing, _ = conn.uidl()
    count = nbytes = 0
    for line in listing:
        number, uidl = line.split()
        _resp, lines, _octets = conn.retr(int(number))
        data = b"\r\n".join(lines) + b"\r\n"
        (out / f"{uidl.decode()}.eml").write_bytes(data)
        count += 1
        nbytes += len(data)
    conn.quit()
    return count, nbytes


CHILD_RUNNERS: dict[tuple[str, str], Callable[[dict[str, Any], str], tuple[int, int]]] = {
    ("smtp", "protoclients"): _smtp_protoclients,
    ("smtp", "smtplib"): _smtp_smtplib,
    ("imap", "protoclients"): _imap_protoclients,
    ("imap", "imaplib"): _imap_imaplib,
    ("imap", "imapclient"): _imap_imapclient,
    ("pop3", "protoclients"): _pop3_protoclients,
    ("pop3", "poplib"): _pop3_poplib,
}


# ------------------------------------------------------------------------------ parent side


@dataclass
class Servers:
    env: dict[str, str]
    directory: Path

    @property
    def host(self) -> str:
        return self.env["MAIL_HOST"]

    def port(self, scheme: str) -> int:
        return int(self.env[f"{scheme.upper()}_PORT"])

    @property
    def user(self) -> str:
        return self.env["MAIL_USER"]

    @property
    def password(self) -> str:
        return self.env["MAIL_PASSWORD"]

    @property
    def maildir(self) -> Path:
        return Path(self.env["MAILDIR"])

    @property
    def label(self) -> str:
        return (
            f"Postfix {self.env.get('POSTFIX_VERSION')} + Dovecot {self.env.get('DOVECOT_VERSION')}"
        )


@dataclass
class Measurement:
    """How to run one client once and check what it did."""

    cmd: list[str]
    messages: int  # messages this run handles (curl: a sample, extrapolated to `total`)
    total: int
    check: Callable[[str], None] = lambda _out: None
    cleanup: Callable[[], None] = lambda: None


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # part -> bytes of the full set
    sampled: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(i?B?)\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10KiB, 2048)")
    number, unit, suffix = match.groups()
    power = "KMG".find(unit.upper()) + 1 if unit else 0
    base = 1000 if suffix.upper() == "B" and unit else 1024
    return int(float(number) * base**power)


@contextlib.contextmanager
def mail_servers(work: Path) -> Iterator[Servers]:
    directory = work / "servers"
    directory.mkdir()
    subprocess.run(["bash", str(MAILSERVERS_SH), "start", str(directory)], check=True, timeout=90)
    try:
        env: dict[str, str] = {}
        for line in (directory / "env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value.strip('"')
        yield Servers(env=env, directory=directory)
    finally:
        subprocess.run(
            ["bash", str(MAILSERVERS_SH), "stop", str(directory)], check=False, timeout=90
        )


def real_servers_usable() -> str | None:
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [b for b in ("dovecot", "postfix", "openssl") if not shutil.which(b, path=sbin)]
    if missing:
        return f"not installed: {', '.join(missing)} (run: sudo {MAILSERVERS_SH} install)"
    if os.geteuid() != 0:
        return "Postfix and Dovecot need root"
    return None


# --- mailbox contents


def make_message(index: int, size: int, rcpt: str) -> bytes:
    """A plausible message of about ``size`` bytes: headers + base64 lines (LF endings)."""
    head = (
        f"From: Bench Sender <{SENDER}>\n"
        f"To: <{rcpt}>\n"
        f"Subject: benchmark message {index}\n"
        f"Date: Sat, 21 Nov 2026 12:00:00 +0000\n"
        f"Message-ID: <bench-{index}-{os.getpid()}@protoclients.test>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n\n"
    ).encode()
    raw = max(0, size - len(head)) * 3 // 4 * 76 // 77
    return head + base64.encodebytes(os.urandom(raw))


def mailbox_path(srv: Servers, mailbox: str) -> Path:
    return srv.maildir if mailbox == "INBOX" else srv.maildir / f".{mailbox}"


def seed_maildir(srv: Servers, mailbox: str, count: int, size: int) -> tuple[int, int]:
    """Write ``count`` messages into the maildir folder as the mail user; returns
    (bytes as stored with LF, bytes as served with CRLF)."""
    box = mailbox_path(srv, mailbox)
    owner = srv.maildir.parent.stat()
    for sub in (srv.maildir, box):
        for part in ("", "tmp", "new", "cur"):
            path = sub / part
            if not path.exists():
                path.mkdir(mode=0o700)
                os.chown(path, owner.st_uid, owner.st_gid)
    stored = served = 0
    stamp = int(time.time())
    for i in range(count):
        data = make_message(i, size, srv.env["MAIL_ADDRESS"])
        virtual = len(data) + data.count(b"\n")
        name = f"{stamp}.M{i}P{os.getpid()}.pcbench,S={len(data)},W={virtual}:2,"
        path = box / "cur" / name
        path.write_bytes(data)
        os.chown(path, owner.st_uid, owner.st_gid)
        stored += len(data)
        served += virtual
    return stored, served


def wipe_maildir(srv: Servers, mailbox: str) -> None:
    """Delete every message file (Dovecot resynchronises at the next SELECT)."""
    box = mailbox_path(srv, mailbox)
    for part in ("new", "cur", "tmp"):
        folder = box / part
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink()


def count_maildir(srv: Servers, mailbox: str) -> int:
    box = mailbox_path(srv, mailbox)
    return sum(len(os.listdir(box / part)) for part in ("new", "cur") if (box / part).is_dir())


def index_mailbox(srv: Servers, mailbox: str, expected: int, *, warm: bool) -> None:
    """One untimed SELECT (Dovecot builds its index); ``warm`` also reads every message once."""
    import imaplib

    conn = imaplib.IMAP4(srv.host, srv.port("imap"), timeout=300)
    try:
        conn.login(srv.user, srv.password)
        typ, data = conn.select(mailbox, readonly=True)
        if typ != "OK" or int(data[0] or 0) != expected:
            raise RuntimeError(f"{mailbox}: {data[0]!r} messages, expected {expected}")
        if warm:
            conn.fetch(
                "1:*",
                "(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])",
            )
            conn.fetch("1:*", "(BODY.PEEK[])")
    finally:
        conn.logout()


def wait_delivered(srv: Servers, expected: int, timeout: float) -> None:
    """Poll (bounded) until Postfix has handed ``expected`` messages to Dovecot's INBOX."""
    deadline = time.monotonic() + timeout
    while count_maildir(srv, "INBOX") < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {count_maildir(srv, 'INBOX')}/{expected} messages delivered "
                f"after {timeout:.0f} s"
            )
        time.sleep(0.1)


# --- commands


def python_child(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]


def curl_loop(work: Path, name: str, lines: list[str]) -> list[str]:
    """A shell script running one curl per line (sequentially), and the command to run it."""
    script = work / f"{name}.sh"
    script.write_text("set -e\n" + "\n".join(lines) + "\n")
    return ["/bin/sh", str(script)]


def check_child(expected_count: int, expected_bytes: int | None) -> Callable[[str], None]:
    def check(out: str) -> None:
        found = re.search(rf"{COUNT_MARK}(\d+) {BYTES_MARK}(\d+)", out)
        if not found:
            raise RuntimeError("the child did not report its message count")
        count, nbytes = int(found.group(1)), int(found.group(2))
        if count != expected_count:
            raise RuntimeError(f"{count} messages, expected {expected_count}")
        if expected_bytes is not None and nbytes != expected_bytes:
            raise RuntimeError(f"{nbytes} bytes, expected {expected_bytes}")

    return check


def check_files(
    directory: Path, expected: int, expected_bytes: int | None
) -> Callable[[str], None]:
    def check(_out: str) -> None:
        files = [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")]
        if len(files) != expected:
            raise RuntimeError(f"{directory}: {len(files)} files, expected {expected}")
        if expected_bytes is not None:
            total = sum(p.stat().st_size for p in files)
            if total != expected_bytes:
                raise RuntimeError(f"{directory}: {total} bytes, expected {expected_bytes}")

    return check


def both(*checks: Callable[[str], None]) -> Callable[[str], None]:
    def check(out: str) -> None:
        for one in checks:
            one(out)

    return check


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class Bench:
    """Builds the measurements of each part (fresh output directories per run)."""

    def __init__(
        self,
        args: argparse.Namespace,
        srv: Servers,
        work: Path,
        netrc: Path,
        smtp_target: tuple[str, str, int, str] | None = None,
    ) -> None:
        self.args = args
        self.srv = srv
        self.work = work
        self.netrc = netrc
        self.imap_bytes = (0, 0)
        self.pop3_bytes = (0, 0)
        # (kind, host, port, recipient): "real" waits for Postfix to deliver, then wipes INBOX.
        self.smtp_target = smtp_target or (
            "real",
            srv.host,
            srv.port("smtp"),
            srv.env["MAIL_ADDRESS"],
        )

    # SMTP -----------------------------------------------------------------------------------

    def smtp(self, tool: str) -> Measurement:
        kind, host, port, rcpt = self.smtp_target
        message = self.work / "smtp-message.eml"
        n = self.args.smtp_count
        spec = {
            "part": "smtp",
            "tool": tool,
            "host": host,
            "port": port,
            "rcpt": rcpt,
            "url": f"smtp://{host}:{port}/",
            "message": str(message),
            "count": n,
        }
        if tool == "curl":
            k = min(self.args.curl_count, n)
            line = (
                f"curl -sS --fail --mail-from {SENDER} --mail-rcpt {rcpt} "
                f"-T {message} smtp://{host}:{port}/"
            )
            cmd = curl_loop(self.work, "smtp-curl", [line] * k)
            return Measurement(cmd, k, n, cleanup=self.smtp_drain(k, kind))
        return Measurement(
            python_child(spec), n, n, check_child(n, None), cleanup=self.smtp_drain(n, kind)
        )

    def smtp_drain(self, sent: int, kind: str) -> Callable[[], None]:
        def drain() -> None:
            if kind == "real":
                wait_delivered(self.srv, sent, timeout=max(60.0, sent * 0.05))
                wipe_maildir(self.srv, "INBOX")

        return drain

    # IMAP -----------------------------------------------------------------------------------

    def imap(self, tool: str) -> Measurement:
        srv, n = self.srv, self.args.imap_count
        out = fresh_dir(self.work / "out" / f"imap-{tool}")
        _stored, served = self.imap_bytes
        spec = {
            "part": "imap",
            "tool": tool,
            "host": srv.host,
            "port": srv.port("imap"),
            "user": srv.user,
            "mailbox": BENCH_MAILBOX,
            "url": f"imap://{srv.user}@{srv.host}:{srv.port('imap')}/{BENCH_MAILBOX}",
            "out": str(out),
            "chunk": self.args.imapclient_chunk,
        }

        def remove() -> None:
            shutil.rmtree(out, ignore_errors=True)

        if tool == "mbsync":
            config = self.work / "mbsyncrc"
            config.write_text(
                "FSync no\n\n"
                "IMAPAccount bench\n"
                f"Host {srv.host}\nPort {srv.port('imap')}\nUser {srv.user}\n"
                f"Pass {srv.password}\nAuthMechs LOGIN\nSSLType None\n\n"
                "IMAPStore remote\nAccount bench\n\n"
                f"MaildirStore local\nPath {out}/\nInbox {out}/INBOX\nSubFolders Verbatim\n\n"
                "Channel bench\n"
                f"Far :remote:{BENCH_MAILBOX}\nNear :local:{BENCH_MAILBOX}\n"
                "Sync Pull\nCreate Near\nExpunge None\nSyncState *\n"
            )
            config.chmod(0o600)
            cmd = ["mbsync", "-c", str(config), "-q", "bench"]
            # mbsync stores LF line endings and adds an X-TUID header: count the files only.
            return Measurement(cmd, n, n, check_files(out / BENCH_MAILBOX, n, None), remove)
        if tool == "curl":
            k = min(self.args.curl_count, n)
            base = f"imap://{srv.host}:{srv.port('imap')}/{BENCH_MAILBOX}"
            lines = [
                f"curl -sS --fail --netrc-file {self.netrc} -o {out}/{uid}.eml '{base};UID={uid}'"
                for uid in range(1, k + 1)
            ]
            return Measurement(
                curl_loop(self.work, "imap-curl", lines), k, n, check_files(out, k, None), remove
            )
        if tool == "protoclients-ls":
            return Measurement(python_child(spec), n, n, check_child(n, served), remove)
        if tool.startswith("protoclients"):
            # "protoclients": durable=False, like mbsync's FSync no; "-durable": the default
            # (fsync of every file and of the directory).
            spec["durable"] = False if tool == "protoclients" else None
            check = both(check_child(n, served), check_files(out, n, served))
            return Measurement(python_child(spec), n, n, check, remove)
        if tool == "imapclient":
            check = both(check_child(n, served), check_files(out, n, served))
            return Measurement(python_child(spec), n, n, check, remove)
        return Measurement(python_child(spec), n, n, check_child(n, served), remove)

    # POP3 -----------------------------------------------------------------------------------

    def pop3(self, tool: str) -> Measurement:
        srv, n = self.srv, self.args.pop3_count
        out = fresh_dir(self.work / "out" / f"pop3-{tool}")
        _stored, served = self.pop3_bytes
        spec = {
            "part": "pop3",
            "tool": tool,
            "host": srv.host,
            "port": srv.port("pop3"),
            "user": srv.user,
            "url": f"pop3://{srv.user}@{srv.host}:{srv.port('pop3')}/",
            "out": str(out),
        }

        def remove() -> None:
            shutil.rmtree(out, ignore_errors=True)

        if tool == "fetchmail":
            config = self.work / "fetchmailrc"
            config.write_text(
                "set no syslog\nset no bouncemail\n"
                f"poll {srv.host} port {srv.port('pop3')} proto pop3 auth password\n"
                f'  user "{srv.user}" there with password "{srv.password}" is root here\n'
                "  keep fetchall sslproto '' no mimedecode no rewrite\n"
                f'  mda "cat > {out}/msg-$$.eml"\n'
            )
            config.chmod(0o600)
            cmd = [
                "fetchmail",
                "-f",
                str(config),
                "-N",
                "--nosyslog",
                "-s",
                "-i",
                str(self.work / "fetchmail.ids"),
            ]
            # fetchmail adds a Received: header and writes LF line endings: count files only.
            return Measurement(cmd, n, n, check_files(out, n, None), remove)
        if tool == "curl":
            k = min(self.args.curl_count, n)
            base = f"pop3://{srv.host}:{srv.port('pop3')}"
            lines = [
                f"curl -sS --fail --netrc-file {self.netrc} -o {out}/{i}.eml {base}/{i}"
                for i in range(1, k + 1)
            ]
            return Measurement(
                curl_loop(self.work, "pop3-curl", lines), k, n, check_files(out, k, None), remove
            )
        check = both(check_child(n, served), check_files(out, n, served))
        return Measurement(python_child(spec), n, n, check, remove)


# --- running and reporting


def human_bytes(n: float) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / 1024:.1f} KiB"


def report(results: Results, args: argparse.Namespace, label: str, loads: list[float]) -> str:
    lines = [
        f"protoclients mail benchmark: median of {args.runs} interleaved run(s), files in "
        f"{args.workdir_base}; servers: {label}",
        f"{os.cpu_count()} CPUs; load average (1 min) at start {loads[0]:.2f}, "
        f"at end {loads[-1]:.2f}, max seen {max(loads):.2f}",
        f"{'part':<5} {'client':<21} {'msgs':>6} {'seconds':>8} {'msg/s':>7} {'MiB/s':>7} "
        f"{'proc s':>7} {'peak RSS MiB':>12} {'vs ref':>7}",
    ]
    verdicts = []
    for part in args.parts:
        ref_tool = REFERENCE[part]
        totals: dict[str, float] = {}
        for tool in args.tools[part]:
            samples = results.samples.get((part, tool))
            if samples:
                measured, total = results.sampled[(part, tool)]
                totals[tool] = statistics.median(s.xfer for s in samples) * total / measured
        ref = totals.get(ref_tool)
        first = True
        for tool in args.tools[part]:
            name = part if first else ""
            if (part, tool) in results.skipped:
                lines.append(f"{name:<5} {tool:<21} skipped: {results.skipped[(part, tool)]}")
                first = False
                continue
            if tool not in totals:
                if (part, tool) in results.failures:
                    lines.append(f"{name:<5} {tool:<21} FAILED")
                    first = False
                continue
            measured, total = results.sampled[(part, tool)]
            seconds = totals[tool]
            proc = statistics.median(s.proc for s in results.samples[(part, tool)])
            proc *= total / measured
            rss = max(s.rss_mib for s in results.samples[(part, tool)])
            size = results.sizes.get(part, 0)
            label_tool = tool + ("*" if measured != total else "")
            ratio = ref / seconds if ref else float("nan")
            lines.append(
                f"{name:<5} {label_tool:<21} {total:>6} {seconds:>8.3f} {total / seconds:>7.0f} "
                f"{size / MIB / seconds:>7.1f} {proc:>7.2f} {rss:>12.1f} {ratio:>6.2f}x"
            )
            first = False
            if tool in ("protoclients", "protoclients-durable") and ref:
                if part == "imap":
                    ok = ratio >= IMAP_TARGET and rss < IMAP_RSS_MIB
                    verdicts.append(
                        f"  imap {tool}: {ratio:.2f}x mbsync (target >= {IMAP_TARGET}x), peak "
                        f"{rss:.0f} MiB (< {IMAP_RSS_MIB}): {'OK' if ok else 'MISS'}"
                    )
                elif part == "smtp":
                    ok = ratio >= SMTP_TARGET
                    verdicts.append(
                        f"  smtp: {ratio:.2f}x smtplib reusing a connection (target >= "
                        f"{SMTP_TARGET}x): {'OK' if ok else 'MISS'}"
                    )
    lines.append(
        "seconds = whole set (Python clients: around the work inside the process, after "
        "imports; mbsync, fetchmail, curl: the whole process or loop); proc s = the whole "
        "process (interpreter start and imports included); * = curl ran "
        f"{args.curl_count} messages, one process each, extrapolated linearly; peak RSS = max "
        "over runs (curl: the largest single process); vs ref = reference seconds / seconds "
        "(> 1 is faster; ref: smtp smtplib, imap mbsync, pop3 poplib)."
    )
    if verdicts:
        lines += ["issue targets for protoclients:", *verdicts]
    for (part, tool), message in results.failures.items():
        last = message.strip().splitlines()[-1] if message.strip() else "?"
        lines.append(f"failed: {part} {tool}: {last[:300]}")
    return "\n".join(lines)


def module_exists(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def availability(part: str, tool: str) -> str | None:
    """Why ``tool`` cannot run here, or None."""
    if tool.startswith("protoclients"):
        module = {"smtp": "smtp", "imap": "imap", "pop3": "pop3"}[part]
        if not module_exists(f"protoclients.protocols.{module}"):
            return f"protoclients.protocols.{module} not importable"
    binaries = {"mbsync": "mbsync", "fetchmail": "fetchmail", "curl": "curl"}
    if tool in binaries and not shutil.which(binaries[tool]):
        return f"{binaries[tool]} not installed"
    if tool == "imapclient" and not module_exists("imapclient"):
        return "IMAPClient not installed (pip install imapclient)"
    return None


def run_part(
    part: str,
    build: Callable[[str], Measurement],
    args: argparse.Namespace,
    results: Results,
    env: dict[str, str],
    loads: list[float],
    prefix: str = "",
) -> None:
    tools = [t for t in args.tools[part] if (part, t) not in results.skipped]
    for run in range(args.runs):
        shift = run % len(tools) if tools else 0
        for tool in tools[shift:] + tools[:shift]:
            m = build(tool)
            results.sampled[(part, tool)] = (m.messages, m.total)
            try:
                sample, out = measure(m.cmd, env, timeout=args.timeout)
                m.check(out)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                results.failures.setdefault((part, tool), str(exc))
                print(
                    f"{prefix}run {run + 1}/{args.runs} {part} {tool}: FAILED: {exc}",
                    file=sys.stderr,
                )
                with contextlib.suppress(Exception):
                    m.cleanup()
                continue
            m.cleanup()
            loads.append(os.getloadavg()[0])
            results.samples.setdefault((part, tool), []).append(sample)
            print(
                f"{prefix}run {run + 1}/{args.runs} {part} {tool:<21} {sample.xfer:8.3f} s "
                f"({m.messages} msgs) {sample.rss_mib:7.1f} MiB  load {loads[-1]:.2f}",
                file=sys.stderr,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", default=",".join(PARTS), help="comma list of smtp,imap,pop3")
    parser.add_argument("--tools", default="", help="comma list restricting the clients")
    parser.add_argument("--smtp-count", type=int, default=1000)
    parser.add_argument("--smtp-size", type=parse_size, default=parse_size("2KiB"))
    parser.add_argument("--smtp-local", action="store_true", help="also the in-process server")
    parser.add_argument("--imap-count", type=int, default=10_000)
    parser.add_argument("--imap-size", type=parse_size, default=parse_size("10KiB"))
    parser.add_argument("--imapclient-chunk", type=int, default=1000)
    parser.add_argument("--pop3-count", type=int, default=1000)
    parser.add_argument("--pop3-size", type=parse_size, default=parse_size("10KiB"))
    parser.add_argument("--curl-count", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--workdir-base", default="/dev/shm", help="a tmpfs directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    args.parts = [p for p in args.parts.split(",") if p]
    if bad := sorted(set(args.parts) - set(PARTS)):
        parser.error(f"unknown part: {', '.join(bad)}")
    wanted = {t for t in args.tools.split(",") if t}
    args.tools = {p: [t for t in TOOLS[p] if not wanted or t in wanted] for p in PARTS}
    if why := real_servers_usable():
        print(f"the real mail servers cannot be used: {why}", file=sys.stderr)
        return 2

    results = Results()
    for part in args.parts:
        for tool in args.tools[part]:
            if why := availability(part, tool):
                results.skipped[(part, tool)] = why
    loads = [os.getloadavg()[0]]
    if loads[0] > 0.5:
        print(
            f"warning: load average {loads[0]:.2f} -- other work on this machine skews the figures",
            file=sys.stderr,
        )
    work = Path(tempfile.mkdtemp(prefix="pcmailbench-", dir=args.workdir_base))
    work.chmod(0o711)  # the servers' unprivileged processes must reach their directories
    local_report = ""
    try:
        with mail_servers(work) as srv:
            netrc = work / "netrc"
            netrc.write_text(f"machine {srv.host} login {srv.user} password {srv.password}\n")
            netrc.chmod(0o600)
            env = dict(os.environ, PCBENCH_PASSWORD=srv.password)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            bench = Bench(args, srv, work, netrc)
            if "smtp" in args.parts:
                message = make_message(0, args.smtp_size, srv.env["MAIL_ADDRESS"])
                (work / "smtp-message.eml").write_bytes(message.replace(b"\n", b"\r\n"))
                results.sizes["smtp"] = args.smtp_count * len(message.replace(b"\n", b"\r\n"))
                wipe_maildir(srv, "INBOX")
                print(
                    f"smtp: {args.smtp_count} messages of {human_bytes(len(message))}",
                    file=sys.stderr,
                )
                run_part("smtp", bench.smtp, args, results, env, loads)
            if "imap" in args.parts:
                started = time.perf_counter()
                bench.imap_bytes = seed_maildir(srv, BENCH_MAILBOX, args.imap_count, args.imap_size)
                results.sizes["imap"] = bench.imap_bytes[1]
                index_mailbox(srv, BENCH_MAILBOX, args.imap_count, warm=True)
                print(
                    f"imap: seeded and indexed {args.imap_count} messages, "
                    f"{human_bytes(bench.imap_bytes[1])} in {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                )
                run_part("imap", bench.imap, args, results, env, loads)
                wipe_maildir(srv, BENCH_MAILBOX)
            if "pop3" in args.parts:
                wipe_maildir(srv, "INBOX")
                bench.pop3_bytes = seed_maildir(srv, "INBOX", args.pop3_count, args.pop3_size)
                results.sizes["pop3"] = bench.pop3_bytes[1]
                index_mailbox(srv, "INBOX", args.pop3_count, warm=True)
                print(
                    f"pop3: seeded {args.pop3_count} messages, {human_bytes(bench.pop3_bytes[1])}",
                    file=sys.stderr,
                )
                run_part("pop3", bench.pop3, args, results, env, loads)
            label = srv.label
        if args.smtp_local and "smtp" in args.parts:
            local_report = run_local_smtp(args, srv, work, env, loads)
        print(report(results, args, label, loads))
        if local_report:
            print(local_report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run_local_smtp(
    args: argparse.Namespace, srv: Servers, work: Path, env: dict[str, str], loads: list[float]
) -> str:
    """The SMTP part against protoclients_fixtures' aiosmtpd server (in this process)."""
    try:
        from protoclients_fixtures.smtp_server import serve_smtp
    except ImportError as exc:
        return f"local SMTP server not available: {exc}"
    results = Results()
    for tool in args.tools["smtp"]:
        if why := availability("smtp", tool):
            results.skipped[("smtp", tool)] = why
    with serve_smtp(users={"alice": "x"}) as server:
        message = work / "smtp-message.eml"
        results.sizes["smtp"] = args.smtp_count * message.stat().st_size

        target = ("local", server.host, server.port, "alice@example.org")
        bench = Bench(args, srv, work, work / "netrc", smtp_target=target)
        run_part("smtp", bench.smtp, args, results, env, loads, prefix="local ")
    local_args = argparse.Namespace(**{**vars(args), "parts": ["smtp"]})
    return report(
        results, local_args, "protoclients_fixtures aiosmtpd (in the bench process)", loads
    )


if __name__ == "__main__":
    sys.exit(main())
