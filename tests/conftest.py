"""Import every protocol module once, in the main thread, before any test runs.

pytest rewrites the assertions of every module in protoclients' distribution (it ships the
pytest plugin), and CPython 3.11 can fail (gh-106905, "AST constructor recursion depth
mismatch") when two threads import rewritten modules for the first time at once — which the
concurrency and soak tests do. Importing them up front removes the race; the lazy-import
promise of ``import protoclients`` is tested in subprocesses (tests/unit/test_package.py).
"""

from __future__ import annotations

import importlib
import pkgutil

import protoclients.protocols

for _module in pkgutil.iter_modules(protoclients.protocols.__path__):
    importlib.import_module(f"protoclients.protocols.{_module.name}")
