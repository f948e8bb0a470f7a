"""``run.randomize_task_seeds``: experiment restarts that redraw their search
and select tasks from (run seed, experiment), as the reference's
``--randomize_task_seeds``; resume rebuilds the tasks of the experiment in
progress. The tiny linear config and the helpers are the fused-engine tests'."""

import tomllib

import pytest

from evoforge.config import ConfigError, parse_config
from evoforge.evolution.run import Run
from evoforge.evolution.store import RunStore
from test_automl_zero_fused import CONFIG, config, rows

# Experiments of 200 individuals (the population is 40), at most 3 of them.
RESTARTS = "experiment_individuals = 200\nmax_experiments = 3"
RANDOMIZED = RESTARTS + "\nrandomize_task_seeds = true"


def events(run_dir, kind="experiment_end"):
    """The run's events of ``kind``, without their wall-clock time."""
    store = RunStore.open(run_dir / "run.sqlite")
    try:
        return [{k: v for k, v in e.items() if k != "time"} for e in store.events(kind)]
    finally:
        store.close()


def rescored(run_dir, space, first, last):
    """(stored, evaluator-ready program) for the rows ``first..last`` the
    step evaluated in full: no cache hit, no hurdle stop."""
    store = RunStore.open(run_dir / "run.sqlite")
    try:
        found = store.individuals(range(first, last + 1)).values()
    finally:
        store.close()
    return [
        (ind.evaluation.per_task, space.from_text(text))
        for ind, text in found
        if not ind.evaluation.fec_hit and not ind.evaluation.early_stopped
    ]


@pytest.mark.parametrize("randomize", [True, False])
def test_each_experiment_searches_and_selects_on_its_own_tasks(tmp_path, randomize):
    run = Run.create(tmp_path / "r", config(n=400, extra=RANDOMIZED if randomize else RESTARTS))
    setup = run.setup  # the domain's, experiment 0's where redrawn
    run.run()
    per_experiment = [setup.for_experiment(k) for k in (0, 1)] if randomize else [setup] * 2
    data = [s.evaluator.tasks.train_x for s in per_experiment]
    assert (data[0] == data[1]).all() == (not randomize)
    # Every fully evaluated row, the initial members' included, scores as its
    # experiment's evaluator scores it (and not as the other's, when redrawn).
    for k, (first, last) in enumerate([(1, 200), (201, 400)]):
        checked = rescored(tmp_path / "r", run.space, first, last)
        assert len(checked) >= 5
        for per_task, program in checked:
            assert per_experiment[k].evaluator.evaluate(program).per_task == per_task
        if randomize:
            other = per_experiment[1 - k].evaluator
            assert any(other.evaluate(p).per_task != t for t, p in checked)
    # Each experiment's winner is scored on its own select tasks.
    ends = events(tmp_path / "r")
    assert [e["individuals"] for e in ends] == [200, 400]
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    try:
        winners = [run.space.from_text(store.individuals([e["best_id"]])[e["best_id"]][1])
                   for e in ends]  # fmt: skip
    finally:
        store.close()
    for k, (end, winner) in enumerate(zip(ends, winners, strict=True)):
        assert end["select_fitness"] == per_experiment[k].selector(winner)
    fixed_program = winners[0]
    select = [s.selector(fixed_program) for s in per_experiment]
    assert (select[0] != select[1]) == randomize


def test_the_first_experiment_redraws_too_and_the_seed_decides(tmp_path):
    base = Run.create(tmp_path / "fixed", config(n=1, extra=RESTARTS))
    seven = Run.create(tmp_path / "seven", config(n=1, extra=RANDOMIZED))
    again = Run.create(tmp_path / "again", config(n=1, extra=RANDOMIZED))
    other = Run.create(tmp_path / "other", config(n=1, seed=8, extra=RANDOMIZED))
    x = {name: r.setup.evaluator.tasks.train_x for name, r in
         [("base", base), ("seven", seven), ("again", again), ("other", other)]}  # fmt: skip
    for r in (base, seven, again, other):
        r.close()
    assert (x["seven"] == x["again"]).all()
    assert not (x["seven"] == x["base"]).all() and not (x["seven"] == x["other"]).all()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """``whole(extra)``: an uninterrupted run of 3 experiments, made once."""
    made = {}

    def make(extra):
        if extra not in made:
            made[extra] = tmp_path_factory.mktemp("whole") / "r"
            Run.create(made[extra], config(n=600, extra=extra)).run()
        return made[extra]

    return make


@pytest.mark.parametrize(
    ("extra", "stop"),
    [
        (RANDOMIZED, 200),  # at the end of experiment 0: resume starts experiment 1
        (RANDOMIZED, 215),  # inside experiment 1's initial population (the readable path)
        (RANDOMIZED, 333),  # inside experiment 1's fused chunks
        (RESTARTS, 215),  # fixed tasks: the cache still holds experiment 1's rows only
    ],
    ids=["randomized-200", "randomized-215", "randomized-333", "fixed-215"],
)
def test_resume_mid_experiment_equals_an_uninterrupted_run(tmp_path, whole, extra, stop):
    run = Run.create(tmp_path / "parts", config(n=stop, extra=extra))
    run.chunked.chunk = 50  # several chunks per experiment
    run.run()
    resumed = Run.resume(tmp_path / "parts", max_individuals=600)
    # The restart emptied the cache: it holds this experiment's rows only.
    since = (stop // 200) * 200 + 1
    assert len(resumed.evaluator.cache.entries()) <= stop - since + 1
    resumed.run()
    assert rows(tmp_path / "parts") == rows(whole(extra))
    assert events(tmp_path / "parts") == events(whole(extra))


@pytest.mark.parametrize(
    ("run_table", "domain_table", "key"),
    [
        ({"randomize_task_seeds": True}, {}, "run.randomize_task_seeds"),
        (
            {"randomize_task_seeds": True, "experiment_individuals": 200},
            {"search_tasks": {"seed": 5}},
            "automl_zero.search_tasks.seed",
        ),
        (
            {"randomize_task_seeds": True, "experiment_individuals": 200},
            {"select_tasks": {"seed": 5}},
            "automl_zero.select_tasks.seed",
        ),
    ],
)
def test_bad_configs_name_the_key(tmp_path, run_table, domain_table, key):
    table = tomllib.loads(CONFIG.format(engine="fused", n=100, seed=1, extra=""))
    table["run"].update(run_table)
    for name, values in domain_table.items():
        table["automl_zero"][name].update(values)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        Run.create(tmp_path / "r", parse_config(table))
    assert not (tmp_path / "r").exists()
    expected = "experiment_individuals" if key.startswith("run.") else "would be ignored"
    assert expected in str(error.value)


def test_a_domain_that_cannot_redraw_is_refused(tmp_path):
    from evoforge.domains import build_domain

    cfg = config(n=100, extra=RANDOMIZED)
    setup = build_domain(cfg)
    setup.for_experiment = None  # as a domain that offers none
    with pytest.raises(ConfigError, match=r"run\.randomize_task_seeds.*cannot") as error:
        Run.create(tmp_path / "r", cfg, setup=setup)
    assert "automl_zero" in str(error.value)


@pytest.mark.parametrize("extra", [RESTARTS, RANDOMIZED], ids=["fixed", "randomized"])
def test_a_run_stopped_by_an_experiments_winner_resumes_with_the_next_experiment(
    tmp_path, whole, extra
):
    # stop_select_fitness = 0 stops the run at experiment 0's end, with its
    # population in the checkpoint; raised on resume, the search must go on
    # with a fresh experiment 1, as an uninterrupted run does.
    run_dir = tmp_path / "r"
    first = Run.create(run_dir, config(n=600, extra=extra + "\nstop_select_fitness = 0.0")).run()
    assert first.stop_reason == "stop_select_fitness" and first.n_individuals == 200
    path = run_dir / "config.toml"
    path.write_text(
        path.read_text().replace("stop_select_fitness = 0.0", "stop_select_fitness = 1.0")
    )
    Run.resume(run_dir, accept_config_changes=True).run()
    assert rows(run_dir) == rows(whole(extra))
    assert events(run_dir) == events(whole(extra))


@pytest.mark.parametrize("extra", [RESTARTS, RANDOMIZED], ids=["fixed", "randomized"])
def test_ctrl_c_during_an_experiments_restart_keeps_a_consistent_checkpoint(tmp_path, whole, extra):
    run_dir = tmp_path / "r"
    run = Run.create(run_dir, config(n=600, extra=extra))
    run.chunked.chunk = 50

    strategy = run.strategy
    restart = strategy.load_state_dict

    def interrupted(*args):  # the second Ctrl-C, halfway through experiment 1's reset
        strategy.load_state_dict = restart
        raise KeyboardInterrupt

    strategy.load_state_dict = interrupted
    assert run.run().interrupted
    Run.resume(run_dir).run()
    assert rows(run_dir) == rows(whole(extra))
    assert events(run_dir) == events(whole(extra))
