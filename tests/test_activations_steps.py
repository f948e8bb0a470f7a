"""Rerank and final test as steps of an activations run: stored, resumable,
across architectures, with the learned parameters recorded and plotted."""

import importlib.util
import json
import shutil
import tomllib
from pathlib import Path

import pytest
import torch

from evoforge.activations import steps
from evoforge.cli import main
from evoforge.config import load_config, parse_config
from evoforge.evolution.lock import RunLock, RunLockedError
from evoforge.evolution.run import STORE_FILE, Run
from evoforge.evolution.store import RunStore

torch.set_num_threads(1)
SMALL_MLP = {"name": "mlp", "hidden": [8]}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("search") / "run"
    Run.create(run_dir, parse_config(tomllib.loads(steps.TINY_CONFIG))).run()
    return run_dir


@pytest.fixture
def run_dir(searched, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(searched, copy)
    return copy


def _events(run_dir, kind):
    store = RunStore.open(run_dir / STORE_FILE)
    try:
        return store.events(kind)
    finally:
        store.close()


def test_rerank_is_stored_and_a_stopped_rerank_resumes_where_it_stopped(
    run_dir, searched, tmp_path
):
    whole = steps.rerank(run_dir, top=3, runs=2)
    assert len(_events(run_dir, "rerank_run")) == 3 * 2
    assert [r.specialised for r in whole] == sorted((r.specialised for r in whole), reverse=True)
    assert steps.rerank(run_dir, top=3, runs=2) == whole  # nothing retrained
    assert len(_events(run_dir, "rerank_run")) == 6

    stopped = tmp_path / "stopped"
    shutil.copytree(searched, stopped)
    seen = []

    def stop_after_two(row):
        seen.append(row)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        steps.rerank(stopped, top=3, runs=2, echo=stop_after_two)
    assert len(_events(stopped, "rerank_run")) == 2
    assert steps.rerank(stopped, top=3, runs=2) == whole  # the same trainings, seeded
    assert len(_events(stopped, "rerank_run")) == 6
    with pytest.raises(steps.StepError, match="other settings"):
        steps.rerank(stopped, top=3, runs=1)


def test_final_test_needs_a_rerank_and_the_relu_reference(run_dir):
    with pytest.raises(steps.StepError, match="evoforge rerank"):
        steps.final_test(run_dir, top=1, seeds=2)
    with pytest.raises(steps.StepError, match="relu"):
        steps.final_test(run_dir, top=1, seeds=2, baselines=("swish(x)",))
    with pytest.raises(steps.StepError, match="not a run directory"):
        steps.rerank(run_dir / "nowhere")


def test_general_function_is_selected_across_architectures_and_tested_on_each(run_dir):
    ranked = steps.rerank(run_dir, top=3, runs=1, models=[SMALL_MLP])
    assert all(len(r.per_model) == 2 for r in ranked)
    general = max(ranked, key=lambda r: (r.general, r.specialised))
    rows = steps.final_test(run_dir, top=2, seeds=2)
    on = {(r.label, r.model): r for r in rows}
    assert on[("general", 0)].function == on[("general", 1)].function == general.function
    assert {m for label, m in on if label == "relu(x)"} == {0, 1}
    assert {m for label, m in on if label.startswith("evolved_")} == {0}
    assert [on[(f"evolved_{i}", 0)].function for i in (1, 2)] == [r.function for r in ranked[:2]]
    for row in rows:
        assert len(row.test_accuracy) == 2 and 0.0 <= row.mean <= 1.0
        assert (row.p_vs_relu is None) or 0.0 <= row.p_vs_relu <= 1.0
    with pytest.raises(steps.StepError, match="cannot be built"):
        steps.rerank(run_dir, top=1, runs=1, models=[{"name": "no_such_model"}])


def test_learned_parameters_are_recorded_per_site_and_channel_and_plotted(run_dir):
    steps.rerank(run_dir, top=1, runs=1)
    parametric = "alpha*x * sigmoid(beta*x)"
    steps.final_test(run_dir, top=1, seeds=2, baselines=("relu(x)", parametric))
    runs = [e for e in _events(run_dir, "final_run") if e["function"] == parametric]
    assert len(runs) == 2
    for e in runs:
        sites = e["params"]
        assert len(sites) == 1  # the MLP's one hidden activation
        (alpha, beta) = next(iter(sites.values()))
        assert len(alpha) == len(beta) == 16  # per channel: one value per hidden unit
        assert any(abs(v - 1.0) > 1e-6 for v in alpha + beta)  # trained away from 1
    relu_runs = [e for e in _events(run_dir, "final_run") if e["function"] == "relu(x)"]
    assert all(e["params"] == {} for e in relu_runs)
    paths = steps.write_parameter_figures(run_dir)
    assert "params_alpha_x_sigmoid_beta_x_model0.png" in [p.name for p in paths]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_cli_steps_show_and_report(run_dir, capsys):
    assert main(["rerank", str(run_dir), "--top", "2", "--runs", "1"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {x["step"] for x in lines} == {"rerank"} and len(lines) == 2
    assert main(["final-test", str(run_dir), "--top", "1", "--seeds", "2"]) == 0
    out = capsys.readouterr()
    finals = [json.loads(x) for x in out.out.splitlines()]
    assert len(finals) == (2 + 1) * 2 and "final test evolved_1 on model 0" in out.err
    assert main(["final-test", str(run_dir), "--top", "1", "--seeds", "2"]) == 0  # resumed: done
    assert capsys.readouterr().out == ""
    assert main(["show", str(run_dir)]) == 0
    assert "final test relu(x) on model 0" in capsys.readouterr().out
    assert main(["show", str(run_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert any(line.startswith("rerank: 2 functions") for line in doc["steps"])
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report" / "report.html").read_text()
    assert "Rerank and final test" in html and "final test swish(x)" in html
    assert main(["rerank", str(run_dir), "--model", "{name = "]) == 2
    assert "not a TOML inline table" in capsys.readouterr().err


def _by_job(run_dir, kind):
    drop = ("seconds", "time", "kind")
    return {
        (e["function"], e["model"], e["seed"]): {k: v for k, v in e.items() if k not in drop}
        for e in _events(run_dir, kind)
    }


def test_two_workers_store_the_same_trainings_as_one(run_dir, searched, tmp_path):
    steps.rerank(run_dir, top=2, runs=2)
    serial = steps.final_test(run_dir, top=1, seeds=3)
    parallel_dir = tmp_path / "parallel"
    shutil.copytree(searched, parallel_dir)
    steps.rerank(parallel_dir, top=2, runs=2, workers=2)
    parallel = steps.final_test(parallel_dir, top=1, seeds=3, workers=2)
    assert parallel == serial  # accuracies in seed order, whichever worker finished first
    for kind in ("rerank_run", "final_run"):
        assert _by_job(parallel_dir, kind) == _by_job(run_dir, kind)


def test_p_values_are_against_relu_and_swish_but_not_a_baseline_itself(run_dir):
    steps.rerank(run_dir, top=1, runs=1)
    rows = {r.label: r for r in steps.final_test(run_dir, top=1, seeds=3)}
    assert rows["relu(x)"].p_vs_relu is None and rows["swish(x)"].p_vs_swish is None
    assert 0.0 <= rows["relu(x)"].p_vs_swish <= 1.0
    assert 0.0 <= rows["swish(x)"].p_vs_relu <= 1.0
    evolved = rows["evolved_1"]
    assert evolved.p_vs_relu is not None and evolved.p_vs_swish is not None
    # One-tailed, that the function's mean is the higher: the two directions sum to 1.
    swish_vs_relu, relu_vs_swish = rows["swish(x)"].p_vs_relu, rows["relu(x)"].p_vs_swish
    assert swish_vs_relu + relu_vs_swish == pytest.approx(1.0)


def test_a_step_refuses_a_run_directory_another_writer_holds(run_dir):
    lock = RunLock.acquire(run_dir)  # a search still running there, or the same step
    try:
        with pytest.raises(RunLockedError):
            steps.rerank(run_dir, top=1, runs=1)
    finally:
        lock.release()
    assert _events(run_dir, "rerank_run") == []
    assert len(steps.rerank(run_dir, top=1, runs=1)) == 1


def _benchmark():
    path = Path(__file__).parent.parent / "benchmarks" / "pangaea_small.py"
    spec = importlib.util.spec_from_file_location("pangaea_small", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_takes_overrides_and_resumes_a_stopped_search(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(steps.TINY_CONFIG)
    out = tmp_path / "out"
    small = ["--config", str(config), "--no-baseline", "--seeds", "2", "--rerank", "2",
             "--rerank-runs", "1", "--final", "1", "--out", str(out)]  # fmt: skip
    bench = _benchmark()
    assert bench.main([*small, "--evaluations", "4", "--set", "run.seed=3"]) == 0
    assert load_config(out / "pangaea" / "config.toml").run.seed == 3
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == "search" and lines[0]["evaluations"] == 4
    summaries = [x for x in lines if x["step"] == "final_summary"]
    assert {x["label"] for x in summaries} == {"relu(x)", "swish(x)", "evolved_1"}
    assert all("welch_p_vs_swish" in x for x in summaries)

    assert bench.main([*small, "--evaluations", "6", "--resume", "--steps-only"]) == 0
    assert _by_job(out / "pangaea", "final_run").keys() == {
        (x["function"], 0, seed) for x in summaries for seed in (0, 1)
    }  # the steps resumed: nothing retrained
    assert bench.main([*small, "--evaluations", "6", "--resume"]) == 0
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    searches = [x for x in lines if x["step"] == "search"]
    assert [x["evaluations"] for x in searches] == [4, 6]  # continued, earlier lines kept


def test_benchmark_baseline_is_the_search_config_with_a_random_walk(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(steps.TINY_CONFIG)
    baseline = load_config(_benchmark().random_walk_config(config, tmp_path))
    searched = load_config(config)
    assert baseline.search.strategy == "random_walk"
    assert baseline.domain == searched.domain and baseline.run == searched.run
