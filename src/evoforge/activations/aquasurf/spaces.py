"""AQuaSurF's two search spaces, enumerated by code (dissertation ch. 6).

* The **benchmark space**: every ``binary(unary(x), unary(x))`` over PANGAEA's
  27 unary and 7 binary operators, 27·27·7 = 5,103 functions. Many compute the
  same function (``max(x, zero)`` and ``relu``), so `unique_benchmark` keeps the
  first of each class of equal outputs on the 1,000 fixed samples
  (`evoforge.activations.equivalence.SAMPLES`, N(0, 1) truncated to [−5, 5]).
* The **four-node space** for new tasks, five forms:
  ``b(u(u(x)), u(x))``, ``b(u(x), u(u(x)))``, ``n(u(x), u(x), u(x))`` with the
  three-input ``n`` one of sum, product, max, min, ``u(b(u(x), u(x)))`` and
  ``u(u(u(u(x))))``. `FourNodeSpace` indexes its 1,023,516 functions without
  building them all: ``space[i]`` decodes ``i`` in a mixed radix, iteration
  is lazy and `FourNodeSpace.sample` draws indices. A three-input ``n`` is
  written as ``n(n(a, b), c)`` with the binary operator of the same name.

Example:
    >>> benchmark_count(), len(FourNodeSpace())
    (5103, 1023516)
    >>> from evoforge.activations.formula import to_text
    >>> to_text(FourNodeSpace()[0])
    'zero(zero(x)) + zero(x)'
    >>> [len(f) for f in FourNodeSpace().forms]
    [137781, 137781, 78732, 137781, 531441]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from evoforge.activations.equivalence import outputs
from evoforge.activations.expr import Binary, Node, Unary, X
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY

#: The three-input operators of the four-node space, as binary operator names.
NARY = ("add", "mul", "max", "min")


def benchmark_genome(binary: str, unary1: str, unary2: str) -> Node:
    """``binary(unary1(x), unary2(x))``.

    Example:
        >>> from evoforge.activations.formula import to_text
        >>> to_text(benchmark_genome("mul", "identity", "sigmoid"))
        'identity(x) * sigmoid(x)'
    """
    return Binary(binary, Unary(unary1, X()), Unary(unary2, X()))


def enumerate_benchmark() -> Iterator[Node]:
    """All 5,103 benchmark functions: binary outermost, then the left and right unary.

    Example:
        >>> sum(1 for _ in enumerate_benchmark())
        5103
    """
    for b in PANGAEA_BINARY:
        for u1 in PANGAEA_UNARY:
            for u2 in PANGAEA_UNARY:
                yield benchmark_genome(b, u1, u2)


def benchmark_count() -> int:
    """|benchmark space|, counted by enumeration.

    Example:
        >>> benchmark_count()
        5103
    """
    return sum(1 for _ in enumerate_benchmark())


@cache
def unique_benchmark() -> tuple[Node, ...]:
    """The benchmark functions with distinct outputs on the fixed samples, first
    of each class in `enumerate_benchmark` order (cached; ~5 s of CPU).

    As in the chapter, two functions are the same when their outputs are
    identical: every float64 output equal bit for bit (one canonical NaN, and
    −0.0 equal to 0.0). This gives 2,865 functions (the chapter: 2,913; its
    operator definitions at singular points differ in details it does not
    give). `evoforge.activations.equivalence.signature`, which merges outputs
    equal to about five significant digits, would give 2,750.
    """
    seen: set[bytes] = set()
    out: list[Node] = []
    for g in enumerate_benchmark():
        sig = identity_key(outputs(g))
        if sig not in seen:
            seen.add(sig)
            out.append(g)
    return tuple(out)


def identity_key(values: np.ndarray) -> bytes:
    """Bytes equal exactly when two output vectors are identical (NaNs made one
    NaN, −0.0 made 0.0).

    Example:
        >>> identity_key(np.array([0.0, np.nan])) == identity_key(np.array([-0.0, -np.nan]))
        True
    """
    v = np.asarray(values, dtype=np.float64) + 0.0
    v[np.isnan(v)] = np.nan
    return v.tobytes()


@dataclass(frozen=True)
class Form:
    """One shape of the four-node space: ``build`` makes the genome from one
    operator name per slot; ``slots`` lists each slot's operator choices."""

    name: str
    slots: tuple[tuple[str, ...], ...]
    build: Callable[..., Node]

    def __len__(self) -> int:
        return int(np.prod([len(s) for s in self.slots], dtype=object))

    def __getitem__(self, index: int) -> Node:
        if not 0 <= index < len(self):
            raise IndexError(f"form {self.name}: index {index} not in [0, {len(self)})")
        names = []
        for choices in reversed(self.slots):  # the last slot varies fastest
            index, r = divmod(index, len(choices))
            names.append(choices[r])
        return self.build(*reversed(names))


def _u(op: str, arg: Node) -> Node:
    return Unary(op, arg)


def _forms() -> tuple[Form, ...]:
    U, B, b_ = tuple(PANGAEA_UNARY), tuple(PANGAEA_BINARY), Binary
    x = X()
    return (
        Form("b(u(u(x)),u(x))", (B, U, U, U), lambda b, p, q, r: b_(b, _u(p, _u(q, x)), _u(r, x))),
        Form("b(u(x),u(u(x)))", (B, U, U, U), lambda b, p, q, r: b_(b, _u(p, x), _u(q, _u(r, x)))),
        Form(
            "n(u(x),u(x),u(x))",
            (NARY, U, U, U),
            lambda n, p, q, r: Binary(n, Binary(n, _u(p, x), _u(q, x)), _u(r, x)),
        ),
        Form("u(b(u(x),u(x)))", (U, B, U, U), lambda p, b, q, r: _u(p, b_(b, _u(q, x), _u(r, x)))),
        Form("u(u(u(u(x))))", (U, U, U, U), lambda a, b, c, d: _u(a, _u(b, _u(c, _u(d, x))))),
    )  # fmt: skip


class FourNodeSpace(Sequence[Node]):
    """The 1,023,516 four-node functions, indexed lazily (forms in order).

    Example:
        >>> import numpy as np
        >>> space = FourNodeSpace()
        >>> from evoforge.activations.formula import to_text
        >>> to_text(space[len(space) - 1])
        'bessel_i1e(bessel_i1e(bessel_i1e(bessel_i1e(x))))'
        >>> [to_text(g) for g in space.sample(np.random.default_rng(0), 1)]
        ['elu(square(exp(cosh(x))))']
    """

    def __init__(self) -> None:
        self.forms = _forms()
        self._starts = np.cumsum([0] + [len(f) for f in self.forms])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> Node:  # type: ignore[override]
        if isinstance(index, slice):
            raise TypeError("FourNodeSpace: index with an int (slices would build huge lists)")
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"FourNodeSpace: index {index} not in [0, {len(self)})")
        f = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self.forms[f][i - int(self._starts[f])]

    def __iter__(self) -> Iterator[Node]:
        for form in self.forms:
            for i in range(len(form)):
                yield form[i]

    def sample(self, rng: np.random.Generator, n: int) -> list[Node]:
        """``n`` distinct functions drawn uniformly (without replacement)."""
        return [self[int(i)] for i in rng.choice(len(self), size=n, replace=False)]
