"""Fault test (issue 11, part 5): worker processes killed at random and the
driver killed with SIGKILL again and again, resuming each time, must end with
every individual stored exactly once under contiguous ids; on the serial
backend the rows equal an uninterrupted run's.

The driver runs in a subprocess (its own session, so one killpg takes its
forkserver and workers with it) that resumes the run directory and says
"ready" just before it starts searching.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toy_domain  # noqa: F401 - registers the "toy" domain
from evoforge.config import parse_config
from evoforge.evolution.run import Run

TESTS = Path(__file__).resolve().parent
RESULT_COLUMNS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, fingerprint,"
    " fec_hit, early_stopped, error"
)
DRIVER = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import toy_domain
from evoforge.evolution.run import Run
run = Run.resume(sys.argv[1])
print("ready", flush=True)
run.run()
"""


def config(max_individuals, run):
    return parse_config(
        {
            "run": {
                "domain": "toy",
                "seed": 5,
                "max_individuals": max_individuals,
                "checkpoint_seconds": 0.1,
                **run,
            },
            "search": {
                "population_size": 30,
                "tournament_size": 4,
                "mutation_prob": 0.8,
                "fec": {"capacity": 25},
                "hurdle": {"enabled": True, "percentile": 60.0},
            },
            "toy": {"length": 24, "sleep": 0.001},
        }
    )


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {RESULT_COLUMNS} FROM individuals ORDER BY id").fetchall()


def descendants(pid: int, depth: int) -> list[int]:
    """Processes exactly ``depth`` levels below ``pid`` (workers are at 2:
    driver -> forkserver -> worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    level = [pid]
    for _ in range(depth):
        level = [c for p in level for c in children.get(p, [])]
    return level


def torture(run_dir: Path, driver_kills: int, worker_kills: int, seed: int) -> tuple[int, int]:
    """Resume ``run_dir`` in a subprocess again and again: kill workers while
    it searches, then SIGKILL the driver. Returns the kills done."""
    script = run_dir.parent / "driver.py"
    script.write_text(DRIVER)
    rng = random.Random(seed)
    done_driver = done_workers = 0
    per_session = -(-worker_kills // driver_kills) + 1 if worker_kills else 0
    while done_driver < driver_kills:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(run_dir)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready and proc.stdout.readline() == b"ready\n", "driver did not start"
            deadline = time.monotonic() + rng.uniform(0.15, 0.35)
            kills = 0
            while time.monotonic() < deadline or kills < per_session:
                if time.monotonic() > deadline + 5:
                    break
                time.sleep(rng.uniform(0.02, 0.06))
                workers = descendants(proc.pid, 2)
                if per_session and kills < per_session and workers:
                    try:
                        os.kill(rng.choice(workers), signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    kills += 1
            done_workers += kills
            assert proc.poll() is None, "the run finished before the kills were done"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        done_driver += 1
    return done_driver, done_workers


def check_complete(run_dir: Path, n: int) -> list[tuple]:
    got = rows(run_dir)
    assert [r[0] for r in got] == list(range(1, n + 1))  # contiguous, each id once
    assert all(r[1] is None or r[1] < r[0] for r in got)  # parents stored first
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (status,) = db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()
    assert "finished" in status
    return got


def run_faults(tmp_path, backend_run, n, driver_kills, worker_kills):
    run_dir = tmp_path / "faulty"
    Run.create(run_dir, config(n, backend_run))
    kills = torture(run_dir, driver_kills, worker_kills, seed=n)
    assert kills[0] >= driver_kills and kills[1] >= worker_kills
    result = Run.resume(run_dir).run()
    assert result.n_individuals == n and result.stop_reason == "max_individuals"
    return check_complete(run_dir, n)


def test_serial_driver_killed_20_times_gives_the_uninterrupted_rows(tmp_path):
    got = run_faults(tmp_path, {}, 5000, driver_kills=20, worker_kills=0)
    Run.create(tmp_path / "clean", config(5000, {})).run()
    assert got == rows(tmp_path / "clean")


def test_processes_survive_50_worker_kills_and_20_driver_kills(tmp_path):
    run_faults(tmp_path, {"workers": 2, "chunk_size": 4}, 8000, 20, 50)


@pytest.mark.slow
@pytest.mark.parametrize("backend_run", [{}, {"workers": 2, "chunk_size": "auto"}])
def test_long_torture(tmp_path, backend_run):
    workers = 300 if backend_run else 0
    got = run_faults(tmp_path, backend_run, 40_000, 100, workers)
    if not backend_run:
        Run.create(tmp_path / "clean", config(40_000, {})).run()
        assert got == rows(tmp_path / "clean")
