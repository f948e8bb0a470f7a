"""Where evaluations run: in the driver process (``serial``), in worker
processes the backend owns (``processes``), or on a Ray cluster (``ray``, in
`evoforge.evolution.ray_backend`).

A backend is steady-state: the driver keeps `Backend.capacity` evaluations
submitted and gets results as soon as they are ready, so no worker idles while
a slow candidate finishes. Evaluation never raises into the driver: an
exception inside ``evaluate`` (or a non-finite fitness) becomes an
`Evaluation` with the minimum fitness and ``error`` set; a worker process that
dies or runs past ``eval_timeout`` is replaced, the evaluation it was running
comes back with ``error`` naming why, and the others it held are evaluated
again elsewhere.

Work travels in chunks: the serial backend hands a `BatchEvaluator` the
driver's whole queue; the process backend sends each worker a chunk per
message, sized so that cheap evaluations do not each pay a process round trip.

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

import contextlib
import ctypes
import logging
import math
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from evoforge.evolution.space import (
    FAILED_FITNESS,
    BatchEvaluator,
    Budget,
    ContextualEvaluator,
    EvalContext,
    Evaluation,
    Evaluator,
)

log = logging.getLogger(__name__)

# (submission key, evaluation, worker index)
Result = tuple[int, Evaluation, int]

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

#: ``chunk_size = "auto"``: the process backend aims for chunks that take this
#: many message round trips to evaluate (so the round trip costs ~5 %) ...
AUTO_ROUND_TRIPS = 20
#: ... but at most this many evaluations, so few candidates are asked ahead of
#: their parents' results (the search stays steady-state).
AUTO_MAX_CHUNK = 32
#: Serial ``"auto"`` chunk for a `BatchEvaluator` (1 for any other evaluator).
SERIAL_BATCH_CHUNK = 32
#: A worker sends what it has finished at least this often (seconds), so slow
#: evaluations come back one by one even inside a chunk.
FLUSH_SECONDS = 0.02


def safe_evaluate(evaluator: Evaluator, genome: Any, budget: Budget) -> Evaluation:
    """``evaluator.evaluate`` that turns exceptions and non-finite fitness into
    a failed evaluation: `FAILED_FITNESS` (-inf) with ``error`` set
    (degenerate candidates must never stop a run)."""
    try:
        result = evaluator.evaluate(genome, budget)
    except Exception as exc:
        return Evaluation(fitness=FAILED_FITNESS, error=f"{type(exc).__name__}: {exc}")
    return _finite(result)


def _finite(result: Evaluation) -> Evaluation:
    if math.isfinite(result.fitness):
        return result
    return Evaluation(
        fitness=FAILED_FITNESS,
        per_task=result.per_task,
        cost=result.cost,
        fingerprint=result.fingerprint,
        early_stopped=result.early_stopped,
        error=result.error or f"non-finite fitness {result.fitness}",
        fec_hit=result.fec_hit,
        wall_time=result.wall_time,
    )


def is_batched(evaluator: Evaluator) -> bool:
    """Whether ``evaluator`` really scores several genomes per call (a
    `CachedEvaluator` has ``evaluate_batch`` either way; it says ``batched``)."""
    return isinstance(evaluator, BatchEvaluator) and getattr(evaluator, "batched", True)


def safe_evaluate_batch(
    evaluator: Evaluator, genomes: Sequence[Any], budgets: Sequence[Budget]
) -> list[Evaluation]:
    """``evaluator.evaluate_batch`` made safe like `safe_evaluate`. If the batch
    call raises or returns the wrong count, each genome is scored on its own,
    so one degenerate candidate fails alone."""
    try:
        results = evaluator.evaluate_batch(genomes, budgets)  # type: ignore[attr-defined]
    except Exception:
        results = None
    if results is None or len(results) != len(genomes):
        return [safe_evaluate(evaluator, g, b) for g, b in zip(genomes, budgets, strict=True)]
    return [_finite(r) for r in results]


def bind_context(evaluator: Evaluator, context: EvalContext) -> None:
    """Give a `ContextualEvaluator` its worker's context (no-op for others)."""
    if isinstance(evaluator, ContextualEvaluator):
        evaluator.bind(context)


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
    """Evaluates in the calling process, in submission order.

    Deterministic, so a seeded serial run is reproducible (and resumable to
    the identical result). With ``chunk_size`` > 1 the driver keeps that many
    candidates submitted and each `results` call scores them all, in one
    ``evaluate_batch`` call when the evaluator has one; ``chunk_size=1`` is the
    plain steady-state loop.
    """

    def __init__(self, chunk_size: int = 1, device: str = "cpu") -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.capacity = chunk_size
        self._device = device

    def start(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator
        self._batched = is_batched(evaluator)
        self._queue: deque[tuple[int, Any, Budget]] = deque()
        bind_context(evaluator, EvalContext(worker=0, device=self._device))

    def submit(self, key: int, genome: Any, budget: Budget) -> None:
        self._queue.append((key, genome, budget))

    def results(self) -> list[Result]:
        # Evaluate here, not in submit: the driver submits while it is changing
        # its state (asking), and a Ctrl-C during a long evaluation must find
        # that state consistent, with the candidate recorded as in flight.
        if self.capacity == 1:  # the hot path: nothing more per individual
            key, genome, budget = self._queue.popleft()
            return [(key, safe_evaluate(self._evaluator, genome, budget), 0)]
        items = list(self._queue)
        self._queue.clear()
        keys, genomes, budgets = zip(*items, strict=True)
        if self._batched:
            evaluations = safe_evaluate_batch(self._evaluator, genomes, budgets)
        else:
            evaluator = self._evaluator
            evaluations = [
                safe_evaluate(evaluator, g, b) for g, b in zip(genomes, budgets, strict=True)
            ]
        return [(k, e, 0) for k, e in zip(keys, evaluations, strict=True)]


# -- the process backend ---------------------------------------------------------


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


# A worker's stamp (shared memory): which chunk and item it is evaluating and
# since when (time.monotonic, one clock for all processes on Linux). Item -1 is
# a whole chunk in one evaluate_batch call. The driver reads it to name the
# evaluation a dead or overdue worker was running; chunk -1 means idle.
_CHUNK, _ITEM, _SINCE = 0, 1, 2


def _set_stamp(stamp: Any, chunk: int, item: int) -> None:
    # Invalidate first and publish the chunk last, so a reader that sees the
    # same chunk before and after reading item and time has a consistent pair.
    stamp[_CHUNK] = -1.0
    stamp[_SINCE] = time.monotonic()
    stamp[_ITEM] = item
    stamp[_CHUNK] = chunk


def _serve(connection: Connection, payload: bytes, context: EvalContext, stamp: Any) -> None:
    """A worker process: evaluate chunks until told None (or the pipe closes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's
    _limit_threads()
    evaluator: Evaluator = pickle.loads(payload)
    _limit_threads()  # again: unpickling may have imported torch or a BLAS
    bind_context(evaluator, context)
    batched = is_batched(evaluator)
    # A reader thread drains the pipe so the driver never blocks sending a
    # chunk while this process blocks sending results (both buffers full).
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                message = connection.recv()
                inbox.put(message)
                if message is None:
                    return
        except (EOFError, OSError):
            inbox.put(None)

    threading.Thread(target=read, daemon=True).start()
    send, clock = connection.send, time.monotonic
    while True:
        message = inbox.get()
        if message is None:
            return
        chunk, genomes, budgets = message
        if batched and len(genomes) > 1:
            _set_stamp(stamp, chunk, -1)
            start = clock()
            evaluations = safe_evaluate_batch(evaluator, genomes, budgets)
            stamp[_CHUNK] = -1.0
            send((chunk, 0, evaluations, clock() - start))
            continue
        done: list[Evaluation] = []
        first, start = 0, clock()
        for i, (genome, budget) in enumerate(zip(genomes, budgets, strict=True)):
            _set_stamp(stamp, chunk, i)
            done.append(safe_evaluate(evaluator, genome, budget))
            if clock() - start >= FLUSH_SECONDS:
                stamp[_CHUNK] = -1.0
                send((chunk, first, done, clock() - start))
                first, done, start = i + 1, [], clock()
        stamp[_CHUNK] = -1.0
        if done:
            send((chunk, first, done, clock() - start))


@dataclass
class _Chunk:
    id: int
    keys: list[int]
    genomes: list[Any]
    budgets: list[Budget]
    sent: float
    # Sent to an idle, warmed-up worker: its latency minus its evaluation time
    # is one round trip (queueing and start-up would inflate it otherwise).
    measurable: bool = False
    received: int = 0  # leading items whose results came back


@dataclass
class _Worker:
    index: int
    context: EvalContext
    process: Any
    connection: Connection
    stamp: Any
    chunks: deque[_Chunk] = field(default_factory=deque)
    warm: bool = False  # has answered once (started up, evaluator loaded)


class ProcessBackend(Backend):
    """``workers`` processes, each with its own copy of the evaluator (and so
    its own FEC cache), talking to the driver over a pipe.

    Each worker holds up to ``in_flight_per_worker`` chunks of ``chunk_size``
    evaluations (``None``: automatic, from the measured evaluation time and
    message round trip, at most ``max_chunk``). Worker ``i`` gets
    ``EvalContext(worker=i, device=devices[i % len(devices)])``.

    A worker that exits (segfault, kill) or spends more than ``eval_timeout``
    seconds on one evaluation is stopped and replaced: that evaluation fails
    with the reason, the rest of its work is evaluated again. Uses
    ``forkserver`` where available (safe with the driver's threads), else
    ``spawn``.

    Example:
        >>> from evoforge.evolution.space import Budget, Evaluation
        >>> class Double:
        ...     def evaluate(self, genome, budget=Budget()): return Evaluation(2.0 * genome)
        >>> with ProcessBackend(2, chunk_size=4) as backend:  # doctest: +SKIP
        ...     backend.start(Double())
        ...     for key in range(8): backend.submit(key, key, Budget())
        ...     done = []
        ...     while len(done) < 8: done += backend.results()
        >>> sorted(e.fitness for _, e, _ in done)  # doctest: +SKIP
        [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
    """

    def __init__(
        self,
        workers: int,
        in_flight_per_worker: int = 2,
        *,
        chunk_size: int | None = 1,
        max_chunk: int = AUTO_MAX_CHUNK,
        eval_timeout: float | None = None,
        devices: Sequence[str] = ("cpu",),
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if in_flight_per_worker < 1:
            raise ValueError(f"in_flight_per_worker must be >= 1, got {in_flight_per_worker}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if eval_timeout is not None and not eval_timeout > 0:
            raise ValueError(f"eval_timeout must be > 0, got {eval_timeout}")
        if not devices:
            raise ValueError("devices must name at least one device")
        self.workers = workers
        self.in_flight_per_worker = in_flight_per_worker
        self.auto = chunk_size is None
        self.max_chunk = max(1, max_chunk) if self.auto else int(chunk_size)  # type: ignore[arg-type]
        self.chunk_size = 1 if self.auto else self.max_chunk
        self.capacity = workers * in_flight_per_worker * self.max_chunk
        self.eval_timeout = eval_timeout
        self.devices = tuple(devices)
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._workers: list[_Worker] = []
        self._queue: deque[tuple[int, Any, Budget]] = deque()
        self._next_chunk = 0
        # Measured (for "auto"): seconds per evaluation and per round trip.
        self._eval_seconds: float | None = None
        self._round_trip = 2e-4
        self.replaced = 0  # workers replaced after dying or timing out
        # Where the time goes, to tell a user when workers cannot help.
        self._t_start = 0.0
        self._t_left = 0.0  # when results() last returned
        self._driver_seconds = 0.0  # outside results(): asking, storing
        self._eval_total = 0.0  # worker-reported seconds evaluating
        self._n_results = 0
        self.warned: str | None = None

    #: After this many seconds of a run, check whether workers are starved.
    CHECK_AFTER_SECONDS = 10.0

    # -- workers -----------------------------------------------------------------

    def start(self, evaluator: Evaluator) -> None:
        self._payload = pickle.dumps(evaluator)
        self._workers = [self._spawn(i) for i in range(self.workers)]

    def _spawn(self, index: int) -> _Worker:
        context = EvalContext(worker=index, device=self.devices[index % len(self.devices)])
        ours, theirs = self._context.Pipe()
        stamp = self._context.RawArray(ctypes.c_double, 3)
        stamp[_CHUNK] = -1.0
        process = self._context.Process(
            target=_serve, args=(theirs, self._payload, context, stamp), daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(index, context, process, ours, stamp)

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and monitoring)."""
        return [w.process.pid for w in self._workers]

    def _replace(self, worker: _Worker) -> None:
        _stop_process(worker.process)
        worker.connection.close()
        self._workers[worker.index] = self._spawn(worker.index)
        self.replaced += 1

    # -- submitting --------------------------------------------------------------

    def submit(self, key: int, genome: Any, budget: Budget) -> None:
        # Queued only: chunks are cut and sent in `results`, when the driver
        # has submitted everything it has room for.
        self._queue.append((key, genome, budget))

    def _dispatch(self) -> None:
        queued = self._queue
        while queued:
            worker = min(self._workers, key=lambda w: len(w.chunks))
            if len(worker.chunks) >= self.in_flight_per_worker:
                return
            # Share what is queued among idle workers rather than giving one
            # worker everything while another waits.
            idle = sum(1 for w in self._workers if not w.chunks) or 1
            size = min(self.chunk_size, max(1, -(-len(queued) // idle)))
            items = [queued.popleft() for _ in range(min(size, len(queued)))]
            keys, genomes, budgets = (list(column) for column in zip(*items, strict=True))
            chunk = _Chunk(self._next_chunk, keys, genomes, budgets, time.monotonic())
            chunk.measurable = worker.warm and not worker.chunks
            self._next_chunk += 1
            worker.chunks.append(chunk)
            # If the worker died, `results` notices it by its sentinel and
            # hands this chunk on; sending must not raise into the driver.
            with contextlib.suppress(OSError, ValueError):
                worker.connection.send((chunk.id, genomes, budgets))

    # -- results -----------------------------------------------------------------

    def results(self) -> list[Result]:
        if self._t_left:  # counted from the first results (start-up excluded)
            self._driver_seconds += time.monotonic() - self._t_left
        out = self._results()
        self._t_left = time.monotonic()
        if not self._t_start:
            self._t_start = self._t_left
            self._eval_total = 0.0
        else:
            self._n_results += len(out)
        if self.warned is None and self._t_left - self._t_start > self.CHECK_AFTER_SECONDS:
            self._check_starved()
        return out

    def _check_starved(self) -> None:
        """Warn once when the driver, not evaluation, limits the run: more
        worker processes then only add inter-process overhead."""
        elapsed = self._t_left - self._t_start
        self.warned = ""
        busy = self._eval_total / (elapsed * self.workers)
        if self.workers < 2 or busy > 0.5 or self._driver_seconds < 0.8 * elapsed:
            return
        per_eval = self._eval_total / max(self._n_results, 1)
        per_driver = self._driver_seconds / max(self._n_results, 1)
        self.warned = (
            f"run.workers = {self.workers}: the worker processes are idle"
            f" {100 * (1 - busy):.0f}% of the time. An evaluation takes ~{per_eval * 1e6:.0f} us,"
            f" less than the driver's own work per individual (~{per_driver * 1e6:.0f} us:"
            " asking, mutating, storing), so more workers cannot make this run faster;"
            " one worker (backend 'serial') is likely as fast."
        )
        log.warning(self.warned)

    def _results(self) -> list[Result]:
        out: list[Result] = []
        while not out:
            self._dispatch()
            handles: dict[Any, _Worker] = {}
            for worker in self._workers:
                if worker.chunks:
                    handles[worker.connection] = worker
                    handles[worker.process.sentinel] = worker
            if not handles:
                raise RuntimeError("results() with nothing submitted")
            timeout = self._wait_limit()
            ready = wait(list(handles), timeout)
            seen: set[int] = set()
            for handle in ready:
                worker = handles[handle]
                if worker.index in seen:
                    continue
                seen.add(worker.index)
                self._drain(worker, out)
                if not worker.process.is_alive():
                    self._drain(worker, out)  # answers sent just before it died
                    code = worker.process.exitcode
                    self._fail(worker, f"worker process died (exit code {code})", out)
            if self.eval_timeout is not None:
                self._check_timeouts(out)
        return out

    def _drain(self, worker: _Worker, out: list[Result]) -> None:
        connection = worker.connection
        try:
            while connection.poll():
                chunk_id, first, evaluations, seconds = connection.recv()
                self._receive(worker, chunk_id, first, evaluations, seconds, out)
        except (EOFError, OSError):
            pass

    def _receive(
        self,
        worker: _Worker,
        chunk_id: int,
        first: int,
        evaluations: list[Evaluation],
        seconds: float,
        out: list[Result],
    ) -> None:
        chunk = worker.chunks[0]
        assert chunk.id == chunk_id and chunk.received == first, "worker answered out of order"
        index = worker.index
        keys = chunk.keys
        for offset, evaluation in enumerate(evaluations):
            out.append((keys[first + offset], evaluation, index))
        chunk.received += len(evaluations)
        self._eval_total += seconds
        worker.warm = True
        if chunk.received == len(keys):
            worker.chunks.popleft()
            if self.auto and first == 0:
                latency = time.monotonic() - chunk.sent if chunk.measurable else None
                self._measure(len(keys), seconds, latency)

    def _measure(self, n: int, seconds: float, latency: float | None) -> None:
        per_eval = seconds / n
        ema = self._eval_seconds
        self._eval_seconds = per_eval if ema is None else 0.8 * ema + 0.2 * per_eval
        overhead = None if latency is None else latency - seconds
        if overhead is not None and overhead > 0:
            # Slowly forget a low reading (a one-off lucky timing) but take
            # lower ones at once: queueing only ever adds to the overhead.
            self._round_trip = min(overhead, 1.05 * self._round_trip)
        wanted = AUTO_ROUND_TRIPS * self._round_trip / max(self._eval_seconds, 1e-9)
        self.chunk_size = max(1, min(self.max_chunk, math.ceil(wanted)))

    def _fail(self, worker: _Worker, reason: str, out: list[Result]) -> None:
        """Stop and replace ``worker``: the evaluation its stamp names fails
        with ``reason``; its other unfinished work goes back to the queue."""
        chunk_id, item, _ = _read_stamp(worker.stamp)
        requeue: list[tuple[int, Any, Budget]] = []
        for chunk in worker.chunks:
            for i in range(chunk.received, len(chunk.keys)):
                key = chunk.keys[i]
                if chunk.id == chunk_id and item in (-1, i):
                    out.append((key, Evaluation(FAILED_FITNESS, error=reason), worker.index))
                else:
                    requeue.append((key, chunk.genomes[i], chunk.budgets[i]))
        worker.chunks.clear()
        # Back to the front, in order: they were asked first.
        self._queue.extendleft(reversed(requeue))
        self._replace(worker)

    def _wait_limit(self) -> float | None:
        if self.eval_timeout is None:
            return None
        now = time.monotonic()
        limit = self.eval_timeout
        for worker in self._workers:
            if worker.chunks:
                _, _, since = _read_stamp(worker.stamp)
                start = since if since is not None else now
                limit = min(limit, start + self.eval_timeout - now)
        return max(limit, 0.0) + 0.01

    def _check_timeouts(self, out: list[Result]) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            if not worker.chunks:
                continue
            _, _, since = _read_stamp(worker.stamp)
            if since is not None and now - since > self.eval_timeout:  # type: ignore[operator]
                self._drain(worker, out)
                reason = f"timeout: evaluation ran past run.eval_timeout = {self.eval_timeout} s"
                self._fail(worker, reason, out)

    def close(self) -> None:
        busy = any(w.chunks for w in self._workers)
        for worker in self._workers:
            if not busy:  # let idle workers exit on their own
                with contextlib.suppress(OSError, ValueError):
                    worker.connection.send(None)
        for worker in self._workers:
            # Abandon evaluations in flight (the driver checkpoints them as
            # pending) instead of waiting, possibly minutes, for them.
            _stop_process(worker.process, grace=0.0 if busy else 1.0)
            worker.connection.close()
        self._workers = []
        self._queue.clear()


def _read_stamp(stamp: Any) -> tuple[int, int, float | None]:
    """(chunk, item, since) of what a worker is evaluating, or (-1, -1, None)."""
    chunk = stamp[_CHUNK]
    item, since = stamp[_ITEM], stamp[_SINCE]
    if chunk < 0 or stamp[_CHUNK] != chunk:
        return -1, -1, None
    return int(chunk), int(item), since


def _stop_process(process: Any, grace: float = 0.0) -> None:
    process.join(grace)
    if process.is_alive():
        process.terminate()
        process.join(2.0)
    if process.is_alive():  # ignored SIGTERM (a busy C extension): make sure
        process.kill()
        process.join()


def make_backend(
    name: str,
    workers: int = 1,
    *,
    chunk_size: int | str = "auto",
    in_flight_per_worker: int = 2,
    eval_timeout: float | None = None,
    devices: Sequence[str] = ("cpu",),
    ray_address: str | None = None,
    population_size: int | None = None,
    batched: bool = False,
) -> Backend:
    """``"serial"``, ``"processes"`` (with ``workers`` processes) or ``"ray"``.

    ``chunk_size="auto"``: serial uses 1 (32 for a `BatchEvaluator`, say
    ``batched=True``); processes and Ray size chunks from measured evaluation
    time, at most `AUTO_MAX_CHUNK` and at most a quarter of
    ``population_size`` asked ahead of results in all.

    Example:
        >>> make_backend("processes", 2, chunk_size=8).capacity
        32
    """
    auto = chunk_size == "auto"
    if not auto and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be 'auto' or an integer >= 1, got {chunk_size!r}")
    if name == "serial":
        if eval_timeout is not None:
            raise ValueError("eval_timeout needs a worker to stop: use backend 'processes'")
        size = (SERIAL_BATCH_CHUNK if batched else 1) if auto else int(chunk_size)
        return SerialBackend(size, device=devices[0] if devices else "cpu")
    max_chunk = AUTO_MAX_CHUNK
    if population_size is not None:
        max_chunk = max(1, min(max_chunk, population_size // (4 * workers * in_flight_per_worker)))
    size = None if auto else int(chunk_size)
    if name == "processes":
        return ProcessBackend(
            workers,
            in_flight_per_worker,
            chunk_size=size,
            max_chunk=max_chunk,
            eval_timeout=eval_timeout,
            devices=devices,
        )
    if name == "ray":
        from evoforge.evolution.ray_backend import RayBackend

        return RayBackend(
            workers,
            in_flight_per_worker,
            chunk_size=size,
            max_chunk=max_chunk,
            eval_timeout=eval_timeout,
            devices=devices,
            address=ray_address,
        )
    raise ValueError(f"unknown backend {name!r}")
