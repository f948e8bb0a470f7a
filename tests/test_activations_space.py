"""CafeSpace and PangaeaSpace satisfy evoforge's SearchSpace protocol."""

import json

import numpy as np
import pytest

from evoforge.activations import CafeSpace, PangaeaSpace, cafe
from evoforge.evolution.space import SearchSpace


@pytest.mark.parametrize("space", [CafeSpace(), CafeSpace("s1"), PangaeaSpace()])
def test_protocol_and_round_trips(space):
    assert isinstance(space, SearchSpace)
    rng = np.random.default_rng(0)
    g = space.initial(rng)
    for _ in range(50):
        g, name = space.mutate(g, rng)
        assert isinstance(name, str)
        assert space.from_text(space.to_text(g)) == g
        assert space.from_json(json.loads(json.dumps(space.to_json(g)))) == g


def test_cafe_space_crossover_and_validation():
    space = CafeSpace()
    rng = np.random.default_rng(1)
    child = space.crossover(space.initial(rng), space.initial(rng), rng)
    assert cafe.shape_of(child) == "s2"
    with pytest.raises(ValueError, match="expected a CAFE S2 genome, got S1"):
        space.from_text("sin(x) + cos(x)")
    with pytest.raises(ValueError, match="not a CAFE genome"):
        space.from_text("swish(x) + x")
    with pytest.raises(ValueError, match="expected 's1' or 's2'"):
        CafeSpace("s3")


def test_pangaea_space_validation():
    space = PangaeaSpace()
    with pytest.raises(ValueError, match=r"\['sin'\] are not in this PANGAEA space"):
        space.from_text("sin(x)")
    assert space.from_text("alpha*x") == space.from_text("identity(alpha*x)")  # one node
    with pytest.raises(ValueError, match="'h1' is bound but never used"):
        space.from_text("h1 = tanh(x); exp(x)")
    with pytest.raises(ValueError, match="not in canonical order"):
        space.from_json({"nodes": [["tanh", [0], [False]], ["exp", [0], [False]]]})
    with pytest.raises(ValueError, match=r"node 1 must be \[op"):
        space.from_json({"nodes": [["tanh", 0]]})
    with pytest.raises(ValueError, match="'tanh' takes 1 arg"):
        space.from_json({"op": "tanh", "args": []})
    with pytest.raises(ValueError, match="unexpected keys"):
        space.from_json({"op": "x", "weight": 2})
    with pytest.raises(ValueError, match="expected an object"):
        space.from_json(["tanh"])
