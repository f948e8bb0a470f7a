"""Readable program text, as in the paper's listings, and its parser.

`to_text` prints constants exactly (shortest round-trip digits; float32 for
the ops that store float32), so ``from_text(to_text(p), memory) == p``. The
parser also reads the paper's own listings (Figures 5, S1a, S1b, S2a and S2c
as printed): comments, ``heaviside(v6, 1.0)``, ``gaussian(m, s, n_features)``,
``max``/``min`` for ``maximum``/``minimum`` and the literal ``0`` operand of
Figure 5 (``v7 = maximum(0, v6)``), which stands for an address the program
never writes and so stays zero. A line no single Table S1 op computes (Figure
S2b's ``v7 = s4 + v11``: a scalar plus a vector) is refused with its line
number, the forms the operator has, and how to write it; `program_memory`
sizes a memory for a listing that names more addresses than a configuration
has (Figure S2c: 20 vectors and 8 matrices).

Example:
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.text import from_text, to_text
    >>> mem = Memory(4, 3, 1, features=4)
    >>> p = from_text('''
    ... def Setup():
    ...     s3 = 0.01
    ... def Predict():
    ...     s1 = dot(v0, v1)
    ... def Learn():
    ...     s2 = s0 - s1
    ...     s2 = s2 * s3
    ...     v2 = s2 * v0
    ...     v1 = v1 + v2
    ... ''', mem)
    >>> p.sizes
    (1, 1, 4)
    >>> from_text(to_text(p, mem), mem) == p
    True
"""

from __future__ import annotations

import math
import re

import numpy as np

from evoforge.automl_zero.ops import (
    GAUSSIAN,
    INFIX,
    MATRIX_CONST,
    OPS,
    SCALAR_CONST,
    UNIFORM,
    VECTOR_CONST,
    OpSpec,
)
from evoforge.automl_zero.program import (
    COMPONENTS,
    FEATURES_VECTOR,
    LABEL_SCALAR,
    PREDICTION_SCALAR,
    Memory,
    Program,
    fraction_index,
    index_fraction,
)
from evoforge.errors import EvoforgeError

_FUNCTION_NAMES = {"setup": 0, "predict": 1, "learn": 2}

# (symbol, input types, axis) -> op; built from the op table so forms live in one place.
_FORMS: dict[tuple[str, tuple[str, ...], int | None], OpSpec] = {
    (spec.symbol, spec.inputs, spec.axis): spec for spec in OPS if spec.inputs
}

# Paper notation for the same ops: Figure S2c writes ``max(v1, v15)`` and
# ``min(v5, v4)`` where Table S1 (and our printer) write maximum/minimum.
SYNONYMS = {"max": "maximum", "min": "minimum"}


def _f32(value: float) -> str:
    return str(np.float32(value))


def _f64(value: float) -> str:
    return repr(float(value))


def instruction_text(spec: OpSpec, row: tuple, features: int) -> str:
    """One instruction as a line of code (without indentation)."""
    _, in1, in2, out, d0, d1, d2 = row
    if spec.id == 0:
        return "no_op"
    lhs = f"{spec.output}{out}"
    args = [f"{kind}{a}" for kind, a in zip(spec.inputs, (in1, in2), strict=False)]
    if spec.data == SCALAR_CONST:
        return f"{lhs} = {_f64(d0)}"
    if spec.data == VECTOR_CONST:
        return f"{lhs}[{fraction_index(d0, features)}] = {_f32(d1)}"
    if spec.data == MATRIX_CONST:
        i, j = fraction_index(d0, features), fraction_index(d1, features)
        return f"{lhs}[{i}, {j}] = {_f32(d2)}"
    if spec.data in (UNIFORM, GAUSSIAN):
        return f"{lhs} = {spec.symbol}({_f32(d0)}, {_f32(d1)})"
    if spec.symbol in INFIX:
        return f"{lhs} = {args[0]} {spec.symbol} {args[1]}"
    if spec.symbol == "1/":
        return f"{lhs} = 1 / {args[0]}"
    if spec.axis is not None:
        args.append(f"axis={spec.axis}")
    return f"{lhs} = {spec.symbol}({', '.join(args)})"


def to_text(program: Program, memory: Memory, indent: str = "    ") -> str:
    """The program as ``def Setup(): / def Predict(): / def Learn():`` code."""
    lines = []
    for k, name in enumerate(COMPONENTS):
        lines.append(f"def {name.capitalize()}():")
        for row in program.rows(k):
            lines.append(indent + instruction_text(OPS[row[0]], row, memory.features))
    return "\n".join(lines) + "\n"


class ProgramSyntaxError(EvoforgeError, ValueError):
    """The one error of the program parser: a text that cannot be read or
    does not fit the memory.

    ``lineno`` (1-based) and ``line`` (its text) locate it, or are None when
    the error concerns the whole text; ``expected`` says what would be valid.
    ``str()`` is ``"line 3: `s1 = mean(v1, axis=x)`: expected ..."``.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> try:
        ...     from_text("def Setup():\\n    s2 = 1e999", Memory(4, 3, 1, features=4))
        ... except ProgramSyntaxError as error:
        ...     print(error.lineno, error.line)
        2 s2 = 1e999
    """

    def __init__(self, expected: str, lineno: int | None = None, line: str | None = None):
        self.expected = expected
        self.lineno = lineno
        self.line = line
        where = "" if lineno is None else f"line {lineno}: "
        if line is not None:
            where += f"`{line}`: "
        super().__init__(where + expected)


_ADDRESS = re.compile(r"^([svm])(\d{1,9})$")  # longer addresses cannot fit any memory
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$", re.IGNORECASE)
_MAX_NUMBER_CHARS = 400  # more digits than any float64 needs; int() refuses > 4300


def _short(token: str, limit: int = 40) -> str:
    """A token cut to ``limit`` characters for messages (a pasted 5,000-digit
    address should not fill the terminal)."""
    return token if len(token) <= limit else token[: limit - 3] + "..."


_CALL = re.compile(r"^([A-Za-z_]\w*)\s*\((.*)\)$")
_LHS = re.compile(r"^([svm])(\d+)\s*(?:\[(.*)\])?$")


def _split_args(text: str) -> list[str]:
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail or parts:
        parts.append(tail)
    return parts


def _split_infix(rhs: str) -> tuple[str, str, str] | None:
    # Operands are single tokens, so the operator is the first symbol with
    # spaces or tokens on both sides (a leading sign belongs to a number).
    m = re.match(r"^(\S+?)\s*([-+*/])\s*(\S+)$", rhs)
    if m and m.group(1) not in "+-":
        return m.group(1), m.group(2), m.group(3)
    return None


class _Parser:
    def __init__(self, memory: Memory, needed: dict[str, int] | None = None):
        self.memory = memory
        self.needed = needed or {}  # addresses per kind the whole text uses
        # Instructions as [op, in1, in2, out, d0, d1, d2]; "0" operands are
        # resolved once every written address is known.
        self.components: list[list[list]] = [[], [], []]
        self.zero_operands: list[tuple[list, int, str]] = []
        self.lines: dict[int, str] = {}  # lineno -> text, for errors

    def error(self, lineno: int, message: str) -> ProgramSyntaxError:
        return ProgramSyntaxError(message, lineno, self.lines.get(lineno))

    def address(self, token: str, kind: str, lineno: int) -> int:
        m = _ADDRESS.match(token)
        if not m or m.group(1) != kind:
            raise self.error(
                lineno,
                f"expected a {_KIND_NAMES[kind]} address like {kind}3, got {_short(token)!r}",
            )
        index = int(m.group(2))
        if index >= self.memory.size(kind):
            raise self.error(lineno, self.too_small(token, kind))
        return index

    def too_small(self, token: str, kind: str) -> str:
        """Name the address, the memory, and everything the listing needs."""
        message = f"{token} is outside the memory ({kind}0..{kind}{self.memory.size(kind) - 1})"
        short = [
            f"{self.needed[k]} {_PLURALS[k]} (has {self.memory.size(k)})"
            for k in "svm"
            if self.needed.get(k, 0) > self.memory.size(k)
        ]
        if short:
            message += (
                f"; the program needs {', '.join(short)}: raise automl_zero.memory, or size "
                "the memory with evoforge.automl_zero.text.program_memory(text, features)"
            )
        return message

    def number(self, token: str, lineno: int, float32: bool = False) -> float:
        """A finite constant (finite in float32 too where the op stores float32)."""
        token = token.strip()
        shown = _short(token)
        if len(token) > _MAX_NUMBER_CHARS or not _NUMBER.match(token):
            raise self.error(lineno, f"expected a number, got {shown!r}")
        value = float(token)
        if float32:
            with np.errstate(over="ignore"):
                value = float(np.float32(value))
        if not math.isfinite(value):
            if float32 and math.isfinite(float(token)):
                expected = "a number that fits float32 (|x| <= 3.4e38)"
            else:
                expected = "a finite number"
            raise self.error(lineno, f"expected {expected}, got {shown!r}")
        return value

    def index(self, token: str, lineno: int) -> float:
        token = token.strip()
        features = self.memory.features
        if not (token.isascii() and token.isdigit()) or len(token) > 9 or int(token) >= features:
            raise self.error(
                lineno, f"index {_short(token)!r} must be an integer in 0..{features - 1}"
            )
        return index_fraction(int(token), features)

    def statement(self, component: int, text: str, lineno: int) -> None:
        if text in ("pass",):
            return
        if text in ("no_op", "NoOp()", "no_op()"):
            self.components[component].append([0, 0, 0, 0, 0.0, 0.0, 0.0])
            return
        if "=" not in text:
            raise self.error(lineno, f"expected an assignment 'x = ...', got {_short(text)!r}")
        lhs_text, rhs = (part.strip() for part in text.split("=", 1))
        lhs = _LHS.match(lhs_text)
        if not lhs:
            raise self.error(
                lineno, f"expected an address like s2, v3[1] or m0[1, 2], got {_short(lhs_text)!r}"
            )
        kind, out_token, subscript = lhs.group(1), lhs.group(1) + lhs.group(2), lhs.group(3)
        out = self.address(out_token, kind, lineno)
        row = self.right_hand_side(kind, subscript, rhs, lineno)
        row[3] = out
        self.components[component].append(row)

    def right_hand_side(self, kind: str, subscript: str | None, rhs: str, lineno: int) -> list:
        if subscript is not None:
            indices = [s.strip() for s in re.split(r"\]\s*\[|,", subscript)]
            value = self.number(rhs, lineno, float32=True)
            if kind == "v" and len(indices) == 1:
                return [57, 0, 0, 0, self.index(indices[0], lineno), value, 0.0]
            if kind == "m" and len(indices) == 2:
                i, j = (self.index(t, lineno) for t in indices)
                return [58, 0, 0, 0, i, j, value]
            raise self.error(lineno, "constant subscripts are v[i] or m[i, j]")
        if _NUMBER.match(rhs):
            if kind != "s":
                raise self.error(
                    lineno, f"a {_KIND_NAMES[kind]} cannot be set to a number without an index"
                )
            return [56, 0, 0, 0, self.number(rhs, lineno), 0.0, 0.0]
        call = _CALL.match(rhs)
        if call:
            return self.call(kind, call.group(1), _split_args(call.group(2)), lineno)
        infix = _split_infix(rhs)
        if infix:
            left, symbol, right = infix
            if symbol == "/" and left == "1":
                return self.resolve(kind, "1/", [right], None, lineno)
            return self.resolve(kind, symbol, [left, right], None, lineno)
        raise self.error(lineno, f"cannot read the expression {_short(rhs)!r}")

    def call(self, kind: str, name: str, args: list[str], lineno: int) -> list:
        if name in ("uniform", "gaussian"):
            # Extra arguments such as n_features are shapes the output already implies.
            if len(args) < 2:
                raise self.error(lineno, f"{name} needs two constants, got {len(args)}")
            lo, hi = (self.number(a, lineno, float32=True) for a in args[:2])
            op = {"s": 59, "v": 60, "m": 61}[kind] + (3 if name == "gaussian" else 0)
            if name == "gaussian" and hi < 0:
                raise self.error(lineno, "gaussian standard deviation must be >= 0")
            return [op, 0, 0, 0, lo, hi, 0.0]
        axis = None
        operands = []
        for arg in args:
            if arg.replace(" ", "").startswith("axis="):
                value = arg.split("=", 1)[1].strip()
                if value not in ("0", "1"):
                    raise self.error(lineno, f"expected axis=0 or axis=1, got axis={_short(value)}")
                axis = int(value)
            elif name == "heaviside" and operands and _NUMBER.match(arg):
                continue  # the C++ printer's heaviside(x, 1.0)
            else:
                operands.append(arg)
        return self.resolve(kind, SYNONYMS.get(name, name), operands, axis, lineno)

    def resolve(
        self, kind: str, symbol: str, operands: list[str], axis: int | None, lineno: int
    ) -> list:
        known = [t[0] for t in operands if _ADDRESS.match(t)]
        candidates = [
            spec
            for (sym, inputs, ax), spec in _FORMS.items()
            if sym == symbol
            and ax == axis
            and len(inputs) == len(operands)
            and spec.output == kind
            and all(
                (_ADDRESS.match(t) and t[0] == want) or t == "0"
                for t, want in zip(operands, inputs, strict=True)
            )
        ]
        if len(candidates) != 1:
            raise self.error(lineno, self.no_single_op(kind, symbol, operands, axis, known))
        spec = candidates[0]
        row = [spec.id, 0, 0, 0, 0.0, 0.0, 0.0]
        for slot, (token, want) in enumerate(zip(operands, spec.inputs, strict=True), start=1):
            if token == "0":
                self.zero_operands.append((row, slot, want))
            else:
                row[slot] = self.address(token, want, lineno)
        return row

    @staticmethod
    def no_single_op(
        kind: str, symbol: str, operands: list[str], axis: int | None, known: list[str]
    ) -> str:
        """Why no Table S1 op computes the expression, and the forms that exist."""
        infix = symbol in INFIX
        shown = (
            f"{_short(operands[0])} {symbol} {_short(operands[1])}"
            if infix and len(operands) == 2
            else f"{_short(symbol)}({', '.join(_short(t) for t in operands)}"
            + (f", axis={axis}" if axis is not None else "")
            + ")"
        )
        if known and len(known) == len(operands):
            shown += f" ({' and '.join(_KIND_NAMES[k] for k in known)})"
        message = (
            f"no op writes a {_KIND_NAMES[kind]} from {shown}: no single Table S1 op computes it"
        )
        forms = sorted(
            (inputs, -1 if ax is None else ax, spec.output)
            for (sym, inputs, ax), spec in _FORMS.items()
            if sym == symbol
        )
        if forms:
            listed = ", ".join(
                f"{_form_text(symbol, inputs, None if ax < 0 else ax)} -> {_KIND_NAMES[out]}"
                for inputs, ax, out in forms
            )
            message += f"; {symbol!r} exists as {listed}"
            if infix and sorted(known) == ["s", "v"] and kind == "v":
                message += " (a scalar and a vector: broadcast first, v = bcast(s), then add)"
        elif symbol not in INFIX:
            names = sorted(
                {sym for sym, _, _ in _FORMS if sym.isidentifier()}
                | set(SYNONYMS)
                | {"uniform", "gaussian"}
            )
            message += f"; {_short(symbol)!r} is not an op name (known: {', '.join(names)})"
        return message

    def program(self) -> Program:
        written = {kind: set() for kind in "svm"}
        reserved = {"s": {LABEL_SCALAR, PREDICTION_SCALAR}, "v": {FEATURES_VECTOR}, "m": set()}
        for comp in self.components:
            for row in comp:
                spec = OPS[row[0]]
                if spec.output:
                    written[spec.output].add(row[3])
        for row, slot, kind in self.zero_operands:
            free = [
                a
                for a in range(self.memory.size(kind))
                if a not in written[kind] and a not in reserved[kind]
            ]
            if not free:
                raise ProgramSyntaxError(
                    f"the literal 0 operand needs a {_KIND_NAMES[kind]} address the program never "
                    f"writes, but all {self.memory.size(kind)} are used"
                )
            row[slot] = free[0]
        return Program.from_components(tuple([tuple(r) for r in comp] for comp in self.components))


_KIND_NAMES = {"s": "scalar", "v": "vector", "m": "matrix"}
_PLURALS = {"s": "scalars", "v": "vectors", "m": "matrices"}


def _form_text(symbol: str, inputs: tuple[str, ...], axis: int | None) -> str:
    """One form of an op in program notation, e.g. ``v + v`` or ``norm(m, axis=0)``."""
    if symbol in INFIX:
        return f"{inputs[0]} {symbol} {inputs[1]}"
    if symbol == "1/":
        return f"1 / {inputs[0]}"
    return f"{symbol}({', '.join(inputs)}" + (f", axis={axis}" if axis is not None else "") + ")"


_USED_ADDRESS = re.compile(r"\b([svm])(\d{1,9})\b")


def _addresses_needed(text: str) -> dict[str, int]:
    """Per kind, one more than the highest address the text names (comments ignored)."""
    needed = {"s": 0, "v": 0, "m": 0}
    for raw in text.splitlines():
        for kind, index in _USED_ADDRESS.findall(raw.split("#", 1)[0]):
            needed[kind] = max(needed[kind], int(index) + 1)
    return needed


def program_memory(text: str, features: int, at_least: Memory | None = None) -> Memory:
    """The smallest memory that holds every address ``text`` names (and at least
    ``at_least``'s banks, and the reserved s0, s1 and v0), for ``features`` features.

    Paper listings use more addresses than their section's configuration:
    Figure S2c writes v19 and m7, though Section 4.3 configures 16 vectors and
    4 matrices. Raises `ProgramSyntaxError` if ``text`` is not a string.

    Example:
        >>> program_memory("def Predict():\\n    v7 = max(v1, v19)\\n    m7 = heaviside(m3)", 16)
        Memory(n_scalars=2, n_vectors=20, n_matrices=8, features=16)
        >>> program_memory("def Predict():\\n    s1 = dot(v0, v1)", 4, Memory(4, 3, 1, 4))
        Memory(n_scalars=4, n_vectors=3, n_matrices=1, features=4)
    """
    if not isinstance(text, str):
        raise ProgramSyntaxError(f"expected program text (a string), got {type(text).__name__}")
    needed = _addresses_needed(text)
    floor = at_least or Memory(2, 1, 1, features)
    return Memory(
        n_scalars=max(needed["s"], floor.n_scalars, 2),
        n_vectors=max(needed["v"], floor.n_vectors, 1),
        n_matrices=max(needed["m"], floor.n_matrices, 1),
        features=features,
    )


def from_text(text: str, memory: Memory) -> Program:
    """Parse program text; raises `ProgramSyntaxError` naming the offending line.

    Reads our printer's form and the paper's listings (comments, ``max``/``min``
    for maximum/minimum, ``heaviside(v, 1.0)``, a literal ``0`` operand). A line
    that no single Table S1 op computes, or an address outside ``memory``, is
    refused with its line number and the reason (`program_memory` sizes a
    memory for a listing).
    """
    if not isinstance(text, str):
        raise ProgramSyntaxError(f"expected program text (a string), got {type(text).__name__}")
    parser = _Parser(memory, _addresses_needed(text))
    component = None
    seen = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parser.lines[lineno] = _short(line, 80)
        header = re.match(r"^def\s+(\w+)\s*\(\s*\)\s*:\s*(.*)$", line)
        if header:
            name = header.group(1).lower()
            if name not in _FUNCTION_NAMES:
                raise parser.error(
                    lineno,
                    f"unknown function {_short(header.group(1))!r}; "
                    "expected Setup, Predict or Learn",
                )
            if name in seen:
                raise parser.error(lineno, f"function {header.group(1)} defined twice")
            seen.add(name)
            component = _FUNCTION_NAMES[name]
            if header.group(2):
                parser.statement(component, header.group(2).strip(), lineno)
            continue
        if component is None:
            raise parser.error(
                lineno, "code before 'def Setup():' / 'def Predict():' / 'def Learn():'"
            )
        parser.statement(component, line, lineno)
    if not seen:
        raise ProgramSyntaxError("no 'def Setup():', 'def Predict():' or 'def Learn():' found")
    program = parser.program()
    try:
        program.validate(memory)
    except ValueError as error:  # the parser checks as it reads; this is a safety net
        raise ProgramSyntaxError(str(error)) from None
    return program
