"""Config loading and validation: errors name the field and what was expected."""

from __future__ import annotations

import tomllib

import pytest

from evoforge.config import ConfigError, Section, load_config, parse_config


def error(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "exp.toml")
    return str(info.value)


def test_defaults_are_filled_in():
    cfg = parse_config({"run": {"domain": "toy"}})
    assert cfg.run.seed == 0 and cfg.run.max_individuals == 10_000
    assert cfg.run.backend == "serial" and cfg.run.checkpoint_seconds == 2.0
    assert cfg.search.strategy == "regularized_evolution"
    assert (cfg.search.population_size, cfg.search.tournament_size) == (100, 10)
    assert cfg.search.fec.enabled and cfg.search.fec.capacity == 100_000
    assert not cfg.search.hurdle.enabled and cfg.search.hurdle.percentile == 75.0
    assert parse_config({"run": {"domain": "toy", "workers": 3}}).run.backend == "processes"
    assert (
        parse_config(
            {"run": {"domain": "toy"}, "search": {"population_size": 4}}
        ).search.tournament_size
        == 4
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"search": {}}, "exp.toml: run.domain: missing; expected a string"),
        (
            {"run": {"domain": "toy"}, "search": {"population_size": -3}},
            "exp.toml: search.population_size: expected an integer >= 2, got -3",
        ),
        (
            {"run": {"domain": "toy", "seed": "x"}},
            "run.seed: expected an integer >= 0, got 'x' (a string)",
        ),
        (
            {"run": {"domain": "toy", "seed": True}},
            "run.seed: expected an integer >= 0, got true (a boolean)",
        ),
        (
            {"run": {"domain": "toy"}, "search": {"mutation_prob": 2}},
            "search.mutation_prob: expected a number in [0.0, 1.0], got 2",
        ),
        (
            {"run": {"domain": "toy"}, "search": {"population_size": 5, "tournament_size": 6}},
            "search.tournament_size: expected an integer in [1, population_size=5], got 6",
        ),
        (
            {"run": {"domain": "toy"}, "search": {"strategy": "regularised_evolution"}},
            "search.strategy: expected one of 'regularized_evolution', 'random_search', "
            "'random_walk', 'softmax_ga', 'exhaustive', 'mu_lambda', 'pairwise_tournament', "
            "'one_plus_one', 'categorical_nes', 'elite_pool', 'surrogate',"
            " got 'regularised_evolution' (a string) (did you mean 'regularized_evolution'?)",
        ),
        (
            {"run": {"domain": "toy"}, "search": {"populaton_size": 5}},
            "search.populaton_size: unknown key (did you mean 'population_size'?)",
        ),
        (
            {"run": {"domain": "toy"}, "serach": {}},
            "exp.toml: serach: unknown key (did you mean 'search'?)",
        ),
        (
            {"run": {"domain": "toy"}, "search": {"fec": {"capacity": 0}}},
            "search.fec.capacity: expected an integer >= 1, got 0",
        ),
        (
            {"run": {"domain": "toy"}, "search": {"hurdle": {"enabled": 1}}},
            "search.hurdle.enabled: expected true or false, got 1",
        ),
        (
            {
                "run": {"domain": "toy"},
                "search": {"strategy": "random_search", "hurdle": {"enabled": True}},
            },
            "search.hurdle.enabled: hurdles need a population",
        ),
        (
            {"run": {"domain": "toy", "backend": "serial", "workers": 2}},
            "run.workers: the serial backend uses 1 worker, got 2",
        ),
        (
            {"run": {"domain": "toy", "max_seconds": 0}},
            "run.max_seconds: expected a number > 0.0, got 0",
        ),
        (
            {"run": {"domain": "toy", "plugins": ["a", 3]}},
            "run.plugins[1]: expected a string, got 3",
        ),
        ({"run": {"domain": "toy"}, "toy": 3}, "toy: expected a table, got 3"),
        ({"run": []}, "run: expected a table, got an array"),
    ],
)
def test_errors_name_the_field_and_the_expectation(data, message):
    assert message in error(data)


def test_domain_table_is_kept_raw_for_the_builder():
    cfg = parse_config({"run": {"domain": "toy"}, "toy": {"length": 3, "anything": 1}})
    assert cfg.domain == {"length": 3, "anything": 1}


def test_resolved_toml_round_trips(tmp_path):
    cfg = parse_config(
        {
            "run": {"domain": "toy", "max_cost": 50, "seed": 4},
            "search": {"hurdle": {"enabled": True}},
        }
    )
    text = cfg.resolved_toml({"length": 8})
    data = tomllib.loads(text)
    assert data["run"]["max_cost"] == 50 and "max_seconds" not in data["run"]  # unset: omitted
    assert data["search"]["fec"] == {"enabled": True, "capacity": 100_000}
    assert data["toy"] == {"length": 8}
    path = tmp_path / "c.toml"
    path.write_text(text)
    again = load_config(path)
    assert (again.run, again.search, again.domain) == (cfg.run, cfg.search, {"length": 8})


def test_load_config_file_errors_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.toml: no such config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\ndomain = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML: .*line 1"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text('[run]\ndomain = "toy"\n')
    cfg = load_config(good, {"run.seed": 9, "search.fec.capacity": 5})
    assert cfg.run.seed == 9 and cfg.search.fec.capacity == 5


def test_section_helpers_for_domain_builders():
    s = Section({"n": 3, "lr": 1, "ops": ["add", "mul"], "w": [1, 2.5], "sub": {"k": True}}, "dom")
    assert s.get_int("n", 1, min=1, max=10) == 3
    assert s.get_float("lr", 0.1, min=0.0, min_exclusive=True) == 1.0
    assert s.get_list("ops", [], item=str, choices=("add", "mul", "sub")) == ["add", "mul"]
    assert s.get_list("w", [], item=float) == [1.0, 2.5]
    assert s.get_str("mode", None) is None  # optional and unset
    sub = s.get_section("sub")
    assert sub.get_bool("k", False) is True
    sub.finish()
    assert s.finish() == {
        "n": 3,
        "lr": 1.0,
        "ops": ["add", "mul"],
        "w": [1.0, 2.5],
        "sub": {"k": True},
    }
    nested = Section({"sub": {"kk": 1}}, "dom")
    nested.get_section("sub").get_int("k", 0)
    with pytest.raises(ConfigError, match=r"dom\.sub\.kk: unknown key \(did you mean 'k'\?\)"):
        nested.finish()  # sub-tables are checked too
    with pytest.raises(ConfigError, match=r"dom\.ops\[1\]: expected one of 'add', got 'mul'"):
        Section({"ops": ["add", "mul"]}, "dom").get_list("ops", item=str, choices=("add",))
    with pytest.raises(ConfigError, match=r"dom\.n: expected an integer in \[1, 10\], got 11"):
        Section({"n": 11}, "dom").get_int("n", min=1, max=10)
    with pytest.raises(ConfigError, match=r"dom\.x: expected a number, got nan"):
        Section({"x": float("nan")}, "dom").get_float("x")
