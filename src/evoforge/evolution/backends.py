"""Where evaluations run: in the driver process (``serial``) or in a pool of
worker processes (``processes``).

A backend is steady-state: the driver keeps `Backend.capacity` evaluations
submitted and gets each result as soon as it is ready, so no worker idles
while a slow candidate finishes. Evaluation never raises into the driver: an
exception inside ``evaluate`` (or a non-finite fitness) becomes an
`Evaluation` with the minimum fitness and ``error`` set, and a worker process
that dies is replaced.

Example:
    >>> from evoforge.evolution.space import Budget, Evaluation
    >>> class Half:
    ...     def evaluate(self, genome, budget=Budget()):
    ...         return Evaluation(fitness=genome / 2)
    >>> with make_backend("serial") as backend:
    ...     backend.start(Half())
    ...     backend.submit(7, 3, Budget())
    ...     backend.results()
    [(7, Evaluation(fitness=1.5, per_task=(), cost=0, fingerprint=None, early_stopped=False, \
error=None, fec_hit=False, wall_time=0.0), 0)]
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import signal
import sys
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from evoforge.evolution.space import MIN_FITNESS, Budget, Evaluation, Evaluator

# (submission key, evaluation, worker index)
Result = tuple[int, Evaluation, int]

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def safe_evaluate(evaluator: Evaluator, genome: Any, budget: Budget) -> Evaluation:
    """``evaluator.evaluate`` that turns exceptions and non-finite fitness into
    a minimum-fitness evaluation with ``error`` set (degenerate candidates must
    never stop a run)."""
    try:
        result = evaluator.evaluate(genome, budget)
    except Exception as exc:
        return Evaluation(fitness=MIN_FITNESS, error=f"{type(exc).__name__}: {exc}")
    if not math.isfinite(result.fitness):
        return Evaluation(
            fitness=MIN_FITNESS,
            per_task=result.per_task,
            cost=result.cost,
            fingerprint=result.fingerprint,
            early_stopped=result.early_stopped,
            error=result.error or f"non-finite fitness {result.fitness}",
            fec_hit=result.fec_hit,
            wall_time=result.wall_time,
        )
    return result


class Backend(ABC):
    """Runs evaluations; use as a context manager so workers are shut down."""

    #: How many evaluations the driver should keep submitted.
    capacity: int = 1

    @abstractmethod
    def start(self, evaluator: Evaluator) -> None:
        """Prepare to evaluate with ``evaluator`` (shipped once to each worker)."""

    @abstractmethod
    def submit(self, key: int, genome: Any, budget: Budget) -> None:
        """Queue one evaluation; its result comes back under ``key``."""

    @abstractmethod
    def results(self) -> list[Result]:
        """Wait until at least one submitted evaluation is done; return all done ones."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Stop workers, abandoning unfinished evaluations."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SerialBackend(Backend):
    """Evaluates in the calling process, one at a time, in submission order.

    Deterministic, so a seeded serial run is reproducible (and resumable to
    the identical result).
    """

    capacity = 1

    def start(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator
        self._queue: deque[tuple[int, Any, Budget]] = deque()

    def submit(self, key: int, genome: Any, budget: Budget) -> None:
        self._queue.append((key, genome, budget))

    def results(self) -> list[Result]:
        # Evaluate here, not in submit: the driver submits while it is changing
        # its state (asking), and a Ctrl-C during a long evaluation must find
        # that state consistent, with the candidate recorded as in flight.
        key, genome, budget = self._queue.popleft()
        return [(key, safe_evaluate(self._evaluator, genome, budget), 0)]


_worker_evaluator: Evaluator | None = None


def _limit_threads() -> None:
    """One thread per worker: on small machines oversubscription makes small
    models 10-100x slower."""
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def _init_worker(payload: bytes) -> None:
    global _worker_evaluator
    # Ctrl-C is the driver's to handle (it checkpoints, then stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_threads()
    _worker_evaluator = pickle.loads(payload)
    _limit_threads()  # again: unpickling may have imported torch or a BLAS


def _evaluate_in_worker(genome: Any, budget: Budget) -> tuple[Evaluation, int]:
    assert _worker_evaluator is not None
    return safe_evaluate(_worker_evaluator, genome, budget), os.getpid()


class ProcessBackend(Backend):
    """A pool of ``workers`` processes, each with its own copy of the evaluator
    (and so its own FEC cache), keeping ``workers * in_flight_per_worker``
    evaluations submitted.

    Uses the ``forkserver`` start method where available (safe with the
    driver's threads), else ``spawn``. If a worker process dies (e.g. a
    segfault in compiled code), the evaluations in flight are reported as
    errors and the pool is restarted.
    """

    def __init__(self, workers: int, in_flight_per_worker: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.capacity = workers * in_flight_per_worker
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[tuple[Evaluation, int]], int] = {}
        self._worker_index: dict[int, int] = {}  # pid -> small stable index
        self._broken = False

    def start(self, evaluator: Evaluator) -> None:
        self._payload = pickle.dumps(evaluator)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self._payload,),
        )

    def submit(self, key: int, genome: Any, budget: Budget) -> None:
        assert self._pool is not None, "start() first"
        self._futures[self._pool.submit(_evaluate_in_worker, genome, budget)] = key

    def results(self) -> list[Result]:
        done, _ = wait(self._futures, return_when=FIRST_COMPLETED)
        out = [self._collect(future) for future in done]
        if self._broken:
            # The whole pool died with that worker: collect every other
            # evaluation in flight (each fails or has finished) and start afresh.
            out += [self._collect(future) for future in list(self._futures)]
            assert self._pool is not None
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self._broken = False
        return out

    def _collect(self, future: Future[tuple[Evaluation, int]]) -> Result:
        key = self._futures.pop(future)
        try:
            evaluation, pid = future.result()
        except BrokenProcessPool:
            self._broken = True
            return key, Evaluation(MIN_FITNESS, error="worker process died"), -1
        except Exception as exc:  # e.g. a genome or result that cannot be pickled
            return key, Evaluation(MIN_FITNESS, error=f"{type(exc).__name__}: {exc}"), -1
        return key, evaluation, self._worker_index.setdefault(pid, len(self._worker_index))

    def close(self) -> None:
        if self._pool is None:
            return
        if self._futures:
            # Abandon evaluations in flight (the driver checkpoints them as
            # pending) instead of waiting, possibly minutes, for them to finish.
            # The executor has no public way to stop busy workers.
            workers = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in workers:
                process.terminate()
            for process in workers:
                process.join()
            self._futures.clear()
        else:
            self._pool.shutdown(wait=True)
        self._pool = None


def make_backend(name: str, workers: int = 1) -> Backend:
    """``"serial"`` or ``"processes"`` (with ``workers`` processes)."""
    if name == "serial":
        return SerialBackend()
    if name == "processes":
        return ProcessBackend(workers)
    raise ValueError(f"unknown backend {name!r}")
