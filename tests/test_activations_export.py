"""Exporting found activation functions (issue 17, part 6): formula, sympy, standalone module."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import torch

from evoforge.activations import Activation
from evoforge.activations.export import TORCH_SOURCE, export_source
from evoforge.activations.formula import parse
from evoforge.activations.operators import OPERATORS
from evoforge.cli import main

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def load(source: str, tmp_path: Path, name: str = "exported_act"):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_operator_has_source() -> None:
    assert set(TORCH_SOURCE) == set(OPERATORS)


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_exported_operator_equals_the_activation_module(op: str, tmp_path: Path) -> None:
    symbol = OPERATORS[op].symbol
    if OPERATORS[op].arity == 1:
        text = f"alpha*{op}(beta*x)"
    elif symbol is None:
        text = f"alpha*{op}(beta*x, tanh(x))"
    else:
        text = f"alpha*(beta*x {symbol} tanh(x))"
    genome = parse(text)
    module = load(export_source(genome), tmp_path, f"op_{op}")
    x = torch.linspace(-3, 3, 61).reshape(1, 61) * 1.01  # avoid exact 0 only by accident
    x = torch.cat([x, torch.zeros(1, 61)])
    ours = Activation(genome, mode="per_layer")
    with torch.no_grad():
        ours.weights[0].fill_(0.7)
    exported = module.EvolvedActivation()
    exported.load_state_dict(ours.state_dict())  # evoforge's names load
    torch.testing.assert_close(exported(x), ours(x), equal_nan=True)


def test_exported_per_channel_module_is_scriptable(tmp_path: Path) -> None:
    genome = parse("log_sigmoid(alpha*x) * beta*arcsinh(x)")
    module = load(export_source(genome), tmp_path)
    act = module.EvolvedActivation(channels=3)
    scripted = torch.jit.script(act)
    x = torch.randn(4, 3, 5)
    ours = Activation(genome)
    torch.testing.assert_close(scripted(x), ours(x))
    assert "import evoforge" not in export_source(genome)


def test_cli_exports_an_activation_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(ROOT / "configs/activations/pangaea_small.toml", run_dir / "config.toml")
    (run_dir / "best.txt").write_text("# id 7, fitness 0.95\nalpha*x - beta*log_sigmoid(x)\n")
    assert main(["export", str(run_dir)]) == 0
    out = run_dir / "export"
    assert (out / "formula.txt").read_text() == "alpha*x - beta*log_sigmoid(x)\n"
    assert "alpha*x" in (out / "sympy.txt").read_text()
    sys.modules.pop("activation", None)
    module = load((out / "activation.py").read_text(), tmp_path, "activation_cli")
    x = torch.randn(5, 2)
    expected = x - torch.nn.functional.logsigmoid(x)
    torch.testing.assert_close(module.EvolvedActivation()(x), expected)
