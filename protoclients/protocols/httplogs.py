"""Keep secrets out of urllib3's own log records (CRED-05).

urllib3 logs every request line at DEBUG (``"GET /f?token=... HTTP/1.1" 200``) and the URL
of every retry, query string included, so turning on debug logging would print tokens that
protoclients masks everywhere else. :func:`install_log_redaction` adds a filter to those
loggers that masks the values of sensitive query parameters
(:data:`protoclients.urls.SENSITIVE_QUERY_KEYS`) in the formatted message. User info never
reaches urllib3 (URLs are passed without it), so the query is all there is to mask.
"""

from __future__ import annotations

import logging
import re
import threading

from ..urls import _redact_query

__all__ = ["REDACTED_LOGGERS", "install_log_redaction", "redact_log_text"]

#: The urllib3 loggers whose records can hold a request target.
REDACTED_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")

_QUERY_RE = re.compile(r"\?([^\s\"'<>)]*)")
_lock = threading.Lock()
_installed = False


def redact_log_text(text: str) -> str:
    """``text`` with the values of sensitive query parameters after any ``?`` masked."""
    if "?" not in text:
        return text
    return _QUERY_RE.sub(lambda m: "?" + _redact_query(m.group(1)), text)


class _RedactQueries(logging.Filter):
    """Rewrites a record's message with sensitive query values masked (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is urllib3's problem, not ours
            return True
        cleaned = redact_log_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def install_log_redaction() -> None:
    """Add the redacting filter to urllib3's loggers (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        redactor = _RedactQueries()
        for name in REDACTED_LOGGERS:
            logging.getLogger(name).addFilter(redactor)
        _installed = True
