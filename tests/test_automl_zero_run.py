"""AutoML-Zero through the engine: a run, its store, resume and `show`."""

import sqlite3

from evoforge.cli import main

CONFIG = """
[run]
domain = "automl_zero"
seed = 7
max_individuals = {n}
checkpoint_every = 150

[search]
population_size = 40
tournament_size = 5
mutation_prob = 0.9

[search.hurdle]
enabled = true

[automl_zero]
initial = "empty"
hurdle_tasks = 2

[automl_zero.setup]
ops = ["OP56", "OP57", "OP63"]
max_size = 4

[automl_zero.predict]
ops = ["OP27", "OP1", "OP18"]
max_size = 4

[automl_zero.learn]
ops = ["OP2", "OP3", "OP18", "OP23"]
max_size = 6

[automl_zero.search_tasks]
type = "linear"
n_tasks = 4
features = 4
n_train = 30
n_valid = 20

[automl_zero.select_tasks]
type = "linear"
n_tasks = 5
features = 4
n_train = 50
n_valid = 20
"""
COLUMNS = "id, parent_id, mutation, genome_text, fitness, per_task, fec_hit, early_stopped"


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {COLUMNS} FROM individuals ORDER BY id").fetchall()


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text(CONFIG.format(n=900))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["run", str(config), "--out", str(whole)]) == 0
    assert main(["run", str(config), "--out", str(parts), "--max-individuals", "400"]) == 0
    assert main(["resume", str(parts), "--max-individuals", "900"]) == 0
    expected, resumed = rows(whole), rows(parts)
    assert [r[0] for r in resumed] == list(range(1, 901))  # no gaps
    assert resumed == expected
    assert any(r[6] for r in expected)  # FEC hits happened
    assert any(r[7] for r in expected)  # and hurdles stopped some children
    capsys.readouterr()
    assert main(["show", str(whole)]) == 0
    shown = capsys.readouterr().out
    assert "def Predict():" in shown and "900" in shown
