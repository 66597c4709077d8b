#!/usr/bin/env python3
"""Loopback transfer benchmark: protoclients vs curl vs the raw Python clients.

    python bench/transfer.py [--size 1GiB] [--runs 3] [--servers real|local] [--verify]

For each of HTTP download, HTTP upload (PUT), FTP download and FTP upload, every client runs
as its own process (peak RSS from ``/usr/bin/time -v``, or ``wait4`` where that is missing),
interleaved over ``--runs`` rounds; the median of each figure is reported, with the
throughput ratio to curl (> 1 means faster than curl). All files live in /dev/shm (tmpfs) so
the disk does not hide the protocol path, and are removed afterwards.

Servers: ``real`` starts Debian's nginx + vsftpd with tests/interop/servers.sh (falls back to
``local`` when they are not installed or not root); ``local`` uses protoclients_fixtures'
in-process servers (Python servers: expect lower absolute figures).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import CHILD_MARK, Sample, measure

REPO = Path(__file__).resolve().parent.parent
SERVERS_SH = REPO / "tests" / "interop" / "servers.sh"
MIB = 1 << 20
OPS = ["http-download", "http-upload", "ftp-download", "ftp-upload"]
TOOLS = ["curl", "raw", "protoclients"]
RAW_NAMES = {"http": "requests", "ftp": "ftplib"}
# The targets for protoclients: minimum throughput ratio to curl; peak RSS bound.
TARGETS = {"http-download": 1.0, "ftp-download": 1.2, "http-upload": 0.9, "ftp-upload": 0.9}
RSS_LIMIT_MIB = 100


# ------------------------------------------------------------------------------- child side


def child_main(spec: dict[str, Any]) -> None:
    """Run one transfer (``raw`` or ``protoclients``) and print its duration."""
    password = os.environ.get("PCBENCH_PASSWORD") or None
    tool, op = spec["tool"], spec["op"]
    # Imports are not transfer time (the "proc s" column includes them): load the client
    # library first, then start the clock, the same way for every Python client.
    if tool == "protoclients":
        import protoclients.protocols.ftp
        import protoclients.protocols.http
    elif op.startswith("http"):
        import requests
    else:
        import ftplib
    started = time.perf_counter()
    if tool == "protoclients":
        import protoclients

        kwargs: dict[str, Any] = {"timeout": 120}
        if password and spec.get("user"):
            kwargs["password"] = password
        if op.endswith("download"):
            protoclients.fetch(spec["url"], dest=spec["path"], **kwargs)
        else:
            protoclients.send(spec["url"], spec["path"], **kwargs)
    elif op.startswith("http"):
        import requests

        auth = (spec["user"], password) if spec.get("user") and password else None
        if op == "http-download":
            with (
                requests.get(spec["url"], stream=True, timeout=120) as resp,
                open(spec["path"], "wb") as out,
            ):
                resp.raise_for_status()
                for chunk in resp.iter_content(MIB):
                    out.write(chunk)
        else:
            with open(spec["path"], "rb") as src:
                resp = requests.put(spec["url"], data=src, auth=auth, timeout=120)
                resp.raise_for_status()
    else:
        import ftplib

        ftp = ftplib.FTP()
        ftp.connect(spec["host"], spec["port"], timeout=120)
        ftp.login(spec["user"], password or "")
        if op == "ftp-download":
            with open(spec["path"], "wb") as out:
                ftp.retrbinary(f"RETR {spec['remote']}", out.write, blocksize=MIB)
        else:
            with open(spec["path"], "rb") as src:
                ftp.storbinary(f"STOR {spec['remote']}", src, blocksize=MIB)
        ftp.quit()
    print(f"{CHILD_MARK}{time.perf_counter() - started:.6f}", flush=True)


# ------------------------------------------------------------------------------ parent side


@dataclass
class Target:
    """Where one benchmark talks to: URLs, paths on the server side, credentials."""

    kind: str
    label: str
    http_base: str
    http_put_base: str
    http_put_dir: Path
    ftp_host: str
    ftp_port: int
    ftp_user: str
    ftp_password: str
    ftp_root: Path
    http_user: str | None = None
    http_password: str | None = None


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, op: str, tool: str, sample: Sample) -> None:
        self.samples.setdefault((op, tool), []).append(sample)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1GiB, 256MiB, 1000000)")
    number, unit, suffix = match.groups()
    power = "KMGT".find(unit.upper()) + 1 if unit else 0
    base = 1000 if suffix.upper() == "B" and unit else 1024
    return int(float(number) * base**power)


def human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def make_source(path: Path, size: int) -> None:
    block = 16 * MIB
    with path.open("wb") as f:
        left = size
        while left:
            n = min(block, left)
            f.write(os.urandom(n))
            left -= n
    path.chmod(0o644)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def real_servers_usable() -> str | None:
    """Why the real servers cannot be used here, or None."""
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [b for b in ("nginx", "vsftpd", "openssl") if not shutil.which(b, path=sbin)]
    if missing:
        return f"not installed: {', '.join(missing)} (run: sudo {SERVERS_SH} install)"
    if os.geteuid() != 0:
        return "vsftpd needs root"
    return None


def ftp_greeting(host: str, port: int) -> str:
    """The server's 220 greeting (e.g. ``(vsFTPd 3.0.3)``), to name it in the report."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            line = sock.makefile("rb").readline().decode(errors="replace")
            sock.sendall(b"QUIT\r\n")
    except OSError:
        return "FTP server"
    return line[4:].strip().strip("()") or "FTP server"


@contextlib.contextmanager
def real_target(work: Path, source: Path) -> Iterator[Target]:
    directory = work / "servers"
    directory.mkdir()
    subprocess.run(["bash", str(SERVERS_SH), "start", str(directory)], check=True, timeout=60)
    try:
        env: dict[str, str] = {}
        for line in (directory / "env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value.strip('"')
        www = Path(env["HTTP_ROOT"])
        ftp_root = Path(env["FTP_ROOT"])
        os.link(source, www / "bench.bin")
        os.link(source, ftp_root / "bench.bin")
        ftp_banner = ftp_greeting(env["FTP_HOST"], int(env["FTP_PORT"]))
        yield Target(
            kind="real",
            label=f"{env.get('NGINX_VERSION', 'nginx')} + {ftp_banner}",
            http_base=env["HTTP_URL"],
            http_put_base=env["HTTP_DAV_URL"],
            http_put_dir=www / env["DAV_PATH"].strip("/"),
            ftp_host=env["FTP_HOST"],
            ftp_port=int(env["FTP_PORT"]),
            ftp_user=env["FTP_USER"],
            ftp_password=env["FTP_PASSWORD"],
            ftp_root=ftp_root,
        )
    finally:
        subprocess.run(["bash", str(SERVERS_SH), "stop", str(directory)], check=False, timeout=60)


@contextlib.contextmanager
def local_target(work: Path, source: Path) -> Iterator[Target]:
    import secrets

    from protoclients_fixtures import serve_ftp, serve_http

    www = work / "www"
    ftp_root = work / "ftproot"
    www.mkdir()
    ftp_root.mkdir()
    os.link(source, www / "bench.bin")
    os.link(source, ftp_root / "bench.bin")
    password = secrets.token_hex(12)
    with (
        serve_http(root=www, users={}) as http,
        serve_ftp(root=ftp_root, users={"bench": password}, anonymous=False) as ftp,
    ):
        yield Target(
            kind="local",
            label="protoclients_fixtures (werkzeug + pyftpdlib, in the bench process)",
            http_base=http.url,
            http_put_base=http.url,
            http_put_dir=www,
            ftp_host=ftp.host,
            ftp_port=ftp.port,
            ftp_user="bench",
            ftp_password=password,
            ftp_root=ftp_root,
        )


def command_for(
    tool: str, op: str, target: Target, work: Path, source: Path, netrc: Path
) -> tuple[list[str], dict[str, Any], Path]:
    """The command line for one measurement and the file it produces (local or remote)."""
    name = f"up-{tool}.bin"
    download = op.endswith("download")
    local_out = work / f"out-{tool}.bin"
    if op.startswith("http"):
        url = target.http_base + "bench.bin" if download else target.http_put_base + name
        produced = local_out if download else target.http_put_dir / name
        spec: dict[str, Any] = {"url": url, "user": target.http_user}
    else:
        remote = "bench.bin" if download else name
        url = f"ftp://{target.ftp_host}:{target.ftp_port}/{remote}"
        produced = local_out if download else target.ftp_root / name
        spec = {
            "url": f"ftp://{target.ftp_user}@{target.ftp_host}:{target.ftp_port}/{remote}",
            "host": target.ftp_host,
            "port": target.ftp_port,
            "user": target.ftp_user,
            "remote": remote,
        }
    path = local_out if download else source
    if tool == "curl":
        cmd = ["curl", "-sS", "--fail", "-w", CHILD_MARK + "%{time_total}\\n"]
        if op.startswith("ftp") or target.http_user:
            cmd += ["--netrc-file", str(netrc)]
        cmd += ["-o", str(path), url] if download else ["-T", str(path), url]
        return cmd, spec, produced
    spec.update(tool=tool, op=op, path=str(path))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    return cmd, spec, produced


def verify(produced: Path, size: int, digest: str | None) -> None:
    actual = produced.stat().st_size
    if actual != size:
        raise RuntimeError(f"{produced}: {actual} bytes, expected {size}")
    if digest is not None and sha256_file(produced) != digest:
        raise RuntimeError(f"{produced}: sha256 differs from the source")


def tool_label(tool: str, op: str) -> str:
    return RAW_NAMES[op.split("-", maxsplit=1)[0]] if tool == "raw" else tool


def report(results: Results, size: int, args: argparse.Namespace, target: Target) -> str:
    lines = [
        f"protoclients transfer benchmark: {human(size)} over loopback, median of {args.runs} "
        f"run(s), files in {args.workdir_base}",
        f"servers: {target.kind} ({target.label}); {os.cpu_count()} CPUs, load average at "
        f"start {args.load:.2f}",
        f"{'operation':<14} {'client':<13} {'xfer s':>7} {'MiB/s':>8} {'proc s':>7} "
        f"{'peak RSS MiB':>12} {'vs curl':>8}",
    ]
    verdicts = []
    for op in args.ops:
        curl_rate = None
        samples = results.samples.get((op, "curl"))
        if samples:
            curl_rate = size / MIB / statistics.median(s.xfer for s in samples)
        first = True
        for tool in args.tools:
            samples = results.samples.get((op, tool))
            if not samples:
                if (op, tool) in results.failures:
                    lines.append(f"{op if first else '':<14} {tool_label(tool, op):<13} FAILED")
                    first = False
                continue
            xfer = statistics.median(s.xfer for s in samples)
            proc = statistics.median(s.proc for s in samples)
            rss = max(s.rss_mib for s in samples)
            rate = size / MIB / xfer
            ratio = rate / curl_rate if curl_rate else float("nan")
            lines.append(
                f"{op if first else '':<14} {tool_label(tool, op):<13} {xfer:>7.3f} {rate:>8.0f} "
                f"{proc:>7.3f} {rss:>12.1f} {ratio:>7.2f}x"
            )
            first = False
            if tool == "protoclients" and curl_rate:
                ok = ratio >= TARGETS[op] and rss < RSS_LIMIT_MIB
                verdicts.append(
                    f"  {op:<14} {ratio:.2f}x curl (target >= {TARGETS[op]:.1f}x), "
                    f"peak {rss:.0f} MiB (< {RSS_LIMIT_MIB}): {'OK' if ok else 'MISS'}"
                )
    lines.append(
        "xfer s = transfer inside the process (curl: time_total; Python: around the call, "
        "after imports); proc s = whole process; peak RSS = max over runs; vs curl = "
        "throughput ratio on xfer s (> 1 is faster than curl)."
    )
    if verdicts:
        lines += ["issue targets for protoclients:", *verdicts]
    for (op, tool), message in results.failures.items():
        last = message.splitlines()[-1] if message else "?"
        lines.append(f"failed: {op} {tool_label(tool, op)}: {last}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--servers", choices=["real", "local"], default="real")
    parser.add_argument("--verify", action="store_true", help="also compare sha256 of each copy")
    parser.add_argument("--ops", default=",".join(OPS), help=f"comma list of {', '.join(OPS)}")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma list of {', '.join(TOOLS)}"
    )
    parser.add_argument("--workdir-base", default="/dev/shm", help="a tmpfs directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    args.ops = [o for o in args.ops.split(",") if o]
    args.tools = [t for t in args.tools.split(",") if t]
    for value, allowed in ((args.ops, OPS), (args.tools, TOOLS)):
        bad = sorted(set(value) - set(allowed))
        if bad:
            parser.error(f"unknown: {', '.join(bad)}")
    if "protoclients" in args.tools:
        try:
            for module in ("protoclients.protocols.http", "protoclients.protocols.ftp"):
                importlib.import_module(module)
        except ImportError as exc:
            print(
                f"protoclients clients not importable ({exc}); skipping that column",
                file=sys.stderr,
            )
            args.tools.remove("protoclients")
    if args.servers == "real" and (why := real_servers_usable()):
        print(f"real servers unusable ({why}); using the local fixtures", file=sys.stderr)
        args.servers = "local"

    load = args.load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"warning: load average {load:.2f} -- other work on this machine skews the figures",
            file=sys.stderr,
        )
    work = Path(tempfile.mkdtemp(prefix="pcbench-", dir=args.workdir_base))
    work.chmod(0o711)  # the servers' unprivileged processes must reach their directories
    try:
        source = work / "source.bin"
        print(f"creating {human(args.size)} of random data in {source}", file=sys.stderr)
        make_source(source, args.size)
        digest = sha256_file(source) if args.verify else None
        netrc = work / "netrc"
        serving = real_target if args.servers == "real" else local_target
        with serving(work, source) as target:
            login = f"login {target.ftp_user} password {target.ftp_password}"
            netrc.write_text(f"machine {target.ftp_host} {login}\n")
            netrc.chmod(0o600)
            env = dict(os.environ, PCBENCH_PASSWORD=target.ftp_password)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            timeout = max(120.0, args.size / (20 * MIB))
            results = Results()
            for run in range(args.runs):
                for op in args.ops:
                    # Rotate the order each round so no client always goes first.
                    shift = run % len(args.tools)
                    for tool in args.tools[shift:] + args.tools[:shift]:
                        cmd, _spec, produced = command_for(tool, op, target, work, source, netrc)
                        try:
                            sample, _ = measure(cmd, env, timeout)
                            verify(produced, args.size, digest)
                        except (RuntimeError, OSError) as exc:
                            results.failures.setdefault((op, tool), str(exc).strip())
                            print(
                                f"run {run + 1}/{args.runs} {op} {tool}: FAILED: {exc}",
                                file=sys.stderr,
                            )
                            continue
                        finally:
                            with contextlib.suppress(FileNotFoundError):
                                produced.unlink()
                        results.add(op, tool, sample)
                        print(
                            f"run {run + 1}/{args.runs} {op:<13} {tool_label(tool, op):<12} "
                            f"{sample.xfer:7.3f} s  {args.size / MIB / sample.xfer:7.0f} MiB/s  "
                            f"{sample.rss_mib:6.1f} MiB",
                            file=sys.stderr,
                        )
            print(report(results, args.size, args, target))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
