"""The Ray backend for a single population (``run.backend = "ray"`` without
islands): one Ray actor per worker, each holding its own copy of the
evaluator (and FEC cache), fed chunks of candidates.

Ray is joined or started only through `evoforge.evolution.ray_cluster.init_ray`:
``run.ray_address`` joins that cluster, otherwise a local cluster bound to
loopback is started for the run and stopped at `RayBackend.close`.

An actor that dies, or a chunk that runs past ``eval_timeout`` seconds per
evaluation, gets the actor killed and replaced. A chunk of one evaluation
then fails with the reason; a larger chunk's evaluations are sent again one
at a time, so the culprit is found and the others are not blamed.

Example:
    >>> from evoforge.evolution.space import Budget, Evaluation
    >>> class Double:
    ...     def evaluate(self, genome, budget=Budget()): return Evaluation(2.0 * genome)
    >>> with RayBackend(1) as backend:  # doctest: +SKIP
    ...     backend.start(Double())
    ...     backend.submit(0, 21, Budget())
    ...     [(key, evaluation.fitness, worker)] = backend.results()
    >>> key, evaluation.fitness, worker  # doctest: +SKIP
    (0, 42.0, 0)
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evoforge.evolution.backends import (
    AUTO_MAX_CHUNK,
    AUTO_ROUND_TRIPS,
    Backend,
    Result,
    _limit_threads,
    bind_context,
    is_batched,
    safe_evaluate,
    safe_evaluate_batch,
)
from evoforge.evolution.space import FAILED_FITNESS, Budget, EvalContext, Evaluation, Evaluator

#: Assumed cost of one Ray actor call (scheduling, object store), seconds.
RAY_ROUND_TRIP = 1e-3


class _EvaluatorActor:
    """One worker: the evaluator, bound to its context, scoring chunks."""

    def __init__(self, payload: bytes, context: EvalContext) -> None:
        _limit_threads()
        self.evaluator: Evaluator = pickle.loads(payload)
        _limit_threads()  # again: unpickling may have imported torch
        bind_context(self.evaluator, context)
        self.batched = is_batched(self.evaluator)

    def evaluate(self, genomes: list[Any], budgets: list[Budget]) -> tuple[list[Evaluation], float]:
        start = time.monotonic()
        if self.batched and len(genomes) > 1:
            out = safe_evaluate_batch(self.evaluator, genomes, budgets)
        else:
            ev = self.evaluator
            out = [safe_evaluate(ev, g, b) for g, b in zip(genomes, budgets, strict=True)]
        return out, time.monotonic() - start

    def pid(self) -> int:
        return os.getpid()


@dataclass
class _Call:
    ref: Any
    keys: list[int]
    genomes: list[Any]
    budgets: list[Budget]
    started: float  # when the actor could start it (sent, or its predecessor done)


class RayBackend(Backend):
    """``workers`` Ray actors, ``in_flight_per_worker`` chunks each.

    ``chunk_size=None`` sizes chunks from the measured evaluation time against
    `RAY_ROUND_TRIP` (at most ``max_chunk``). Worker ``i`` is bound to
    ``EvalContext(worker=i, device=devices[i % len(devices)])``; an actor
    whose device names CUDA asks Ray for one GPU.
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
        address: str | None = None,
    ) -> None:
        if workers < 1 or in_flight_per_worker < 1:
            raise ValueError("workers and in_flight_per_worker must be >= 1")
        import ray

        from evoforge.evolution.ray_cluster import init_ray

        self._ray = ray
        self.workers = workers
        self.in_flight_per_worker = in_flight_per_worker
        self.auto = chunk_size is None
        self.max_chunk = max(1, max_chunk) if self.auto else int(chunk_size)  # type: ignore[arg-type]
        self.chunk_size = 1 if self.auto else self.max_chunk
        self.capacity = workers * in_flight_per_worker * self.max_chunk
        self.eval_timeout = eval_timeout
        self.devices = tuple(devices) or ("cpu",)
        self._started_ray = init_ray(address)
        self._actors: list[Any] = []
        self._calls: list[deque[_Call]] = []
        self._queue: deque[tuple[int, Any, Budget]] = deque()
        self._single: set[int] = set()  # keys to send alone (suspects)
        self._eval_seconds: float | None = None
        self.replaced = 0

    def start(self, evaluator: Evaluator) -> None:
        self._payload = pickle.dumps(evaluator)
        self._actors = [self._new_actor(i) for i in range(self.workers)]
        self._calls = [deque() for _ in range(self.workers)]

    def _new_actor(self, index: int) -> Any:
        device = self.devices[index % len(self.devices)]
        gpus = 1 if device.startswith("cuda") else 0
        actor_class = self._ray.remote(num_cpus=1, num_gpus=gpus)(_EvaluatorActor)
        return actor_class.remote(self._payload, EvalContext(worker=index, device=device))

    def pids(self) -> list[int]:
        """The actors' process ids (for tests and monitoring)."""
        return self._ray.get([a.pid.remote() for a in self._actors])

    def submit(self, key: int, genome: Any, budget: Budget) -> None:
        self._queue.append((key, genome, budget))

    def _dispatch(self) -> None:
        queued = self._queue
        while queued:
            index = min(range(self.workers), key=lambda i: len(self._calls[i]))
            calls = self._calls[index]
            if len(calls) >= self.in_flight_per_worker:
                return
            items = [queued.popleft()]
            if items[0][0] not in self._single:
                while queued and len(items) < self.chunk_size and queued[0][0] not in self._single:
                    items.append(queued.popleft())
            keys, genomes, budgets = (list(c) for c in zip(*items, strict=True))
            ref = self._actors[index].evaluate.remote(genomes, budgets)
            calls.append(_Call(ref, keys, genomes, budgets, time.monotonic()))

    def results(self) -> list[Result]:
        ray = self._ray
        out: list[Result] = []
        while not out:
            self._dispatch()
            heads = {calls[0].ref: i for i, calls in enumerate(self._calls) if calls}
            if not heads:
                raise RuntimeError("results() with nothing submitted")
            timeout = None
            if self.eval_timeout is not None:
                now = time.monotonic()
                timeout = max(
                    0.0,
                    min(self._deadline(self._calls[i][0]) - now for i in heads.values()),
                )
            ready, _ = ray.wait(list(heads), num_returns=1, timeout=timeout)
            for ref in ready:
                index = heads[ref]
                call = self._calls[index].popleft()
                try:
                    evaluations, seconds = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                    self._calls[index].appendleft(call)
                    self._fail(index, f"ray actor died: {type(exc).__name__}", out)
                    continue
                if self._calls[index]:
                    self._calls[index][0].started = time.monotonic()
                for key in call.keys:
                    self._single.discard(key)
                out += [(k, e, index) for k, e in zip(call.keys, evaluations, strict=True)]
                self._measure(len(call.keys), seconds)
            if self.eval_timeout is not None:
                now = time.monotonic()
                for index, calls in enumerate(self._calls):
                    if calls and now > self._deadline(calls[0]):
                        reason = (
                            f"timeout: evaluation ran past run.eval_timeout = {self.eval_timeout} s"
                        )
                        self._fail(index, reason, out)
        return out

    def _deadline(self, call: _Call) -> float:
        assert self.eval_timeout is not None
        return call.started + self.eval_timeout * len(call.keys)

    def _measure(self, n: int, seconds: float) -> None:
        if not self.auto:
            return
        per_eval = seconds / n
        ema = self._eval_seconds
        self._eval_seconds = per_eval if ema is None else 0.8 * ema + 0.2 * per_eval
        wanted = AUTO_ROUND_TRIPS * RAY_ROUND_TRIP / max(self._eval_seconds, 1e-9)
        self.chunk_size = max(1, min(self.max_chunk, math.ceil(wanted)))

    def _fail(self, index: int, reason: str, out: list[Result]) -> None:
        """Kill and replace actor ``index``; its head call fails if it held one
        evaluation, else its evaluations are retried one at a time."""
        calls = self._calls[index]
        requeue: list[tuple[int, Any, Budget]] = []
        head = calls.popleft()
        if len(head.keys) == 1:
            out.append((head.keys[0], Evaluation(FAILED_FITNESS, error=reason), index))
            self._single.discard(head.keys[0])
        else:
            self._single.update(head.keys)
            requeue += zip(head.keys, head.genomes, head.budgets, strict=True)
        for call in calls:
            requeue += zip(call.keys, call.genomes, call.budgets, strict=True)
        calls.clear()
        self._queue.extendleft(reversed(requeue))
        self._ray.kill(self._actors[index], no_restart=True)
        self._actors[index] = self._new_actor(index)
        self.replaced += 1

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        self._calls = []
        self._queue.clear()
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False
