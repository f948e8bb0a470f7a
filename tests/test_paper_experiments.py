"""The paper's experiments as configs and benchmark scripts (§4.1 Figure 4, §4.3, S7, S10)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from evoforge.automl_zero.baselines import baseline_program, linear_sgd
from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.experiments import (
    acceptable_count,
    best_so_far,
    run_experiment,
    selected,
    success_rates,
)
from evoforge.automl_zero.final_eval import final_evaluation, resized, tuning_evaluator
from evoforge.automl_zero.program import Memory
from evoforge.config import ConfigError, load_config
from evoforge.data.datasets import DATA_ENV
from evoforge.data.projected import heldout_tasks, train_test_arrays
from evoforge.domains import build_domain
from test_datasets import write_idx_dir

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs" / "automl_zero"


def script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(name):
    config = load_config(CONFIGS / f"{name}.toml")
    return config, build_domain(config)


@pytest.mark.parametrize(
    ("kind", "memory", "sizes", "ops"),
    [("linear", (4, 3, 1), (5, 1, 4), ((56, 57), (27,), (2, 3, 18, 23))),
     ("affine", (5, 3, 1), (6, 2, 6), ((56, 57), (1, 27), (1, 2, 3, 18, 23)))],
)  # fmt: skip
@pytest.mark.parametrize("method", ["evolution", "random_search"])
def test_figure4_configs_follow_s5(kind, memory, sizes, ops, method):
    config, setup = load(f"{kind}_regressor_{method}")
    space, tasks = setup.space, setup.evaluator.tasks
    mem = space.memory
    assert (mem.n_scalars, mem.n_vectors, mem.n_matrices) == memory
    assert space.init_sizes == sizes
    assert space.mutator.min_sizes == space.mutator.max_sizes == sizes  # fixed lengths
    assert tuple(tuple(o) for o in space.mutator.ops) == ops
    assert "insert_remove" not in space.mutator.mutations
    assert (tasks.D, tasks.F, tasks.N, tasks.M, tasks.eval_type) == (3, 8, 1000, 100, "rms")
    assert config.search.strategy == (
        "regularized_evolution" if method == "evolution" else "random_search"
    )
    assert config.run.max_individuals == 10_000
    # The hand-designed reference fits the same memory and space.
    reference, _ = baseline_program(f"{kind}_sgd", 8)
    reference.validate(mem)


def test_s10_config_uses_the_shifted_op_lists():
    config, setup = load("s10_restricted")
    space, mem = setup.space, setup.space.memory
    assert (mem.n_scalars, mem.n_vectors, mem.n_matrices, mem.features) == (5, 9, 2, 16)
    assert space.mutator.max_sizes == (7, 11, 23)
    assert [list(o) for o in space.mutator.ops] == [
        [56, 59, 60, 61, 62, 63, 64],
        [1, 23, 27, 31, 48],
        [1, 2, 3, 16, 18, 23, 25, 28, 40],
    ]
    assert space.initial_program == "empty" and not config.search.fec.enabled
    assert setup.selector.evaluator.tasks.D == 100
    # The baselines it is compared with fit its memory.
    for name in ("logistic_regression", "two_layer_nn"):
        baseline_program(name, 16)[0].validate(mem)


@pytest.mark.parametrize(
    ("name", "n_train", "epochs"),
    [("few_examples", 80, 100), ("few_examples_control", 250, 100),
     ("fast_training", 250, 10), ("fast_training_control", 250, 100)],
)  # fmt: skip
def test_section_4_3_configs_start_from_the_figure5_network(name, n_train, epochs):
    _, setup = load(name)
    start = setup.space.initial(np.random.default_rng(0))
    assert start.sizes == (3, 3, 8)  # Figure 5's shape
    tasks = setup.evaluator.tasks
    assert (tasks.N, tasks.epochs, tasks.F, tasks.eval_type) == (n_train, epochs, 16, "accuracy")
    mem = setup.space.memory
    assert (mem.n_scalars, mem.n_vectors, mem.n_matrices) == (10, 16, 4)
    # The starting network learns (a cheap check on 2 of the tasks).
    assert ProgramEvaluator(mem, tasks.subset([0, 1])).evaluate(start).fitness > 0.8


def test_run_experiment_counts_acceptable_programs(tmp_path):
    # Seed the fixed-size linear space with SGD padded to Setup's 5 instructions.
    text = linear_sgd(0.1).replace("def Setup():\n", "def Setup():\n" + "    s2 = 0.5\n" * 4)
    overrides = {"automl_zero.initial": "program", "automl_zero.initial_program": text}
    cfg = CONFIGS / "linear_regressor_evolution.toml"
    run = run_experiment(cfg, tmp_path / "r", 5, individuals=30, overrides=overrides)
    assert run.individuals == 30 and run.best_fitness > 0.9999
    count, first = acceptable_count(run.run_dir, 0.9999)
    assert count >= 1 and first == 1
    assert acceptable_count(run.run_dir, 1.5) == (0, None)
    candidates = best_so_far(run.run_dir)
    assert candidates[0]["select_fitness"] > 0.9999
    assert "dot(v0, v1)" in selected(candidates)["text"]
    with pytest.raises(ConfigError, match=r"run\.max_individuals"):
        run_experiment(cfg, tmp_path / "bad", 0, individuals=0)


def test_success_rates_follow_the_papers_counting():
    rates = success_rates(evolution_successes=1, evolution_evaluations=1000,
                          random_acceptable=2, random_evaluations=10_000)  # fmt: skip
    assert rates["evolution_rate"] == 1e-3 and rates["random_search_rate"] == 2e-4
    assert rates["ratio"] == 5.0
    # 1 of 3 successes is evolution's; at ratio 3 (odds 0.3 : 1) that is likely.
    assert rates["p_ratio_at_most_target"] == pytest.approx(1 - (1 - 3 / 13) ** 3)
    # Random search finding nothing is evidence only with enough evolution successes.
    few = success_rates(evolution_successes=2, evolution_evaluations=10**6,
                        random_acceptable=0, random_evaluations=10**6)  # fmt: skip
    many = success_rates(evolution_successes=20, evolution_evaluations=10**6,
                         random_acceptable=0, random_evaluations=10**6)  # fmt: skip
    assert few["ratio"] is None and few["p_ratio_at_most_target"] > 0.5
    assert many["p_ratio_at_most_target"] == pytest.approx(0.75**20)
    # All 20 successes evolution's: the interval's low end solves share**20 = 0.025.
    share = 0.025 ** (1 / 20)
    assert many["ratio_95"] == [pytest.approx(share / (1 - share)), None]
    # 30 against 10 at equal evaluations (Clopper-Pearson, checked against scipy).
    even = success_rates(evolution_successes=30, evolution_evaluations=10**7,
                         random_acceptable=10, random_evaluations=10**7)  # fmt: skip
    assert even["ratio"] == 3.0 and even["p_ratio_at_most_target"] > 0.5
    assert even["ratio_95"] == [pytest.approx(1.42741, rel=1e-4), pytest.approx(6.87930, rel=1e-4)]
    # Large counts stay finite (log-space sums).
    large = success_rates(evolution_successes=2000, evolution_evaluations=10**7,
                          random_acceptable=1500, random_evaluations=10**7)  # fmt: skip
    assert 1.2 < large["ratio_95"][0] < 4 / 3 < large["ratio_95"][1] < 1.5
    with pytest.raises(ValueError, match="evaluations: expected >= 1"):
        success_rates(evolution_successes=0, evolution_evaluations=0,
                      random_acceptable=0, random_evaluations=5)  # fmt: skip


def test_evolution_vs_random_script_runs_small(tmp_path, capsys):
    module = script("automl_zero_evolution_vs_random")
    args = ["--experiments", "2", "--individuals", "300", "--task-types", "affine"]
    summaries = module.main([*args, "--reference-trials", "5", "--out", str(tmp_path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    experiments = [r for r in lines if r["figure"] == "fig4_experiment"]
    assert len(experiments) == 4 and {r["method"] for r in experiments} == {
        "evolution",
        "random_search",
    }
    assert all(r["evaluations"] == 300 and r["reference_fitness"] > 0.99 for r in experiments)
    (summary,) = summaries
    assert summary["evaluations_per_method"] == 600 and summary["experiments_per_method"] == 2
    assert summary == lines[-1]
    assert not any(tmp_path.iterdir())  # run directories are deleted unless --keep-runs

    # Split across calls (seeds 0 and 1), then summarized together: the same summary.
    parts = []
    for first in ("0", "1"):
        module.main([*args[:1], "1", *args[2:], "--first-seed", first, "--reference-trials", "5"])
        parts.append(tmp_path / f"part{first}.jsonl")
        parts[-1].write_text(capsys.readouterr().out)
    (merged,) = module.main(["--summarize", *map(str, parts)])
    assert merged == summary
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(SystemExit, match=r"bad\.jsonl:1: not a JSON line"):
        module.main(["--summarize", str(tmp_path / "bad.jsonl")])
    with pytest.raises(SystemExit):
        module.main(["--task-types", "teacher"])


def test_heldout_split_is_fixed_stratified_and_disjoint():
    (xtr, ytr), (xte, yte) = train_test_arrays("digits")
    assert len(ytr) + len(yte) == 1797
    assert np.all(np.abs(np.bincount(yte) - np.bincount(ytr + 0) / 3) < 2)
    again = train_test_arrays("digits")[1][0]
    np.testing.assert_array_equal(again, xte)
    # Tuning tasks only use training-part images; final tasks validate on test images.
    tune = heldout_tasks("digits", test=False, split="all", n_pairs=3, n_train=50, n_valid=30)
    final = heldout_tasks("digits", split="all", n_pairs=3, n_train=50, n_valid=30)
    assert tune.F == final.F == 64 and tune.M == final.M == 30
    train_rows = {row.tobytes() for row in xtr}
    test_rows = {row.tobytes() for row in xte} - train_rows  # digits has a few duplicates
    assert test_rows  # most test images are distinct from every training image


def test_final_evaluation_reports_mean_std_per_seed():
    program, memory = baseline_program("logistic_regression", 64, learning_rate=0.01)
    score = final_evaluation(program, memory, seeds=(0, 1, 2), n_pairs=4)
    assert len(score.per_seed) == 3 and score.seeds == (0, 1, 2)
    assert score.mean == pytest.approx(np.mean(score.per_seed))
    assert score.std == pytest.approx(np.std(score.per_seed, ddof=1))
    assert score.mean > 0.9  # digits pairs at 64 dimensions are easy for it
    with pytest.raises(ValueError, match="seeds"):
        final_evaluation(program, memory, seeds=())
    with pytest.raises(ValueError, match="features"):
        tuning_evaluator(Memory(5, 3, 1, features=16), n_pairs=1)
    assert resized(memory, 16).features == 16


def test_s10_script_searches_the_dataset_it_is_given(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "data" / "fashion-mnist", per_class=(180, 5))  # 250 + 100 per pair
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    s10 = script("automl_zero_s10")
    summary = s10.main(["--dataset", "fashion_mnist", "--repeats", "1", "--individuals", "200",
                        "--baseline-trials", "2", "--out", str(tmp_path / "runs")])  # fmt: skip
    assert summary["dataset"] == "fashion_mnist"
    # Random pixels: nothing to learn, unlike digits (> 0.9 below).
    assert summary["logistic_regression_accuracy"] < 0.75


def test_s10_and_final_eval_scripts_run_small(tmp_path, capsys):
    s10 = script("automl_zero_s10")
    summary = s10.main(["--repeats", "1", "--individuals", "400", "--baseline-trials", "2",
                        "--keep-runs", "--out", str(tmp_path)])  # fmt: skip
    assert summary["repeats"] == 1 and summary["mean_individuals"] == 400
    assert 0.0 <= summary["linear_success_fraction"] <= 1.0
    assert summary["logistic_regression_accuracy"] > 0.9
    run_dir = tmp_path / "s10_basic_seed0"
    capsys.readouterr()
    final = script("automl_zero_final_eval")
    rows = final.main([str(run_dir), "--evolved-trials", "2", "--max-baseline-trials", "4",
                       "--seeds", "2", "--tune-pairs", "2", "--final-pairs", "3"])  # fmt: skip
    assert [r["program"] for r in rows] == ["evolved", "logistic_regression", "two_layer_nn"]
    assert rows[0]["tuning_trials"] in (1, 3)  # 1 when the program has no constants
    assert rows[1]["equal_compute_evaluations"] == 400 + rows[0]["tuning_trials"]
    assert rows[1]["tuning_trials"] == rows[2]["tuning_trials"] == 4
    assert all(len(r["test_per_seed"]) == 2 and r["features"] == 64 for r in rows)
    assert rows[1]["tuned_fitness"] >= rows[1]["untuned_fitness"]
    with pytest.raises(SystemExit):
        final.main([str(tmp_path / "nowhere")])


def test_s10_script_takes_a_config_and_labels_its_method(tmp_path):
    pytest.importorskip("mnist1d")
    s10 = script("automl_zero_s10")
    summary = s10.main(["--config", "configs/automl_zero/s10_mnist1d.toml", "--dataset", "mnist1d",
                        "--repeats", "1", "--individuals", "300", "--baseline-trials", "2",
                        "--out", str(tmp_path)])  # fmt: skip
    # The config turns FEC and hurdles on itself: Table S5's "Full" without --full.
    assert summary["method"] == "full" and summary["dataset"] == "mnist1d"
    assert summary["mean_individuals"] >= 300
