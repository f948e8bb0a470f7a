"""The island model: migration, per-island P and domains, resume, a killed
worker, and the ray backend."""

from __future__ import annotations

import sqlite3

import pytest

import toy_domain  # registers the "toy" domain
from evoforge.cli import main
from evoforge.config import ConfigError, parse_config
from evoforge.domains import get_builder
from evoforge.evolution.archipelago import plan_islands
from evoforge.evolution.islands import Island, IslandSpec, Request
from evoforge.evolution.run import Run
from evoforge.evolution.store import RunStore

del toy_domain


def config(max_individuals=3000, *, run=None, islands=None, search=None, toy=None):
    return parse_config(
        {
            "run": {"domain": "toy", "seed": 5, "max_individuals": max_individuals, **(run or {})},
            "search": {
                "population_size": 20,
                "tournament_size": 4,
                "mutation_prob": 0.9,
                "islands": {"count": 3, "migrate_every": 150, **(islands or {})},
                **(search or {}),
            },
            "toy": {"length": 40, **(toy or {})},
        }
    )


def stored(run_dir, columns="id, parent_id, worker, mutation"):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {columns} FROM individuals ORDER BY id").fetchall()


def checkpoint_state(run_dir):
    store = RunStore.open(run_dir / "run.sqlite")
    try:
        return store.latest_checkpoint()[1], store.events()
    finally:
        store.close()


def check_consistent(run_dir, n, sizes):
    """Ids 1..n once each; parents stored earlier; every island's population
    has its size and distinct members, all stored."""
    rows = stored(run_dir)
    ids = [r[0] for r in rows]
    assert ids == list(range(1, n + 1))
    assert all(r[1] is None or 1 <= r[1] < r[0] for r in rows)
    state, events = checkpoint_state(run_dir)
    for entry, size in zip(state["islands"]["islands"], sizes, strict=True):
        slots = entry["state"]["strategy"]["slots"]
        assert len(slots) == size == len(entry["fitness"])
        assert len(set(slots)) == size and all(1 <= i <= n for i in slots)
    return rows, events


def test_island_uploads_half_and_immigrants_take_those_slots():
    from toy_domain import BitSpace, OneMax

    spec = IslandSpec(
        0,
        BitSpace(16),
        OneMax(16),
        population_size=10,
        tournament_size=3,
        mutation_prob=1.0,
        seed=1,
    )
    island = Island(spec)
    chunk = island.step(Request(grant=1000, seconds=60.0, migrate_at=100))
    assert chunk.evaluated == 100 and len(chunk.rows) == 100  # stops at the boundary
    slots = [slot for slot, _ in chunk.emigrants]
    assert len(slots) == 5 == len(set(slots))
    assert [m.id for _, m in chunk.emigrants] == [
        chunk.state["strategy"]["slots"][s] for s in slots
    ]
    # No second upload while waiting for immigrants.
    again = island.step(Request(grant=0, seconds=60.0, migrate_at=100))
    assert again.emigrants is None
    arriving = tuple((slot, m._replace(id=1000 + k)) for k, (slot, m) in enumerate(chunk.emigrants))
    after = island.step(Request(grant=0, seconds=60.0, immigrants=arriving))
    members = after.state["strategy"]["slots"]
    assert len(members) == 10 and after.migrations == 1
    assert sorted(members[s] for s in slots) == list(range(1000, 1005))


def test_serial_islands_migrate_keep_their_sizes_and_store_everything(tmp_path, capsys):
    cfg = config(islands={"population_size": [10, 30]})
    plans = plan_islands(cfg, None, get_builder)
    sizes = [p.population_size for p in plans]
    assert all(10 <= s <= 30 for s in sizes) and len(set(sizes)) > 1
    result = Run.create(tmp_path / "a", cfg).run()
    assert result.n_individuals == 3000 and result.stop_reason == "max_individuals"
    rows, events = check_consistent(tmp_path / "a", 3000, sizes)
    migrations = [e for e in events if e["kind"] == "migration"]
    per_island = [sum(r[2] == i for r in rows) for i in range(3)]  # worker column = island
    assert min(per_island) > 0
    # A migration every 150 of an island's evaluations.
    assert len(migrations) == sum(n // 150 for n in per_island)
    assert all(e["evaluated"] % 150 == 0 for e in migrations)
    assert sum(r[3] == "migrated" for r in rows) == 0  # migrants are not re-stored
    # `evoforge show` sums the islands up.
    assert main(["show", str(tmp_path / "a")]) == 0
    shown = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert f"3: P {'/'.join(map(str, sizes))}" in shown
    assert f"{len(migrations)} migrations, 0 restarts" in shown
    # Deterministic: the same seed gives the same individuals.
    Run.create(tmp_path / "b", cfg).run()
    columns = "id, parent_id, mutation, genome_text, fitness, worker"
    assert stored(tmp_path / "a", columns) == stored(tmp_path / "b", columns)


def test_island_counters_and_new_bests_agree_with_the_stored_rows(tmp_path):
    cfg = config(
        2000,
        search={"hurdle": {"enabled": True}, "fec": {"capacity": 50}},
        toy={"fail_prefix": "11", "selector": True},
    )
    Run.create(tmp_path / "c", cfg).run()
    columns = "id, cost, fec_hit, early_stopped, error IS NOT NULL, fitness"
    rows = stored(tmp_path / "c", columns)
    state, events = checkpoint_state(tmp_path / "c")
    sums = [sum(r[k] for r in rows) for k in (1, 2, 3, 4)]
    assert all(sums)  # each counter is exercised
    counters = state["counters"]
    assert [counters[k] for k in ("cost", "fec_hits", "early_stopped", "errors")] == sums
    record, expected = float("-inf"), []
    for row in rows:
        if row[5] > record:
            record = row[5]
            expected.append(row[0])
    assert [e["id"] for e in events if e["kind"] == "new_best"] == expected
    assert state["best"] == expected[-1]


def test_island_run_resumes_without_losing_or_repeating_individuals(tmp_path):
    cfg = config(1200, search={"hurdle": {"enabled": True}, "fec": {"capacity": 50}})
    Run.create(tmp_path / "r", cfg).run()
    result = Run.resume(tmp_path / "r", max_individuals=2500).run()
    assert result.n_individuals == 2500
    rows, events = check_consistent(tmp_path / "r", 2500, [20, 20, 20])
    # After the resume each island went on from its members: parents come from
    # the same island (migrants keep their first island's worker number).
    later = [r for r in rows if r[0] > 1200 and r[1] is not None]
    native = sum(rows[r[1] - 1][2] == r[2] for r in later)
    assert native > 0.5 * len(later)
    assert any(e["kind"] == "migration" for e in events)


def test_families_and_vary_give_each_island_its_domain(tmp_path):
    cfg = config(
        600,
        islands={
            "families": [{"toy.fail_prefix": "1"}, {"toy.fail_prefix": "0"}],
            "vary": {"toy.sleep": [0.0, 1e-6]},
        },
    )
    plans = plan_islands(cfg, None, get_builder)
    assert [p.overrides["toy.fail_prefix"] for p in plans] == ["1", "0", "1"]
    assert all(0.0 <= p.overrides["toy.sleep"] <= 1e-6 for p in plans)
    assert [p.setup.evaluator.fail_prefix for p in plans] == ["1", "0", "1"]
    Run.create(tmp_path / "f", cfg).run()
    _, events = checkpoint_state(tmp_path / "f")
    logged = [e["overrides"] for e in events if e["kind"] == "island"]
    assert logged == [p.overrides for p in plans]


@pytest.mark.parametrize(
    ("islands", "run", "message"),
    [
        ({"families": [{"other.x": 1}]}, {}, "must start with 'toy.'"),
        ({"families": [{"toy.length": 1}]}, {}, "island 0"),
        ({"families": [{"nodots": 1}]}, {}, "dotted keys"),
        ({"vary": {"toy.sleep": [2, 1]}}, {}, "low <= high"),
        ({"population_size": [1, 5]}, {}, "sizes >= 2"),
        ({}, {"workers": 2}, "one worker per island (3)"),
    ],
)
def test_bad_island_configs_are_named_and_write_nothing(tmp_path, islands, run, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cfg = config(islands=islands, run=run)
        Run.create(tmp_path / "bad", cfg)
    assert not (tmp_path / "bad").exists()


def test_process_islands_survive_a_killed_worker(tmp_path):
    crash = tmp_path / "crash-once"
    cfg = config(
        4000,
        run={"workers": 3, "backend": "processes", "checkpoint_seconds": 0.2},
        toy={"crash_once_file": str(crash)},
    )
    result = Run.create(tmp_path / "p", cfg).run()
    assert crash.exists() and result.n_individuals == 4000
    _, events = check_consistent(tmp_path / "p", 4000, [20, 20, 20])
    assert [e["kind"] for e in events].count("island_restart") == 1


def test_ray_islands(tmp_path):
    pytest.importorskip("ray", reason="the ray backend needs: pip install 'evoforge[ray]'")
    cfg = config(2000, run={"workers": 2, "backend": "ray"}, islands={"count": 2})
    result = Run.create(tmp_path / "ray", cfg).run()
    assert result.n_individuals == 2000
    check_consistent(tmp_path / "ray", 2000, [20, 20])


def test_islands_apply_the_quality_gate(tmp_path):
    def members(run_dir):
        state, _ = checkpoint_state(run_dir)
        ids = [i for e in state["islands"]["islands"] for i in e["state"]["strategy"]["slots"]]
        rows = {r[0]: r for r in stored(run_dir, "id, parent_id, fitness")}
        return [rows[i] for i in ids]

    Run.create(
        tmp_path / "g", config(300, islands={"migrate_every": 50}, search={"quality_gate": 0.7})
    ).run()
    gated = members(tmp_path / "g")
    # Only initial members (no parent) may sit below the gate.
    assert len(gated) == 60 and all(p is None or f >= 0.7 for _, p, f in gated)
    assert any(p is not None for _, p, _ in gated)  # children did join
    Run.create(tmp_path / "u", config(300, islands={"migrate_every": 50})).run()
    assert any(p is not None and f < 0.7 for _, p, f in members(tmp_path / "u"))


# Everything that must match between an interrupted and an uninterrupted
# serial island run (wall_time and created are measurements, not results).
RESULT_COLUMNS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, fingerprint,"
    " fec_hit, early_stopped, error, worker"
)
# Unequal P, migrations often, small FEC and hurdles: all must resume exactly.
RESUMABLE = {
    "islands": {"population_size": [10, 30], "migrate_every": 70},
    "search": {"fec": {"capacity": 25}, "hurdle": {"enabled": True, "percentile": 60.0}},
}


def test_serial_island_run_resumed_at_max_individuals_equals_one_long_run(tmp_path):
    Run.create(tmp_path / "ref", config(2600, **RESUMABLE)).run()
    reference = stored(tmp_path / "ref", RESULT_COLUMNS)
    assert len(reference) == 2600 and any(r[8] for r in reference) and any(r[9] for r in reference)
    # Stops that fall inside a request, at a migration and on a request's end.
    first = Run.create(tmp_path / "r", config(333, **RESUMABLE)).run()
    assert first.n_individuals == 333
    for stop in (700, 701, 1400, 2000, 2600):
        assert Run.resume(tmp_path / "r", max_individuals=stop).run().n_individuals == stop
        assert stored(tmp_path / "r", RESULT_COLUMNS) == reference[:stop]


def test_serial_island_run_interrupted_by_ctrl_c_resumes_exactly(tmp_path):
    # The toy evaluator raises KeyboardInterrupt on its 401st call in each
    # session (the islands share it on the serial backend), in mid-request.
    Run.create(tmp_path / "ref", config(2600, **RESUMABLE)).run()
    interrupted = config(2600, **{**RESUMABLE, "toy": {"interrupt_after": 401}})
    result = Run.create(tmp_path / "r", interrupted).run()
    sessions = 1
    while result.interrupted:
        result = Run.resume(tmp_path / "r").run()
        sessions += 1
    assert sessions > 4 and result.n_individuals == 2600
    assert stored(tmp_path / "r", RESULT_COLUMNS) == stored(tmp_path / "ref", RESULT_COLUMNS)


def test_ctrl_c_while_a_chunk_is_stored_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """A Ctrl-C inside `Run.changing_state` (here while the island driver
    stores a chunk: the counters are ahead of the rows) must not be followed
    by a final checkpoint naming rows that were never stored."""
    Run.create(tmp_path / "ref", config(1200, **RESUMABLE)).run()
    add_rows, calls = RunStore.add_rows, 0

    def interrupt_the_third(store, rows):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        add_rows(store, rows)

    monkeypatch.setattr(RunStore, "add_rows", interrupt_the_third)
    assert Run.create(tmp_path / "r", config(1200, **RESUMABLE)).run().interrupted
    monkeypatch.undo()
    assert Run.resume(tmp_path / "r").run().n_individuals == 1200
    assert stored(tmp_path / "r", RESULT_COLUMNS) == stored(tmp_path / "ref", RESULT_COLUMNS)
