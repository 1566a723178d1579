"""A worker process tied to the process that started it: it ends when that one ends, however it ends.

Imports nothing but the standard library: a worker arms this before it imports anything heavy (torch, numpy,
the method), so that a parent killed while the worker is still importing takes the worker with it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

# A worker whose parent is gone exits at once with this status (nobody is left to read it).
ORPHAN_EXIT = 70
WATCH_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def orphaned() -> None:
    os._exit(ORPHAN_EXIT)  # not SystemExit: no cleanup that could write anything, no waiting on the pool


def die_with_parent(parent: int, *, kernel: bool = True) -> None:
    """Make this worker process end when ``parent`` (the process that started it) ends, however it ends.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``; strictly, when the
    parent's thread that started the worker ends: LocalExecutor starts and shuts down its pool in one call,
    so that thread outlives its workers). Everywhere, a daemon thread checks ``os.getppid()`` every half
    second; a worker that finds itself orphaned (the parent died before the prctl took effect, or another
    platform) exits at once. ``kernel=False``: the watcher alone (tests of the fallback).
    """
    if kernel and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the watcher below still works
            pass
    if os.getppid() != parent:
        orphaned()

    def watch() -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            if os.getppid() != parent:
                orphaned()

    threading.Thread(target=watch, name="musefuse-parent-watch", daemon=True).start()
