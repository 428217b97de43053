"""Room for deep expressions: the Python recursion limit and the C stack a command runs with.

Contract: :func:`deep_room` is a context manager the command line (:func:`matcalc.cli.main`) and the Python API
(``matcalc.check``, ``derive``, ``prove``) run their work in. The walks of the reader, the engine and the printers
recurse along the depth of an expression (a ``let`` chain of a 512-layer network is about 2 000 levels, the
reader's limit :data:`matcalc.lang.limits.MAX_LET_DEPTH` is 8 000); Python's default limit of 1 000 frames is too
small for that, and raising it alone would let the C stack overflow (a crash, not an error) where a recursion goes
through C (hashing, comparisons, ``any``). So, in the main thread, the stack's soft limit is raised to
:data:`STACK_BYTES` (as far as the hard limit and the address space below the stack allow; the main thread's stack
grows on demand, so nothing is allocated up front) and the recursion limit to :data:`RECURSION_LIMIT`, about 9 KB
of C stack per Python frame, far more than any frame takes. The main thread keeps the work: the checking methods'
hard time limits use ``SIGALRM``, which only the main thread receives. Elsewhere (where no such limit works
anyway), :func:`run_deep` runs the work in a new thread with a stack of :data:`STACK_BYTES`.

A :class:`RecursionError` that still happens (an expression beyond what any limit foresaw) reaches the caller as a
:class:`~matcalc.errors.LimitError` saying the input is nested too deeply, never as a traceback.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from matcalc.errors import LimitError

__all__ = ["RECURSION_LIMIT", "STACK_BYTES", "deep_room", "run_deep", "TOO_DEEP"]

#: The Python recursion limit while a command runs.
RECURSION_LIMIT = 60_000
#: The C stack a command may use (the main thread's soft limit, or a worker thread's size).
STACK_BYTES = 512 * 2**20
#: The message of the error a recursion beyond every limit becomes.
TOO_DEEP = "the input is nested too deeply"

_raised = False


def _room_below_stack() -> int | None:
    """The bytes between the main thread's stack and the mapping below it (Linux), or None when unknown."""
    try:
        with open("/proc/self/maps", encoding="ascii") as f:
            spans = []
            stack = None
            for line in f:
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if parts[-1] == "[stack]":
                    stack = (lo, hi)
                spans.append((lo, hi))
    except (OSError, ValueError):
        return None
    if stack is None:
        return None
    below = max((hi for lo, hi in spans if hi <= stack[0]), default=0)
    return stack[0] - below


def _raise_stack_limit() -> None:
    """The main thread's stack may grow to :data:`STACK_BYTES` (once per process; only ever raised)."""
    global _raised
    if _raised:
        return
    _raised = True
    try:
        import resource
    except ImportError:  # not a POSIX system: the recursion limit stays modest (see deep_room)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES:
        return
    room = _room_below_stack()
    if room is None:
        return
    want = min(STACK_BYTES, room - 64 * 2**20)  # a margin below the stack for the guard gap
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
        except (ValueError, OSError):
            pass


def _frames_allowed() -> int:
    """The recursion limit the current stack allows: :data:`RECURSION_LIMIT` with the full stack, proportionally
    less with less (about 9 KB per frame)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
    except ImportError:
        return 3_000
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES:
        return RECURSION_LIMIT
    return max(1_000, RECURSION_LIMIT * soft // STACK_BYTES)


@contextmanager
def deep_room():
    """Run the block with room for deep expressions (see the module's contract); a RecursionError inside becomes a
    :class:`LimitError`. In a thread other than the main thread only the error is translated: use :func:`run_deep`
    there."""
    main = threading.current_thread() is threading.main_thread()
    old = sys.getrecursionlimit()
    if main:
        _raise_stack_limit()
        sys.setrecursionlimit(max(old, _frames_allowed()))
    try:
        yield
    except RecursionError as exc:
        raise LimitError(TOO_DEEP) from exc
    finally:
        sys.setrecursionlimit(old)


def run_deep(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with room for deep expressions: in :func:`deep_room` in the main thread; elsewhere
    in a new thread with a stack of :data:`STACK_BYTES` (its result or exception handed back)."""
    if threading.current_thread() is threading.main_thread():
        with deep_room():
            return fn(*args, **kwargs)
    box: dict = {}

    def work() -> None:
        try:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, RECURSION_LIMIT))
            try:
                box["value"] = fn(*args, **kwargs)
            finally:
                sys.setrecursionlimit(old)
        except RecursionError as exc:
            box["error"] = LimitError(TOO_DEEP)
            box["error"].__cause__ = exc
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread as it is
            box["error"] = exc

    with _STACK_SIZE_LOCK:
        before = threading.stack_size()
        threading.stack_size(STACK_BYTES)
        try:
            t = threading.Thread(target=work, name="matcalc-deep")
            t.start()
        finally:
            threading.stack_size(before)
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


_STACK_SIZE_LOCK = threading.Lock()
