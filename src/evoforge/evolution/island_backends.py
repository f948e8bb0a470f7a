"""Where islands run: in the driver process (``serial``), one worker process
each (``processes``), or one Ray actor each (``ray``).

All three carry the same `Request` / `Chunk` messages to and from
`evoforge.evolution.islands.Island`, so a run behaves the same on each (the
serial one is also deterministic). A worker that dies is reported as a
`Died` message once; the driver then restarts its island with `restart`.

Example:
    >>> from evoforge.evolution.islands import IslandSpec, Request
    >>> from evoforge.evolution.space import Evaluation
    >>> class Bits:
    ...     def initial(self, rng): return int(rng.integers(2))
    ...     def mutate(self, g, rng): return 1 - g, "flip"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Value:
    ...     def evaluate(self, g, budget=None): return Evaluation(float(g))
    >>> spec = IslandSpec(0, Bits(), Value(), population_size=4, tournament_size=2,
    ...                   mutation_prob=0.5)
    >>> with make_island_backend("serial") as islands:
    ...     islands.start([spec])
    ...     islands.send(0, Request(grant=8, seconds=10.0))
    ...     [(index, chunk)] = islands.receive()
    >>> index, len(chunk.rows)
    (0, 8)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import pickle
import signal
from abc import ABC, abstractmethod
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, NamedTuple

from evoforge.evolution.backends import _limit_threads
from evoforge.evolution.islands import Chunk, Island, IslandSpec, Request
from evoforge.evolution.ray_cluster import init_ray


class Died(NamedTuple):
    """The worker of an island died; its requests in flight are lost."""

    reason: str


Message = tuple[int, Chunk | Died]


class IslandBackend(ABC):
    """Runs islands; use as a context manager so workers are shut down.

    ``lockstep``: the backend runs one request at a time to its full grant, so
    the driver serves islands in a fixed turn and the run is deterministic.
    """

    lockstep = False

    @abstractmethod
    def start(self, specs: list[IslandSpec]) -> None:
        """Build one island per spec (spec ``i`` must have index ``i``)."""

    @abstractmethod
    def send(self, index: int, request: Request) -> None:
        """Queue a request; islands serve their requests in order."""

    @abstractmethod
    def receive(self) -> list[Message]:
        """Wait until at least one island answers (or dies); return what is ready."""

    @abstractmethod
    def restart(self, spec: IslandSpec) -> None:
        """Replace island ``spec.index`` (after `Died`) by one built from ``spec``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop all workers, abandoning requests in flight."""

    def __enter__(self) -> IslandBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SerialIslands(IslandBackend):
    """Islands in the calling process, serving requests in the order sent.

    Deterministic: requests run to their full grant (no time limit), so a
    seeded run gives the same individuals however fast the machine is.
    """

    lockstep = True

    def start(self, specs: list[IslandSpec]) -> None:
        self._islands = [Island(spec) for spec in specs]
        self._queue: deque[tuple[int, Request]] = deque()

    def send(self, index: int, request: Request) -> None:
        self._queue.append((index, request))

    def receive(self) -> list[Message]:
        index, request = self._queue.popleft()
        request = dataclasses.replace(request, seconds=math.inf)
        return [(index, self._islands[index].step(request))]

    def restart(self, spec: IslandSpec) -> None:
        self._islands[spec.index] = Island(spec)


def _serve(connection: Connection, payload: bytes) -> None:
    """A worker process: build the island, then answer requests until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's
    _limit_threads()
    island = Island(pickle.loads(payload))
    _limit_threads()  # again: building the island may have imported torch
    while True:
        request = connection.recv()
        if request is None:
            return
        connection.send(island.step(request))


class ProcessIslands(IslandBackend):
    """One worker process per island, talking over a pipe.

    Uses ``forkserver`` where available (safe with the driver's threads), else
    ``spawn``. A process that exits (killed, segfault) is reported as `Died`.
    """

    def __init__(self) -> None:
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._workers: dict[int, tuple[Any, Connection]] = {}

    def start(self, specs: list[IslandSpec]) -> None:
        for spec in specs:
            self.restart(spec)

    def restart(self, spec: IslandSpec) -> None:
        self._stop(spec.index)
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, pickle.dumps(spec)), daemon=True
        )
        process.start()
        theirs.close()
        self._workers[spec.index] = (process, ours)

    def send(self, index: int, request: Request) -> None:
        # If it died, `receive` reports that.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
            self._workers[index][1].send(request)

    def receive(self) -> list[Message]:
        by_handle: dict[Any, int] = {}
        for index, (process, connection) in self._workers.items():
            by_handle[connection] = index
            by_handle[process.sentinel] = index
        out: list[Message] = []
        dead: set[int] = set()
        for handle in wait(list(by_handle)):
            index = by_handle[handle]
            if index in dead:
                continue
            process, connection = self._workers[index]
            try:
                # Answers sent before a worker died are still in the pipe.
                while connection.poll():
                    out.append((index, connection.recv()))
            except (EOFError, OSError):
                pass
            if not process.is_alive():
                dead.add(index)
                out.append((index, Died(f"worker process exited with code {process.exitcode}")))
        for index in dead:
            self._stop(index)
        return out

    def _stop(self, index: int) -> None:
        worker = self._workers.pop(index, None)
        if worker is None:
            return
        process, connection = worker
        if process.is_alive():
            process.terminate()
        process.join()
        connection.close()

    def close(self) -> None:
        for index in list(self._workers):
            self._stop(index)

    def pid(self, index: int) -> int | None:
        """The process id of an island's worker (for tests and monitoring)."""
        worker = self._workers.get(index)
        return None if worker is None else worker[0].pid


class _IslandActor:
    """The Ray actor: one island per actor."""

    def __init__(self, payload: bytes) -> None:
        _limit_threads()
        self.island = Island(pickle.loads(payload))

    def step(self, request: Request) -> Chunk:
        return self.island.step(request)

    def pid(self) -> int:
        return os.getpid()


class RayIslands(IslandBackend):
    """One Ray actor per island (``pip install 'evoforge[ray]'``).

    Joins the cluster at ``address`` when given (e.g. ``"auto"`` or
    ``"ray://host:10001"``), else starts a local one bound to loopback for the
    run and stops it at the end (see `evoforge.evolution.ray_cluster`). An
    actor that dies is reported as `Died`.
    """

    def __init__(self, address: str | None = None) -> None:
        self._started_ray = init_ray(address)  # first: it explains a missing Ray
        import ray

        self._ray = ray
        self._actor_class = ray.remote(num_cpus=1)(_IslandActor)
        self._actors: dict[int, Any] = {}
        self._in_flight: dict[Any, tuple[int, Any]] = {}  # ref -> (index, actor)

    def start(self, specs: list[IslandSpec]) -> None:
        for spec in specs:
            self.restart(spec)

    def restart(self, spec: IslandSpec) -> None:
        old = self._actors.pop(spec.index, None)
        if old is not None:
            self._ray.kill(old, no_restart=True)
        self._actors[spec.index] = self._actor_class.remote(pickle.dumps(spec))

    def send(self, index: int, request: Request) -> None:
        actor = self._actors[index]
        self._in_flight[actor.step.remote(request)] = (index, actor)

    def receive(self) -> list[Message]:
        ray = self._ray
        ready, _ = ray.wait(list(self._in_flight), num_returns=1)
        out: list[Message] = []
        for ref in ready:
            index, actor = self._in_flight.pop(ref)
            if self._actors.get(index) is not actor:
                continue  # an answer from an actor already replaced
            try:
                out.append((index, ray.get(ref)))
            except ray.exceptions.RayActorError as exc:
                # Its other requests fail too: forget them, report it once.
                for other, (_, a) in list(self._in_flight.items()):
                    if a is actor:
                        del self._in_flight[other]
                self._actors.pop(index)
                cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
                out.append((index, Died(f"ray actor died: {type(exc).__name__} {cause}")))
        return out

    def pid(self, index: int) -> int:
        """The process id of an island's actor (for tests and monitoring)."""
        return self._ray.get(self._actors[index].pid.remote())

    def close(self) -> None:
        for actor in self._actors.values():
            self._ray.kill(actor, no_restart=True)
        self._actors.clear()
        self._in_flight.clear()
        if self._started_ray:
            self._ray.shutdown()


def make_island_backend(name: str, ray_address: str | None = None) -> IslandBackend:
    """``"serial"``, ``"processes"`` or ``"ray"``."""
    if name == "serial":
        return SerialIslands()
    if name == "processes":
        return ProcessIslands()
    if name == "ray":
        return RayIslands(ray_address)
    raise ValueError(f"unknown island backend {name!r}")
