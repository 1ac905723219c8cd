"""Locks a forked child can take: every collapse-otel lock is re-created in the child.

``fork()`` copies the process with the calling thread only. A lock another thread held at that
instant (a worker folding a batch, a LangChain callback on another thread, a scrape) stays
held in the child for ever, and the child's first ``with lock:`` blocks on a futex: a
pre-forking server's worker (gunicorn ``--preload``, ``multiprocessing`` with fork) would hang
at its first answer. CPython re-initialises its own locks (logging, imports, threading); these
are ours. Every lock in collapse_otel is a :func:`Lock` or :func:`RLock` from here (a test
checks it), so the rule lives in one place:

- a ``ForkSafeLock`` registers itself when first taken, and one ``os.register_at_fork`` hook
  (installed then, never at import) gives every registered lock a new, unlocked inner lock in
  the child. A lock never taken before the fork cannot be held across it.
- the child keeps the state the lock guarded as the parent's threads left it (whole Python
  objects: a thread is never stopped inside one bytecode); the pipelines reset their queue,
  events, worker and owned aggregator themselves (``Pipeline._after_fork``), so a child counts
  its own answers only.

Events and semaphores are not re-created here: the pipeline's are replaced by its reset, and
the others (serve, the exporters' stop events) belong to threads that do not survive a fork.

One lock hides in the standard library: before Python 3.12, ``functools.cached_property``
holds a lock per property, shared by every instance, while it computes the value. The worker
computing a window (``WindowView``, ``SampleView``) at the instant of a fork left it held, and
the child's first window hung (seen). Our :class:`cached_property` is the 3.12 one: no lock;
two threads may both compute a value, the last one stays.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

_LOCKS: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()
_hooked = False


class ForkSafeLock:
    """A ``threading.Lock`` (or ``RLock``) that is unlocked again in a forked child."""

    __slots__ = ("_lock", "_reentrant", "_seen", "__weakref__")

    def __init__(self, reentrant: bool = False) -> None:
        self._reentrant = reentrant
        self._lock: Any = threading.RLock() if reentrant else threading.Lock()
        self._seen = False

    def _watch(self) -> None:
        global _hooked
        if not _hooked and hasattr(os, "register_at_fork"):
            _hooked = True
            os.register_at_fork(after_in_child=_after_fork_in_child)
        _LOCKS.add(self)
        self._seen = True

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._seen:
            self._watch()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        if not self._seen:
            self._watch()
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def _renew(self) -> None:
        self._lock = threading.RLock() if self._reentrant else threading.Lock()


def Lock() -> ForkSafeLock:   # noqa: N802 - named as threading.Lock, which it replaces
    return ForkSafeLock()


def RLock() -> ForkSafeLock:   # noqa: N802 - named as threading.RLock, which it replaces
    return ForkSafeLock(reentrant=True)


def _after_fork_in_child() -> None:
    for lock in list(_LOCKS):
        lock._renew()


class cached_property(Generic[T]):   # noqa: N801 - named as functools.cached_property
    """``functools.cached_property`` without the lock it holds before Python 3.12: computed on
    first access, then read from the instance's ``__dict__``."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.attrname = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.attrname] = value
        return value
