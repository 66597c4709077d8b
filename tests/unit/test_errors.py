"""The error hierarchy and server-text sanitising."""

from __future__ import annotations

import builtins

import protoclients as pc
from protoclients.errors import clean_server_text


def test_hierarchy() -> None:
    assert issubclass(pc.CertificateError, pc.TLSError)
    assert issubclass(pc.TLSError, pc.ConnectionFailed)
    assert issubclass(pc.InvalidURL, pc.InvalidInput)
    assert issubclass(pc.InvalidInput, ValueError)
    assert issubclass(pc.OperationTimeoutError, builtins.TimeoutError)
    for cls in (
        pc.ConnectionFailed, pc.AuthenticationError, pc.NotFoundError, pc.PermissionDeniedError,
        pc.OperationTimeoutError, pc.IncompleteTransferError, pc.ProtocolError,
        pc.UnsupportedOperation, pc.InvalidInput, pc.DiskFullError, pc.ServerError,
    ):
        assert issubclass(cls, pc.ProtoClientError)


def test_exit_codes_distinct_per_family() -> None:
    codes = {
        cls.exit_code
        for cls in (
            pc.InvalidInput, pc.ConnectionFailed, pc.TLSError, pc.AuthenticationError,
            pc.NotFoundError, pc.PermissionDeniedError, pc.OperationTimeoutError,
            pc.IncompleteTransferError, pc.ProtocolError, pc.ServerError,
            pc.UnsupportedOperation, pc.DiskFullError, pc.TransferInProgress,
        )
    }
    assert len(codes) == 13
    assert 0 not in codes and 1 not in codes


def test_error_carries_protocol_redacted_url_and_reply() -> None:
    err = pc.NotFoundError(
        "no such file", protocol="ftp", url="ftp://bob:pw123@h/x?token=t0k", reply="550 nope"
    )
    assert err.protocol == "ftp"
    assert err.url == "ftp://bob@h/x?token=***"
    assert err.reply == "550 nope"
    for text in (str(err), repr(err)):
        assert "pw123" not in text and "t0k" not in text
    assert "550 nope" in str(err)


def test_server_text_is_escaped_and_truncated() -> None:
    text = clean_server_text("evil\x1b]8;;http://evil\x07link\r\nmore\x00" + "x" * 1000)
    assert text is not None
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x00" not in text
    assert "\\x1b" in text
    assert len(text) <= 300
    assert clean_server_text(b"\xff bytes") == "\ufffd bytes"
    assert clean_server_text(None) is None
