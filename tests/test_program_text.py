"""Program text: printing, parsing the paper's listings, exact round trips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.automl_zero.listings import (
    FIGURE_5,
    FIGURE_S1A,
    FIGURE_S1B,
    FIGURE_S2A,
    FIGURE_S2B,
    FIGURE_S2C,
)
from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import N_OPS, OPS, op_by_name
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.space import ProgramSpace
from evoforge.automl_zero.text import ProgramSyntaxError, from_text, program_memory, to_text

# Section 4.3's configuration (Supplement S5): 10 scalars, 16 vectors, 4 matrices, F = 16.
SECTION_4_3 = Memory(10, 16, 4, features=16)


def ops_of(program: Program) -> list[str]:
    return [OPS[row[0]].name for k in range(3) for row in program.rows(k)]


def test_figure_5_parses_and_round_trips():
    memory = Memory(4, 8, 2, features=8)
    program = from_text(FIGURE_5, memory)
    assert program.sizes == (3, 3, 8)
    ops = [row[0] for k in range(3) for row in program.rows(k)]
    assert ops == [64, 56, 63, 31, 48, 27, 16, 2, 3, 18, 25, 28, 39, 23]
    # The literal 0 in maximum(0, v6) is a vector address the program never writes.
    relu = program.rows(1)[1]
    written = {row[3] for k in range(3) for row in program.rows(k) if OPS[row[0]].output == "v"}
    assert relu[1] not in written | {0}
    assert program.rows(0)[1][4] == 4.1
    assert program.rows(0)[0][4] == float(np.float32(-1e-10))
    assert from_text(to_text(program, memory), memory) == program


def test_figure_s1a_parses_and_round_trips():
    memory = Memory(8, 14, 3, features=16)
    program = from_text(FIGURE_S1A, memory)
    assert program.sizes == (4, 6, 16)
    assert from_text(to_text(program, memory), memory) == program


def test_figure_s1b_parses_as_s1a_without_its_redundant_lines():
    memory = Memory(8, 14, 3, features=16)
    raw, simplified = from_text(FIGURE_S1A, memory), from_text(FIGURE_S1B, memory)
    assert simplified.sizes == (0, 5, 12)
    # S1b keeps S1a's Predict and Learn lines in order, minus the removed ones.
    kept = iter(ops_of(raw))
    assert all(op in kept for op in ops_of(simplified))
    assert from_text(to_text(simplified, memory), memory) == simplified


def test_figure_s2a_parses_in_section_4_3_memory():
    program = from_text(FIGURE_S2A, SECTION_4_3)
    assert program.sizes == (1, 12, 14)
    assert program.rows(0)[0][4] == 4.0e-3
    assert ops_of(program)[9] == "SCALAR_BROADCAST"  # v3 = bcast(s8)
    assert from_text(to_text(program, SECTION_4_3), SECTION_4_3) == program


def test_figure_s2b_names_the_line_no_single_op_computes():
    with pytest.raises(ProgramSyntaxError) as caught:
        from_text(FIGURE_S2B, SECTION_4_3)
    error = caught.value
    assert error.line == "v7 = s4 + v11"
    assert FIGURE_S2B.splitlines()[error.lineno - 1].strip() == error.line
    assert "no single Table S1 op" in str(error) and "v + v -> vector" in str(error)
    assert "bcast" in str(error)  # how to write it with Table S1 ops
    # Every other line reads: the listing without that line parses.
    without = FIGURE_S2B.replace("    v7 = s4 + v11\n", "")
    assert from_text(without, SECTION_4_3).sizes == (5, 13, 20)


def test_figure_s2c_reads_max_min_and_says_what_memory_it_needs():
    with pytest.raises(ProgramSyntaxError, match=r"needs 20 vectors \(has 16\), 8 matrices"):
        from_text(FIGURE_S2C, SECTION_4_3)
    memory = program_memory(FIGURE_S2C, 16, at_least=SECTION_4_3)
    assert memory == Memory(10, 20, 8, features=16)
    program = from_text(FIGURE_S2C, memory)
    assert program.sizes == (7, 19, 26)
    names = ops_of(program)
    assert names[12:14] == ["VECTOR_MAX", "VECTOR_MIN"]  # max(v1, v15), min(v5, v4)
    assert names[8] == "MATRIX_ROW_NORM"  # norm(m1, axis=1)
    assert names.count("SCALAR_MIN") == 1  # minimum(s0, s1)
    assert from_text(to_text(program, memory), memory) == program


@pytest.mark.parametrize("features", [2, 4, 5, 16])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.tuples(*[st.integers(0, 12)] * 3))
def test_random_programs_round_trip_exactly(features, seed, sizes):
    memory = Memory(5, 5, 3, features=features)
    all_ops = list(range(N_OPS))
    mutator = Mutator(memory, (all_ops, all_ops, all_ops), (0, 0, 0), (20, 20, 20))
    rng = np.random.default_rng(seed)
    program = mutator.random_program(sizes, rng)
    for _ in range(5):  # mutated constants are no longer the drawn ones
        program, _ = mutator.mutate(program, rng)
    assert from_text(to_text(program, memory), memory) == program
    assert Program.from_json(program.to_json()) == program
    space = ProgramSpace(mutator, sizes)
    assert space.to_text(program) == to_text(program, memory)


def test_every_op_prints_and_parses():
    memory = Memory(4, 4, 4, features=4)
    for spec in OPS:
        ins = [1, 2][: spec.n_inputs] + [0] * (2 - spec.n_inputs)
        row = (spec.id, *ins, 3 if spec.output else 0, 0.375, 0.625, 0.5)
        program = Program.from_components(([], [row], []))
        text = to_text(program, memory)
        parsed = from_text(text, memory)
        assert to_text(parsed, memory) == text, spec.name
        assert parsed.code[0, 0] == spec.id, spec.name


def test_op_names_and_ids():
    assert op_by_name("OP27").id == 27
    assert op_by_name("vector_inner_product_op").id == 27
    assert op_by_name(64).name == "MATRIX_GAUSSIAN_SET"
    with pytest.raises(KeyError, match="unknown op"):
        op_by_name("VECTOR_CROSS_PRODUCT")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s1 = s2 + s3", "code before"),
        ("def Setup():\n  s9 = 1.0", "outside the memory"),
        ("def Setup():\n  s1 = cross(v1, v2)", "no op writes a scalar"),
        ("def Predict():\n  v1 = s1 + s2", "no op writes a vector"),
        ("def Learn():\n  s1 = ", "cannot read|expected a number"),
        ("def Train():\n  s1 = 1.0", "unknown function"),
        ("def Setup():\n  v1[7] = 1.0", "index"),
        ("def Setup():\n  s1 = cross(v1, v2)", "'cross' is not an op name"),
        ("def Learn():\n  v1 = mean(m1, axis=0)", r"mean\(m, axis=1\) -> vector"),
        ("def Learn():\n  v1 = s1 * m1", "no single Table S1 op"),
    ],
)
def test_syntax_errors_name_the_line(text, message):
    with pytest.raises(ProgramSyntaxError, match=message):
        from_text(text, Memory(4, 3, 1, features=4))
