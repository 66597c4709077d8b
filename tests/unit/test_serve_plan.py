"""Planning of ``protoclients serve``: endpoint order, ports, users (no servers started)."""

from __future__ import annotations

import errno
import io
import socket

import pytest
from protoclients_cli.serve_plan import (
    ServeUsageError,
    assign_ports,
    check_ports_free,
    plan_endpoints,
    plan_users,
    port_error,
)


def test_order_is_fixed_whatever_the_argument_order() -> None:
    keys = [e.key for e in plan_endpoints(["imap", "http", "ftp"], tls=True)]
    assert keys == ["http", "https", "ftp", "ftp-tls", "ftps", "imap", "imaps"]
    assert [e.key for e in plan_endpoints([], tls=False)] == ["http", "ftp", "smtp", "pop3", "imap"]


def test_tls_flags() -> None:
    by_key = {e.key: e for e in plan_endpoints([], tls=True)}
    assert by_key["ftp-tls"].scheme == "ftp" and by_key["ftp-tls"].tls == "starttls"
    assert by_key["smtp"].starttls_offered and not by_key["http"].starttls_offered
    assert by_key["pop3s"].tls == "implicit"
    assert not any(e.starttls_offered for e in plan_endpoints([], tls=False))


def test_unknown_server() -> None:
    with pytest.raises(ServeUsageError, match="unknown server"):
        plan_endpoints(["http", "gopher"], tls=False)


def test_assign_ports() -> None:
    endpoints = plan_endpoints(["http", "smtp"], tls=True)
    assert [e.port for e in assign_ports(endpoints, 0)] == [0, 0, 0, 0]
    assert [e.port for e in assign_ports(endpoints, 9000)] == [9000, 9001, 9002, 9003]
    assert assign_ports(endpoints, 9000)[2].url == "smtp://127.0.0.1:9002/"
    with pytest.raises(ServeUsageError, match=r"65533\.\.65536"):
        assign_ports(endpoints, 65533)


def test_busy_port_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        [endpoint] = assign_ports(plan_endpoints(["http"], tls=False), port)
        with pytest.raises(ServeUsageError, match=f"127.0.0.1:{port} for http: .*in use"):
            check_ports_free([endpoint])


def test_port_error_texts() -> None:
    [smtp, smtps] = assign_ports(plan_endpoints(["smtp"], tls=True), 2525)
    text = port_error([smtp, smtps], OSError(errno.EACCES, "Permission denied"))
    assert text == ("cannot listen on 127.0.0.1:2525 or 2526 for smtp, smtps: permission "
                    "denied (ports below 1024 need privileges)")
    assert "a free port" in port_error(plan_endpoints(["http"], tls=False)[0], RuntimeError("x"))


def test_users_generated_by_default() -> None:
    [user] = plan_users([], password_stdin=False)
    assert user.name == "alice" and user.generated and len(user.password) >= 16
    assert user.password not in repr(user)


def test_users_from_stdin_one_line_each() -> None:
    users = plan_users(["bob", "carol", "bob"], password_stdin=True,
                       stdin=io.StringIO("pw1\r\npw2\n"))
    assert [(u.name, u.password, u.generated) for u in users] == [
        ("bob", "pw1", False), ("carol", "pw2", False)]
    with pytest.raises(ServeUsageError, match="no password line for user carol"):
        plan_users(["bob", "carol"], password_stdin=True, stdin=io.StringIO("pw1\n"))


@pytest.mark.parametrize("name", ["bob:secret", "", "a b", "anonymous", "x" * 65, "-x", "é"])
def test_bad_user_names(name: str) -> None:
    with pytest.raises(ServeUsageError) as info:
        plan_users([name], password_stdin=False)
    assert "secret" not in str(info.value)
