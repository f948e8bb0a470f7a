"""The 65 ops of AutoML-Zero's Table S1, with stable ids and readable forms.

Each op is described once, as data: the operand types it reads, the type it
writes, the constants it carries and how it is written in program text. The
printer, the parser, the mutator and both interpreters all read this table, so
adding a form or fixing a name happens in one place.

Example:
    >>> from evoforge.automl_zero.ops import OPS, op_by_name
    >>> op_by_name("VECTOR_INNER_PRODUCT").id
    27
    >>> OPS[27].symbol, OPS[27].inputs, OPS[27].output
    ('dot', ('v', 'v'), 's')
"""

from __future__ import annotations

from dataclasses import dataclass

# What kind of constants an op carries (see `automl_zero_semantics.md` §3).
NO_DATA = 0
SCALAR_CONST = 1  # op 56: one full double
VECTOR_CONST = 2  # op 57: float32 index fraction, float32 value
MATRIX_CONST = 3  # op 58: two float32 index fractions, float32 value
UNIFORM = 4  # ops 59-61: float32 low, high
GAUSSIAN = 5  # ops 62-64: float32 mean, standard deviation

INFIX = ("+", "-", "*", "/")


@dataclass(frozen=True)
class OpSpec:
    """One row of Table S1.

    ``symbol`` is an infix operator (``+ - * /``), ``"1/"`` for reciprocals,
    ``"="`` for constant-setting ops, or a function name. ``axis`` is the
    ``axis=`` keyword printed for the per-axis matrix ops.
    """

    id: int
    name: str
    inputs: tuple[str, ...]
    output: str | None
    symbol: str
    axis: int | None = None
    data: int = NO_DATA

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)


def _op(id_: int, name: str, inputs: str, output: str | None, symbol: str, **kw) -> OpSpec:
    return OpSpec(id_, name, tuple(inputs), output, symbol, **kw)


OPS: tuple[OpSpec, ...] = (
    _op(0, "NO_OP", "", None, "no_op"),
    _op(1, "SCALAR_SUM", "ss", "s", "+"),
    _op(2, "SCALAR_DIFF", "ss", "s", "-"),
    _op(3, "SCALAR_PRODUCT", "ss", "s", "*"),
    _op(4, "SCALAR_DIVISION", "ss", "s", "/"),
    _op(5, "SCALAR_ABS", "s", "s", "abs"),
    _op(6, "SCALAR_RECIPROCAL", "s", "s", "1/"),
    _op(7, "SCALAR_SIN", "s", "s", "sin"),
    _op(8, "SCALAR_COS", "s", "s", "cos"),
    _op(9, "SCALAR_TAN", "s", "s", "tan"),
    _op(10, "SCALAR_ARCSIN", "s", "s", "arcsin"),
    _op(11, "SCALAR_ARCCOS", "s", "s", "arccos"),
    _op(12, "SCALAR_ARCTAN", "s", "s", "arctan"),
    _op(13, "SCALAR_EXP", "s", "s", "exp"),
    _op(14, "SCALAR_LOG", "s", "s", "log"),
    _op(15, "SCALAR_HEAVYSIDE", "s", "s", "heaviside"),
    _op(16, "VECTOR_HEAVYSIDE", "v", "v", "heaviside"),
    _op(17, "MATRIX_HEAVYSIDE", "m", "m", "heaviside"),
    _op(18, "SCALAR_VECTOR_PRODUCT", "sv", "v", "*"),
    _op(19, "SCALAR_BROADCAST", "s", "v", "bcast"),
    _op(20, "VECTOR_RECIPROCAL", "v", "v", "1/"),
    _op(21, "VECTOR_NORM", "v", "s", "norm"),
    _op(22, "VECTOR_ABS", "v", "v", "abs"),
    _op(23, "VECTOR_SUM", "vv", "v", "+"),
    _op(24, "VECTOR_DIFF", "vv", "v", "-"),
    _op(25, "VECTOR_PRODUCT", "vv", "v", "*"),
    _op(26, "VECTOR_DIVISION", "vv", "v", "/"),
    _op(27, "VECTOR_INNER_PRODUCT", "vv", "s", "dot"),
    _op(28, "VECTOR_OUTER_PRODUCT", "vv", "m", "outer"),
    _op(29, "SCALAR_MATRIX_PRODUCT", "sm", "m", "*"),
    _op(30, "MATRIX_RECIPROCAL", "m", "m", "1/"),
    _op(31, "MATRIX_VECTOR_PRODUCT", "mv", "v", "dot"),
    _op(32, "VECTOR_COLUMN_BROADCAST", "v", "m", "bcast", axis=0),
    _op(33, "VECTOR_ROW_BROADCAST", "v", "m", "bcast", axis=1),
    _op(34, "MATRIX_NORM", "m", "s", "norm"),
    _op(35, "MATRIX_COLUMN_NORM", "m", "v", "norm", axis=0),
    _op(36, "MATRIX_ROW_NORM", "m", "v", "norm", axis=1),
    _op(37, "MATRIX_TRANSPOSE", "m", "m", "transpose"),
    _op(38, "MATRIX_ABS", "m", "m", "abs"),
    _op(39, "MATRIX_SUM", "mm", "m", "+"),
    _op(40, "MATRIX_DIFF", "mm", "m", "-"),
    _op(41, "MATRIX_PRODUCT", "mm", "m", "*"),
    _op(42, "MATRIX_DIVISION", "mm", "m", "/"),
    _op(43, "MATRIX_MATRIX_PRODUCT", "mm", "m", "matmul"),
    _op(44, "SCALAR_MIN", "ss", "s", "minimum"),
    _op(45, "VECTOR_MIN", "vv", "v", "minimum"),
    _op(46, "MATRIX_MIN", "mm", "m", "minimum"),
    _op(47, "SCALAR_MAX", "ss", "s", "maximum"),
    _op(48, "VECTOR_MAX", "vv", "v", "maximum"),
    _op(49, "MATRIX_MAX", "mm", "m", "maximum"),
    _op(50, "VECTOR_MEAN", "v", "s", "mean"),
    _op(51, "MATRIX_MEAN", "m", "s", "mean"),
    _op(52, "MATRIX_ROW_MEAN", "m", "v", "mean", axis=1),
    _op(53, "MATRIX_ROW_ST_DEV", "m", "v", "std", axis=1),
    _op(54, "VECTOR_ST_DEV", "v", "s", "std"),
    _op(55, "MATRIX_ST_DEV", "m", "s", "std"),
    _op(56, "SCALAR_CONST_SET", "", "s", "=", data=SCALAR_CONST),
    _op(57, "VECTOR_CONST_SET", "", "v", "=", data=VECTOR_CONST),
    _op(58, "MATRIX_CONST_SET", "", "m", "=", data=MATRIX_CONST),
    _op(59, "SCALAR_UNIFORM_SET", "", "s", "uniform", data=UNIFORM),
    _op(60, "VECTOR_UNIFORM_SET", "", "v", "uniform", data=UNIFORM),
    _op(61, "MATRIX_UNIFORM_SET", "", "m", "uniform", data=UNIFORM),
    _op(62, "SCALAR_GAUSSIAN_SET", "", "s", "gaussian", data=GAUSSIAN),
    _op(63, "VECTOR_GAUSSIAN_SET", "", "v", "gaussian", data=GAUSSIAN),
    _op(64, "MATRIX_GAUSSIAN_SET", "", "m", "gaussian", data=GAUSSIAN),
)

N_OPS = len(OPS)
assert all(spec.id == i for i, spec in enumerate(OPS))

_BY_NAME = {spec.name: spec for spec in OPS}


def op_by_name(name: str | int) -> OpSpec:
    """Look up an op by table id (``27``, ``"OP27"``) or name (``"VECTOR_INNER_PRODUCT"``,
    also with the C++ suffix ``"_OP"``, case-insensitive).

    Raises ``KeyError`` with the accepted spellings when nothing matches.
    """
    if isinstance(name, int) and not isinstance(name, bool):
        if 0 <= name < N_OPS:
            return OPS[name]
        raise KeyError(f"op id {name} is outside 0..{N_OPS - 1}")
    key = str(name).strip().upper()
    if key.startswith("OP") and key[2:].isdigit():
        return op_by_name(int(key[2:]))
    if key.isdigit():
        return op_by_name(int(key))
    key = key.removesuffix("_OP")
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise KeyError(
        f"unknown op {name!r}: expected a Table S1 id (0..64, e.g. 'OP27') "
        f"or a name such as 'VECTOR_INNER_PRODUCT'"
    )


def op_ids(names: list[str | int]) -> list[int]:
    """Resolve a list of op names or ids (as written in configs) to ids."""
    return [op_by_name(n).id for n in names]
