"""The [automl_zero] config table: shipped configs build, bad ones exit 2 naming the field."""

import tomllib
from pathlib import Path

import pytest
import tomli_w

from evoforge.cli import main
from evoforge.config import load_config
from evoforge.domains import build_domain

CONFIGS = sorted((Path(__file__).parent.parent / "configs" / "automl_zero").glob("*.toml"))
LINEAR_DEMO = Path(__file__).parent.parent / "configs" / "automl_zero" / "linear_demo.toml"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_build(path):
    config = load_config(path)
    setup = build_domain(config)
    assert setup.selector is not None
    features = setup.space.memory.features
    assert features == setup.evaluator.tasks.F
    mutations = setup.space.mutator.mutations
    if config.search.strategy == "regularized_evolution" and "insert_remove" not in mutations:
        # Fixed lengths: altering an argument never changes an op, so only
        # re-drawing one instruction (as Google's fixed-length mutation set
        # does) changes ops without re-drawing a whole component.
        assert "randomize_instruction" in mutations


def test_linear_demo_matches_googles_demo():
    setup = build_domain(load_config(LINEAR_DEMO))
    space, tasks = setup.space, setup.evaluator.tasks
    assert (space.memory.n_scalars, space.memory.n_vectors, space.memory.n_matrices) == (4, 3, 1)
    assert space.init_sizes == (10, 2, 8)
    assert space.mutator.ops == ((56, 27, 2, 3, 18, 23),) * 3
    assert (tasks.D, tasks.F, tasks.N, tasks.M) == (10, 4, 100, 100)


def broken(tmp_path, edit):
    data = tomllib.loads(LINEAR_DEMO.read_text())
    edit(data["automl_zero"])
    path = tmp_path / "broken.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda t: t["learn"].update(ops=["SCALAR_SUM", "VECTOR_CROSS"]),
         "automl_zero.learn.ops[1]", "unknown op"),
        (lambda t: t["setup"].update(size=-1), "automl_zero.setup.size", "in [0, 100000]"),
        (lambda t: t["predict"].update(size=2, init_size=1),
         "automl_zero.predict.init_size", "unknown key"),
        (lambda t: t["learn"].pop("size") and t["learn"].update(min_size=5, max_size=3),
         "automl_zero.learn.init_size", "min_size <= init_size"),
        (lambda t: t["search_tasks"].pop("type"), "automl_zero.search_tasks.type", "missing"),
        (lambda t: t["memory"].update(scalars=1), "automl_zero.memory.scalars", "in [2, 10000]"),
        (lambda t: t.update(mutations=["swap"]), "automl_zero.mutations[0]", "expected one of"),
        (lambda t: t.update(initial="program"), "automl_zero.initial_program", "missing"),
        (lambda t: t.update(initial="program", initial_program="def Setup():\n  s9 = 1.0"),
         "automl_zero.initial_program", "outside the memory"),
    ],
)  # fmt: skip
def test_bad_configs_exit_2_naming_the_field(tmp_path, capsys, edit, field, message):
    out = tmp_path / "run"
    assert main(["run", str(broken(tmp_path, edit)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert field in err and message in err
    assert not out.exists()  # nothing written


def test_initial_program_seeds_the_population(tmp_path):
    sgd = "def Setup():\n  s3 = 0.1\ndef Predict():\n  s1 = dot(v0, v1)\n"

    def edit(t):
        t.update(initial="program", initial_program=sgd)
        for name in ("setup", "predict", "learn"):
            t[name] = {"ops": t[name]["ops"], "min_size": 0, "max_size": 10}

    setup = build_domain(load_config(broken(tmp_path, edit)))
    import numpy as np

    program = setup.space.initial(np.random.default_rng(0))
    assert program.sizes == (1, 1, 0)


def test_figure4_backprop_point_gives_setup_predict_and_draws_learn():
    import numpy as np

    from evoforge.automl_zero.ops import op_ids

    path = LINEAR_DEMO.parent / "linear_backprop_random_search.toml"
    setup = build_domain(load_config(path))
    given = setup.space.initial_program
    rng = np.random.default_rng(0)
    drawn = [setup.space.initial(rng) for _ in range(20)]
    allowed = set(op_ids(["OP2", "OP3", "OP18", "OP23"]))
    for program in drawn:
        assert program.rows(0) == given.rows(0) and program.rows(1) == given.rows(1)
        assert program.sizes[2] == 4 and {row[0] for row in program.rows(2)} <= allowed
    assert len({tuple(p.rows(2)) for p in drawn}) == 20
    # The reference is the given program itself: SGD learns the linear tasks.
    assert setup.evaluator.evaluate(given).fitness > 0.999


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.update(randomize=["learn"]), "only used with initial = 'program'"),
        (
            lambda t: t.update(
                initial="program",
                initial_program="def Setup():\ndef Predict():\ndef Learn():\n",
                randomize=["setup"],
                setup={"size": 0},
            ),
            "has no allowed ops",
        ),
    ],
)
def test_randomize_needs_a_program_and_allowed_ops(tmp_path, capsys, edit, message):
    assert main(["run", str(broken(tmp_path, edit)), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "automl_zero.randomize" in err and message in err
    assert not (tmp_path / "r").exists()
