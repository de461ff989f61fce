"""Adding ridge statistics on a second core while the reservoir runs the next chunk.

A fit alternates two kinds of work per chunk of time steps: running the
reservoir (sequential in time, one core) and adding the chunk's rows to the
ridge statistics (a matrix product, F² per step). The product releases
Python's lock, so on a machine with a second core it can run while the main
thread computes the next chunk's states. Chunks are still added one at a
time and in order, so the statistics are bit-for-bit those of the
sequential loop; at most one chunk waits, so memory grows by one chunk.

While the two threads share the two cores, BLAS runs on one thread: measured
on 2 cores, a fit of 64 series x 1,000 steps at N = 1000 takes 2.33 s so,
against 3.2 s with two BLAS threads beside the reservoir's thread and 2.96 s
without the overlap; at N = 300, 0.36 against 0.51 s without the overlap.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._backend import get_namespace, is_numpy, limit_blas_threads

__all__ = ["background_updates"]


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


class _BackgroundUpdates:
    """Stands in for an accumulator inside the loop: ``update`` runs on the worker."""

    def __init__(self, accumulator, executor):
        self._accumulator = accumulator
        self._executor = executor
        self._pending = None

    def update(self, X, Y):
        self.wait()
        self._pending = self._executor.submit(self._accumulator.update, X, Y)
        return self

    def wait(self):
        """Block until the last submitted chunk is added; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


class background_updates:
    """Context: ``update`` calls of the object it yields run in order on a worker thread.

    Yields the accumulator itself (no thread) for non-NumPy arrays, where the
    device already runs asynchronously, or with one usable core. On exit every
    chunk has been added; an error of the worker is raised there, unless the
    block itself raised.

    Parameters
    ----------
    accumulator : object with ``update(X, Y)``, e.g. GramAccumulator
    like : array
        An array of the data, whose namespace decides.
    """

    def __init__(self, accumulator, like):
        self._accumulator = accumulator
        self._threaded = is_numpy(get_namespace(like)) and _usable_cpus() >= 2
        self._executor = None
        self._proxy = None
        self._one_thread = None

    def __enter__(self):
        if not self._threaded or self._accumulator is None:
            return self._accumulator
        self._one_thread = limit_blas_threads(np, True)
        self._one_thread.__enter__()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reservoir-ridge")
        self._proxy = _BackgroundUpdates(self._accumulator, self._executor)
        return self._proxy

    def __exit__(self, exc_type, exc, tb):
        if self._executor is None:
            return False
        try:
            if exc_type is None:
                self._proxy.wait()
            else:
                try:
                    self._proxy.wait()
                except Exception:   # the block's own error is the one to report
                    pass
        finally:
            self._executor.shutdown(wait=True)
            self._one_thread.__exit__(None, None, None)
            self._executor = self._proxy = self._one_thread = None
        return False
