"""AQuaSurF as an ``evoforge run``: the activations domain's ``aquasurf`` pool,
the surrogate strategy, features cached in the run directory, exact resume."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from evoforge.activations.aquasurf import pool as pool_module
from evoforge.activations.aquasurf.pool import pool_functions
from evoforge.activations.domain import build
from evoforge.activations.formula import parse, to_text
from evoforge.config import ConfigError, load_config, parse_config
from evoforge.evolution.run import Run

torch.set_num_threads(1)

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "activations"
TINY = {
    "model": {"name": "mlp", "hidden": [8]},
    "train": {"epochs": 1, "batch_size": 50, "lr": 0.05},
    "n_train": 150,
    "n_val": 60,
    "init": "autoinit",
}
DATA = {
    "run": {"domain": "activations", "seed": 2, "max_individuals": 13, "checkpoint_every": 3},
    "search": {"strategy": "surrogate", "surrogate": "knn", "features": "both"},
    "activations": {
        "representation": "aquasurf",
        **TINY,
        "aquasurf": {"space": "benchmark", "pool_size": 40, "feature_batch": 64},
    },
}


def _rows(run_dir: Path) -> list[tuple]:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(
            "SELECT id, mutation, genome_text, fitness, error FROM individuals ORDER BY id"
        ).fetchall()


def test_run_is_interrupted_resumed_and_reuses_the_cached_features(tmp_path, monkeypatch):
    Run.create(tmp_path / "ref", parse_config(DATA)).run()
    ref = _rows(tmp_path / "ref")
    assert ref[0][2] == "relu(x)"  # ReLU first (added to the sample), 7 random, then the surrogate
    assert [r[1] for r in ref] == [None] * 8 + ["knn"] * 5
    assert len({r[2] for r in ref}) == 13

    cfg = parse_config(DATA)
    setup = build(DATA["activations"], "activations", cfg.run.seed)
    real, calls = setup.evaluator.evaluate, []

    def interrupting(genome, budget=None):  # Ctrl-C during the 10th training
        calls.append(genome)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real(genome)

    setup.evaluator.evaluate = interrupting
    first = Run.create(tmp_path / "r", cfg, setup=setup).run()
    assert first.interrupted and first.n_individuals == 9
    cached = sorted(p.name for p in (tmp_path / "r" / "aquasurf").iterdir())
    assert [n.split("-")[0] for n in cached] == ["embedding", "features"]

    def recompute(*args, **kwargs):
        raise AssertionError("features or embedding recomputed on resume")

    monkeypatch.setattr(pool_module, "compute_features", recompute)
    monkeypatch.setattr(pool_module, "embed", recompute)
    monkeypatch.setattr("evoforge.activations.aquasurf.features.compute_features", recompute)
    second = Run.resume(tmp_path / "r").run()
    assert second.n_individuals == 13 and not second.interrupted
    assert _rows(tmp_path / "r") == ref


def test_pool_space_mutates_inside_the_pool_and_refuses_outsiders():
    setup = build({**DATA["activations"]}, "activations", 0)
    space = setup.space
    rng = np.random.default_rng(0)
    members = set(space.functions)
    g = space.initial(rng)
    for _ in range(20):
        g, how = space.mutate(g, rng)
        assert g in members and how in ("change", "redraw")
    assert space.from_text(space.to_text(g)) == g
    outsider = next(f for f in pool_functions("benchmark") if f not in members)
    with pytest.raises(ValueError, match="not in this AQuaSurF pool"):
        space.from_text(to_text(outsider))


def test_four_node_pool_puts_relu_first_and_needs_a_size():
    fs = pool_functions("four_node", pool_size=25, seed=1)
    assert to_text(fs[0]) == "relu(x)" and len(fs) <= 26
    assert len({to_text(f) for f in fs}) == len(fs)
    bad = {**DATA["activations"], "aquasurf": {"space": "four_node"}}
    with pytest.raises(ConfigError, match="pool_size"):
        build(bad, "activations", 0)
    bad = {**DATA["activations"], "aquasurf": {"start": ["relu(x"]}}
    with pytest.raises(ConfigError, match=r"aquasurf\.start\[0\]"):
        build(bad, "activations", 0)


@pytest.mark.parametrize("name", ["aquasurf_benchmark_fashion", "aquasurf_four_node_fashion"])
def test_configs_build(name):
    cfg = load_config(CONFIGS / f"{name}.toml")
    assert cfg.search.strategy == "surrogate"
    setup = build(cfg.domain, "activations", cfg.run.seed)
    assert setup.use_run_dir is not None
    setup.evaluator.build(parse("relu(x)"))
