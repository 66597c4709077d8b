"""Where ``protoclients fetch`` writes: the local name of a remote file, and the overwrite rule.

* ``-o -``: standard output (streamed, never buffered whole).
* ``-o DIR`` (an existing directory, or the current directory when ``-o`` is not given):
  ``DIR/<remote name made safe>`` — see :func:`safe_local_name`; the file can never land
  outside ``DIR``.
* ``-o FILE``: that file.

An existing file is never replaced unless ``--force`` is given (exit code
:data:`EXIT_EXISTS`). The download itself is atomic (``<name>.part``, then a rename), so
an interrupted fetch never leaves a partial file under the final name.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from protoclients.errors import InvalidInput

if TYPE_CHECKING:
    from protoclients.urls import URL

__all__ = [
    "EXIT_EXISTS",
    "Destination",
    "DestinationExists",
    "choose_destination",
    "remote_name",
    "safe_local_name",
]

#: Exit code when the destination file exists and ``--force`` was not given.
EXIT_EXISTS = 15
#: Longest local name in bytes: leaves room for the ``.part.json`` suffix within NAME_MAX.
MAX_NAME_BYTES = 240
DEFAULT_NAME = "download"


class DestinationExists(InvalidInput):
    """The local file exists and ``--force`` was not given; nothing was downloaded."""

    exit_code: ClassVar[int] = EXIT_EXISTS


def _bad_char(char: str) -> bool:
    # Control (Cc), format (Cf: bidi overrides, zero-width...), separators other than space.
    category = unicodedata.category(char)
    return category in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} or char in "/\\"


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = limit - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return cut + suffix


def safe_local_name(name: str, default: str = DEFAULT_NAME) -> str:
    """Make a remote name safe as a file name inside a directory.

    Path separators, control and invisible formatting characters (bidi overrides) become
    ``_``, exotic spaces (no-break...) a plain space; leading dots are dropped (no hidden
    files, no ``..``), surrounding spaces too; the name is cut to :data:`MAX_NAME_BYTES`
    bytes keeping its extension; an empty result becomes ``default``.

    >>> safe_local_name("../../etc/passwd")
    '_.._etc_passwd'
    >>> safe_local_name(".bashrc")
    'bashrc'
    """
    cleaned = "".join(
        "_" if _bad_char(c) else " " if unicodedata.category(c) == "Zs" else c for c in name
    )
    cleaned = cleaned.strip().lstrip(".").strip()
    cleaned = _truncate(cleaned, MAX_NAME_BYTES)
    return cleaned or default


def remote_name(url: URL, *, headers_only: bool = False) -> str | None:
    """The name a single remote item is saved under, or ``None`` when ``url`` names a set
    (a mailbox or a POP3 account: a bulk download).

    The name always comes from the URL as given, never from the server (no
    ``Content-Disposition``, not a redirect's target). HTTP: the last path segment
    (``index.html`` for a directory URL, like wget); FTP: the last path segment (a
    directory URL is refused); IMAP ``;UID=n``: ``n.eml``; POP3 ``/n``: ``n.eml``, ``/UIDL=x``: the
    name a bulk download gives it. Headers only: ``.headers`` instead of ``.eml``.
    """
    from protoclients.registry import lookup_scheme

    info = lookup_scheme(url.scheme)
    protocol = info.protocol if info is not None else url.scheme
    suffix = ".headers" if headers_only else ".eml"
    if protocol == "imap":
        from protoclients.protocols.imapurl import parse_imap_url

        target = parse_imap_url(url)
        if target.uid is None:
            return None
        return f"{target.uid}{suffix}"
    if protocol == "pop3":
        from protoclients.protocols.pop3parse import eml_name
        from protoclients.protocols.pop3urls import message_ref

        ref = message_ref(url)
        if ref is None:
            return None
        name = eml_name(ref.number or 0, ref.uidl)
        return name[: -len(".eml")] + suffix
    if protocol == "http" and (url.path.endswith("/") or not url.name):
        return "index.html"
    if not url.name or url.path.endswith("/"):
        raise InvalidInput(
            "the URL names a directory; list it with: protoclients ls URL", url=url
        )
    return url.name


@dataclass(frozen=True)
class Destination:
    """What ``fetch`` writes to: stdout, a file, or a directory for a bulk download."""

    kind: str  # "stdout", "file" or "bulk"
    path: Path | None = None


def choose_destination(
    url: URL, output: str | None, *, force: bool, headers_only: bool = False
) -> Destination:
    """Decide the destination of ``fetch URL [-o OUTPUT]`` before anything is downloaded.

    Raises :class:`DestinationExists` for an existing file without ``force`` and
    :class:`~protoclients.errors.InvalidInput` for an impossible one.
    """
    if output == "-":
        return Destination("stdout")
    name = remote_name(url, headers_only=headers_only)
    if output is not None and output.endswith(("/", os.sep)) and not Path(output).is_dir():
        # "-o newdir/" says "a directory": create it (like curl --create-dirs).
        try:
            Path(output).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"-o {output}: cannot create it: {exc.strerror}") from None
    if name is None:
        if output is None:
            raise InvalidInput(
                "the URL names a whole mailbox: add -o DIR to download every message into "
                "an existing directory, or name one message",
                url=url,
            )
        directory = Path(output)
        if not directory.is_dir():
            raise InvalidInput(f"-o {output}: not an existing directory (needed for a mailbox)")
        return Destination("bulk", directory)
    if output is None:
        path = Path.cwd() / safe_local_name(name)
    elif Path(output).is_dir():
        path = Path(output) / safe_local_name(name)
    else:
        path = Path(output)
    if not path.parent.is_dir():
        raise InvalidInput(f"-o {output}: directory {path.parent} does not exist")
    if not force and os.path.lexists(path):
        raise DestinationExists(f"{path} exists; add --force to replace it")
    return Destination("file", path)
