"""Both weight-training domains through the engine (issue 13, part 3): a run
stopped and resumed equals one long run, and ``evoforge export`` writes a
standalone module whose outputs are the trained network's."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from evoforge.api import open_run
from evoforge.cli import main
from evoforge.config import load_config
from evoforge.domains import build_domain
from evoforge.evolution.run import Run
from evoforge.weights.batched import load_mlp
from evoforge.weights.stages import BEST_FILE, STATE_FILE

# Small enough for a test; digits tasks for the sharing run (8×8: no MNIST load).
SETTINGS = {
    "ea": (
        "configs/weights/ea_digits.toml",
        {
            "weights_ea.population": 20,
            "weights_ea.batch_size": 32,
            "weights_ea.generations_per_step": 3,
        },
    ),
    "sharing": (
        "configs/weights/sharing_three_tasks.toml",
        {
            "weights_sharing.tasks": ["digits", "digits"],
            "weights_sharing.n_train": 200,
            "weights_sharing.n_test": 100,
            "weights_sharing.n_val": 100,
            "weights_sharing.channels": 4,
            "weights_sharing.hidden": 8,
            "weights_sharing.batch_per_task": 8,
            "weights_sharing.iterations_per_step": 3,
        },
    ),
}


def _read(path):
    """Tensors and metadata (compared decoded: the header's key order may vary)."""
    with safe_open(str(path), framework="pt") as f:
        return load_file(str(path)), dict(f.metadata() or {})


def _config(kind, n, **changes):
    path, overrides = SETTINGS[kind]
    return load_config(path, {"run.max_individuals": n, **overrides, **changes})


@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_stages_resume_exactly(tmp_path, kind):
    Run.create(tmp_path / "long", _config(kind, 4)).run()
    Run.create(tmp_path / "short", _config(kind, 2)).run()
    result = Run.resume(tmp_path / "short", max_individuals=4).run()
    assert result.n_individuals == 4
    for stage in (3, 4):
        for name in (STATE_FILE, BEST_FILE):
            a = _read(tmp_path / "long" / "artefacts" / str(stage) / name)
            b = _read(tmp_path / "short" / "artefacts" / str(stage) / name)
            assert a[1] == b[1] and a[0].keys() == b[0].keys(), (stage, name)
            assert all(torch.equal(a[0][k], b[0][k]) for k in a[0]), (stage, name)
    with open_run(tmp_path / "long") as long, open_run(tmp_path / "short") as short:
        assert [(r.fitness, r.per_task) for r in long.history()] == [
            (r.fitness, r.per_task) for r in short.history()
        ]
    assert 0.0 < result.best.fitness <= 1.0


def test_ea_stage_network_loads_as_a_module(tmp_path):
    Run.create(tmp_path / "run", _config("ea", 2)).run()
    module = load_mlp(tmp_path / "run" / "artefacts" / "2" / BEST_FILE)
    assert module(torch.zeros(3, 64)).shape == (3, 10)


def _import(path):
    spec = importlib.util.spec_from_file_location("exported_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _trainer(config, stage_dir):
    """The trained state evoforge itself holds for a stage (not the export)."""
    chain = build_domain(config).evaluator
    trainer = chain.new()
    chain.load_state(trainer, *_read(stage_dir / STATE_FILE))
    return trainer


@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_export_round_trip_reproduces_the_outputs(tmp_path, kind):
    config = _config(kind, 3)
    Run.create(tmp_path / "run", config).run()
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "out")]) == 0
    source = (tmp_path / "out" / "model.py").read_text()
    assert "import evoforge" not in source and "from evoforge" not in source
    model = _import(tmp_path / "out" / "model.py").load(tmp_path / "out" / "weights.safetensors")
    with open_run(tmp_path / "run") as run:
        best = run.best()
    trainer = _trainer(config, tmp_path / "run" / "artefacts" / str(best.id))
    x = torch.rand(16, 64) if kind == "ea" else torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        if kind == "ea":  # the batched functional forward vs the exported module
            expected = trainer.net.logits_one(trainer.best(), x)
            assert torch.allclose(model(x), expected, atol=1e-5)
            assert not model.training
        else:  # the trainer's full network (all K candidates) vs the pruned export
            trainer.net.eval()
            a = trainer.assignment()
            for t in range(2):
                expected = trainer.net(x, t, a[4 * t : 4 * t + 4])
                assert torch.allclose(model(x, t), expected, atol=1e-5)
            assert list(best.per_task) == pytest.approx(trainer.errors("test"))


def test_export_refuses_a_run_without_a_kept_network(tmp_path, capsys):
    Run.create(tmp_path / "run", _config("ea", 1)).run()
    (tmp_path / "run" / "artefacts" / "1" / BEST_FILE).unlink()
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "best stage's network was not kept" in capsys.readouterr().err


def test_sharing_stages_train_what_the_benchmark_trains():
    """A stage chain with validation images = one uninterrupted loop without them."""
    from evoforge.weights.sharing import WeightSharing
    from evoforge.weights.sharing_tasks import three_tasks

    config = _config("sharing", 2)
    chain = build_domain(config).evaluator
    lws = WeightSharing(three_tasks(200, 100, config.run.seed, ("digits", "digits")), chain.config)
    for _ in range(2 * chain.steps):
        lws.iteration()
    assert list(chain.evaluate(1).per_task) == lws.errors()
