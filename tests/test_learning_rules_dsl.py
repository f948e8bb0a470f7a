"""The Backprop Evolution DSL: functions, shapes, text and the search space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.learning_rules.equation import (
    PRESETS,
    EquationSyntaxError,
    infer_shape,
    is_feasible,
    parse,
)
from evoforge.learning_rules.functions import (
    BINARY,
    UNARY_CHOICES,
    ConvOperator,
    RuntimeState,
    Unary,
    apply_binary,
    apply_unary,
    binary_shape,
    unary_shape,
)
from evoforge.learning_rules.operands import OPERAND_CHOICES, OPERANDS, shape_env
from evoforge.learning_rules.space import EquationSpace

torch.set_num_threads(1)


def test_appendix_a_is_complete():
    names = {u.name for u in UNARY_CHOICES}
    for n in ("id", "T", "inv", "abs", "neg", "ind", "relu", "sgn", "sqrt_abs", "ssqrt", "sq"):
        assert n in names
    assert {u.param for u in UNARY_CHOICES if u.name == "drop"} == {0.01, 0.1, 0.3}
    assert {u.param for u in UNARY_CHOICES if u.name == "clip"} == {0.01, 0.1, 0.5, 1.0}
    assert {u.param for u in UNARY_CHOICES if u.name == "addnoise"} == {0.01, 0.1, 0.5, 1.0}
    norms = [n for n in names if n.startswith("norm_")]
    assert len(norms) == 5 * 3 + 4  # elem/col/row x 5 orders + 4 matrix norms
    assert set(BINARY) == {"add", "sub", "mul", "div", "matmul", "left", "min", "max"}
    assert len(OPERANDS) == 17 and len(OPERAND_CHOICES) == 17 * 4


@pytest.mark.parametrize("u", UNARY_CHOICES, ids=str)
def test_every_unary_on_matrices_and_conv_kernels(u):
    x = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    out = apply_unary(u, x, RuntimeState(0), "k")
    assert tuple(out.shape) == unary_shape(u, (2, 3))
    assert torch.isfinite(out).all()
    op = ConvOperator(torch.randn(4, 2, 3, 3), (2, 5, 5), (4, 5, 5), {"padding": 1})
    conv_out = apply_unary(u, op, RuntimeState(0), "k")
    assert conv_out.shape == unary_shape(u, op.shape)


def test_unary_values():
    x = torch.tensor([[3.0, -4.0], [0.0, 1.0]])
    s = RuntimeState(0)
    assert apply_unary(Unary("norm_elem0"), x, s, 1).flatten().tolist() == pytest.approx(
        [1.0, -4 / 3, 0.0, 1 / 3]
    )
    assert apply_unary(Unary("norm_rowinf"), x, s, 1)[0].tolist() == pytest.approx([0.75, -1.0])
    assert apply_unary(Unary("norm_col1"), x, s, 1)[:, 1].tolist() == pytest.approx([-0.8, 0.2])
    assert apply_unary(Unary("norm_mat1"), x, s, 1).abs().max() == pytest.approx(0.8)
    assert apply_unary(Unary("clip", 0.5), x, s, 1).tolist() == [[0.5, -0.5], [0.0, 0.5]]
    assert apply_unary(Unary("ssq"), x, s, 1).tolist() == [[9.0, -16.0], [0.0, 1.0]]
    # Running-average normalisation: the first step normalises by the batch itself.
    first = apply_unary(Unary("runnorm"), x, s, 2)
    assert first.mean(0).abs().max() < 1e-6
    drop = apply_unary(Unary("drop", 0.3), torch.ones(200, 50), RuntimeState(1), 3)
    assert drop.unique().tolist() == pytest.approx([0.0, 1 / 0.7])
    assert 0.25 < float((drop == 0).float().mean()) < 0.35


def test_binary_functions_and_conv_products():
    a, b = torch.randn(5, 7), torch.randn(5, 7)
    assert torch.equal(apply_binary("max", a, b), torch.maximum(a, b))
    assert apply_binary("matmul", a, torch.randn(7, 3)).shape == (5, 3)
    assert binary_shape("matmul", (5, 7), (7, 3)) == (5, 3)
    assert binary_shape("mul", (5, 7), (5, 7)) == (5, 7)
    with pytest.raises(ValueError, match="shape mismatch"):
        apply_binary("add", a, torch.randn(7, 5))
    # x · W on a convolution is its transposed convolution; x · Wᵀ the convolution.
    w = torch.randn(4, 2, 3, 3)
    op = ConvOperator(w, (2, 6, 6), (4, 3, 3), {"stride": 2, "padding": 1})
    x = torch.randn(3, 2 * 36)
    fwd = apply_binary("matmul", x, op.T())
    ref = torch.nn.functional.conv2d(x.reshape(3, 2, 6, 6), w, stride=2, padding=1)
    assert torch.allclose(fwd, ref.reshape(3, -1), atol=1e-5)
    y = torch.randn(3, 4 * 9)
    back = apply_binary("matmul", y, op)
    # <conv(x), y> == <x, conv^T(y)>: the transposed convolution is the adjoint.
    assert torch.allclose((fwd * y).sum(), (x * back).sum(), atol=1e-4)
    with pytest.raises(ValueError, match="right factor"):
        apply_binary("matmul", op, y)


def test_shape_inference():
    env = shape_env()
    assert infer_shape(parse("mul(matmul(b1, W), dh)"), env) == env["hp"]
    assert infer_shape(parse("matmul(b1, T(b1))"), env) == (5, 5)
    assert infer_shape(parse("add(g, hp1)"), env) is None
    assert is_feasible(parse("left(g, hp1)"))
    assert not is_feasible(parse("left(W, g)"))
    # A kernel may not be the left factor in a convolutional layer.
    eq = parse("matmul(T(matmul(W, T(hp))), W)")
    assert infer_shape(eq, env) == env["hp"]
    assert infer_shape(eq, env, conv=True) is None
    for text in PRESETS.values():
        assert is_feasible(parse(text), conv=True)


def test_text_round_trip_and_errors():
    texts = [
        "min(norm_fro(g), clip[1](h))",
        "add(norm_fro(g), scale[0.5](g))",
        "div(norm_elem2(g), shift[2](mhat(dfad)))",
        "max(shift[-10](bW), norm_elem2(g))",
        "mul(sgn(bn(dh)), norm_elem2(g))",
    ]
    for text in texts:
        eq = parse(text)
        assert str(eq) == text and parse(str(eq)) == eq
    for bad, what in [
        ("add(g)", "two arguments"),
        ("foo(g, h)", "binary function"),
        ("add(g, x)", "operand"),
        ("add(g, h", "expected"),
        ("add(g, h) h", "end of the equation"),
        ("add(clip(g), h)", "takes a value"),
        ("add(abs(neg(g)), h)", "operand"),
        ("add(g, add(h, g))", "operand"),
    ]:
        with pytest.raises(EquationSyntaxError, match=what):
            parse(bad)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_space_draws_and_mutations_are_feasible_and_round_trip(seed):
    space = EquationSpace()
    rng = np.random.default_rng(seed)
    eq = space.initial(rng)
    assert is_feasible(eq)
    for _ in range(3):
        child, name = space.mutate(eq, rng)
        assert is_feasible(child) and child != eq and name in ("operand", "unary", "binary")
        # One component changed: same number of blocks, at most one field differs.
        assert len(child.blocks) == len(eq.blocks)
        diffs = sum(
            getattr(a, f) != getattr(b, f)
            for a, b in zip(eq.blocks, child.blocks, strict=True)
            for f in ("op1", "u1", "op2", "u2", "f")
        )
        assert diffs == 1
        assert space.from_json(space.to_json(child)) == child
        eq = child


def test_seeded_space_and_subsets():
    space = EquationSpace(initial="seeded", seeds=("bp", "fa", "dfa"))
    rng = np.random.default_rng(0)
    drawn = {str(space.initial(rng)) for _ in range(30)}
    assert drawn == {PRESETS["bp"], PRESETS["fa"], PRESETS["dfa"]}
    small = EquationSpace(
        operands=[o for o in OPERAND_CHOICES if o.name in ("g", "h") and not o.variant],
        unary=[Unary("id"), Unary("norm_fro")],
        binary=["add", "left"],
        max_blocks=1,
    )
    eq = small.random(rng)
    assert eq.operands()[0].name in ("g", "h") and eq.blocks[0].f in ("add", "left")
