"""Evaluation backends on the toy domain: dying and overdue workers, the
evaluation context, chunks and batches (serial, processes, Ray), and the
FEC's batch path."""

from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toy_domain  # registers the "toy" domain
from evoforge.config import ConfigError, parse_config
from evoforge.evolution.backends import ProcessBackend, SerialBackend, make_backend
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.run import Run
from evoforge.evolution.space import NO_BUDGET, Budget, Evaluation

RESULT_COLUMNS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, fingerprint,"
    " fec_hit, early_stopped, error"
)
HARD = {"fec": {"capacity": 25}, "hurdle": {"enabled": True, "percentile": 60.0}}


def config(max_individuals=600, *, run=None, search=None, toy=None):
    data = {
        "run": {"domain": "toy", "seed": 11, "max_individuals": max_individuals, **(run or {})},
        "search": {
            "population_size": 30,
            "tournament_size": 4,
            "mutation_prob": 0.8,
            **(search or {}),
        },
        "toy": {"length": 24, **(toy or {})},
    }
    return parse_config(data)


def rows(run_dir, columns=RESULT_COLUMNS):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {columns} FROM individuals ORDER BY id").fetchall()


def grandchildren(pid: int) -> list[int]:
    """Processes two levels below ``pid`` (with forkserver: the workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    return [g for c in children.get(pid, []) for g in children.get(c, [])]


# -- dying workers ---------------------------------------------------------------


def test_process_backend_survives_exceptions_and_a_dying_worker(tmp_path):
    crash = tmp_path / "crashed"
    cfg = config(
        200,
        run={"workers": 2, "chunk_size": 4},
        toy={"fail_prefix": "0000", "crash_once_file": str(crash), "sleep": 0.002},
    )
    r = Run.create(tmp_path / "r", cfg).run()
    assert r.n_individuals == 200 and crash.exists()
    got = rows(tmp_path / "r")
    assert [row[0] for row in got] == list(range(1, 201))
    errors = [row[10] for row in got if row[10] is not None]
    # Only the evaluation that killed its worker fails; the rest of its chunk
    # is evaluated again.
    assert [e for e in errors if e.startswith("worker process died")] == [
        "worker process died (exit code 1)"
    ]
    assert "ValueError: toy failure" in errors
    workers = {w for (w,) in rows(tmp_path / "r", "DISTINCT worker")}
    assert workers == {0, 1}
    # And it resumes (not bit-identically: completion order varies).
    assert Run.resume(tmp_path / "r", max_individuals=260).run().n_individuals == 260


def test_submit_and_results_survive_workers_killed_at_any_time():
    # The old pool raised BrokenProcessPool from submit() when a worker had
    # died since the last results(); every key must come back exactly once.
    evaluator = toy_domain.OneMax(16, sleep=0.001)
    rng = random.Random(3)
    seen: list[int] = []
    key = 0
    with make_backend("processes", 2, chunk_size=1) as backend:
        backend.start(evaluator)
        in_flight = 0
        kills = 0
        for _ in range(150):
            while in_flight < backend.capacity:
                backend.submit(key, format(key % 65536, "016b"), Budget())
                key += 1
                in_flight += 1
            if rng.random() < 0.1:
                pids = grandchildren(os.getpid())
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
                    time.sleep(0.005)  # let it die before the next submit
            done = backend.results()
            in_flight -= len(done)
            seen += [k for k, _, _ in done]
        while in_flight:
            done = backend.results()
            in_flight -= len(done)
            seen += [k for k, _, _ in done]
    assert kills >= 5
    assert sorted(seen) == list(range(key))


# -- time limits, context, in-flight work ----------------------------------------


def test_eval_timeout_stops_and_replaces_the_worker(tmp_path):
    cfg = config(
        120,
        run={"workers": 2, "eval_timeout": 0.5, "checkpoint_seconds": 0.2},
        toy={"hang_prefix": "11111"},
    )
    start = time.monotonic()
    r = Run.create(tmp_path / "r", cfg).run()
    assert r.n_individuals == 120 and time.monotonic() - start < 120
    got = rows(tmp_path / "r")
    assert [row[0] for row in got] == list(range(1, 121))
    timed_out = [row for row in got if row[10] and row[10].startswith("timeout")]
    assert timed_out and all(row[3].startswith("11111") for row in timed_out)
    assert all(not row[3].startswith("11111") or row[10] for row in got)
    assert "run.eval_timeout = 0.5 s" in timed_out[0][10]


def test_config_checks_for_backend_keys():
    with pytest.raises(ConfigError, match=r"eval_timeout.*processes"):
        config(run={"eval_timeout": 5.0})
    with pytest.raises(ConfigError, match="chunk_size"):
        config(run={"workers": 2, "chunk_size": "big"})
    with pytest.raises(ConfigError, match="chunk_size"):
        config(run={"workers": 2, "chunk_size": 0})
    with pytest.raises(ConfigError, match="devices"):
        config(run={"devices": []})
    with pytest.raises(ConfigError, match="in_flight_per_worker"):
        config(run={"in_flight_per_worker": 0})
    cfg = config(run={"backend": "ray", "workers": 2, "devices": ["cuda:0", "cuda:1"]})
    assert cfg.run.backend == "ray" and cfg.run.devices == ("cuda:0", "cuda:1")
    assert cfg.resolved["run"]["chunk_size"] == "auto"


def test_each_worker_is_bound_to_its_context(tmp_path):
    log = tmp_path / "contexts"
    cfg = config(
        60,
        run={"workers": 2, "devices": ["cpu", "cuda:7"], "in_flight_per_worker": 3},
        toy={"context_file": str(log)},
    )
    Run.create(tmp_path / "p", cfg).run()
    lines = sorted(line.split()[:2] for line in log.read_text().splitlines())
    assert lines == [["0", "cpu"], ["1", "cuda:7"]]
    log.unlink()
    Run.create(tmp_path / "s", config(20, toy={"context_file": str(log)})).run()
    assert log.read_text().split()[:2] == ["0", "cpu"]


def test_capacity_counts_chunks_in_flight_per_worker():
    assert make_backend("processes", 3, in_flight_per_worker=4, chunk_size=5).capacity == 60
    # "auto" asks at most a quarter of the population ahead of its results.
    assert make_backend("processes", 2, population_size=1000).capacity == 128
    assert make_backend("processes", 2, population_size=20).capacity == 4
    assert make_backend("serial").capacity == 1
    assert make_backend("serial", batched=True).capacity > 1


def test_auto_chunks_grow_for_cheap_evaluations():
    with ProcessBackend(2, chunk_size=None, max_chunk=16) as backend:
        backend.start(toy_domain.OneMax(16))
        key, in_flight = 0, 0
        for _ in range(400):
            while in_flight < backend.capacity:
                backend.submit(key, "0" * 16, Budget())
                key, in_flight = key + 1, in_flight + 1
            in_flight -= len(backend.results())
        assert backend.chunk_size == 16
    with ProcessBackend(2, chunk_size=None, max_chunk=16) as backend:
        backend.start(toy_domain.OneMax(16, sleep=0.02))  # 100x a round trip
        for key in range(16):
            backend.submit(key, "0" * 16, Budget())
        for _ in range(4):
            backend.results()
        assert backend.chunk_size == 1


# -- batches ---------------------------------------------------------------------


@pytest.mark.parametrize("fec", [True, False])
def test_serial_batched_toy_gives_the_rows_of_the_plain_toy(tmp_path, fec):
    log = tmp_path / "batches"
    search = {**HARD, "fec": {"enabled": fec, "capacity": 25}}
    plain = config(400, run={"chunk_size": 8}, search=search)
    batched = config(
        400, run={"chunk_size": 8}, search=search, toy={"batched": True, "batch_log_file": str(log)}
    )
    Run.create(tmp_path / "a", plain).run()
    Run.create(tmp_path / "b", batched).run()
    got = rows(tmp_path / "b")
    assert got == rows(tmp_path / "a")
    assert any(r[8] for r in got) == fec and any(r[9] for r in got)  # FEC hits, hurdles
    sizes = [int(n) for n in log.read_text().split()]
    assert max(sizes) > 1 and sum(sizes) == sum(1 for r in got if not r[8])  # misses only


def test_serial_auto_hands_a_batch_evaluator_the_queue(tmp_path):
    log = tmp_path / "batches"
    Run.create(tmp_path / "r", config(200, toy={"batched": True, "batch_log_file": str(log)})).run()
    assert max(int(n) for n in log.read_text().split()) > 8


def test_process_backend_hands_chunks_to_a_batch_evaluator(tmp_path):
    log = tmp_path / "batches"
    cfg = config(
        400,
        run={"workers": 2, "chunk_size": 6},
        search=HARD,
        toy={"batched": True, "batch_log_file": str(log), "fail_prefix": "0000"},
    )
    Run.create(tmp_path / "r", cfg).run()
    got = rows(tmp_path / "r")
    assert [r[0] for r in got] == list(range(1, 401))
    assert any(r[8] for r in got) and any(r[9] for r in got)
    assert any(r[10] == "ValueError: toy failure" for r in got)  # one bad genome, alone
    assert max(int(n) for n in log.read_text().split()) > 1


class _Keyed:
    """Fingerprint = genome // 10, fitness = genome: a hit returns the first
    genome's fitness, so outputs show exactly which lookups hit."""

    def __init__(self, batched: bool) -> None:
        self.calls: list[int] = []
        if batched:
            self.evaluate_batch = self._batch

    def fingerprint(self, genome: int) -> int:
        return genome // 10

    def evaluate(self, genome: int, budget: Budget = NO_BUDGET) -> Evaluation:
        self.calls.append(genome)
        return Evaluation(float(genome), cost=1)

    def _batch(self, genomes, budgets):
        return [self.evaluate(g, b) for g, b in zip(genomes, budgets, strict=True)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 80), max_size=12), max_size=6),
    st.integers(1, 5),
    st.booleans(),
)
def test_fec_batch_equals_one_by_one(batches, capacity, inner_batched):
    one = CachedEvaluator(_Keyed(False), capacity)
    many = CachedEvaluator(_Keyed(inner_batched), capacity)
    for batch in batches:
        want = [one.evaluate(g) for g in batch]
        got = many.evaluate_batch(batch, [Budget()] * len(batch))
        strip = [(e.fitness, e.cost, e.fec_hit, e.fingerprint) for e in want]
        assert [(e.fitness, e.cost, e.fec_hit, e.fingerprint) for e in got] == strip

        def entries(c):
            return [(k, v.fitness, v.cost, v.fec_hit) for k, v in c.cache._entries.items()]

        assert entries(many) == entries(one)  # same contents, same LRU order
        assert (many.cache.hits, many.cache.misses) == (one.cache.hits, one.cache.misses)
    assert many.evaluator.calls == one.evaluator.calls


def test_a_failing_batch_is_scored_one_by_one():
    class Picky:
        def evaluate(self, genome, budget=NO_BUDGET):
            if genome == 3:
                raise ValueError("three")
            return Evaluation(float(genome))

        def evaluate_batch(self, genomes, budgets):
            return [self.evaluate(g, b) for g, b in zip(genomes, budgets, strict=True)]

    backend = SerialBackend(chunk_size=4)
    backend.start(Picky())
    for k in range(4):
        backend.submit(k, k, Budget())
    got = {k: (e.fitness, e.error) for k, e, _ in backend.results()}
    failed = (-math.inf, "ValueError: three")
    assert got == {0: (0.0, None), 1: (1.0, None), 2: (2.0, None), 3: failed}


# -- Ray -------------------------------------------------------------------------


def test_ray_backend_runs_a_plain_population(tmp_path):
    pytest.importorskip("ray", reason="the ray backend needs: pip install 'evoforge[ray]'")
    log = tmp_path / "contexts"
    cfg = config(
        300,
        run={"workers": 2, "backend": "ray", "chunk_size": 4},
        toy={"context_file": str(log), "fail_prefix": "0000"},
    )
    r = Run.create(tmp_path / "r", cfg).run()
    assert r.n_individuals == 300
    got = rows(tmp_path / "r")
    assert [row[0] for row in got] == list(range(1, 301))
    assert {w for (w,) in rows(tmp_path / "r", "DISTINCT worker")} == {0, 1}
    assert sorted(line.split()[0] for line in log.read_text().splitlines()) == ["0", "1"]


def test_warns_when_the_driver_starves_the_workers(caplog):
    def drive(backend, evaluator, seconds, driver_work):
        backend.CHECK_AFTER_SECONDS = seconds
        backend.start(evaluator)
        key, in_flight, start = 0, 0, time.monotonic()
        while backend.warned is None and time.monotonic() - start < 30:
            while in_flight < backend.capacity:
                backend.submit(key, "0" * 16, Budget())
                key, in_flight = key + 1, in_flight + 1
            in_flight -= len(backend.results())
            time.sleep(driver_work)  # the driver's own work per round

    with caplog.at_level("WARNING"), ProcessBackend(2, chunk_size=2) as backend:
        # Far above a chunk's evaluation, even on a core shared with the workers.
        drive(backend, toy_domain.OneMax(16), 1.0, driver_work=0.02)
    assert backend.warned and "cannot make this run faster" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"), ProcessBackend(2, chunk_size=1) as backend:
        # Workers are the limit: 10 ms per evaluation against 5 ms per round.
        drive(backend, toy_domain.OneMax(16, sleep=0.01), 1.0, driver_work=0.005)
    assert backend.warned == "" and not caplog.text
