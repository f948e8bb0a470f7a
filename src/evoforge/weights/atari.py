"""The GA for Atari with elite re-evaluation (Prellberg, seed 003, chapter 6)
as the engine domain ``rl_weights``.

A genome is a seed list (`evoforge.weights.policy`): the strategy
``mu_lambda`` (Algorithm 3) draws λ parents from the μ best, a mutation
appends one seed (σ·N(0, 1) noise, σ = ``sigma``), and κ elites are scored
again each generation up to ``max_evaluations`` times, their fitness the mean.
One evaluation is one episode (`evoforge.weights.envs`: the chapter's Atari
preprocessing, or a classic-control environment); its fitness is the return.

What every row keeps, so any score replays exactly: ``per_task`` =
``(return, env_seed, noops)`` and ``cost`` = the raw emulator frames it took
(the run's work units). The episode's seeds come from
``SeedSequence([run seed, worker, call number, *genome])``: two evaluations of
one genome get different episodes, and a serial run is reproducible.

After a run: `robust_summary` rebuilds Algorithm 3's state from the store and
names the final elite (its fitness the mean of its evaluations, not a lucky
single episode) and the fraction of re-evaluated elites whose mean fell below
their first score; `final_evaluation` plays an agent for 100 episodes with
fixed seeds; `replay_row` plays a stored row's episode again; `export_agent`
writes safetensors; `write_strip` a PNG strip of frames.

Example:
    >>> setup = build_rl_weights({"env": "CartPole-v1", "max_steps": 20}, "rl_weights", 0)
    >>> genome = setup.space.initial(np.random.default_rng(1))
    >>> ev = setup.evaluator.evaluate(genome)
    >>> ev.per_task[0] == ev.fitness and ev.cost == ev.fitness  # CartPole: 1 point a step
    True
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.config import ConfigError, Section, load_config
from evoforge.domains import DomainSetup, register_domain
from evoforge.errors import EvoforgeError
from evoforge.evolution.space import (
    NO_BUDGET,
    REEVALUATE,
    Budget,
    EvalContext,
    Evaluation,
    Individual,
)
from evoforge.weights.envs import (
    PAPER_GAMES,
    EnvSpec,
    EpisodeRunner,
    draw_episode,
    is_atari,
    n_actions,
    observation_shape,
)
from evoforge.weights.policy import NETWORKS, SeedPolicy

DOMAIN = "rl_weights"
#: Seeds of the fixed final-evaluation episodes (the same for every agent).
FINAL_SEED = 20_061


class SeedListSpace:
    """Genomes as tuples of seeds: ``(initial, mutation_1, ...)``.

    Example:
        >>> space = SeedListSpace()
        >>> child, name = space.mutate((7,), np.random.default_rng(0))
        >>> len(child), name, space.from_text(space.to_text(child)) == child
        (2, 'gaussian', True)
    """

    def initial(self, rng: np.random.Generator) -> tuple[int, ...]:
        return (int(rng.integers(0, 2**32)),)

    def mutate(self, genome: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, str]:
        return (*genome, int(rng.integers(0, 2**32))), "gaussian"

    def to_text(self, genome: Sequence[int]) -> str:
        return "seeds: " + " ".join(str(s) for s in genome)

    def from_text(self, text: str) -> tuple[int, ...]:
        body = text.strip().removeprefix("seeds:").split()
        if not body or not all(s.isdigit() for s in body):
            raise ValueError(f"expected 'seeds: <non-negative integers>', got {text!r}")
        return tuple(int(s) for s in body)

    def to_json(self, genome: Sequence[int]) -> list[int]:
        return [int(s) for s in genome]

    def from_json(self, data: Any) -> tuple[int, ...]:
        if not isinstance(data, list) or not data or not all(isinstance(s, int) for s in data):
            raise ValueError(f"expected a non-empty list of integers, got {data!r}")
        return tuple(data)


class EpisodeEvaluator:
    """Scores a seed-list genome by one episode; picklable (each process
    makes its own environment and network on first use)."""

    def __init__(self, env: EnvSpec, policy: SeedPolicy, seed: int) -> None:
        self.env = env
        self.policy = policy
        self.seed = seed
        self.worker = 0
        self.calls = 0
        self._runner: EpisodeRunner | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_runner": None}

    def bind(self, context: EvalContext) -> None:
        import torch

        torch.set_num_threads(1)  # one core per worker; more threads only contend
        self.worker = context.worker

    def episode_seeds(self, genome: Sequence[int]) -> tuple[int, int]:
        """The next episode's ``(env_seed, noops)`` for ``genome`` in this process."""
        entropy = [self.seed, self.worker, self.calls, *map(int, genome)]
        self.calls += 1
        return draw_episode(self.env, np.random.default_rng(np.random.SeedSequence(entropy)))

    def evaluate(self, genome: Sequence[int], budget: Budget = NO_BUDGET) -> Evaluation:
        del budget  # one episode is the unit; hurdles do not apply
        env_seed, noops = self.episode_seeds(genome)
        try:
            if self._runner is None:
                self._runner = EpisodeRunner(self.env)
            ep = self._runner.run(self.policy.controller(genome), env_seed, noops)
        except Exception as exc:  # a crashing episode is this candidate's failure only
            self._runner = None  # the environment may be in a broken state
            return Evaluation(
                -math.inf, (math.nan, env_seed, noops), error=f"{type(exc).__name__}: {exc}"
            )
        if not math.isfinite(ep.total_return):
            return Evaluation(-math.inf, (math.nan, env_seed, noops), error="non-finite return")
        return Evaluation(ep.total_return, (ep.total_return, env_seed, noops), cost=ep.frames)


def _env_spec(s: Section) -> EnvSpec:
    env_id = s.get_str("env", "ALE/Pong-v5")
    atari = is_atari(env_id)
    return EnvSpec(
        env_id=env_id,
        max_steps=s.get_int("max_steps", 3000, min=1),
        frame_skip=s.get_int("frame_skip", 4, min=1) if atari else 1,
        frame_stack=s.get_int("frame_stack", 4, min=1) if atari else 1,
        noop_max=s.get_int("noop_max", 30, min=0) if atari else 0,
        end_on_life_loss=s.get_bool("end_on_life_loss", True) if atari else False,
    )


def build_policy(
    table: Mapping[str, Any], path: str = DOMAIN
) -> tuple[EnvSpec, SeedPolicy, dict[str, Any]]:
    """The environment spec, seed policy and resolved table (every default
    filled in) that a ``rl_weights`` table describes.

    Example:
        >>> spec, policy, _ = build_policy({"env": "CartPole-v1", "hidden": [16]})
        >>> spec.max_steps, policy.kind, policy.n_params
        (3000, 'mlp', 114)
    """
    s = Section(table, path)
    spec = _env_spec(s)
    default_net = "nature" if spec.atari else "mlp"
    kind = s.get_str("network", default_net, choices=NETWORKS)
    hidden = s.get_list("hidden", [64] if kind == "mlp" else [], item=int)
    sigma = s.get_float("sigma", 0.005, min=0.0, min_exclusive=True)
    resolved = s.finish()
    if kind == "nature" and not spec.atari:
        raise s.error("network", f"'nature' needs an Atari environment, got {spec.env_id!r}")
    if any(h < 1 for h in hidden):
        raise s.error("hidden", f"expected positive layer widths, got {hidden}")
    try:
        actions = n_actions(spec.env_id)
        shape = observation_shape(spec)
    except ImportError as exc:
        raise s.error(
            "env", f"needs gymnasium and ale-py (pip install 'evoforge[atari]'): {exc}"
        ) from None
    except Exception as exc:  # gymnasium's unknown-id errors differ between versions
        raise s.error("env", f"cannot make {spec.env_id!r}: {exc}") from None
    return spec, SeedPolicy(kind, shape, actions, sigma, hidden), resolved


def build_rl_weights(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """The ``rl_weights`` domain: a seed-list space and an episode evaluator."""
    spec, policy, resolved = build_policy(table, path)
    weight_bytes = 4 * policy.n_params
    return DomainSetup(
        space=SeedListSpace(),
        evaluator=EpisodeEvaluator(spec, policy, seed),
        describe=lambda g: f"{len(g) - 1} mutations of seed {g[0]}; {policy.n_params:,} weights",
        resolved_config=resolved,
        # The rebuilt-weights cache, the loaded network and a spare vector,
        # plus the emulator and torch's own.
        worker_bytes=(policy.cache_size + 3) * weight_bytes + 50_000_000,
        worker_key=f"{path}.network",
        genome_bytes=8 * 64,
    )


register_domain(DOMAIN, build_rl_weights)


# -- after a run -----------------------------------------------------------------


@dataclass
class RobustSummary:
    """Algorithm 3's state rebuilt from a run's rows.

    ``elite``: the final generation's best parent (id, mean fitness, number
    of evaluations); ``evaluations``: id -> its scores in order;
    ``overestimated``: of the individuals scored more than once, the fraction
    whose mean is below their first score.
    """

    elite_id: int
    elite_mean: float
    elite_evaluations: int
    elite_seeds: tuple[int, ...]
    evaluations: dict[int, list[float]]
    overestimated: float
    reevaluated: int
    generations: int
    frames: int
    best_single_id: int
    best_single: float


def _open_run(run_dir: Path) -> tuple[Any, Any]:
    from evoforge.evolution.run import CONFIG_FILE, STORE_FILE, RunDirError
    from evoforge.evolution.store import RunStore

    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / STORE_FILE).is_file():
        raise RunDirError(f"{run_dir}: not a run directory (expected {CONFIG_FILE}, {STORE_FILE})")
    config = load_config(run_dir / CONFIG_FILE)
    if config.run.domain != DOMAIN:
        raise ConfigError("run.domain", f"expected {DOMAIN!r}, got {config.run.domain!r}")
    return config, RunStore.open(run_dir / STORE_FILE)


def robust_summary(run_dir: str | Path) -> RobustSummary:
    """Replay the run's rows (in id order, as they were told) through a fresh
    ``mu_lambda`` with the run's parameters, and report its final elite."""
    from evoforge.evolution.strategies.mu_lambda import MuLambda

    run_dir = Path(run_dir)
    config, store = _open_run(run_dir)
    if config.search.strategy != "mu_lambda":
        raise ConfigError(
            "search.strategy", f"expected 'mu_lambda', got {config.search.strategy!r}"
        )
    space = SeedListSpace()
    strategy = MuLambda(space, np.random.default_rng(0), **config.search.params)
    evaluations: dict[int, list[float]] = {}
    genomes: dict[int, tuple[int, ...]] = {}
    frames = 0
    best_single = (-math.inf, 0)
    try:
        rows = store.rows("id, parent_id, mutation, genome_text, fitness, cost, error").fetchall()
    finally:
        store.close()
    for ind_id, parent, mutation, text, fitness, cost, error in rows:
        frames += cost or 0
        fitness = -math.inf if error is not None or fitness is None else float(fitness)
        ev = Evaluation(fitness, cost=cost or 0, error=error)
        genome = space.from_text(text)
        strategy.tell([Individual(ind_id, genome, ev, parent, mutation)])
        if mutation == REEVALUATE:
            if error is None:
                evaluations[parent].append(fitness)
        else:
            genomes[ind_id] = genome
            evaluations[ind_id] = [fitness] if error is None else []
            best_single = max(best_single, (fitness, -ind_id))
    if not strategy.population:
        raise EvoforgeError(f"{run_dir}: the first generation is not complete yet")
    elite = strategy.population[0]
    multi = [v for v in evaluations.values() if len(v) > 1]
    below = sum(1 for v in multi if np.mean(v) < v[0])
    return RobustSummary(
        elite_id=elite.id,
        elite_mean=float(np.mean(evaluations[elite.id])),
        elite_evaluations=len(evaluations[elite.id]),
        elite_seeds=genomes[elite.id],
        evaluations=evaluations,
        overestimated=below / len(multi) if multi else math.nan,
        reevaluated=len(multi),
        generations=strategy.generation,
        frames=frames,
        best_single_id=-best_single[1],
        best_single=best_single[0],
    )


def final_evaluation(
    spec: EnvSpec,
    policy: SeedPolicy,
    seeds: Sequence[int],
    episodes: int = 100,
    final_seed: int = FINAL_SEED,
    workers: int = 1,
) -> list[float]:
    """An agent's returns on ``episodes`` fixed episodes (episode i's seeds
    from ``SeedSequence([final_seed, i])``, the same for every agent), in
    episode order; ``workers`` > 1 plays them in that many processes.

    Example:
        >>> spec, policy, _ = build_policy({"env": "CartPole-v1", "max_steps": 10})
        >>> final_evaluation(spec, policy, (3,), 2) == final_evaluation(spec, policy, (3,), 2)
        True
    """
    indices = list(range(episodes))
    if workers <= 1 or episodes < 2:
        return _final_episodes(spec, policy, tuple(seeds), final_seed, indices)
    import concurrent.futures
    import multiprocessing

    parts = [indices[w::workers] for w in range(workers)]
    context = multiprocessing.get_context("spawn")  # no forked torch or emulator state
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [
            pool.submit(_final_episodes, spec, policy, tuple(seeds), final_seed, part)
            for part in parts
        ]
        results = [f.result() for f in futures]
    returns = [0.0] * episodes
    for part, got in zip(parts, results, strict=True):
        for i, r in zip(part, got, strict=True):
            returns[i] = r
    return returns


def _final_episodes(
    spec: EnvSpec, policy: SeedPolicy, seeds: tuple[int, ...], final_seed: int, indices: list[int]
) -> list[float]:
    import torch

    torch.set_num_threads(1)  # as in the search's workers: more threads only contend
    runner = EpisodeRunner(spec)
    act = policy.controller(seeds)
    try:
        returns = []
        for i in indices:
            rng = np.random.default_rng(np.random.SeedSequence([final_seed, i]))
            env_seed, noops = draw_episode(spec, rng)
            returns.append(runner.run(act, env_seed, noops).total_return)
        return returns
    finally:
        runner.close()


def replay_row(run_dir: str | Path, ind_id: int, keep_pictures: int = 0) -> tuple[float, Any]:
    """``(recorded return, replayed Episode)`` of stored row ``ind_id`` (a
    re-evaluation row plays its elite's genome with its own seeds)."""
    run_dir = Path(run_dir)
    config, store = _open_run(run_dir)
    try:
        rows = store.individuals([ind_id])
        ind, text = rows[ind_id]
        if ind.mutation == REEVALUATE:
            text = store.individuals([ind.parent_id])[ind.parent_id][1]
    finally:
        store.close()
    ev = ind.evaluation
    if ev.error is not None or len(ev.per_task) != 3:
        raise EvoforgeError(f"{run_dir}: row {ind_id} has no recorded episode ({ev.error})")
    recorded, env_seed, noops = ev.per_task
    spec, policy, _ = build_policy(config.domain)
    act = policy.controller(SeedListSpace().from_text(text))
    runner = EpisodeRunner(spec)
    try:
        return recorded, runner.run(act, int(env_seed), int(noops), keep_pictures)
    finally:
        runner.close()


def export_agent(
    run_dir: str | Path, seeds: Sequence[int], path: str | Path, **metadata: str
) -> Path:
    """Write an agent's weights (rebuilt from its seeds) as safetensors."""
    config, store = _open_run(Path(run_dir))
    store.close()
    spec, policy, _ = build_policy(config.domain)
    return policy.export(seeds, path, {"env": spec.env_id, **metadata})


def write_strip(frames: Sequence[np.ndarray], path: str | Path, gap: int = 2) -> Path:
    """A grayscale PNG of frames side by side (written with zlib alone).

    Example:
        >>> import tempfile, os
        >>> p = write_strip([np.zeros((4, 4), np.uint8)] * 2, tempfile.mktemp(suffix=".png"))
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
        >>> os.remove(p)
    """
    if not frames:
        raise ValueError("no frames to write")
    h = max(f.shape[0] for f in frames)
    parts = []
    for f in frames:
        tile = np.full((h, f.shape[1] + gap), 255, np.uint8)
        tile[: f.shape[0], : f.shape[1]] = f
        parts.append(tile)
    image = np.concatenate(parts, axis=1)[:, :-gap] if gap else np.concatenate(parts, axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + image[i].tobytes() for i in range(image.shape[0]))
    header = struct.pack(">IIBBBBB", image.shape[1], image.shape[0], 8, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
    path = Path(path)
    path.write_bytes(png)
    return path


# -- command-line entry points (``evoforge envs``, ``replay``, ``agent``) ----------


def list_envs() -> list[tuple[str, str]]:
    """``(id, note)`` of the environments this machine can run offline: the
    classic-control ones and every Atari game whose ROM ships in ale-py.

    Example:
        >>> ("CartPole-v1", "classic control") in list_envs()
        True
    """
    import gymnasium as gym

    out = [(e, "classic control") for e in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")]
    try:
        import ale_py
    except ImportError:
        return [*out, ("ALE/*", "not installed: pip install 'evoforge[atari]'")]
    gym.register_envs(ale_py)
    paper = {f"ALE/{g}-v5" for g in PAPER_GAMES}
    for env_id in sorted(k for k in gym.registry if k.startswith("ALE/") and k.endswith("-v5")):
        out.append((env_id, "Atari (Table 6.2)" if env_id in paper else "Atari"))
    return out


def cli_envs() -> int:
    """Print `list_envs` (``evoforge envs``)."""
    envs = list_envs()
    width = max(len(e) for e, _ in envs)
    for env_id, note in envs:
        print(f"{env_id:<{width}}  {note}")
    return 0


def cli_replay(run_dir: Path, ind_id: int, strip: Path | None) -> int:
    """Replay one stored row (``evoforge replay``); 1 if the return differs."""
    recorded, ep = replay_row(run_dir, ind_id, keep_pictures=8 if strip else 0)
    same = ep.total_return == recorded
    print(
        f"row {ind_id}: env_seed {ep.env_seed}, {ep.noops} no-ops: recorded {recorded:g},"
        f" replayed {ep.total_return:g} ({'same' if same else 'DIFFERENT'});"
        f" {ep.steps} steps, {ep.frames} frames"
    )
    if strip is not None:
        _strip(ep.pictures, strip)
    return 0 if same else 1


def _strip(pictures: Sequence[np.ndarray], path: Path) -> None:
    if not pictures or pictures[0].ndim != 2:
        print("no frame strip: the environment's observations are not images")
        return
    pick = np.linspace(0, len(pictures) - 1, min(len(pictures), 10)).round().astype(int)
    print(f"wrote {write_strip([pictures[i] for i in pick], path)}")


def cli_agent(
    run_dir: Path,
    ind_id: int | None,
    episodes: int,
    strip: Path | None,
    export: Path | None,
) -> int:
    """The run's robust best agent (or row ``ind_id``): its evaluations, a
    final evaluation on fixed episodes, a frame strip, a safetensors file
    (``evoforge agent``)."""
    summary = robust_summary(run_dir)
    seeds, label = summary.elite_seeds, f"final elite {summary.elite_id}"
    if ind_id is not None:
        _, store = _open_run(Path(run_dir))
        try:
            text = store.individuals([ind_id])[ind_id][1]
        finally:
            store.close()
        seeds, label = SeedListSpace().from_text(text), f"row {ind_id}"
    scores = summary.evaluations.get(summary.elite_id, [])
    print(
        f"{summary.generations} generations, {summary.frames:,} frames;"
        f" final elite {summary.elite_id}: mean {summary.elite_mean:g} over {len(scores)}"
        f" evaluation(s); best single episode {summary.best_single:g} (row"
        f" {summary.best_single_id}); re-evaluated means below their first score:"
        f" {summary.reevaluated and round(summary.overestimated * summary.reevaluated)}"
        f"/{summary.reevaluated}"
    )
    config, store = _open_run(Path(run_dir))
    store.close()
    spec, policy, _ = build_policy(config.domain)
    if episodes:
        returns = final_evaluation(spec, policy, seeds, episodes, workers=config.run.workers)
        print(
            f"{label} over {episodes} episodes (fixed seeds): mean {np.mean(returns):.6g}"
            f" ± {np.std(returns):.3g} (min {min(returns):g}, max {max(returns):g})"
        )
    if strip is not None:
        env_seed, noops = draw_episode(
            spec, np.random.default_rng(np.random.SeedSequence([FINAL_SEED, 0]))
        )
        runner = EpisodeRunner(spec)
        try:
            ep = runner.run(policy.controller(seeds), env_seed, noops, keep_pictures=8)
        finally:
            runner.close()
        _strip(ep.pictures, strip)
    if export is not None:
        print(f"wrote {policy.export(seeds, export, {'env': spec.env_id, 'run': str(run_dir)})}")
    return 0
