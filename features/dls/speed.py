"""Keeping the many small linear-algebra calls of a DLS batch fast."""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas"]


def single_threaded_blas() -> AbstractContextManager:
    """BLAS/LAPACK on one thread for the enclosed calls.

    The inversion's matrices are ~200 × 64: a multi-threaded BLAS spends longer waking and
    synchronizing its threads than computing, and on a busy machine (or next to a process
    pool) that can make an eigen-decomposition 100× slower. Parallelism belongs one level
    up, across correlograms.
    """
    return threadpool_limits(limits=1, user_api="blas")
