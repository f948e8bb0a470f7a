"""Export to a standalone module: same predictions as the reference interpreter,
scikit-learn compatible estimators, and ``evoforge export``."""

import importlib.util
import sys
import types
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from evoforge.automl_zero import interpreter_numpy
from evoforge.automl_zero.baselines import linear_sgd
from evoforge.automl_zero.export import export_module, load_estimator
from evoforge.automl_zero.listings import S10_BEST
from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.program import Memory
from evoforge.automl_zero.text import from_text
from evoforge.cli import main
from evoforge.data.projected import projected_binary_tasks
from evoforge.data.regression import linear_tasks

MEMORY = Memory(4, 3, 2, features=4)
NOT_RANDOM = list(range(59))  # every op but the random draws (59-64)
# The small memory makes random instructions read each other's results more often.
MUTATORS = {
    memory: Mutator(memory, (NOT_RANDOM, NOT_RANDOM, NOT_RANDOM), (0, 0, 0), (10, 12, 12))
    for memory in (MEMORY, Memory(3, 2, 1, features=4))
}
TASKS = {
    "regression": linear_tasks(1, features=4, n_train=12, n_valid=6, seed=3),
    "classification": projected_binary_tasks(features=4, n_pairs=1, n_train=12, n_valid=6, seed=4),
}
# SGD on the squared error; for classification the prediction in memory is a
# probability during training, which makes the same program logistic regression.
SGD = linear_sgd(0.1)


def as_module(source: str) -> types.ModuleType:
    module = types.ModuleType("exported_for_test")
    exec(compile(source, "<exported>", "exec"), module.__dict__)
    return module


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN where the other is NaN, and the same sign of zero."""
    nan = np.isnan(a)
    return (
        np.array_equal(nan, np.isnan(b))
        and np.array_equal(a[~nan], b[~nan])
        and np.array_equal(np.signbit(a[~nan]), np.signbit(b[~nan]))
    )


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.tuples(st.integers(0, 10), st.integers(0, 12), st.integers(0, 12)),
    memory=st.sampled_from(list(MUTATORS)),
    task=st.sampled_from(sorted(TASKS)),
)
def test_exported_module_predicts_what_the_interpreter_does(seed, sizes, memory, task):
    program = MUTATORS[memory].random_program(sizes, np.random.default_rng(seed))
    tasks = TASKS[task]
    reference = interpreter_numpy.run_tasks(program, memory, tasks, record=True)
    module = as_module(export_module(program, memory))
    trained = module.fit(tasks.train_x[0], tasks.train_y[0], classify=task == "classification")
    # Same training steps, and the same early stop on a NaN or too large error.
    steps = reference.steps[0]
    assert trained.steps == steps
    errors = np.abs(tasks.train_y[0, :steps] - reference.predictions[0, :steps])
    assert trained.stopped == (not np.all(errors <= 100.0))
    if trained.stopped:
        return
    got = module.predict(trained, tasks.valid_x[0])
    want = reference.predictions[0, tasks.N :]
    if task == "regression":  # the reference stops validating after a too large error
        bad = ~(np.abs(tasks.valid_y[0] - want) <= 100.0)
        n = int(np.argmax(bad)) + 1 if bad.any() else len(want)
        got, want = got[:n], want[:n]
    assert identical(got, want)


def test_module_is_standalone_and_readable(tmp_path, monkeypatch):
    program = from_text(SGD, MEMORY)
    source = export_module(program, MEMORY)
    assert "evoforge" not in "".join(
        line for line in source.splitlines() if line.startswith(("import", "from"))
    )
    assert "            v[1] = v[1] + v[2]  # v1 = v1 + v2" in source.splitlines()
    path = tmp_path / "evolved.py"
    path.write_text(source)
    monkeypatch.setitem(sys.modules, "evoforge", None)  # any evoforge import would fail
    spec = importlib.util.spec_from_file_location("evolved", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tasks = TASKS["regression"]
    trained = module.fit(tasks.train_x[0], tasks.train_y[0])
    reference = interpreter_numpy.run_tasks(program, MEMORY, tasks, record=True)
    assert identical(module.predict(trained, tasks.valid_x[0]), reference.predictions[0, 12:])


def test_random_ops_run_and_follow_the_seed():
    source = (
        "def Setup():\n    v1 = gaussian(0.0, 1.0)\n    m1 = uniform(0.5, -0.5)\n"  # low > high
        "def Predict():\n    v2 = dot(m1, v0)\n    s1 = dot(v2, v1)\n"
    )
    X = np.random.default_rng(0).normal(size=(5, 4))
    predictions = [
        load_estimator(source, MEMORY, "regressor", random_state=seed).fit(X, X[:, 0]).predict(X)
        for seed in (1, 1, 2)
    ]
    assert np.array_equal(predictions[0], predictions[1])
    assert not np.array_equal(predictions[0], predictions[2])


def test_predict_leaves_the_trained_memory_unchanged():
    counter = "def Predict():\n    s2 = s2 + s3\n    s1 = s2 * s2\ndef Setup():\n    s3 = 1.0\n"
    model = load_estimator(counter, MEMORY, "regressor", carry_memory=True)
    model.fit(np.zeros((3, 4)), np.zeros(3))
    first = model.predict(np.zeros((2, 4)))
    assert first.tolist() == [16.0, 25.0]  # memory persists from example to example...
    assert model.predict(np.zeros((2, 4))).tolist() == first.tolist()  # ...not across calls
    # By default every row starts from the trained memory (scikit-learn's convention).
    assert model.set_params(carry_memory=False).predict(np.zeros((2, 4))).tolist() == [16.0, 16.0]


def test_estimators_follow_the_sklearn_protocol():
    regressor = load_estimator(SGD, MEMORY, "regressor")
    assert regressor.get_params() == {
        "epochs": 1,
        "random_state": 0,
        "max_abs_error": 100.0,
        "standardize": True,
        "carry_memory": False,
    }
    assert regressor.set_params(epochs=3) is regressor and regressor.epochs == 3
    copy = clone(regressor)
    assert type(copy) is type(regressor) and copy.get_params() == regressor.get_params()
    with pytest.raises(ValueError, match="'lr'"):
        regressor.set_params(lr=0.1)
    classifier = load_estimator(SGD, MEMORY, "classifier")
    X = np.random.default_rng(1).normal(size=(60, 4))
    labels = np.where(X[:, 0] - X[:, 1] > 0, "up", "down")
    classifier.fit(X, labels)
    assert classifier.classes_.tolist() == ["down", "up"]
    proba = classifier.predict_proba(X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(
        classifier.predict(X), classifier.classes_[(proba[:, 1] > 0.5).astype(int)]
    )
    with pytest.raises(ValueError, match="Only binary classification"):
        classifier.fit(X, np.arange(60) % 3)
    with pytest.raises(ValueError, match="kind"):
        load_estimator(SGD, MEMORY, "ranker")


def test_estimators_work_in_cross_val_score():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 4))
    w = np.array([1.0, -2.0, 0.5, 0.0])
    regressor = load_estimator(SGD, MEMORY, "regressor")
    assert cross_val_score(regressor, X, X @ w, cv=3).min() > 0.95
    classifier = load_estimator(SGD, MEMORY, "classifier").set_params(epochs=3)
    labels = np.where(X @ w > 0, "yes", "no")
    assert cross_val_score(classifier, X, labels, cv=3).min() > 0.85


RUN_CONFIG = """
[run]
domain = "automl_zero"
seed = 0
max_individuals = 60

[search]
population_size = 20
tournament_size = 5

[automl_zero]
initial = "random"

[automl_zero.memory]
scalars = 4
vectors = 3
matrices = 1

[automl_zero.setup]
ops = ["SCALAR_CONST_SET"]
size = 1

[automl_zero.predict]
ops = ["VECTOR_INNER_PRODUCT"]
size = 1

[automl_zero.learn]
ops = ["SCALAR_DIFF", "SCALAR_PRODUCT", "SCALAR_VECTOR_PRODUCT", "VECTOR_SUM"]
size = 4

[automl_zero.search_tasks]
type = "linear"
n_tasks = 2
features = 4
n_train = 20
n_valid = 10
"""


def test_cli_exports_a_runs_best_program(tmp_path, capsys):
    config = tmp_path / "lin.toml"
    config.write_text(RUN_CONFIG)
    run_dir, out = tmp_path / "run", tmp_path / "evolved.py"
    assert main(["run", str(config), "--out", str(run_dir), "--quiet"]) == 0
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    module = as_module(out.read_text())
    assert module.EVOLVED_FEATURES == 4 and module.N_SCALARS == 4
    assert module.TASK == "regression"  # a linear run: the classifier refuses it
    with pytest.raises(ValueError, match=r"evolved on regression tasks.*EvolvedRegressor"):
        module.EvolvedClassifier().fit(np.eye(4), [0, 1, 0, 1])
    best = from_text((run_dir / "best.txt").read_text(), Memory(4, 3, 1, features=4))
    assert out.read_text() == export_module(best, Memory(4, 3, 1, features=4), "regression")
    capsys.readouterr()
    assert main(["export", str(run_dir)]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_cli_export_rejects_bad_input(tmp_path, capsys):
    def fails(*argv: str) -> str:
        assert main(["export", *argv]) == 2
        return capsys.readouterr().err

    assert "no such run directory" in fails(str(tmp_path / "missing"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert "config.toml" in fails(str(run_dir))
    (run_dir / "config.toml").write_text(RUN_CONFIG.replace("scalars = 4\n", ""))
    assert "best.txt: missing" in fails(str(run_dir))
    (run_dir / "best.txt").write_text("# header\n\ndef Predict():\n    s1 = dot(v0, v1)\n")
    assert "automl_zero.memory.scalars: missing" in fails(str(run_dir))
    (run_dir / "config.toml").write_text(RUN_CONFIG)
    (run_dir / "best.txt").write_text("def Predict():\n    s1 = frobnicate(v0)\n")
    assert "best.txt" in fails(str(run_dir))
    (run_dir / "best.txt").write_text("def Predict():\n    s1 = dot(v0, v1)\n")
    assert "cannot write" in fails(str(run_dir), "--out", str(tmp_path / "no" / "dir" / "x.py"))


# Skipped for reasons outside the estimators (listed in their docstring).
ENVIRONMENT_SKIPS = {
    "check_array_api_input",  # needs SCIPY_ARRAY_API=1
    "check_classifier_data_not_an_array",  # needs pandas
    "check_regressor_data_not_an_array",
}


@pytest.mark.parametrize(
    ("text", "memory", "kind"),
    [
        (SGD, MEMORY, "regressor"),
        (SGD, MEMORY, "classifier"),
        (S10_BEST, Memory(5, 9, 2, features=16), "classifier"),  # Predict writes memory
    ],
    ids=["sgd-regressor", "sgd-classifier", "s10-classifier"],
)
def test_estimators_pass_check_estimator(text, memory, kind):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarnings on the checks' odd data
        results = check_estimator(load_estimator(text, memory, kind), on_fail=None, on_skip=None)
    failed = {
        r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"
    }
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert failed == {}
    assert skipped <= ENVIRONMENT_SKIPS
    assert len(results) > 50


def test_feature_size_comes_from_the_data_at_fit():
    regressor = load_estimator(SGD, MEMORY, "regressor", epochs=3)  # MEMORY has F = 4
    rng = np.random.default_rng(5)
    for features in (1, 3, 12):  # SGD at rate 0.1 needs 0.1 * F < 2
        X = rng.normal(size=(300, features))
        y = X @ rng.normal(size=features)
        assert regressor.fit(X, y).n_features_in_ == features
        assert regressor.score(X, y) > 0.95
    with pytest.raises(ValueError, match="12 features"):
        regressor.predict(np.zeros((2, 4)))


def test_index_constants_move_with_the_feature_size():
    # v1[3] at F = 4 is the last element; at F = 8 the same fraction is element 7.
    text = "def Setup():\n    v1[3] = 1.0\ndef Predict():\n    s1 = dot(v0, v1)\n"
    module = as_module(export_module(from_text(text, MEMORY), MEMORY))
    X = np.arange(16.0).reshape(2, 8)
    assert module.predict(module.fit(X, np.zeros(2)), X).tolist() == [7.0, 15.0]


def test_estimators_refuse_a_program_of_the_other_task_type():
    module = as_module(export_module(from_text(SGD, MEMORY), MEMORY, "regression"))
    X, labels = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="evolved on regression tasks; EvolvedClassifier"):
        module.EvolvedClassifier().fit(X, labels)
    assert module.EvolvedRegressor().fit(X, labels.astype(float)).n_features_in_ == 4
    with pytest.raises(ValueError, match="kind='regressor'"):
        load_estimator(SGD, MEMORY, "classifier", task="regression")
    multiclass = as_module(export_module(from_text(SGD, MEMORY), MEMORY, "multiclass"))
    with pytest.raises(ValueError, match="multiclass"):
        multiclass.EvolvedClassifier().fit(X, labels)
    with pytest.raises(ValueError, match="task"):
        export_module(from_text(SGD, MEMORY), MEMORY, "ranking")


def test_estimators_follow_sklearn_input_conventions():
    from sklearn.exceptions import NotFittedError

    classifier = load_estimator(SGD, MEMORY, "classifier")
    X = np.random.default_rng(6).normal(size=(40, 3))
    labels = (X[:, 0] > 0).astype(int)
    with pytest.raises(NotFittedError):
        classifier.predict(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classifier.fit(bad, labels)
    with pytest.raises(ValueError, match=r"continuous|Unknown label type"):
        classifier.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="y"):
        classifier.fit(X, None)


def test_standardization_makes_predictions_scale_free():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 5))
    labels = np.where(X @ [1.0, -1.0, 0.5, 0.0, 2.0] > 0, "a", "b")
    model = load_estimator(SGD, MEMORY, "classifier", epochs=2)
    scaled = X * [1e3, 1e-2, 5.0, 1.0, 1e4] + 7.0
    assert np.allclose(model.fit(X, labels).decision_function(X),
                       model.fit(scaled, labels).decision_function(scaled))  # fmt: skip
    assert model.score(scaled, labels) > 0.9
    # Unscaled, the same program on the same features diverges (a ConvergenceWarning).
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="training stopped"):
        model.set_params(standardize=False, max_abs_error=0.5).fit(scaled, labels)
