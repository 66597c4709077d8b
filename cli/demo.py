"""``protoclients demo``: a round trip over every protocol against the local servers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

__all__ = ["run_demo"]


def _step(text: str) -> None:
    typer.echo(f"  {text}")


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="protoclients-demo-"))
    try:
        yield path
    finally:
        if keep:
            typer.echo(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _round_trip(label: str, base_url: str, sample: Path, work: Path, opts: dict[str, Any]) -> None:
    import protoclients

    typer.secho(f"{label}: {base_url}", bold=True)
    with protoclients.connect(base_url, **opts) as client:
        target = "demo/" + sample.name
        kwargs: dict[str, Any] = {"make_dirs": True} if client.protocol == "ftp" else {}
        sent = client.send(sample, target, **kwargs)
        _step(f"send   {sample.name} -> {sent.url}: {sent.bytes} bytes")
        names = [e.name for e in client.ls("demo/")]
        _step(f"ls     demo/ -> {names}")
        if sample.name not in names:
            raise RuntimeError(f"{sample.name} missing from the listing")
        dest = work / f"{label.lower().replace(' ', '-')}-{sample.name}"
        got = client.fetch(target, dest)
        same = _sha(dest) == _sha(sample)
        verdict = "matches" if same else "DIFFERS"
        _step(f"fetch  {got.url} -> {dest.name}: {got.bytes} bytes, sha256 {verdict}")
        if not same:
            raise RuntimeError("downloaded file differs from the uploaded one")
        client.delete(target)
        remaining = [e.name for e in client.ls("demo/")]
        _step(f"delete {target} -> listing now {remaining}")
        if sample.name in remaining:
            raise RuntimeError("file still listed after delete")


def _mail_round_trip(mail: Any) -> None:
    """SMTP in, IMAP and POP3 out: the same message over both, then deleted."""
    import protoclients

    user, password = next(iter(mail.users.items()))
    auth = {"password": password, "ca_file": mail.ca_file}
    body = "Hello from protoclients over SMTP, IMAP and POP3.\n"
    msg = protoclients.compose(
        from_=f"{user}@example.test", to=f"{user}@example.test", subject="protoclients demo",
        text=body,
    )
    smtps = mail.smtps_url.replace("://", f"://{user}@", 1)
    typer.secho(f"SMTPS -> IMAPS and POP3S: {mail.smtps_url}", bold=True)
    sent = protoclients.send(smtps, msg, **auth)
    _step(f"send   {msg['Subject']!r} via {smtps}: accepted {sent.accepted}")
    for base in (mail.imaps_url + "INBOX", mail.pop3s_url):
        url = base.replace("://", f"://{user}@", 1)
        entries = protoclients.ls(url, **auth)
        _step(f"ls     {url} -> {[(e.name, e.size) for e in entries]}")
        if not entries:
            raise RuntimeError("the message did not arrive")
        got = protoclients.fetch(entries[-1].url, **auth)
        same = got.get_content() == body
        verdict = "matches" if same else "DIFFERS"
        _step(f"fetch  {entries[-1].url} -> subject {got['Subject']!r}, body {verdict}")
        if not same:
            raise RuntimeError("the fetched body differs from the sent one")
    imaps = mail.imaps_url.replace("://", f"://{user}@", 1) + "INBOX"
    uid_url = protoclients.ls(imaps, **auth)[-1].url
    protoclients.delete(uid_url, **auth)
    _step(f"delete {uid_url} -> INBOX now holds {len(protoclients.ls(imaps, **auth))} message(s)")


def run_demo(*, keep: bool = False) -> int:
    """Run the demo; return the process exit code (0 = every round trip succeeded)."""
    try:
        from protoclients_fixtures import TestCA, serve_ftp, serve_http, serve_mail
    except ImportError:
        typer.secho(
            "the demo needs the local servers: pip install 'protoclients[servers]'",
            err=True,
            fg=typer.colors.RED,
        )
        return 2
    from protoclients.errors import ProtoClientError

    started = time.perf_counter()
    failures = 0
    with _workdir(keep) as work, TestCA() as ca:
        root = work / "server-root"
        root.mkdir()
        sample = work / "hello.txt"
        sample.write_bytes(b"Hello from protoclients!\n" + os.urandom(64 * 1024))
        typer.echo(f"local servers serve {root}; CA {ca.ca_file}")
        plans: list[tuple[str, Callable[[], Any], dict[str, Any]]] = [
            ("HTTP", lambda: serve_http(root=root, tls=False, ca=ca), {}),
            ("HTTPS", lambda: serve_http(root=root, tls=True, ca=ca), {"ca_file": ca.ca_file}),
            ("FTP", lambda: serve_ftp(root=root, tls="none", ca=ca), {}),
            (
                "FTP with AUTH TLS",
                lambda: serve_ftp(root=root, tls="explicit", ca=ca),
                {"ca_file": ca.ca_file, "tls": "starttls"},
            ),
            ("FTPS", lambda: serve_ftp(root=root, tls="implicit", ca=ca), {"ca_file": ca.ca_file}),
        ]
        for label, start, opts in plans:
            with start() as srv:
                user, password = next(iter(srv.users.items()))
                url = srv.url.replace("://", f"://{user}@", 1)
                try:
                    _round_trip(label, url, sample, work, {**opts, "password": password})
                except (ProtoClientError, RuntimeError) as exc:
                    failures += 1
                    typer.secho(f"  FAILED: {exc}", fg=typer.colors.RED)
        with serve_mail(tls=True, ca=ca) as mail:
            try:
                _mail_round_trip(mail)
            except (ProtoClientError, RuntimeError) as exc:
                failures += 1
                typer.secho(f"  FAILED: {exc}", fg=typer.colors.RED)
    elapsed = time.perf_counter() - started
    if failures:
        typer.secho(f"{failures} round trip(s) failed ({elapsed:.2f} s)", fg=typer.colors.RED)
        return 1
    typer.secho(f"all round trips succeeded ({elapsed:.2f} s)", fg=typer.colors.GREEN)
    return 0
