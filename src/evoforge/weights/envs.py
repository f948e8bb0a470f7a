"""Gymnasium environments with the preprocessing of Prellberg's chapter 6, and
episodes that replay exactly from their recorded seeds.

Atari (through ``ale-py``, whose wheel ships the ROMs, so nothing is
downloaded): the emulator is driven one raw frame at a time with sticky
actions off, so an episode is a deterministic function of its seeds. An agent
step repeats the action for ``frame_skip`` = 4 raw frames and observes the
pixel-wise maximum of the last two (Atari sprites flicker); each observation
is the 210×160 grayscale screen area-resized to 84×84, and the policy sees the
last 4 stacked. An episode starts with ``noops`` no-op actions (drawn in
[0, ``noop_max`` = 30]) and ends at game over, at the first lost life
(``end_on_life_loss``) or after ``max_steps`` agent steps.

Classic control (CartPole, ...): the observation vector as is, one raw frame
per step, no no-ops; for tests, they run in milliseconds.

An episode is fixed by ``(env_seed, noops)``: `run_episode` returns both with
the return, so `replay` can reproduce any recorded score.

Example:
    >>> spec = EnvSpec("CartPole-v1", max_steps=50)
    >>> policy = lambda obs: int(obs[2] > 0)  # push towards the pole's lean
    >>> ep = run_episode(spec, policy, env_seed=3, noops=0)
    >>> ep.total_return == replay(spec, policy, ep.env_seed, ep.noops).total_return
    True
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The table-6.2 games; all ship with ale-py >= 0.9.
PAPER_GAMES = ("Atlantis", "Frostbite", "Gravitar", "Kangaroo", "Seaquest", "Venture")

Policy = Callable[[np.ndarray], int]


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` names an ALE game (``ALE/Pong-v5``).

    Example:
        >>> is_atari("ALE/Pong-v5"), is_atari("CartPole-v1")
        (True, False)
    """
    return env_id.startswith("ALE/")


@dataclass(frozen=True)
class EnvSpec:
    """Which environment and how its episodes are shaped.

    ``max_steps`` caps agent steps (for Atari each is ``frame_skip`` raw
    frames); the other fields apply to Atari only.
    """

    env_id: str
    max_steps: int = 3000
    frame_skip: int = 4
    frame_stack: int = 4
    noop_max: int = 30
    end_on_life_loss: bool = True
    size: int = 84

    @property
    def atari(self) -> bool:
        return is_atari(self.env_id)


@dataclass
class Episode:
    """One episode: what fixes it (``env_seed``, ``noops``), its return, the
    agent steps and raw emulator frames it took, and optionally the frames."""

    env_seed: int
    noops: int
    total_return: float
    steps: int
    frames: int
    pictures: list[np.ndarray] = field(default_factory=list)


def make_env(env_id: str) -> Any:
    """A Gymnasium environment: Atari with raw single frames, grayscale
    observations and no sticky actions (determinism needs all three)."""
    import gymnasium as gym

    if is_atari(env_id):
        import ale_py

        gym.register_envs(ale_py)  # ale-py >= 0.9 no longer registers on import
        return gym.make(
            env_id,
            obs_type="grayscale",
            frameskip=1,
            repeat_action_probability=0.0,
            full_action_space=False,
        )
    return gym.make(env_id)


def n_actions(env_id: str) -> int:
    """The size of the environment's discrete action set.

    Example:
        >>> n_actions("CartPole-v1")
        2
    """
    env = make_env(env_id)
    try:
        return int(env.action_space.n)
    finally:
        env.close()


def observation_shape(spec: EnvSpec) -> tuple[int, ...]:
    """What the policy sees: ``(frame_stack, size, size)`` for Atari, the
    observation vector's shape otherwise.

    Example:
        >>> observation_shape(EnvSpec("ALE/Pong-v5"))
        (4, 84, 84)
    """
    if spec.atari:
        return (spec.frame_stack, spec.size, spec.size)
    env = make_env(spec.env_id)
    try:
        return tuple(env.observation_space.shape)
    finally:
        env.close()


@functools.cache
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights that average each output cell's share of the
    input (area interpolation, as OpenCV's INTER_AREA), so resizing is two
    small matrix products and needs no image library."""
    m = np.zeros((n_out, n_in), dtype=np.float32)
    scale = n_in / n_out
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(lo), min(int(np.ceil(hi)), n_in)):
            m[i, j] = min(hi, j + 1) - max(lo, j)
        m[i] /= m[i].sum()
    return m


def preprocess(frame: np.ndarray, size: int = 84) -> np.ndarray:
    """A grayscale screen area-resized to ``size``×``size`` uint8.

    Example:
        >>> preprocess(np.full((210, 160), 200, np.uint8)).shape
        (84, 84)
        >>> int(preprocess(np.full((210, 160), 200, np.uint8))[5, 5])
        200
    """
    import torch  # a single-threaded torch matmul is ~2x numpy's here

    h, w = frame.shape
    rows, cols = _area_matrices(h, w, size)
    small = rows @ torch.from_numpy(np.ascontiguousarray(frame)).float() @ cols
    return small.round_().clamp_(0, 255).to(torch.uint8).numpy()


@functools.cache
def _area_matrices(h: int, w: int, size: int) -> tuple[Any, Any]:
    import torch

    return torch.from_numpy(_area_matrix(h, size)), torch.from_numpy(_area_matrix(w, size).T.copy())


class EpisodeRunner:
    """Runs episodes of one environment, keeping the (slow to make) Gymnasium
    environment between episodes. Not picklable by design: each worker
    process makes its own."""

    def __init__(self, spec: EnvSpec) -> None:
        self.spec = spec
        self.env = make_env(spec.env_id)

    def close(self) -> None:
        self.env.close()

    def run(self, policy: Policy, env_seed: int, noops: int, keep_pictures: int = 0) -> Episode:
        """One episode fixed by ``env_seed`` and ``noops``. ``keep_pictures`` > 0
        keeps every that-many-th raw observation (for a frame strip)."""
        if self.spec.atari:
            return self._run_atari(policy, env_seed, noops, keep_pictures)
        return self._run_classic(policy, env_seed, keep_pictures)

    def _run_classic(self, policy: Policy, env_seed: int, keep: int) -> Episode:
        obs, _ = self.env.reset(seed=env_seed)
        total, steps, pictures = 0.0, 0, []
        while steps < self.spec.max_steps:
            if keep and steps % keep == 0:
                pictures.append(np.asarray(obs, dtype=np.float32).copy())
            obs, reward, terminated, truncated, _ = self.env.step(policy(obs))
            total += float(reward)
            steps += 1
            if terminated or truncated:
                break
        return Episode(env_seed, 0, total, steps, steps, pictures)

    def _run_atari(self, policy: Policy, env_seed: int, noops: int, keep: int) -> Episode:
        spec, env = self.spec, self.env
        raw, _ = env.reset(seed=env_seed)
        ale = env.unwrapped.ale
        frames = 0
        for _ in range(noops):
            raw, _, terminated, truncated, _ = env.step(0)  # action 0 is NOOP in every game
            frames += 1
            if terminated or truncated:  # a game that ends during no-ops restarts, as DQN's
                raw, _ = env.reset(seed=env_seed)
        lives = ale.lives()
        first = preprocess(raw, spec.size)
        stack = np.repeat(first[None], spec.frame_stack, axis=0)
        total, steps, pictures = 0.0, 0, []
        done = False
        while not done and steps < spec.max_steps:
            if keep and steps % keep == 0:
                pictures.append(stack[-1].copy())
            action = policy(stack)
            prev = raw
            for k in range(spec.frame_skip):
                raw_next, reward, terminated, truncated, _ = env.step(action)
                frames += 1
                total += float(reward)
                if k == spec.frame_skip - 2:
                    prev = raw_next
                raw = raw_next
                if terminated or truncated:
                    done = True
                    break
                if spec.end_on_life_loss and ale.lives() < lives:
                    done = True
                    break
            # Max over the last two raw frames: sprites drawn every other frame
            # would otherwise vanish from the observation.
            seen = np.maximum(raw, prev) if spec.frame_skip > 1 else raw
            stack = np.concatenate([stack[1:], preprocess(seen, spec.size)[None]])
            steps += 1
        return Episode(env_seed, noops, total, steps, frames, pictures)


def draw_episode(spec: EnvSpec, rng: np.random.Generator) -> tuple[int, int]:
    """Seeds of a new episode: an environment seed and a no-op count in
    [0, noop_max] (0 for classic control).

    Example:
        >>> draw_episode(EnvSpec("CartPole-v1"), np.random.default_rng(0))[1]
        0
    """
    env_seed = int(rng.integers(0, 2**31 - 1))
    noops = int(rng.integers(0, spec.noop_max + 1)) if spec.atari else 0
    return env_seed, noops


def run_episode(spec: EnvSpec, policy: Policy, env_seed: int, noops: int) -> Episode:
    """One episode in a fresh environment (closed afterwards)."""
    runner = EpisodeRunner(spec)
    try:
        return runner.run(policy, env_seed, noops)
    finally:
        runner.close()


def replay(
    spec: EnvSpec, policy: Policy, env_seed: int, noops: int, keep_pictures: int = 0
) -> Episode:
    """Play a recorded episode again: the same seeds and a deterministic
    policy give the same return, step for step."""
    runner = EpisodeRunner(spec)
    try:
        return runner.run(policy, env_seed, noops, keep_pictures)
    finally:
        runner.close()
