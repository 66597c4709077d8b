"""What both benchmarks share: running one client as its own process and measuring it.

The process runs under ``/usr/bin/time -v`` for its peak RSS (without it, the ``wait4``
rusage of the child); a Python child prints ``TRANSFER_SECONDS=<s>`` (curl the same through
``-w``) so the work can be timed apart from the interpreter's start-up.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

__all__ = ["CHILD_MARK", "TIME_BIN", "Sample", "measure"]

TIME_BIN = "/usr/bin/time"
CHILD_MARK = "TRANSFER_SECONDS="


@dataclass
class Sample:
    xfer: float  # seconds of the work (inside a Python child) or of the whole process
    proc: float  # seconds of the whole process
    rss_mib: float


def measure(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[Sample, str]:
    """Run ``cmd`` as its own process; return the sample (transfer seconds, process
    seconds, peak RSS) and the process's standard output."""
    use_time = os.access(TIME_BIN, os.X_OK)
    with (
        tempfile.NamedTemporaryFile("r", suffix=".time", dir="/dev/shm") as stats,
        tempfile.TemporaryFile(dir="/dev/shm") as out,
        tempfile.TemporaryFile(dir="/dev/shm") as err,
    ):
        full = [TIME_BIN, "-v", "-o", stats.name, *cmd] if use_time else cmd
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(full, stdout=out, stderr=err, env=env)
        except OSError as exc:
            raise RuntimeError(f"cannot run {cmd[0]}: {exc}") from exc
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc_seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{cmd[0]} failed (exit {proc.returncode}): {message}")
        rss_kib = usage.ru_maxrss
        if use_time:
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats.read())
            if found:
                rss_kib = int(found.group(1))
        out.seek(0)
        text = out.read().decode(errors="replace")
    found = re.search(re.escape(CHILD_MARK) + r"([\d.]+)", text)
    xfer = float(found.group(1)) if found else proc_seconds
    return Sample(xfer=xfer, proc=proc_seconds, rss_mib=rss_kib / 1024), text
