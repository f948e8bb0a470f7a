"""The run's parts (issue 11, part 6): one factory reads the config, a `Run`
uses only the collaborators it is given, and the stop rules in one place."""

from __future__ import annotations

import dataclasses
import math

import pytest

import toy_domain  # registers the "toy" domain
from evoforge.config import ConfigError, parse_config
from evoforge.evolution.assembly import build_run_parts
from evoforge.evolution.backends import SerialBackend
from evoforge.evolution.domain_source import domain_source
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.run import Run
from evoforge.evolution.stopping import StopRules
from evoforge.evolution.store import RunStore

del toy_domain


def config(max_individuals=1000, *, run=None, search=None, toy=None):
    return parse_config(
        {
            "run": {"domain": "toy", "seed": 3, "max_individuals": max_individuals, **(run or {})},
            "search": {"population_size": 20, "tournament_size": 4, **(search or {})},
            "toy": {"length": 16, **(toy or {})},
        }
    )


def parts_of(cfg, run_dir):
    return build_run_parts(cfg, domain_source().build(cfg), run_dir)


def test_parts_follow_the_config_and_write_nothing(tmp_path):
    cfg = config(500, run={"max_cost": 9_000}, search={"hurdle": {"enabled": True}})
    parts = parts_of(cfg, tmp_path / "r")
    assert isinstance(parts.evaluator, CachedEvaluator) and parts.hurdle is not None
    assert parts.stop == StopRules(max_individuals=500, max_cost=9_000)
    assert parts.archipelago is None and parts.inheritance is None
    assert parts.config is cfg  # the toy fingerprints: nothing to turn off
    assert not (tmp_path / "r").exists()
    plain = parts_of(config(toy={"fingerprint": False}), tmp_path / "r")
    assert not plain.config.search.fec.enabled
    assert plain.config.resolved["search"]["fec"]["enabled"] is False
    assert not isinstance(plain.evaluator, CachedEvaluator)


def test_combinations_that_cannot_work_name_their_key(tmp_path):
    with pytest.raises(ConfigError, match=r"search\.fec\.enabled: .*re-evaluates"):
        parts_of(config(search={"strategy": "mu_lambda"}), tmp_path)
    lamarckian = config(search={"islands": {"count": 2}}, toy={"lamarckian": True})
    with pytest.raises(ConfigError, match=r"search\.islands\.count: .*keeps artefacts"):
        parts_of(lamarckian, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_run_uses_the_parts_it_is_given(tmp_path):
    """Stop rules and backend swapped after the factory: the config's own
    (1,000 individuals, one-at-a-time serial) must not be used."""
    made = []

    def backend():
        made.append(SerialBackend(chunk_size=7))
        return made[-1]

    parts = dataclasses.replace(
        parts_of(config(1000), tmp_path), stop=StopRules(max_individuals=120), backend=backend
    )
    store = RunStore.create(tmp_path / "run.sqlite")
    result = Run(tmp_path, parts, store).run()
    assert (result.n_individuals, result.stop_reason, len(made)) == (120, "max_individuals", 1)
    store = RunStore.open(tmp_path / "run.sqlite")
    assert store.max_id() == 120 and store.latest_checkpoint()[0] == 120
    store.close()


def test_stop_rules_put_budgets_before_targets_and_time_last():
    rules = StopRules(10, max_cost=5, max_seconds=1.0, stop_fitness=0.5, stop_select_fitness=0.7)
    assert rules.reason(10, 5, 0.9, 0.9, 2.0) == "max_individuals"
    assert rules.reason(9, 5, 0.9, 0.9, 2.0) == "max_cost"
    assert rules.reason(9, 4, 0.5, 0.9, 2.0) == "stop_fitness"
    assert rules.reason(9, 4, 0.4, 0.7, 2.0) == "stop_select_fitness"
    assert rules.reason(9, 4, 0.4, None, 1.0) == "max_seconds"
    assert rules.reason(9, 4, -math.inf, None, 0.5) is None
    assert rules.after_best(0.5, 0.0) == "stop_fitness"
    assert rules.after_best(0.1, 0.8) == "stop_select_fitness"
    assert rules.after_best(0.1, None) is None
    assert StopRules(10).reason(0, 10**9, math.inf, math.inf, 1e9) is None
