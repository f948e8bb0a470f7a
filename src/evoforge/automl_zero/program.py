"""An AutoML-Zero program: Setup, Predict and Learn over a typed memory.

A program is stored flat, as two small arrays the compiled interpreter reads
without conversion: ``code`` rows are ``(op, in1, in2, out)`` and ``data`` rows
hold an instruction's constants (see `evoforge.automl_zero.ops`). ``sizes`` says
how many rows belong to Setup, Predict and Learn, in that order.

Example:
    >>> from evoforge.automl_zero.program import Memory, Program
    >>> p = Program.empty()
    >>> p.sizes
    (0, 0, 0)
    >>> Memory(n_scalars=4, n_vectors=3, n_matrices=1, features=4).features
    4
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evoforge.automl_zero.ops import GAUSSIAN, MATRIX_CONST, N_OPS, OPS, UNIFORM, VECTOR_CONST

COMPONENTS = ("setup", "predict", "learn")

# Reserved addresses (paper §3.1): the label, the prediction and the features.
LABEL_SCALAR = 0
PREDICTION_SCALAR = 1
FEATURES_VECTOR = 0
# Multiclass tasks predict and learn vectors instead (§4.3: "labels and outputs
# are now vectors"): logits in v1, the one-hot label in v2 (our choice of addresses).
PREDICTION_VECTOR = 1
LABEL_VECTOR = 2


@dataclass(frozen=True)
class Memory:
    """Address-bank sizes and the feature dimension F (vectors have length F,
    matrices are F x F)."""

    n_scalars: int
    n_vectors: int
    n_matrices: int
    features: int

    def __post_init__(self) -> None:
        if self.n_scalars < 2:
            raise ValueError(
                f"n_scalars: expected >= 2 (s0 label, s1 prediction), got {self.n_scalars}"
            )
        if self.n_vectors < 1:
            raise ValueError(f"n_vectors: expected >= 1 (v0 features), got {self.n_vectors}")
        if self.n_matrices < 1:
            raise ValueError(f"n_matrices: expected >= 1, got {self.n_matrices}")
        if self.features < 1:
            raise ValueError(f"features: expected >= 1, got {self.features}")

    def size(self, kind: str) -> int:
        return {"s": self.n_scalars, "v": self.n_vectors, "m": self.n_matrices}[kind]


def index_fraction(index: int, features: int) -> float:
    """The float32 fraction that the const-set ops store for element ``index``.

    Ops 57/58 keep an index as a fraction f in [0, 1) and read element
    ``int(F * f)``; we store the centre of the element's interval so the same
    program scales to other feature sizes the way the reference does.
    """
    return float(np.float32((index + 0.5) / features))


def fraction_index(fraction: float, features: int) -> int:
    """Element index of a stored fraction, formed in float32 and truncated."""
    return int(np.float32(features) * np.float32(fraction))


class Program:
    """Three component functions of instructions.

    Programs are values: mutations return new programs and never change the
    arrays of an existing one.
    """

    __slots__ = ("code", "data", "lines", "sizes")

    def __init__(
        self,
        code: np.ndarray,
        data: np.ndarray,
        sizes: tuple[int, int, int],
        lines: list[str | None] | None = None,
    ):
        self.code = code
        self.data = data
        self.sizes = (int(sizes[0]), int(sizes[1]), int(sizes[2]))
        # Optional cache of each row's text (None where unknown): a child shares
        # all but one line with its parent, and every individual's text is stored.
        self.lines = lines

    @classmethod
    def empty(cls) -> Program:
        return cls(np.zeros((0, 4), np.int64), np.zeros((0, 3), np.float64), (0, 0, 0))

    @classmethod
    def from_components(cls, components: tuple[list[tuple], list[tuple], list[tuple]]) -> Program:
        """Build from three lists of ``(op, in1, in2, out, d0, d1, d2)`` rows."""
        rows = [row for comp in components for row in comp]
        code = np.array([r[:4] for r in rows], dtype=np.int64).reshape(-1, 4)
        data = np.array([r[4:7] for r in rows], dtype=np.float64).reshape(-1, 3)
        return cls(code, data, tuple(len(c) for c in components))

    def bounds(self, component: int) -> tuple[int, int]:
        """Row range ``[start, stop)`` of component 0 (Setup), 1 (Predict) or 2 (Learn)."""
        start = sum(self.sizes[:component])
        return start, start + self.sizes[component]

    def rows(self, component: int) -> list[tuple]:
        start, stop = self.bounds(component)
        return [
            (*(int(v) for v in self.code[i]), *(float(v) for v in self.data[i]))
            for i in range(start, stop)
        ]

    def __len__(self) -> int:
        return len(self.code)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return (
            self.sizes == other.sizes
            and np.array_equal(self.code, other.code)
            and np.array_equal(self.data, other.data)
        )

    def __hash__(self) -> int:
        return hash((self.sizes, self.code.tobytes(), self.data.tobytes()))

    def __repr__(self) -> str:
        return f"Program(sizes={self.sizes})"

    def validate(self, memory: Memory) -> None:
        """Raise ``ValueError`` naming the first instruction that does not fit ``memory``."""
        for component, name in enumerate(COMPONENTS):
            start, stop = self.bounds(component)
            for line, i in enumerate(range(start, stop), 1):
                op, in1, in2, out = (int(v) for v in self.code[i])
                where = f"{name} instruction {line}"
                if not 0 <= op < N_OPS:
                    raise ValueError(f"{where}: op id {op} outside 0..{N_OPS - 1}")
                spec = OPS[op]
                for kind, address in zip(spec.inputs, (in1, in2), strict=False):
                    if not 0 <= address < memory.size(kind):
                        raise ValueError(
                            f"{where} ({spec.name}): input {kind}{address} outside "
                            f"{kind}0..{kind}{memory.size(kind) - 1}"
                        )
                if spec.output and not 0 <= out < memory.size(spec.output):
                    raise ValueError(
                        f"{where} ({spec.name}): output {spec.output}{out} outside "
                        f"{spec.output}0..{spec.output}{memory.size(spec.output) - 1}"
                    )
                if spec.data in (VECTOR_CONST, MATRIX_CONST):
                    n_index = 1 if spec.data == VECTOR_CONST else 2
                    for k in range(n_index):
                        if not 0.0 <= self.data[i, k] < 1.0:
                            raise ValueError(
                                f"{where}: index fraction {self.data[i, k]} not in [0, 1)"
                            )
                if spec.data == GAUSSIAN and not self.data[i, 1] >= 0.0:
                    raise ValueError(f"{where}: gaussian standard deviation must be >= 0")
                if spec.data == UNIFORM and not np.all(np.isfinite(self.data[i, :2])):
                    raise ValueError(f"{where}: uniform bounds must be finite")

    def to_json(self) -> dict[str, list[list[float]]]:
        """Exact JSON form: per component, rows of ``[op, in1, in2, out, d0, d1, d2]``."""
        return {
            name: [[*row[:4], *row[4:]] for row in self.rows(k)]
            for k, name in enumerate(COMPONENTS)
        }

    @classmethod
    def from_json(cls, obj: dict) -> Program:
        """Inverse of `to_json`; raises ``ValueError`` on malformed input."""
        if not isinstance(obj, dict) or set(obj) != set(COMPONENTS):
            raise ValueError(f"program JSON: expected an object with keys {list(COMPONENTS)}")
        components = []
        for name in COMPONENTS:
            rows = obj[name]
            if not isinstance(rows, list) or any(
                not isinstance(r, list) or len(r) != 7 for r in rows
            ):
                raise ValueError(f"program JSON {name}: expected a list of 7-element rows")
            components.append([tuple(r) for r in rows])
        return cls.from_components(tuple(components))
