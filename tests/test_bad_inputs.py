"""Issue 19, parts 5 (inputs) and 6: each bad input below once crashed with a
traceback, ran outside its space or was silently accepted; now each is a clear
error (exit code 2 from the CLI) and nothing is written."""

from __future__ import annotations

import copy

import pytest
import tomli_w

from evoforge.activations.expr import Unary, X
from evoforge.activations.formula import PARAM_NAMES, FormulaError, parse, to_text
from evoforge.automl_zero.program import Memory
from evoforge.automl_zero.text import ProgramSyntaxError, from_text
from evoforge.cli import main
from evoforge.config import ConfigError, load_config, parse_config
from evoforge.domains import build_domain, import_plugins

BASE = {
    "run": {"domain": "automl_zero", "max_individuals": 20},
    "search": {"population_size": 4, "tournament_size": 2},
    "automl_zero": {
        "memory": {"scalars": 4, "vectors": 3, "matrices": 1},
        "setup": {"ops": ["SCALAR_CONST_SET"], "size": 1},
        "predict": {"ops": ["VECTOR_INNER_PRODUCT"], "size": 1},
        "learn": {"ops": ["OP2", "OP3", "OP18", "OP23"], "size": 4},
        "search_tasks": {"type": "linear", "n_tasks": 2, "features": 4,
                         "n_train": 10, "n_valid": 10},
    },
}  # fmt: skip
PROGRAM = """
def Setup():
    s3 = 0.01
def Predict():
    s1 = dot(v0, v1)
def Learn():
    s2 = s0 - s1
    s2 = s2 * s3
    v2 = s2 * v0
    v1 = v1 + v2
"""


def run_cli(tmp_path, capsys, config: dict, *args: str) -> str:
    """Run ``evoforge run`` on ``config``; assert exit 2 and no run directory."""
    path = tmp_path / "exp.toml"
    path.write_text(tomli_w.dumps(config))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet", *args]) == 2
    assert not out.exists()
    return capsys.readouterr().err


def edited(edit) -> dict:
    config = copy.deepcopy(BASE)
    edit(config)
    return config


# --- configs -----------------------------------------------------------------


def test_run_not_a_table_with_cli_override(tmp_path, capsys):
    # Was TypeError: 'str' object does not support item assignment.
    err = run_cli(tmp_path, capsys, {**BASE, "run": "x"}, "--seed", "3")
    assert "run: expected a table, got 'x'" in err


def test_empty_plugin_name(tmp_path, capsys):
    # Was ValueError: Empty module name, from importlib.
    err = run_cli(tmp_path, capsys, edited(lambda c: c["run"].update(plugins=[""])))
    assert "run.plugins[0]: expected an installed module name" in err


@pytest.mark.parametrize("name", ["/tmp/evil.py", "../x", "evil.py", "a..b", "x y"])
def test_plugin_paths_refused_without_import(name):
    with pytest.raises(ConfigError, match=r"run.plugins\[0\]: (expected an|no) installed module"):
        import_plugins([name])


def test_plugin_not_installed_refused_before_importing_anything(monkeypatch):
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda name: imported.append(name))
    with pytest.raises(ConfigError, match="no installed module named 'no_such_evoforge_plugin'"):
        import_plugins(["json", "no_such_evoforge_plugin"])
    # Even the valid plugin listed first is not imported: all are checked first.
    assert imported == []
    with pytest.raises(ConfigError, match=r"no installed module named 'json\.no_such'"):
        import_plugins(["json.no_such"])


@pytest.mark.parametrize(
    ("table", "key", "value", "field"),
    [
        ("memory", "scalars", 10**9, "automl_zero.memory.scalars"),
        ("memory", "vectors", 10**9, "automl_zero.memory.vectors"),
        ("memory", "matrices", 10**9, "automl_zero.memory.matrices"),
        ("setup", "size", 10**8, "automl_zero.setup.size"),
        ("learn", "size", 10**8, "automl_zero.learn.size"),
        ("search_tasks", "n_train", 10**12, "automl_zero.search_tasks.n_train"),
        ("search_tasks", "n_valid", 10**12, "automl_zero.search_tasks.n_valid"),
        ("search_tasks", "n_tasks", 10**12, "automl_zero.search_tasks.n_tasks"),
        ("search_tasks", "features", 10**9, "automl_zero.search_tasks.features"),
        ("search_tasks", "epochs", 10**12, "automl_zero.search_tasks.epochs"),
    ],
)
def test_sizes_without_upper_bound(tmp_path, capsys, table, key, value, field):
    # Was MemoryError, or an endless run after the run directory was created.
    err = run_cli(tmp_path, capsys, edited(lambda c: c["automl_zero"][table].update({key: value})))
    assert f"{field}: expected an integer in" in err


def test_sizes_checked_against_available_memory(tmp_path, capsys, monkeypatch):
    # Under the hard caps, but more than this (pretend) machine has.
    monkeypatch.setattr("evoforge.config.available_memory", lambda: 1 << 20)
    tasks = {"n_tasks": 100, "n_train": 10_000}
    err = run_cli(
        tmp_path, capsys, edited(lambda c: c["automl_zero"]["search_tasks"].update(tasks))
    )
    assert "automl_zero.search_tasks.n_train: the tasks" in err
    assert "1.0 MiB of memory available" in err


def test_memory_banks_checked_against_available_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("evoforge.config.available_memory", lambda: 1 << 20)
    big = {"features": 2000, "n_train": 1, "n_valid": 1, "n_tasks": 1}
    err = run_cli(tmp_path, capsys, edited(lambda c: c["automl_zero"]["search_tasks"].update(big)))
    assert "automl_zero.search_tasks.features: the memory banks" in err


def test_population_checked_against_available_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("evoforge.config.available_memory", lambda: 50 << 20)
    config = edited(lambda c: c["search"].update(population_size=1_000_000))
    err = run_cli(tmp_path, capsys, config)
    assert "search.population_size: the run (1,000,000 population members" in err


def test_stop_select_fitness_outside_the_fitness_range(tmp_path, capsys):
    # Was accepted silently: select fitness lies in [0, 1], so the run never stopped.
    err = run_cli(tmp_path, capsys, edited(lambda c: c["run"].update(stop_select_fitness=2.0)))
    assert "run.stop_select_fitness: expected a number in [0.0, 1.0]" in err


def test_migrate_every_zero_is_refused_and_never_is_explicit():
    config = {"run": {"domain": "toy"}, "search": {"islands": {"count": 2, "migrate_every": 0}}}
    with pytest.raises(ConfigError, match=r"search\.islands\.migrate_every: .*'never'"):
        parse_config(config)
    config["search"]["islands"]["migrate_every"] = "never"
    parsed = parse_config(config)
    assert parsed.search.islands.migrate_every == 0
    assert parsed.resolved["search"]["islands"]["migrate_every"] == "never"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_floats_refused(value):
    bad_range = {"run": {"domain": "toy"},
                 "search": {"islands": {"count": 2, "vary": {"toy.x": [0.0, value]}}}}  # fmt: skip
    with pytest.raises(ConfigError, match="finite numbers"):
        parse_config(bad_range)
    with pytest.raises(ConfigError, match="stop_fitness"):
        parse_config({"run": {"domain": "toy", "stop_fitness": value}})
    config = edited(lambda c: c["automl_zero"].update(max_abs_error=value))
    with pytest.raises(ConfigError, match="max_abs_error"):
        build_domain(parse_config(config))


def test_non_finite_float_in_toml_file(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(tomli_w.dumps(BASE) + "\n")
    text = path.read_text().replace(
        "max_individuals = 20", "max_individuals = 20\nstop_fitness = nan"
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"run\.stop_fitness: expected a number, got nan"):
        load_config(path)


# --- AutoML-Zero program text --------------------------------------------------

MEM = Memory(4, 3, 1, features=4)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("s1 = mean(v1, axis=x)", "expected axis=0 or axis=1"),  # was ValueError from int()
        ("s1 = uniform(inf, 1)", "expected a finite number"),  # was ValueError from validate
        ("s" + "9" * 5000 + " = 1.0", "expected a scalar address"),  # int() digit limit
        ("s1 = s" + "9" * 5000 + " + s2", "no op writes a scalar"),
        ("v1[" + "1" * 5000 + "] = 1.0", "index"),
        ("s2 = nan", "expected a finite number"),  # was accepted
        ("s2 = 1e999", "expected a finite number"),  # was accepted as inf
        ("v1[0] = 1e39", "fits float32"),  # was accepted, inf in float32
        ("m0[1, 2] = -inf", "expected a finite number"),
        ("s1 = gaussian(0, nan)", "expected a finite number"),
        ("s2 = " + "1" * 5000, "expected a number"),
    ],
)
def test_program_text_errors(line, expected):
    with pytest.raises(ProgramSyntaxError, match=expected) as info:
        from_text("def Setup():\n    " + line, MEM)
    error = info.value
    assert error.lineno == 2 and error.line is not None and len(str(error)) < 300


def test_program_text_errors_through_the_cli(tmp_path, capsys):
    program = PROGRAM.replace("s3 = 0.01", "s3 = uniform(inf, 1)")
    config = edited(lambda c: c["automl_zero"].update(initial="program", initial_program=program))
    err = run_cli(tmp_path, capsys, config)
    assert "automl_zero.initial_program: line 3: `s3 = uniform(inf, 1)`: expected a finite" in err


# --- initial program outside the configured space (19.6) ------------------------


def test_initial_program_with_op_outside_the_space(tmp_path, capsys):
    # VECTOR_SUM (OP23) is allowed in Learn only; here the program uses it in Predict.
    program = PROGRAM.replace("s1 = dot(v0, v1)", "v1 = v1 + v2")
    config = edited(lambda c: c["automl_zero"].update(initial="program", initial_program=program))
    err = run_cli(tmp_path, capsys, config)
    assert "Predict instruction 1 `v1 = v1 + v2` uses VECTOR_SUM (OP23)" in err
    assert "predict.ops" in err and 'initial_program_outside_space = "allow"' in err


def test_initial_program_with_size_outside_the_space(tmp_path, capsys):
    program = PROGRAM + "    v1 = v1 + v2\n"  # Learn has 5 instructions; learn.size = 4
    config = edited(lambda c: c["automl_zero"].update(initial="program", initial_program=program))
    err = run_cli(tmp_path, capsys, config)
    assert "Learn has 5 instructions but learn sizes are 4" in err


def test_initial_program_outside_the_space_allowed_explicitly(tmp_path):
    program = PROGRAM + "    v1 = v1 + v2\n"
    config = edited(
        lambda c: c["automl_zero"].update(
            initial="program", initial_program=program, initial_program_outside_space="allow"
        )
    )
    setup = build_domain(parse_config(config))
    assert setup.space.initial_program.sizes == (1, 1, 5)
    assert setup.resolved_config["initial_program_outside_space"] == "allow"
    with pytest.raises(ConfigError, match="only used with initial = 'program'"):
        build_domain(parse_config(edited(
            lambda c: c["automl_zero"].update(initial_program_outside_space="allow"))))  # fmt: skip


# --- activation formulas --------------------------------------------------------


def test_formula_with_25_parameters():
    # Was IndexError.
    text = " + ".join(f"{name}*x" for name in (*PARAM_NAMES, "alpha"))
    with pytest.raises(FormulaError, match="more than 24 parameters"):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "tanh(" * 3000 + "x" + ")" * 3000,  # was RecursionError
        "(" * 3000 + "x" + ")" * 3000,
        " + ".join(["x"] * 5000),  # was RecursionError when printed
        "^".join(["x"] * 3000),
    ],
)
def test_formula_nesting_is_bounded(text):
    with pytest.raises(FormulaError, match="nests deeper than 64 levels"):
        parse(text)


def test_formula_printer_refuses_deep_genomes():
    genome = X()
    for _ in range(5000):
        genome = Unary("tanh", genome)
    assert genome.n_nodes == 5000  # counted without recursion
    with pytest.raises(FormulaError, match="nests deeper"):
        to_text(genome)


def test_activation_config_sizes(tmp_path, capsys):
    table = {"representation": "pangaea", "max_params": 30, "n_train": 100, "n_val": 50,
             "model": {"name": "mlp", "hidden": [8]}}  # fmt: skip
    config = {"run": {"domain": "activations", "max_individuals": 2},
              "search": {"strategy": "random_search", "population_size": 2},
              "activations": table}  # fmt: skip
    assert "activations.max_params: expected an integer in [0, 24]" in run_cli(
        tmp_path, capsys, config
    )
    table.update(max_params=3, model={"name": "mlp", "hidden": [10**8]})
    assert "activations.model: training the model (7,500,000,010 parameters)" in run_cli(
        tmp_path, capsys, config
    )
    table.update(model={"name": "mlp", "hidden": [8]}, train={"lr": float("nan")})
    assert "activations.train.lr: expected a finite number" in run_cli(tmp_path, capsys, config)
