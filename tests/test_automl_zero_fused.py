"""The fused search step (issue 21): the same individuals as the readable loop,
exact resume between chunks, compact rows with text on demand, restarts."""

import tomllib

import numpy as np
import pytest

from evoforge.automl_zero.fused import _fsum
from evoforge.automl_zero.fused_codec import decode_program, encode_program, program_text
from evoforge.config import ConfigError, parse_config
from evoforge.evolution.run import Run
from evoforge.evolution.store import RunStore, connect

CONFIG = """
[run]
domain = "automl_zero"
seed = {seed}
max_individuals = {n}
checkpoint_every = 700
engine = "{engine}"
{extra}

[search]
population_size = 40
tournament_size = 5
mutation_prob = 0.9

[search.hurdle]
enabled = true

[search.fec]
capacity = 50

[automl_zero]
initial = "random"
hurdle_tasks = 2
mutations = ["insert_remove", "randomize_component", "alter_argument", "randomize_instruction"]

[automl_zero.setup]
ops = ["OP56", "OP57", "OP63"]
max_size = 4
init_size = 2

[automl_zero.predict]
ops = ["OP27", "OP1", "OP18"]
max_size = 4
init_size = 2

[automl_zero.learn]
ops = ["OP2", "OP3", "OP18", "OP23"]
max_size = 6
init_size = 3

[automl_zero.search_tasks]
type = "linear"
n_tasks = 4
features = 4
n_train = 30
n_valid = 20

[automl_zero.select_tasks]
type = "linear"
n_tasks = 3
features = 4
n_train = 50
n_valid = 20
"""
COLUMNS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, fingerprint, fec_hit,"
    " early_stopped"
)


def config(engine="fused", n=2500, seed=7, extra=""):
    return parse_config(tomllib.loads(CONFIG.format(engine=engine, n=n, seed=seed, extra=extra)))


def rows(run_dir):
    db = connect(run_dir / "run.sqlite")
    try:
        return db.execute(f"SELECT {COLUMNS} FROM individuals_text ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("seed", [7, 11])
def test_fused_rows_equal_the_loop_rows(tmp_path, seed):
    # Same generator stream: every row (parents, mutations, programs, per-task
    # fitness, cache hits, hurdle stops) is identical, evictions and all four
    # mutation types included.
    for engine in ("loop", "fused"):
        Run.create(tmp_path / engine, config(engine, seed=seed)).run()
    loop, fused = rows(tmp_path / "loop"), rows(tmp_path / "fused")
    assert len(fused) == 2500
    assert fused == loop
    mutations = {r[2] for r in fused}
    assert {"insert", "remove", "randomize_component", "alter_argument"} <= mutations
    assert any(r[8] for r in fused) and any(r[9] for r in fused)  # FEC hits, hurdle stops
    # best.txt (made from the in-memory best) names the same program.
    loop_best = (tmp_path / "loop" / "best.txt").read_text()
    fused_best = (tmp_path / "fused" / "best.txt").read_text()
    program = loop_best[loop_best.index("def Setup():") :]
    assert program in fused_best


def test_resume_between_chunks_repeats_and_loses_nothing(tmp_path):
    Run.create(tmp_path / "whole", config(n=3000)).run()
    run = Run.create(tmp_path / "parts", config(n=1234))
    run.chunked.chunk = 300  # several chunks, and a stop inside the last one
    run.run()
    Run.resume(tmp_path / "parts", max_individuals=3000).run()
    assert rows(tmp_path / "parts") == rows(tmp_path / "whole")


def test_resume_inside_the_initial_population(tmp_path):
    Run.create(tmp_path / "whole", config(n=600)).run()
    Run.create(tmp_path / "parts", config(n=25)).run()  # P = 40: not complete yet
    Run.resume(tmp_path / "parts", max_individuals=600).run()
    assert rows(tmp_path / "parts") == rows(tmp_path / "whole")


def test_compact_rows_and_text_on_demand(tmp_path):
    run = Run.create(tmp_path / "r", config(n=300))
    space = run.space
    run.run()
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    try:
        raw = store._db.execute(
            "SELECT genome_text, genome_blob, per_task FROM individuals WHERE id = 200"
        ).fetchone()
        assert raw[0] is None and isinstance(raw[1], bytes) and isinstance(raw[2], bytes)
        ((ind, text),) = store.individuals([200]).values()
        assert text == space.to_text(decode_program(raw[1]))
        assert space.from_text(text) == decode_program(raw[1])
        assert len(ind.evaluation.per_task) in (2, 4)
        (first,) = store.rows("genome_text, per_task", start=300).fetchall()
        assert first[0].startswith("def Setup():") and first[1].startswith("[")
    finally:
        store.close()


def test_codec_round_trips_programs(tmp_path):
    run = Run.create(tmp_path / "r", config(n=1))
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = run.space.mutator.random_program((3, 4, 6), rng)
        blob = encode_program(p, features=4)
        assert decode_program(blob) == p
        assert program_text(blob) == run.space.to_text(p)
    run.close()


def test_fsum_matches_python():
    rng = np.random.default_rng(1)
    import math

    for n in (1, 2, 3, 7, 10, 100):
        values = rng.random(n) * 10.0 ** rng.integers(-8, 8, n)
        assert _fsum(values, n) == math.fsum(values.tolist())


def test_restarts_end_each_experiment_and_start_afresh(tmp_path):
    extra = "experiment_individuals = 500\nmax_experiments = 3\nstop_select_fitness = 1.0"
    result = Run.create(tmp_path / "r", config(n=10_000, extra=extra)).run()
    assert result.stop_reason == "max_experiments" and result.n_individuals == 1500
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    try:
        ends = store.events("experiment_end")
        assert [e["individuals"] for e in ends] == [500, 1000, 1500]
        parents = dict(store.rows("id, parent_id").fetchall())
    finally:
        store.close()
    # Each experiment begins with 40 parentless members and never reaches back.
    for start in (1, 501, 1001):
        assert all(parents[i] is None for i in range(start, start + 40))
        assert all(parents[i] >= start for i in range(start + 40, start + 500))


def test_restart_stops_at_a_solved_experiment(tmp_path):
    extra = "experiment_individuals = 400\nstop_select_fitness = 0.0"
    result = Run.create(tmp_path / "r", config(n=10_000, extra=extra)).run()
    assert result.stop_reason == "stop_select_fitness" and result.n_individuals == 400


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            {"search": {"strategy": "random_search", "hurdle": {"enabled": False}}},
            "search.strategy",
        ),
        ({"run": {"workers": 2}}, "run.backend"),
        ({"automl_zero": {"time_cap_seconds": 1.0}}, "automl_zero"),
    ],
)
def test_fused_refuses_what_it_cannot_do(tmp_path, change, key):
    table = tomllib.loads(CONFIG.format(engine="fused", n=100, seed=1, extra=""))
    for section, values in change.items():
        table[section].update(values)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Run.create(tmp_path / "r", parse_config(table))


def test_restarts_need_the_fused_engine(tmp_path):
    with pytest.raises(ConfigError, match="experiment_individuals"):
        Run.create(tmp_path / "r", config("loop", extra="experiment_individuals = 500"))
