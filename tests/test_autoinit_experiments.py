"""The AutoInit experiment helpers and the two benchmark scripts on tiny settings."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from evoforge.activations import to_text
from evoforge.init.experiments import (
    classify,
    count_outcomes,
    init_hook,
    layer_variances,
    overall_outcome,
    random_activations,
    summary,
    weighted,
)
from evoforge.nn import build_model
from evoforge.nn.train import TrainResult

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up
    spec.loader.exec_module(module)
    return module


def result(val_accuracy: float, diverged: bool = False) -> TrainResult:
    return TrainResult(val_accuracy, 1.0, None, None, [], 1, 10, 2.3, 0.1, diverged)


def tiny_resnet(init: str, x: torch.Tensor, depth: int = 14, width: int = 4) -> nn.Module:
    spec = {"name": "resnet", "depth": depth, "width": width, "batchnorm": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model(
            spec, in_shape=(1, 8, 8), num_classes=10, init=init_hook(init, x), seed=0
        )


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(256, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_classify_failure_criterion():
    assert classify(result(0.9, diverged=True), 10) == "diverged"
    assert classify(result(0.15), 10) == "chance"  # exactly chance + margin fails
    assert classify(result(0.16), 10) == "ok"
    assert classify(result(0.15), 10, margin=0.0) == "ok"
    assert classify(result(0.55), 2) == "chance"
    assert classify(result(math.nan), 10) == "chance"
    with pytest.raises(ValueError):
        classify(result(0.5), 10, margin=1.0)


def test_counts_and_overall_outcome():
    counts = count_outcomes(["ok", "error", "chance", "diverged", "diverged"])
    assert counts == {"diverged": 2, "chance": 1, "error": 1, "ok": 1, "failed": 4, "total": 5}
    assert overall_outcome(["ok", "ok", "chance"]) == "ok"
    assert overall_outcome(["ok", "chance"]) == "chance"
    assert overall_outcome(["chance", "diverged", "diverged"]) == "diverged"
    with pytest.raises(ValueError):
        count_outcomes(["fine"])
    with pytest.raises(ValueError):
        overall_outcome([])
    assert summary([math.inf, math.nan]) == {"mean": None, "min": None, "max": None, "n": 0}


def test_init_hooks_set_the_expected_scales(images):
    assert init_hook("torch") is None
    with pytest.raises(ValueError, match="unknown initialisation"):
        init_hook("kaiming")
    he = tiny_resnet("he", images)
    conv = he.stages[0].conv1
    fan_in = conv.weight[0].numel()
    assert conv.weight.var().item() * fan_in == pytest.approx(2.0, rel=0.25)
    assert float(conv.bias.detach().abs().max()) == 0.0
    centred = tiny_resnet("autoinit++", images)
    assert any(type(m).__name__ == "CenteredActivation" for m in centred.modules())
    assert not any(type(m).__name__ == "CenteredActivation" for m in he.modules())


def test_variance_probe_one_entry_per_block(images):
    net = tiny_resnet("he", images)
    probed = layer_variances(net, images)
    # stem conv, 3 stages x 2 blocks, classifier
    assert [v.name for v in probed] == [
        "stem.0",
        *[f"stages.{i}" for i in range(6)],
        "fc",
    ]
    assert all(v.var > 0 and math.isfinite(v.var) for v in probed)
    # He init on a normalisation-free v1 ResNet: the signal grows block after block
    blocks = [v.var for v in probed if v.name.startswith("stages")]
    assert blocks[-1] > 4 * blocks[0]
    assert net.training  # the mode is restored


def test_autoinit_weighted_layers_near_one(images):
    # 16+ channels: with a handful, the realised offsets W·μ fluctuate by tens of percent
    net = tiny_resnet("autoinit", images, depth=8, width=16)
    probed = layer_variances(net, images, weighted)
    assert len(probed) == sum(isinstance(m, nn.Conv2d | nn.Linear) for m in net.modules())
    convs = [v.var for v in probed if v.op == "Conv2d"]
    assert all(0.5 < v < 2.0 for v in convs), convs
    assert sum(convs) / len(convs) == pytest.approx(1.0, abs=0.25)


def test_random_activations_distinct_and_seeded():
    first = [to_text(f) for f in random_activations(20, seed=3)]
    assert len(set(first)) == 20
    assert first == [to_text(f) for f in random_activations(20, seed=3)]
    assert first != [to_text(f) for f in random_activations(20, seed=4)]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_random_activation_script_tiny(capsys, tmp_path):
    script = load_script("autoinit_random_activations")
    out = tmp_path / "acts.jsonl"
    script.main(
        "--functions 2 --epochs 1 --n-train 64 --n-val 40 --inits glorot,autoinit++ "
        f"--batch-size 32 --out {out}".split()
    )
    lines = json_lines(capsys.readouterr().out)
    assert lines == json_lines(out.read_text())
    runs = [r for r in lines if r["figure"] == "activation_run"]
    assert len(runs) == 4 and len([r for r in lines if r["figure"] == "relu_run"]) == 2
    summaries = {r["init"]: r for r in lines if r["figure"] == "activation_summary"}
    assert set(summaries) == {"glorot", "autoinit++"}
    for init, s in summaries.items():
        mine = [r for r in runs if r["init"] == init]
        assert s["total"] == 2 and s["failed"] == sum(r["outcome"] != "ok" for r in mine)
        assert 0 <= s["beat_relu"] <= s["ok"]  # a failed function never beats ReLU
    assert lines[-1]["figure"] == "timing"


ARGS_RESNET = (
    "--depths 8 --width 4 --seeds 1 --epochs 1 --n-train 64 --lrs 0.01 --inits he,autoinit"
)


def test_resnet_script_tiny(capsys):
    script = load_script("autoinit_deep_resnet")
    script.main(ARGS_RESNET.split())
    lines = json_lines(capsys.readouterr().out)
    runs = {r["init"]: r for r in lines if r["figure"] == "resnet_run"}
    assert set(runs) == {"he", "autoinit"}
    assert len(runs["he"]["block_var"]) == 1 + 3 + 1  # stem, 3 blocks, classifier
    summaries = [r for r in lines if r["figure"] == "resnet_summary"]
    assert [s["total"] for s in summaries] == [1, 1]
