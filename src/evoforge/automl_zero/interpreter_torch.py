"""A batched interpreter in PyTorch: many programs on many tasks at once, on CPU or CUDA.

`run_batch` computes what `evoforge.automl_zero.interpreter_numba.run_tasks`
computes for each program (see ``shared/notes/automl_zero_semantics.md``), for
a whole chunk of programs in one call. Every (program, task) pair is a *lane*
with its own memory banks and random generator; all lanes advance in lockstep
through Setup, the training examples (Predict, normalisation, the early-stop
check, Learn) and the validation examples. At each instruction position the
lanes are grouped by op id, and each group is one batched tensor operation
(gather the operands, compute, scatter the result), so the number of tensor
calls grows with program length and the number of distinct ops per position,
not with the number of programs: that is what lets a GPU evaluate 10^4-10^5
programs per pass.

Agreement with the compiled interpreter, in float64: reductions (dot
products, norms, means, standard deviations, matrix products) are summed left
to right from 0.0 as the compiled kernel sums them, and the random ops draw
from the same SplitMix64 stream (`evoforge.automl_zero.prng`) per lane, so the
only differences are the last bits of transcendental functions (PyTorch's
vectorised ``sin``/``exp``/... against libm), which chaotic programs may
amplify. ``dtype=torch.float32`` trades that for speed on GPUs.

Lanes that stop early (NaN or an error above ``max_abs_error``) keep computing
(their results are ignored), because masking every write would cost more than
it saves; only RMS lanes whose validation failed in an epoch that is followed
by another epoch have their writes masked, since their memory carries over.
Multiclass tasks are not supported here (the numba interpreter runs them).

Example:
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.text import from_text
    >>> from evoforge.automl_zero.interpreter_torch import run_batch
    >>> from evoforge.data.regression import linear_tasks
    >>> tasks = linear_tasks(n_tasks=2, features=4, n_train=100, n_valid=20, seed=0)
    >>> mem = Memory(4, 3, 1, features=4)
    >>> sgd = from_text(linear_sgd(0.1), mem)
    >>> fitness, steps = run_batch([sgd, sgd], mem, tasks)
    >>> fitness.shape, bool(fitness.min() > 0.99), steps[0].tolist()
    ((2, 2), True, [100, 100])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Operand kinds per op, (in1, in2, out): 0 unused, 1 scalar, 2 vector, 3 matrix.
from evoforge.automl_zero.interpreter_numba import _OPERAND_KINDS
from evoforge.automl_zero.interpreter_numpy import _TWO_OVER_PI, DEFAULT_MAX_ABS_ERROR
from evoforge.automl_zero.ops import N_OPS
from evoforge.automl_zero.program import FEATURES_VECTOR, LABEL_SCALAR, PREDICTION_SCALAR, Memory

EVAL_TYPES = ("rms", "accuracy")

# SplitMix64 constants as signed 64-bit words: int64 arithmetic wraps like uint64.
_U64 = 1 << 64


def _signed(word: int) -> int:
    return word - _U64 if word >= 1 << 63 else word


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    # torch shifts int64 arithmetically; the generator shifts unsigned words.
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _uniform01(state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(next state, a float64 in [0, 1)) for each word of ``state``: `prng.uniform01`."""
    state = state + _GOLDEN
    z = state
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    z = z ^ _shift_right(z, 31)
    return state, _shift_right(z, 11).to(torch.float64) * _TWO_POW_MINUS_53


def _seqsum(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum along ``dim`` left to right from 0.0, as the compiled kernel's loops do.

    PyTorch's CPU cumsum is one sequential loop from 0 in the element type, so its
    last entry is that sum to the bit; ``sum`` adds pairwise and may differ in the
    last bit, which a chaotic program amplifies.
    """
    return torch.cumsum(x, dim).select(dim, -1)


@dataclass
class _Group:
    """The lanes that run one op at one instruction position, with their operands."""

    op: int
    lane: torch.Tensor  # (n,) lane indices
    a: torch.Tensor
    b: torch.Tensor
    o: torch.Tensor
    d0: torch.Tensor  # (n,) constants, in the banks' dtype
    d1: torch.Tensor
    d2: torch.Tensor
    i0: torch.Tensor | None = None  # element indices of ops 57/58
    i1: torch.Tensor | None = None


class _Machine:
    """The memory banks and generator states of all lanes, and the op kernels."""

    def __init__(self, n_lanes: int, memory: Memory, seeds: torch.Tensor, dtype, device):
        F = memory.features
        self.F = F
        self.dtype = dtype
        self.s = torch.zeros((n_lanes, memory.n_scalars), dtype=dtype, device=device)
        self.v = torch.zeros((n_lanes, memory.n_vectors, F), dtype=dtype, device=device)
        self.m = torch.zeros((n_lanes, memory.n_matrices, F, F), dtype=dtype, device=device)
        self.rng = seeds.clone()
        self.mask: torch.Tensor | None = None

    # -- operands and results -----------------------------------------------------

    def _bank(self, kind: str) -> torch.Tensor:
        return {"s": self.s, "v": self.v, "m": self.m}[kind]

    def _write(self, kind: str, g: _Group, value: torch.Tensor, mask: torch.Tensor | None):
        bank = self._bank(kind)
        if mask is not None:
            keep = mask[g.lane]
            old = bank[g.lane, g.o]
            value = torch.where(keep.view(-1, *([1] * (value.dim() - 1))), value, old)
        bank[g.lane, g.o] = value.to(self.dtype)

    def _draw(self, g: _Group, count: int, gaussian: bool) -> torch.Tensor:
        """``count`` draws per lane of the group, in order, advancing its generators."""
        state = self.rng[g.lane]
        out = []
        for _ in range(count):
            if gaussian:
                # Box-Muller with 1 - u in (0, 1], as `prng.gaussian`.
                state, u1 = _uniform01(state)
                state, u2 = _uniform01(state)
                z = torch.sqrt(-2.0 * torch.log(1.0 - u1)) * torch.cos((2.0 * math.pi) * u2)
                out.append(g.d0.double() + g.d1.double() * z)
            else:
                state, u = _uniform01(state)
                low, high = g.d0.double(), g.d1.double()
                out.append(low + (high - low) * u)
        if self.mask is not None:  # a masked lane skips the op: its stream stays put
            state = torch.where(self.mask[g.lane], state, self.rng[g.lane])
        self.rng[g.lane] = state
        return torch.stack(out, dim=1).to(self.dtype)

    def run(self, groups: Sequence[_Group], mask: torch.Tensor | None) -> None:
        """Run ``groups`` in order; where ``mask`` is False a lane's memory and
        generator are left unchanged."""
        self.mask = mask
        for g in groups:
            kind, value = _KERNELS[g.op](self, g)
            if kind == "v_elem":  # op 57: one entry of a vector
                self._write_element(g, value, mask, matrix=False)
            elif kind == "m_elem":  # op 58: one entry of a matrix
                self._write_element(g, value, mask, matrix=True)
            else:
                self._write(kind, g, value, mask)

    def _write_element(self, g: _Group, value, mask, matrix: bool) -> None:
        if matrix:
            index = (g.lane, g.o, g.i0, g.i1)
            bank = self.m
        else:
            index = (g.lane, g.o, g.i0)
            bank = self.v
        if mask is not None:
            value = torch.where(mask[g.lane], value, bank[index])
        bank[index] = value.to(self.dtype)


def _s(mc: _Machine, idx: torch.Tensor, lane: torch.Tensor) -> torch.Tensor:
    return mc.s[lane, idx]


def _v(mc: _Machine, idx: torch.Tensor, lane: torch.Tensor) -> torch.Tensor:
    return mc.v[lane, idx]


def _m(mc: _Machine, idx: torch.Tensor, lane: torch.Tensor) -> torch.Tensor:
    return mc.m[lane, idx]


def _heaviside_pos(x: torch.Tensor) -> torch.Tensor:
    return (x > 0.0).to(x.dtype)


def _std(acc: torch.Tensor, acc2: torch.Tensor, n: int) -> torch.Tensor:
    # One pass, E[x^2] - E[x]^2: a negative difference gives NaN, as in the reference.
    mean = acc / n
    return torch.sqrt(acc2 / n - mean * mean)


def _matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Sum over r left to right from 0.0, one (n, F, F) step per r: products in
    # one tensor would take F^3 entries per lane.
    acc = torch.zeros_like(x)
    for r in range(x.shape[-1]):
        acc = acc + x[:, :, r, None] * y[:, None, r, :]
    return acc


def _build_kernels() -> dict[int, Callable[[_Machine, _Group], tuple[str, torch.Tensor]]]:
    """Op id -> ``f(machine, group) -> (bank kind, new values for the group's lanes)``."""
    S = lambda mc, g: _s(mc, g.a, g.lane)  # noqa: E731 - tiny readers, named by bank
    S2 = lambda mc, g: _s(mc, g.b, g.lane)  # noqa: E731
    V = lambda mc, g: _v(mc, g.a, g.lane)  # noqa: E731
    V2 = lambda mc, g: _v(mc, g.b, g.lane)  # noqa: E731
    M = lambda mc, g: _m(mc, g.a, g.lane)  # noqa: E731
    M2 = lambda mc, g: _m(mc, g.b, g.lane)  # noqa: E731

    def scalar_vec_product(mc, g):
        return "v", S(mc, g)[:, None] * V2(mc, g)

    def sq_rows(x):  # (n, F, F) -> squared entries
        return x * x

    k: dict[int, Callable] = {
        1: lambda mc, g: ("s", S(mc, g) + S2(mc, g)),
        2: lambda mc, g: ("s", S(mc, g) - S2(mc, g)),
        3: lambda mc, g: ("s", S(mc, g) * S2(mc, g)),
        4: lambda mc, g: ("s", S(mc, g) / S2(mc, g)),
        5: lambda mc, g: ("s", torch.abs(S(mc, g))),
        6: lambda mc, g: ("s", 1.0 / S(mc, g)),
        7: lambda mc, g: ("s", torch.sin(S(mc, g))),
        8: lambda mc, g: ("s", torch.cos(S(mc, g))),
        9: lambda mc, g: ("s", torch.tan(S(mc, g))),
        10: lambda mc, g: ("s", torch.asin(S(mc, g))),
        11: lambda mc, g: ("s", torch.acos(S(mc, g))),
        12: lambda mc, g: ("s", torch.atan(S(mc, g))),
        13: lambda mc, g: ("s", torch.exp(S(mc, g))),
        14: lambda mc, g: ("s", torch.log(S(mc, g))),
        # 1 at 0 and -0 for scalars, 0 there for vectors and matrices (reference quirk).
        15: lambda mc, g: ("s", (S(mc, g) >= 0.0).to(mc.dtype)),
        16: lambda mc, g: ("v", _heaviside_pos(V(mc, g))),
        17: lambda mc, g: ("m", _heaviside_pos(M(mc, g))),
        18: scalar_vec_product,
        19: lambda mc, g: ("v", S(mc, g)[:, None].expand(-1, mc.F)),
        20: lambda mc, g: ("v", 1.0 / V(mc, g)),
        21: lambda mc, g: ("s", torch.sqrt(_seqsum(V(mc, g) * V(mc, g), 1))),
        22: lambda mc, g: ("v", torch.abs(V(mc, g))),
        23: lambda mc, g: ("v", V(mc, g) + V2(mc, g)),
        24: lambda mc, g: ("v", V(mc, g) - V2(mc, g)),
        25: lambda mc, g: ("v", V(mc, g) * V2(mc, g)),
        26: lambda mc, g: ("v", V(mc, g) / V2(mc, g)),
        27: lambda mc, g: ("s", _seqsum(V(mc, g) * V2(mc, g), 1)),
        28: lambda mc, g: ("m", V(mc, g)[:, :, None] * V2(mc, g)[:, None, :]),
        29: lambda mc, g: ("m", S(mc, g)[:, None, None] * M2(mc, g)),
        30: lambda mc, g: ("m", 1.0 / M(mc, g)),
        31: lambda mc, g: ("v", _seqsum(M(mc, g) * V2(mc, g)[:, None, :], 2)),
        32: lambda mc, g: ("m", V(mc, g)[:, :, None].expand(-1, -1, mc.F)),
        33: lambda mc, g: ("m", V(mc, g)[:, None, :].expand(-1, mc.F, -1)),
        # Frobenius norm and matrix mean: row-major order, as the kernel's j, k loops.
        34: lambda mc, g: ("s", torch.sqrt(_seqsum(sq_rows(M(mc, g)).flatten(1), 1))),
        35: lambda mc, g: ("v", torch.sqrt(_seqsum(sq_rows(M(mc, g)), 1))),
        36: lambda mc, g: ("v", torch.sqrt(_seqsum(sq_rows(M(mc, g)), 2))),
        37: lambda mc, g: ("m", M(mc, g).transpose(1, 2)),
        38: lambda mc, g: ("m", torch.abs(M(mc, g))),
        39: lambda mc, g: ("m", M(mc, g) + M2(mc, g)),
        40: lambda mc, g: ("m", M(mc, g) - M2(mc, g)),
        41: lambda mc, g: ("m", M(mc, g) * M2(mc, g)),
        42: lambda mc, g: ("m", M(mc, g) / M2(mc, g)),
        43: lambda mc, g: ("m", _matmul(M(mc, g), M2(mc, g))),
    }

    # Min/max: NaN and ties give the first operand for scalars and vectors, the
    # second for matrices (the reference's comparisons, not numpy's).
    def minmax(kind, read, read2, rule):
        def kernel(mc, g):
            x, y = read(mc, g), read2(mc, g)
            return kind, rule(x, y)

        return kernel

    k[44] = minmax("s", S, S2, lambda x, y: torch.where(y < x, y, x))
    k[45] = minmax("v", V, V2, lambda x, y: torch.where(y < x, y, x))
    k[46] = minmax("m", M, M2, lambda x, y: torch.where(x < y, x, y))
    k[47] = minmax("s", S, S2, lambda x, y: torch.where(x < y, y, x))
    k[48] = minmax("v", V, V2, lambda x, y: torch.where(x < y, y, x))
    k[49] = minmax("m", M, M2, lambda x, y: torch.where(x > y, x, y))

    def vector_mean(mc, g):
        return "s", _seqsum(V(mc, g), 1) / mc.F

    def matrix_mean(mc, g):
        return "s", _seqsum(M(mc, g).flatten(1), 1) / (mc.F * mc.F)

    def row_mean(mc, g):
        return "v", _seqsum(M(mc, g), 2) / mc.F

    def row_std(mc, g):
        x = M(mc, g)
        return "v", _std(_seqsum(x, 2), _seqsum(x * x, 2), mc.F)

    def vector_std(mc, g):
        x = V(mc, g)
        return "s", _std(_seqsum(x, 1), _seqsum(x * x, 1), mc.F)

    def matrix_std(mc, g):
        x = M(mc, g).flatten(1)
        return "s", _std(_seqsum(x, 1), _seqsum(x * x, 1), mc.F * mc.F)

    k.update({50: vector_mean, 51: matrix_mean, 52: row_mean, 53: row_std})
    k.update({54: vector_std, 55: matrix_std})
    k[56] = lambda mc, g: ("s", g.d0)
    k[57] = lambda mc, g: ("v_elem", g.d1)
    k[58] = lambda mc, g: ("m_elem", g.d2)
    # Random draws: vectors in index order, matrices row-major, as the reference.
    k[59] = lambda mc, g: ("s", mc._draw(g, 1, False)[:, 0])
    k[60] = lambda mc, g: ("v", mc._draw(g, mc.F, False))
    k[61] = lambda mc, g: ("m", mc._draw(g, mc.F * mc.F, False).view(-1, mc.F, mc.F))
    k[62] = lambda mc, g: ("s", mc._draw(g, 1, True)[:, 0])
    k[63] = lambda mc, g: ("v", mc._draw(g, mc.F, True))
    k[64] = lambda mc, g: ("m", mc._draw(g, mc.F * mc.F, True).view(-1, mc.F, mc.F))
    assert sorted(k) == list(range(1, N_OPS))
    return k


_KERNELS = _build_kernels()


def check_program(code: np.ndarray, data: np.ndarray, sizes, memory: Memory) -> str | None:
    """Why a program does not fit ``memory`` (the compiled kernel's messages), or None.

    Example:
        >>> from evoforge.automl_zero.program import Program
        >>> p = Program.from_components(([(1, 0, 9, 2, 0.0, 0.0, 0.0)], [], []))
        >>> check_program(p.code, p.data, p.sizes, Memory(4, 3, 1, features=4))
        'program has an address outside the memory'
    """
    n = code.shape[0]
    if data.shape[0] != n or min(sizes) < 0 or sum(sizes) != n:
        return "program: code, data and component sizes disagree"
    if n == 0:
        return None
    ops = code[:, 0]
    if ops.min() < 0 or ops.max() >= N_OPS:
        return "program has an op id outside 0..64"
    banks = np.array([0, memory.n_scalars, memory.n_vectors, memory.n_matrices])
    kinds = _OPERAND_KINDS[ops]  # (n, 3)
    limits = banks[kinds]
    addresses = code[:, 1:4]
    bad = (kinds != 0) & ((addresses < 0) | (addresses >= limits))
    if bad.any():
        return "program has an address outside the memory"
    F = memory.features
    for slot, op_ids in ((0, (57, 58)), (1, (58,))):
        rows = np.isin(ops, op_ids)
        if rows.any():
            product = np.float32(F) * data[rows, slot].astype(np.float32)
            if not np.all((product >= 0.0) & (product < F)):
                return "program has an element index fraction outside [0, 1)"
    return None


def _element_index(fraction: np.ndarray, features: int) -> np.ndarray:
    # The reference forms F * f in float32 and truncates (ops 57, 58).
    return (np.float32(features) * fraction.astype(np.float32)).astype(np.int64)


def _groups(
    programs: Sequence, component: int, n_tasks: int, features: int, dtype, device
) -> list[list[_Group]]:
    """Per instruction position of ``component``: one `_Group` per op present there
    (NO_OP and padding run nothing). Lane ``p * n_tasks + t`` is program p on task t."""
    starts = [sum(p.sizes[:component]) for p in programs]
    lengths = [p.sizes[component] for p in programs]
    positions = []
    tasks = np.arange(n_tasks)
    for pc in range(max(lengths, default=0)):
        have = [i for i, n in enumerate(lengths) if pc < n]
        rows = np.array([programs[i].code[starts[i] + pc] for i in have], dtype=np.int64)
        data = np.array([programs[i].data[starts[i] + pc] for i in have], dtype=np.float64)
        have = np.array(have, dtype=np.int64)
        groups = []
        for op in np.unique(rows[:, 0]).tolist():
            if op == 0:
                continue
            sel = rows[:, 0] == op
            # Every task of a program runs the same instruction: repeat per task.
            lane = (have[sel][:, None] * n_tasks + tasks[None, :]).ravel()

            def per_lane(values, kind=torch.int64, sel=sel):
                arr = np.repeat(values[sel], n_tasks)
                return torch.as_tensor(arr, device=device).to(kind)

            d = data
            i0 = i1 = None
            if op in (57, 58):
                i0 = per_lane(_element_index(d[:, 0], features))
            if op == 58:
                i1 = per_lane(_element_index(d[:, 1], features))
            groups.append(
                _Group(
                    op,
                    torch.as_tensor(lane, device=device),
                    per_lane(rows[:, 1]),
                    per_lane(rows[:, 2]),
                    per_lane(rows[:, 3]),
                    per_lane(d[:, 0], dtype),
                    per_lane(d[:, 1], dtype),
                    per_lane(d[:, 2], dtype),
                    i0,
                    i1,
                )
            )
        positions.append(groups)
    return positions


def _flatten(positions: list[list[_Group]]) -> list[_Group]:
    return [g for groups in positions for g in groups]


def run_batch(
    programs: Sequence,
    memory: Memory,
    tasks,
    start: int = 0,
    stop: int | None = None,
    *,
    seeds: np.ndarray | None = None,
    max_abs_error: float = DEFAULT_MAX_ABS_ERROR,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validate every program on tasks ``start..stop`` of a `TaskSet`.

    Returns per-(program, task) fitness float64 ``(B, T)`` and training steps int64
    ``(B, T)``, as `interpreter_numba.run_tasks` gives them per program. ``seeds``
    (uint64 ``(B, T)``) seeds each lane's random ops; by default each program uses
    the tasks' own seeds. Programs must fit ``memory`` (see `check_program`;
    raises ValueError naming the first that does not). Only ``"rms"`` and
    ``"accuracy"`` tasks are supported.
    """
    stop = tasks.D if stop is None else stop
    if not 0 <= start <= stop <= tasks.D:
        raise ValueError(f"task range {start}..{stop} is outside 0..{tasks.D}")
    if tasks.eval_type not in EVAL_TYPES:
        raise ValueError(
            f"the torch interpreter runs {EVAL_TYPES} tasks, not {tasks.eval_type!r}; "
            "use the numba interpreter"
        )
    if memory.features != tasks.F:
        raise ValueError(f"memory has {memory.features} features but the tasks have {tasks.F}")
    for i, p in enumerate(programs):
        problem = check_program(p.code, p.data, p.sizes, memory)
        if problem is not None:
            raise ValueError(f"program {i}: {problem}")
    B, T = len(programs), stop - start
    if B == 0 or T == 0:
        return np.zeros((B, T)), np.zeros((B, T), dtype=np.int64)
    device = torch.device(device)
    L = B * T
    lane_task = torch.arange(start, stop, device=device).repeat(B)  # task of each lane
    if seeds is None:
        seeds = np.broadcast_to(tasks.seeds[start:stop], (B, T))
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64).reshape(L).view(np.int64)
    mc = _Machine(L, memory, torch.as_tensor(seeds.copy(), device=device), dtype, device)
    F = memory.features
    setup, predict, learn = (_flatten(_groups(programs, c, T, F, dtype, device)) for c in range(3))

    def to_dev(a: np.ndarray, kind=dtype) -> torch.Tensor:
        # A copy: task arrays are read-only, which torch.as_tensor warns about.
        return torch.tensor(np.asarray(a), device=device).to(kind)

    train_x, train_y = to_dev(tasks.train_x), to_dev(tasks.train_y)
    valid_x, valid_y = to_dev(tasks.valid_x), to_dev(tasks.valid_y)
    orders = to_dev(tasks.orders, torch.int64)
    n_train, n_valid, n_epochs = tasks.N, tasks.M, tasks.epochs
    classify = tasks.eval_type == "accuracy"
    s, v = mc.s, mc.v

    mc.run(setup, None)
    alive = torch.ones(L, dtype=torch.bool, device=device)  # not stopped in training
    best = torch.zeros(L, dtype=torch.float64, device=device)
    steps = torch.zeros(L, dtype=torch.int64, device=device)
    for epoch in range(n_epochs):
        order = orders[lane_task, epoch]  # (L, N)
        for e in range(n_train):
            i = order[:, e]
            x = train_x[lane_task, i]
            y = train_y[lane_task, i]
            v[:, FEATURES_VECTOR] = x
            s[:, LABEL_SCALAR] = 0.0
            mc.run(predict, None)
            if classify:  # Learn and the next Predict see the probability
                s[:, PREDICTION_SCALAR] = 1.0 / (1.0 + torch.exp(-s[:, PREDICTION_SCALAR]))
            steps += alive
            # NaN or too large: the lane stops before Learn (its memory no longer matters).
            alive &= torch.abs(y - s[:, PREDICTION_SCALAR]) <= max_abs_error
            v[:, FEATURES_VECTOR] = x
            s[:, LABEL_SCALAR] = y
            mc.run(learn, None)
        loss = torch.zeros(L, dtype=dtype, device=device)
        valid_ok = torch.ones(L, dtype=torch.bool, device=device)
        # An RMS lane whose validation failed skips the rest of it; its memory matters
        # only if another epoch follows, and only then are its writes masked.
        masked = not classify and epoch + 1 < n_epochs
        for e in range(n_valid):
            v[:, FEATURES_VECTOR] = valid_x[lane_task, e]
            s[:, LABEL_SCALAR] = 0.0
            mc.run(predict, valid_ok if masked else None)
            prediction = s[:, PREDICTION_SCALAR]
            label = valid_y[lane_task, e]
            if classify:
                # NaN > 0.5 is false: a NaN logit counts as class 0.
                p = 1.0 / (1.0 + torch.exp(-prediction))
                loss += ((label > 0.5) != (p > 0.5)).to(dtype)
            else:
                error = label - prediction
                loss += error * error
                valid_ok &= torch.abs(error) <= max_abs_error
        if classify:
            fitness = 1.0 - loss.double() / n_valid
        else:
            rms = torch.sqrt(loss.double() / n_valid)
            fitness = 1.0 - _TWO_OVER_PI * torch.atan(rms)
            fitness = torch.where(valid_ok & torch.isfinite(rms), fitness, 0.0)
        best = torch.where(alive, torch.maximum(best, fitness), best)
    return best.view(B, T).cpu().numpy(), steps.view(B, T).cpu().numpy()
