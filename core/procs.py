"""Worker processes that end with the process that started them, however it ends (SIGKILL included).

Light on purpose (the standard library only): a worker arms this first thing in its initializer, before it
imports anything heavy, so a parent killed while its workers start leaves none behind. The task executors'
workers (core/engine/worker.py) and ``musefuse extract``'s pool both use it.
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


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's (the pid was reused): gone for us
        return True
    return False


def die_with_parent(parent: int, *, kernel: bool = True, root: int | None = None) -> None:
    """Make this worker process end when ``parent`` (the process that started it) ends, however it ends.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``; strictly, when the
    parent's thread that started the worker ends). Everywhere, a daemon thread checks ``os.getppid()`` every half
    second; a worker that finds itself orphaned (the parent died before the prctl took effect, or another
    platform) exits at once. ``root``: a process further up whose end ends this worker too — the one that asked
    for the pool, where a fork server started the worker (its parent is then the fork server, which outlives
    the root by a moment). ``kernel=False``: the watcher alone (tests of the fallback).
    """
    if kernel and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the watcher below still works
            pass
    if os.getppid() != parent or (root is not None and _gone(root)):
        orphaned()

    def watch() -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            if os.getppid() != parent or (root is not None and _gone(root)):
                orphaned()

    threading.Thread(target=watch, name="musefuse-parent-watch", daemon=True).start()


def pool_worker_init(root: int) -> None:
    """A process pool's ``initializer`` (``initargs=(os.getpid(),)``): the worker ends with its parent (the pool's
    process, or the fork server that started it) and with ``root``, the process that made the pool."""
    die_with_parent(os.getppid(), root=root)
