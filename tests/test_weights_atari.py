"""The GA for Atari (Prellberg ch. 6) on CartPole: seed-list genomes, exact
replays, elite re-evaluation through the engine, resume, export; plus one
Atari smoke test with a tiny frame cap (skipped where ale-py is missing)."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the 'atari' extra: pip install 'evoforge[atari]'")
pytest.importorskip("torch", reason="needs the 'torch' extra")

from evoforge.cli import main
from evoforge.config import ConfigError, parse_config
from evoforge.evolution.run import Run
from evoforge.evolution.space import REEVALUATE, Evaluation, Individual
from evoforge.evolution.strategies.mu_lambda import MuLambda
from evoforge.weights.atari import (
    EpisodeEvaluator,
    SeedListSpace,
    build_policy,
    export_agent,
    final_evaluation,
    replay_row,
    robust_summary,
)
from evoforge.weights.policy import SeedPolicy

CARTPOLE = {"env": "CartPole-v1", "max_steps": 60, "hidden": [8], "sigma": 0.5}


def cartpole_config(n, search=None, run=None, domain=None):
    search = search or {
        "strategy": "mu_lambda", "population_size": 6, "parents": 3, "elites": 2,
        "max_evaluations": 3, "fec": {"enabled": False},
    }  # fmt: skip
    return parse_config(
        {
            "run": {"domain": "rl_weights", "seed": 3, "max_individuals": n, **(run or {})},
            "search": search,
            "rl_weights": {**CARTPOLE, **(domain or {})},
        }
    )


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(
            "SELECT id, parent_id, mutation, genome_text, fitness, per_task, error"
            " FROM individuals ORDER BY id"
        ).fetchall()


def test_seed_list_rebuilds_the_same_weights():
    a = SeedPolicy("mlp", (4,), 2, sigma=0.1, hidden=(8,))
    b = SeedPolicy("mlp", (4,), 2, sigma=0.1, hidden=(8,), cache_size=0)
    parent = a.weights((11, 22))  # cached, so the child's rebuild starts from it
    child = a.weights((11, 22, 33))
    assert np.array_equal(child, b.weights((11, 22, 33)))  # cache or no cache
    noise = np.random.default_rng(33).standard_normal(a.n_params, np.float32)
    assert np.array_equal(child, parent + np.float32(0.1) * noise)
    assert not np.array_equal(child, b.weights((11, 22, 34)))
    init = a.initial_weights(11)
    assert np.all(init[-2:] == 0) and np.abs(init).max() <= math.sqrt(6 / (8 + 2))


def test_the_chapters_network_and_its_export(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors import safe_open

    p = SeedPolicy("nature", (4, 84, 84), 6, sigma=0.005)
    shapes = [tuple(t.shape) for t in p.network().parameters()]
    assert shapes == [(32, 4, 8, 8), (32,), (64, 32, 4, 4), (64,), (64, 64, 3, 3), (64,),
                      (512, 3136), (512,), (6, 512), (6,)]  # fmt: skip
    assert p.act((5, 6), np.zeros((4, 84, 84), np.uint8)) in range(6)
    path = p.export((5, 6), tmp_path / "agent.safetensors", {"env": "x"})
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["seeds"] == "5 6"
        flat = np.concatenate([f.get_tensor(k).numpy().ravel() for k in f.keys()])  # noqa: SIM118
    assert np.array_equal(np.sort(flat), np.sort(p.weights((5, 6))))


def test_space_text_and_json_round_trip_and_refuse_garbage():
    space = SeedListSpace()
    g = (4, 2**32 - 1, 0)
    assert space.from_text(space.to_text(g)) == g == space.from_json(space.to_json(g))
    for bad in ("seeds:", "seeds: 1 -2", "1.5"):
        with pytest.raises(ValueError, match="expected"):
            space.from_text(bad)


def test_an_episode_replays_exactly_and_reevaluations_differ():
    spec, policy, _ = build_policy(CARTPOLE)
    ev = EpisodeEvaluator(spec, policy, seed=1)
    first, second = ev.evaluate((7,)), ev.evaluate((7,))
    assert first.per_task[1] != second.per_task[1]  # a new episode each time
    other = EpisodeEvaluator(spec, policy, seed=1)  # a fresh process replays the same
    assert other.evaluate((7,)) == first


def test_a_crashing_episode_is_an_error_not_a_crash():
    spec, policy, _ = build_policy(CARTPOLE)
    ev = EpisodeEvaluator(spec, policy, seed=1)

    def broken(seeds):
        raise RuntimeError("emulator fell over")

    policy.controller = broken  # type: ignore[method-assign]
    result = ev.evaluate((7,))
    assert result.error == "RuntimeError: emulator fell over" and result.fitness == -math.inf


def test_a_failed_reevaluation_is_left_out_of_the_elites_mean():
    s = MuLambda(SeedListSpace(), np.random.default_rng(0), population_size=3, parents=2,
                 elites=1, max_evaluations=3)  # fmt: skip
    gen0 = s.ask(9)
    s.tell([Individual(i + 1, c.genome, Evaluation(float(i))) for i, c in enumerate(gen0)])
    [re, *_] = s.ask(9)
    assert re.reevaluates == 3
    failed = Evaluation(-math.inf, error="worker died")
    s.tell([Individual(4, re.genome, failed, 3, REEVALUATE)])
    assert s.mean_fitness(3) == 2.0 and s.evaluations(3) == 1


def test_elites_are_averaged_stop_at_the_maximum_and_every_row_replays(tmp_path):
    result = Run.create(tmp_path / "r", cartpole_config(40)).run()
    assert result.n_individuals == 40
    got = rows(tmp_path / "r")
    per_elite: dict[int, list[float]] = {}
    for ind_id, parent, mutation, _, fitness, _, _ in got:
        if mutation == REEVALUATE:
            per_elite.setdefault(parent, []).append(fitness)
        else:
            per_elite.setdefault(ind_id, []).insert(0, fitness)
    assert max(len(v) for v in per_elite.values()) == 3  # max_evaluations, never more
    summary = robust_summary(tmp_path / "r")
    assert summary.elite_evaluations == len(per_elite[summary.elite_id])
    assert summary.elite_mean == pytest.approx(np.mean(per_elite[summary.elite_id]))
    assert summary.evaluations == {k: v for k, v in per_elite.items()}
    multi = [v for v in per_elite.values() if len(v) > 1]
    assert summary.reevaluated == len(multi) > 0
    assert summary.overestimated == sum(np.mean(v) < v[0] for v in multi) / len(multi)
    for ind_id, *_, per_task, _ in got[::7] + [r for r in got if r[2] == REEVALUATE][:3]:
        recorded, episode = replay_row(tmp_path / "r", ind_id)
        assert episode.total_return == recorded
        assert (episode.env_seed, episode.noops) == tuple(json.loads(per_task)[1:])


def test_interrupted_run_resumes_and_completes(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = EpisodeEvaluator.evaluate

    def interrupting(self, genome, budget=None):
        calls["n"] += 1
        if calls["n"] == 17:
            raise KeyboardInterrupt
        return original(self, genome)

    monkeypatch.setattr(EpisodeEvaluator, "evaluate", interrupting)
    first = Run.create(tmp_path / "r", cartpole_config(36, run={"checkpoint_every": 5})).run()
    assert first.interrupted and first.n_individuals < 36
    monkeypatch.setattr(EpisodeEvaluator, "evaluate", original)
    resumed = Run.resume(tmp_path / "r")
    assert resumed.run().n_individuals == 36
    got = rows(tmp_path / "r")
    assert [r[0] for r in got] == list(range(1, 37))
    summary = robust_summary(tmp_path / "r")
    strategy = resumed.strategy
    assert isinstance(strategy, MuLambda)
    assert summary.elite_id == strategy.population[0].id
    assert summary.elite_mean == pytest.approx(strategy.mean_fitness(summary.elite_id))


def test_final_evaluation_uses_fixed_episodes_and_export_rebuilds(tmp_path):
    pytest.importorskip("safetensors")
    Run.create(tmp_path / "r", cartpole_config(12)).run()
    summary = robust_summary(tmp_path / "r")
    spec, policy, _ = build_policy(CARTPOLE)
    a = final_evaluation(spec, policy, summary.elite_seeds, episodes=5)
    assert a == final_evaluation(spec, policy, summary.elite_seeds, 5, workers=2) and len(a) == 5
    path = export_agent(tmp_path / "r", summary.elite_seeds, tmp_path / "best.safetensors")
    assert path.stat().st_size > 4 * policy.n_params


def test_processes_backend_two_workers(tmp_path):
    cfg = cartpole_config(18, run={"backend": "processes", "workers": 2})
    assert Run.create(tmp_path / "r", cfg).run().n_individuals == 18
    workers = {w for (w,) in sqlite3.connect(tmp_path / "r" / "run.sqlite").execute(
        "SELECT worker FROM individuals")}  # fmt: skip
    assert workers == {0, 1}
    for ind_id in (1, 18):
        recorded, episode = replay_row(tmp_path / "r", ind_id)
        assert episode.total_return == recorded


def test_bad_tables_name_the_field():
    with pytest.raises(ConfigError, match=r"rl_weights\.network: 'nature' needs an Atari"):
        build_policy({"env": "CartPole-v1", "network": "nature"}, "rl_weights")
    with pytest.raises(ConfigError, match=r"rl_weights\.env: cannot make 'NoSuchEnv-v0'"):
        build_policy({"env": "NoSuchEnv-v0"}, "rl_weights")
    with pytest.raises(ConfigError, match=r"rl_weights\.sigma: expected a number > 0"):
        build_policy({"env": "CartPole-v1", "sigma": 0}, "rl_weights")


def test_cli_lists_envs_and_replays_a_row(tmp_path, capsys):
    Run.create(tmp_path / "r", cartpole_config(8)).run()
    assert main(["replay", str(tmp_path / "r"), "--id", "3"]) == 0
    out = capsys.readouterr().out
    assert "row 3" in out and "same" in out
    assert main(["agent", str(tmp_path / "r"), "--episodes", "3"]) == 0
    assert "over 3 episodes" in capsys.readouterr().out
    assert main(["replay", str(tmp_path / "r"), "--id", "99"]) == 2
    assert main(["envs"]) == 0
    assert "CartPole-v1" in capsys.readouterr().out


def test_atari_smoke_with_a_tiny_frame_cap(tmp_path):
    pytest.importorskip("ale_py", reason="needs ale-py (the 'atari' extra) for the Atari ROMs")
    game = {"env": "ALE/Pong-v5", "max_steps": 12, "hidden": [], "sigma": 0.005}
    spec, policy, _ = build_policy(game)
    assert policy.n_params == 1_687_206 and policy.obs_shape == (4, 84, 84)
    ev = EpisodeEvaluator(spec, policy, seed=0)
    result = ev.evaluate((1, 2))
    noops = result.per_task[2]
    assert 0 <= noops <= 30 and result.cost == noops + 4 * 12  # no-ops + 12 steps of 4 frames
    search = {"strategy": "mu_lambda", "population_size": 2, "parents": 1, "elites": 1,
              "max_evaluations": 2, "fec": {"enabled": False}}  # fmt: skip
    cfg = parse_config(
        {
            "run": {"domain": "rl_weights", "seed": 0, "max_individuals": 5},
            "search": search,
            "rl_weights": game,
        }
    )
    Run.create(tmp_path / "r", cfg).run()
    recorded, episode = replay_row(tmp_path / "r", 3, keep_pictures=4)
    assert episode.total_return == recorded and episode.pictures[0].shape == (84, 84)
