"""Long check (`pytest -m slow`, about 5 minutes): the linear demo rediscovers SGD.

Seed 1 of `configs/automl_zero/linear_demo.toml` is deterministic on the
serial backend and solves the demo after 1,677,364 individuals.
"""

from pathlib import Path

import pytest

from evoforge.automl_zero.simplify import simplify
from evoforge.config import load_config
from evoforge.evolution.run import Run

CONFIG = Path(__file__).parent.parent / "configs" / "automl_zero" / "linear_demo.toml"


@pytest.mark.slow
def test_linear_demo_seed_1_finds_sgd(tmp_path):
    config = load_config(CONFIG, {"run.seed": 1, "run.max_individuals": 2_000_000})
    run = Run.create(tmp_path / "run", config)
    result = run.run()
    assert result.stop_reason == "stop_select_fitness"
    assert result.best_select > 0.9999
    assert result.n_individuals == 1_677_364
    text = run.space.to_text(simplify(result.best.genome, run.space.memory))
    assert "s1 = s0 - s1" in text  # Learn computes the error from the label
