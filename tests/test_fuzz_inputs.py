"""Issue 19, part 8: fuzz the three readers of user text — configs, AutoML-Zero
program text and activation formulas — with generated inputs. The only
exceptions allowed out are the project's own: `ConfigError`,
`ProgramSyntaxError` and `FormulaError`.

The default run tries about two thousand inputs in a few seconds; ``-m slow``
runs the same properties with many more examples.
"""

from __future__ import annotations

import contextlib
import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoforge.activations.formula import PARAM_NAMES, FormulaError, parse, to_text
from evoforge.automl_zero.program import Memory
from evoforge.automl_zero.text import ProgramSyntaxError, from_text
from evoforge.automl_zero.text import to_text as program_text
from evoforge.config import ConfigError, parse_config
from evoforge.domains import build_domain

FAST = settings(deadline=None, max_examples=700, suppress_health_check=list(HealthCheck))
SLOW = settings(deadline=None, max_examples=5000, suppress_health_check=list(HealthCheck))

# --- values: what a TOML file (or a careless edit) can put in a key -----------------

wild_numbers = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from([0, 1, -1, 2, 10**9, 10**12, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e999, 2.0, 0.5, -0.0]),
)
wild_scalars = st.one_of(
    wild_numbers,
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["", "x", "never", "auto", "OP2", "linear", "digits", "/tmp/x.py"]),
)
wild_values = st.one_of(
    wild_scalars,
    st.lists(wild_scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "size", "x.y"]), wild_scalars, max_size=2),
)

# A small, valid AutoML-Zero config; the fuzzer replaces its values one key at a time.
BASE = {
    "run": {"domain": "automl_zero", "max_individuals": 10, "seed": 0},
    "search": {"population_size": 4, "tournament_size": 2, "mutation_prob": 0.9,
               "fec": {"enabled": True, "capacity": 100},
               "hurdle": {"enabled": False, "percentile": 75.0},
               "islands": {"count": 0, "migrate_every": 100}},
    "automl_zero": {
        "initial": "random",
        "mutations": ["alter_argument"],
        "combine": "mean",
        "max_abs_error": 100.0,
        "interpreter": "numpy",
        "hurdle_tasks": 1,
        "memory": {"scalars": 4, "vectors": 3, "matrices": 1},
        "setup": {"ops": ["SCALAR_CONST_SET"], "size": 1},
        "predict": {"ops": ["VECTOR_INNER_PRODUCT"], "size": 1},
        "learn": {"ops": ["OP2", "OP3", "OP18", "OP23"], "min_size": 1, "max_size": 4},
        "fec": {"train_examples": 3, "valid_examples": 3},
        "search_tasks": {"type": "linear", "n_tasks": 2, "features": 3, "n_train": 5,
                         "n_valid": 5, "epochs": 1},
        "select_tasks": {"type": "affine", "n_tasks": 2, "features": 3, "n_train": 5,
                         "n_valid": 5},
    },
}  # fmt: skip
# Keys that exist in the tables above, plus ones the readers accept that BASE leaves out.
EXTRA_KEYS = [
    ("run", "stop_select_fitness"), ("run", "stop_fitness"), ("run", "plugins"),
    ("run", "max_seconds"), ("run", "checkpoint_every"), ("search", "quality_gate"),
    ("search", "strategy"), ("search.islands", "population_size"), ("search.islands", "vary"),
    ("automl_zero", "randomize"), ("automl_zero", "initial_program"),
    ("automl_zero", "initial_program_outside_space"), ("automl_zero", "time_cap_seconds"),
    ("automl_zero.search_tasks", "hidden"), ("automl_zero.learn", "init_size"),
]  # fmt: skip


def _leaf_keys(table: dict, prefix: str = "") -> list[tuple[str, str]]:
    keys = []
    for key, value in table.items():
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, f"{prefix}{key}."))
        else:
            keys.append((prefix.rstrip("."), key))
    return keys


KEYS = _leaf_keys(BASE) + EXTRA_KEYS


def _set(config: dict, table: str, key: str, value) -> None:
    for name in table.split(".") if table else []:
        config = config.setdefault(name, {})
        if not isinstance(config, dict):
            return
    config[key] = value


# Memory limits keep a lucky draw of valid-but-large sizes from taking the machine.
SMALL = {"n_tasks": 4, "n_train": 50, "n_valid": 50, "features": 8, "epochs": 3, "hidden": 8,
         "scalars": 50, "vectors": 50, "matrices": 20, "size": 50, "max_size": 50,
         "min_size": 50, "init_size": 50, "capacity": 10_000, "population_size": 500,
         "train_examples": 50, "valid_examples": 50}  # fmt: skip


def _too_big(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def check_config(edits: list[tuple[tuple[str, str], object]]) -> None:
    config = copy.deepcopy(BASE)
    for (table, key), value in edits:
        if key in SMALL and _too_big(value) and math.isfinite(value) and value > SMALL[key]:
            value = SMALL[key]  # the upper bounds have their own tests (test_bad_inputs)
        _set(config, table, key, value)
    with contextlib.suppress(ConfigError):  # the only error allowed out
        build_domain(parse_config(config))


config_edits = st.lists(st.tuples(st.sampled_from(KEYS), wild_values), min_size=1, max_size=3)


@FAST
@given(config_edits)
def test_fuzz_configs(edits):
    check_config(edits)


@pytest.mark.slow
@SLOW
@given(config_edits)
def test_fuzz_configs_long(edits):
    check_config(edits)


# --- AutoML-Zero program text ---------------------------------------------------

MEM = Memory(4, 3, 1, features=4)
VALID = [
    "def Setup():\n    s3 = 0.01\ndef Predict():\n    s1 = dot(v0, v1)\ndef Learn():\n"
    "    s2 = s0 - s1\n    s2 = s2 * s3\n    v2 = s2 * v0\n    v1 = v1 + v2\n",
    "def Setup():\n    v1[2] = 0.5\n    m0[1, 3] = -2.0\n    s2 = uniform(-1, 1)\n"
    "    v2 = gaussian(0.0, 1.0, n_features)\ndef Predict():\n    s1 = mean(v1, axis=0)\n"
    "    v2 = matmul(m0, v0)\n    s1 = norm(v2)\ndef Learn():\n    v1 = heaviside(v2, 1.0)\n"
    "    s3 = 1 / s2\n    v1 = maximum(0, v2)\n    no_op\n",
]
TOKENS = ["s0", "s1", "s3", "s9", "v0", "v2", "v7", "m0", "m3", "=", "+", "-", "*", "/", "(",
          ")", "[", "]", ",", "1", "0", "0.5", "1e999", "nan", "inf", "-inf", "axis=", "axis=x",
          "axis=1", "dot", "mean", "uniform", "gaussian", "heaviside", "def", "Setup():",
          "Learn():", "#", "\n", "    ", "9" * 500, "s" + "9" * 5000,
          "٣", "\x00", "no_op"]  # fmt: skip


@st.composite
def program_texts(draw) -> str:
    kind = draw(st.sampled_from(["mutated", "tokens", "text"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "tokens":
        return " ".join(draw(st.lists(st.sampled_from(TOKENS), max_size=30)))
    lines = draw(st.sampled_from(VALID)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["replace", "insert", "delete", "token"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "insert":
            lines.insert(i, "    " + " ".join(draw(st.lists(st.sampled_from(TOKENS), max_size=6))))
        elif op == "token":
            words = lines[i].split(" ")
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOKENS))
            lines[i] = " ".join(words)
        else:
            lines[i] = "    " + draw(st.text(max_size=30))
    return "\n".join(lines)


def check_program(text: str) -> None:
    try:
        program = from_text(text, MEM)
    except ProgramSyntaxError:
        return
    assert from_text(program_text(program, MEM), MEM) == program  # what parses, round-trips


@FAST
@given(program_texts())
def test_fuzz_program_text(text):
    check_program(text)


@pytest.mark.slow
@SLOW
@given(program_texts())
def test_fuzz_program_text_long(text):
    check_program(text)


# --- activation formulas ----------------------------------------------------------

FORMULA_TOKENS = ["x", "0", "1", "2", "(", ")", ",", "+", "-", "*", "/", "^", "tanh", "relu",
                  "max", "min", "log", "sigmoid", "log_sigmoid", "div_eps", "foo", "alpha",
                  "beta", "gamma", "omega", "1.5", "#", "", " "]  # fmt: skip


@st.composite
def formulas(draw) -> str:
    kind = draw(st.sampled_from(["tokens", "text", "deep", "params"]))
    if kind == "text":
        return draw(st.text(max_size=100))
    if kind == "tokens":
        return "".join(draw(st.lists(st.sampled_from(FORMULA_TOKENS), max_size=40)))
    if kind == "deep":
        n = draw(st.integers(1, 400))
        wrap = draw(st.sampled_from([("tanh(", ")"), ("(", ")"), ("x + ", ""), ("x ^ ", "")]))
        return wrap[0] * n + "x" + wrap[1] * n
    n = draw(st.integers(1, 30))
    return " + ".join(f"{PARAM_NAMES[i % len(PARAM_NAMES)]}*x" for i in range(n))


def check_formula(text: str) -> None:
    try:
        genome = parse(text)
    except FormulaError:
        return
    assert parse(to_text(genome)) == genome


@FAST
@given(formulas())
def test_fuzz_formulas(text):
    check_formula(text)


@pytest.mark.slow
@SLOW
@given(formulas())
def test_fuzz_formulas_long(text):
    check_formula(text)
