"""The Python API: `evoforge.search` in memory and in a run directory, with
callbacks, from objects or a config; `evoforge.open_run` reading a run."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import evoforge
import toy_domain  # noqa: F401 - registers the "toy" domain
from evoforge.config import ConfigError
from evoforge.errors import EvoforgeError
from evoforge.evolution.callbacks import NewBest, Record
from evoforge.evolution.space import Evaluation

TOY = {
    "run": {"domain": "toy", "max_individuals": 600, "seed": 3},
    "search": {"population_size": 30, "tournament_size": 5, "hurdle": {"enabled": True}},
    "toy": {"length": 24},
}


class Ints:
    def initial(self, rng):
        return int(rng.integers(100))

    def mutate(self, g, rng):
        return g + int(rng.integers(-3, 4)), "step"

    def to_text(self, g):
        return str(g)

    def from_text(self, text):
        return int(text)


class Near42:
    def evaluate(self, g, budget=None):
        if g < 0:
            return Evaluation(-math.inf, error="negative")
        return Evaluation(1 / (1 + abs(g - 42)))


def test_search_objects_in_memory_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    result = evoforge.search(Ints(), Near42(), max_individuals=200, seed=1)
    assert result.run_dir is None and result.n_individuals == 200
    assert result.best_genome == 42 and result.best_fitness == 1.0
    history = result.history()
    assert [r.id for r in history] == list(range(1, 201))
    assert result.best == history[result.best.id - 1]
    assert max(r.fitness for r in history) == 1.0
    assert list(tmp_path.iterdir()) == []  # the temporary run directory is gone


def test_search_is_seeded():
    a = evoforge.search(Ints(), Near42(), max_individuals=100, seed=7).history()
    b = evoforge.search(Ints(), Near42(), max_individuals=100, seed=7).history()
    c = evoforge.search(Ints(), Near42(), max_individuals=100, seed=8).history()
    texts = [[r.genome_text for r in h] for h in (a, b, c)]
    assert texts[0] == texts[1] != texts[2]


def test_callbacks_see_every_individual_and_each_new_best():
    seen: list[Record] = []
    bests: list[NewBest] = []
    result = evoforge.search(config=TOY, on_individual=seen.append, on_new_best=bests.append)
    assert [r.id for r in seen] == list(range(1, 601))
    assert seen == result.history()  # the same values the store holds
    running = -math.inf
    improvements = []
    for r in seen:
        if r.error is None and r.fitness > running:
            running = r.fitness
            improvements.append((r.id, r.fitness, r.genome_text))
    assert [(b.id, b.fitness, b.genome_text) for b in bests] == improvements
    assert bests[-1].individuals == bests[-1].id and bests[-1].elapsed >= 0


def test_callbacks_on_islands():
    config = {**TOY, "search": {**TOY["search"], "islands": {"count": 2, "migrate_every": 50}}}
    seen: list[int] = []
    bests: list[NewBest] = []
    result = evoforge.search(
        config=config, on_individual=lambda r: seen.append(r.id), on_new_best=bests.append
    )
    assert sorted(seen) == list(range(1, result.n_individuals + 1))
    assert bests and bests[-1].fitness == result.best_fitness
    assert {r.worker for r in result.history()} == {0, 1}


def test_a_raising_callback_stops_the_run(tmp_path):
    def boom(record: Record) -> None:
        if record.id == 50:
            raise RuntimeError("tracker down")

    with pytest.raises(RuntimeError, match="tracker down"):
        evoforge.search(config=TOY, run_dir=tmp_path / "run", on_individual=boom)
    with evoforge.open_run(tmp_path / "run") as run:
        assert run.status == "failed"


def test_search_in_a_run_directory_and_open_run(tmp_path):
    run_dir = tmp_path / "run"
    result = evoforge.search(config=TOY, run_dir=run_dir, max_individuals=300)
    assert result.run_dir == run_dir and result.records is None
    assert (run_dir / "config.toml").is_file() and (run_dir / "best.txt").is_file()
    with evoforge.open_run(run_dir) as run:
        assert run.status == "finished" and run.domain == "toy"
        assert run.config["run"]["max_individuals"] == 300
        history = run.history()
        assert len(history) == 300 and history == result.history()
        assert run.best() == result.best
        assert run.summary()["individuals"] == 300
        assert run.summary()["early_stopped"] == sum(r.early_stopped for r in history)
        news = run.events("new_best")
        assert news[-1]["id"] == result.best.id
        arrays = run.arrays()
        assert arrays["id"].tolist() == list(range(1, 301))
        assert np.array_equal(arrays["fitness"], [r.fitness for r in history])
        names = arrays["mutation_names"]
        decoded = [None if c < 0 else names[c] for c in arrays["mutation"]]
        assert decoded == [r.mutation for r in history]


def test_open_run_reads_while_the_directory_is_locked_by_a_writer(tmp_path):
    from evoforge.config import parse_config
    from evoforge.evolution.run import Run

    run = Run.create(tmp_path / "run", parse_config(TOY))  # holds the writer's lock
    try:
        with evoforge.open_run(tmp_path / "run") as view:
            assert view.status == "created" and view.history() == []
    finally:
        run.close()


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"search\.population_size"):
        evoforge.search(config={**TOY, "search": {"population_size": -1}})
    with pytest.raises(TypeError, match="both space and evaluator"):
        evoforge.search(Ints())
    with pytest.raises(EvoforgeError, match="no such run directory"):
        evoforge.open_run(tmp_path / "nothing")
    (tmp_path / "notrun").mkdir()
    with pytest.raises(EvoforgeError, match="not a run directory"):
        evoforge.open_run(tmp_path / "notrun")


def test_search_from_a_toml_file(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[run]\ndomain = "toy"\nmax_individuals = 50\n[toy]\nlength = 8\n')
    result = evoforge.search(config=path, seed=2)
    assert result.n_individuals == 50 and len(result.best.genome_text) == 8


def test_dataframe_needs_pandas_and_says_so(monkeypatch):
    result = evoforge.search(Ints(), Near42(), max_individuals=20)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install pandas"):
        result.dataframe()


def test_dataframe_with_pandas():
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    result = evoforge.search(Ints(), Near42(), max_individuals=40)
    df = result.dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 40
    assert df["fitness"].max() == result.best_fitness and df["id"].tolist()[0] == 1


def test_import_evoforge_stays_light():
    import subprocess

    code = "import evoforge, sys; print('numpy' in sys.modules, 'evoforge.api' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(Path(evoforge.__file__).parents[1])},
    )  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


# -- a fused run (issue 21): compact rows, read through every reader -------------------

LINEAR_DEMO = Path(__file__).parents[1] / "configs" / "automl_zero" / "linear_demo.toml"
FUSED = 3000


def fused_config(n):
    from evoforge.config import load_config

    overrides = {
        "run.engine": "fused",
        "run.max_individuals": n,
        "run.checkpoint_every": 1000,
        "search.population_size": 100,
        "automl_zero.select_tasks.n_tasks": 5,
    }
    return load_config(LINEAR_DEMO, overrides)


@pytest.fixture(scope="module")
def fused_run(tmp_path_factory):
    """A small fused linear-demo run (genome_text NULL and per_task bytes in
    its rows) with what its callbacks saw; ``best`` is (id, fitness, text by
    the search space) of the run's in-memory best."""
    from evoforge.evolution.callbacks import Callbacks, observe
    from evoforge.evolution.run import Run

    run_dir = tmp_path_factory.mktemp("fused") / "run"
    seen: list[Record] = []
    bests: list[NewBest] = []
    run = Run.create(run_dir, fused_config(FUSED))
    space = run.space
    observe(run, Callbacks(on_individual=seen.append, on_new_best=bests.append))
    result = run.run()
    assert result.n_individuals == FUSED
    best = (result.best.id, result.best.fitness, space.to_text(result.best.genome))
    return run_dir, best, seen, bests


def test_open_run_reads_fused_compact_rows_as_text(fused_run):
    import sqlite3

    run_dir, (best_id, best_fitness, best_text), _, _ = fused_run
    with sqlite3.connect(run_dir / "run.sqlite") as db:  # the rows are compact
        kinds = db.execute(
            "SELECT COUNT(*), SUM(genome_text IS NULL), SUM(typeof(per_task) = 'blob')"
            " FROM individuals"
        ).fetchone()
    assert kinds == (FUSED, FUSED, FUSED)
    before = (run_dir / "run.sqlite").read_bytes()
    with evoforge.open_run(run_dir) as run:
        history = run.history()
        assert len(history) == FUSED and [r.id for r in history] == list(range(1, FUSED + 1))
        assert all(r.genome_text.startswith("def Setup():") for r in history)
        assert all(len(r.per_task) == 10 for r in history if not r.early_stopped)
        assert run.record(1234) == history[1233]
        best = run.best()
        assert (best.id, best.fitness, best.genome_text) == (best_id, best_fitness, best_text)
        assert best.fitness == run.summary()["best_fitness"]
        assert best_text.strip() in run.best_text()
        assert run.columns(["genome_text"])[9][0] == history[9].genome_text
        if importlib.util.find_spec("pandas"):
            frame = run.dataframe()
            assert frame.genome_text.notna().all() and frame.per_task.map(len).max() == 10
    assert (run_dir / "run.sqlite").read_bytes() == before  # read-only


def test_callbacks_fire_for_fused_chunks(fused_run):
    run_dir, _, seen, bests = fused_run
    assert [r.id for r in seen] == list(range(1, FUSED + 1))
    with evoforge.open_run(run_dir) as run:
        history = run.history()
        news = run.events("new_best")
    assert seen == history  # the same Record content
    assert [b.id for b in bests] == [e["id"] for e in news]
    assert bests[-1].genome_text == history[bests[-1].id - 1].genome_text
    # evoforge.search over a fused config, in memory: the history the callbacks saw.
    calls: list[Record] = []
    result = evoforge.search(config=fused_config(500), on_individual=calls.append)
    assert len(calls) == 500 and list(result.records) == calls
    assert result.best.genome_text.startswith("def Setup():")


def test_report_show_json_and_export_of_a_fused_run(fused_run, tmp_path, capsys):
    import json

    from evoforge.cli import main
    from evoforge.report import write_report

    run_dir, (best_id, _, best_text), _, _ = fused_run
    page = write_report(run_dir, tmp_path / "report.html").read_text()
    assert '<pre class="genome automl-zero">def Setup():' in page
    assert best_text.strip().splitlines()[-1].strip() in page
    assert "<td>alter_argument</td>" in page and "<td>randomize_component</td>" in page
    capsys.readouterr()
    assert main(["show", "--json", str(run_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["individuals"] == FUSED and doc["best"]["id"] == best_id
    assert doc["best"]["genome"] == best_text
    assert main(["export", str(run_dir), "--out", str(tmp_path / "evolved.py")]) == 0
    assert "def " in (tmp_path / "evolved.py").read_text()


def test_plain_sql_readers_of_a_fused_run(fused_run):
    from evoforge.activations.selection import top_distinct
    from evoforge.automl_zero.experiments import acceptable_count, best_so_far

    run_dir, (best_id, best_fitness, best_text), _, _ = fused_run
    bests = best_so_far(run_dir)
    assert bests[-1]["id"] == best_id and bests[-1]["text"] == best_text
    assert all(b["text"].startswith("def Setup():") for b in bests)
    count, first = acceptable_count(run_dir, best_fitness)  # FEC hits count too
    assert count >= 1 and first == best_id
    assert top_distinct(run_dir, 1) == [(best_text, best_fitness)]
