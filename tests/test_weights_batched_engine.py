"""Chapter 5's EA through the engine: store, resume, safetensors export (issue 13, part 3)."""

from __future__ import annotations

import torch

from evoforge.config import load_config
from evoforge.evolution.run import Run
from evoforge.weights.batched import load_mlp
from evoforge.weights.domain_ea import BEST_FILE


def _config(n):
    return load_config(
        "configs/weights/ea_digits.toml",
        {
            "run.max_individuals": n,
            "weights_ea.population": 20,
            "weights_ea.batch_size": 32,
            "weights_ea.generations_per_step": 3,
        },
    )


def test_stages_resume_exactly_and_export_the_best(tmp_path):
    Run.create(tmp_path / "long", _config(4)).run()
    Run.create(tmp_path / "short", _config(2)).run()
    result = Run.resume(tmp_path / "short", max_individuals=4).run()
    assert result.n_individuals == 4
    for stage in (3, 4):
        a = (tmp_path / "long" / "artefacts" / str(stage) / BEST_FILE).read_bytes()
        b = (tmp_path / "short" / "artefacts" / str(stage) / BEST_FILE).read_bytes()
        assert a == b
    module = load_mlp(tmp_path / "short" / "artefacts" / "4" / BEST_FILE)
    assert module(torch.zeros(3, 64)).shape == (3, 10)
    assert 0.0 < result.best.fitness <= 1.0
