"""Programs as compact bytes for the run store, and their text on demand.

A stored program is a 9-byte header (format, F, the three component sizes)
followed by one 4-byte ``(op, in1, in2, out)`` row per instruction and the
float64 constants of the ops that carry any (1 for a scalar constant, 2 for a
vector constant, a uniform or a gaussian, 3 for a matrix constant). The
linear demo's 20-instruction programs take 89-150 bytes against ~420 as text.
Format 2 has 16-bit addresses (memories over 256 entries); formats 3 and 4 (1
and 2 with all three constants of every row) hold a program with constants
where its op has none, which only a hand-made program can have, so every
program round-trips exactly.

`program_text` is the codec the store names (`RunStore.set_codec`): ``evoforge
show``, ``best.txt``, export and the store's ``individuals_text`` view read
text through it.

Example:
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.text import from_text
    >>> p = from_text(linear_sgd(0.1), Memory(4, 3, 1, features=4))
    >>> blob = encode_program(p, features=4)
    >>> decode_program(blob) == p, len(blob) < 100
    (True, True)
    >>> program_text(blob).splitlines()[0]
    'def Setup():'
"""

from __future__ import annotations

import numba
import numpy as np

from evoforge.automl_zero.ops import OPS
from evoforge.automl_zero.program import Program
from evoforge.automl_zero.text import instruction_text

#: The name the store records for this codec.
CODEC = "evoforge.automl_zero.fused_codec:program_text"

_HEADER = 9
_SLOTS_BY_KIND = (0, 1, 2, 3, 2, 2)  # NO_DATA, SCALAR, VECTOR, MATRIX, UNIFORM, GAUSSIAN
#: Constants stored per op.
DATA_SLOTS = np.array([_SLOTS_BY_KIND[spec.data] for spec in OPS], np.int64)


@numba.njit(cache=True, nogil=True)
def _encode(sizes, code, data, slots, features, out, pos):
    """Write one program at ``out[pos:]``; returns the end (or -1 if it needs
    another format than the one in ``out[pos]``)."""
    fmt = out[pos]
    rows = sizes[0] + sizes[1] + sizes[2]
    out[pos + 1] = features & 0xFF
    out[pos + 2] = features >> 8
    for k in range(3):
        out[pos + 3 + 2 * k] = sizes[k] & 0xFF
        out[pos + 4 + 2 * k] = sizes[k] >> 8
    p = pos + _HEADER
    width = 2 if fmt == 2 or fmt == 4 else 1
    for r in range(rows):
        for j in range(4):
            x = code[r, j]
            out[p] = x & 0xFF
            if width == 2:
                out[p + 1] = x >> 8
            p += width
    tmp = np.empty(1, np.float64)
    as_bytes = tmp.view(np.uint8)
    for r in range(rows):
        n = 3 if fmt >= 3 else slots[code[r, 0]]
        if fmt < 3:
            for j in range(n, 3):
                if data[r, j] != 0.0:
                    return -1
        for j in range(n):
            tmp[0] = data[r, j]
            out[p : p + 8] = as_bytes
            p += 8
    return p


@numba.njit(cache=True, nogil=True)
def _size(sizes, code, slots, fmt):
    rows = sizes[0] + sizes[1] + sizes[2]
    n = _HEADER + rows * 4 * (2 if fmt == 2 or fmt == 4 else 1)
    for r in range(rows):
        n += 8 * (3 if fmt >= 3 else slots[code[r, 0]])
    return n


@numba.njit(cache=True, nogil=True)
def encode_chunk(sizes, code, data, slots, features, wide):
    """Encode programs ``i`` (``code[i, :rows]``...) into one buffer; returns
    ``(buffer, offsets)`` with program ``i`` at ``buffer[offsets[i]:offsets[i+1]]``."""
    n = sizes.shape[0]
    fmt0 = 2 if wide else 1
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        offsets[i + 1] = offsets[i] + _size(sizes[i], code[i], slots, 4)
    out = np.zeros(offsets[n], np.uint8)
    ends = np.zeros(n + 1, np.int64)
    p = 0
    for i in range(n):
        ends[i] = p
        out[p] = fmt0
        end = _encode(sizes[i], code[i], data[i], slots, features, out, p)
        if end < 0:
            out[p] = fmt0 + 2
            end = _encode(sizes[i], code[i], data[i], slots, features, out, p)
        p = end
    ends[n] = p
    return out[:p], ends


def encode_program(program: Program, features: int) -> bytes:
    """The compact bytes of one program."""
    code = program.code.reshape(1, -1, 4)
    data = program.data.reshape(1, -1, 3)
    wide = bool(code.size and code[..., 1:].max() > 255)
    buf, _ = encode_chunk(
        np.array([program.sizes], np.int64), code, data, DATA_SLOTS, features, wide
    )
    return buf.tobytes()


def decode_program(blob: bytes) -> Program:
    """The `Program` of `encode_program`'s bytes; ``ValueError`` if malformed."""
    raw = np.frombuffer(blob, np.uint8)
    if raw.size < _HEADER or raw[0] not in (1, 2, 3, 4):
        raise ValueError("not a compact AutoML-Zero program (unknown format byte)")
    fmt = int(raw[0])
    sizes = tuple(int(raw[3 + 2 * k]) | int(raw[4 + 2 * k]) << 8 for k in range(3))
    rows = sum(sizes)
    p = _HEADER
    if fmt in (2, 4):
        code = np.frombuffer(blob, "<u2", rows * 4, p).astype(np.int64).reshape(rows, 4)
        p += rows * 8
    else:
        code = raw[p : p + rows * 4].astype(np.int64).reshape(rows, 4)
        p += rows * 4
    data = np.zeros((rows, 3))
    for r in range(rows):
        n = 3 if fmt >= 3 else int(DATA_SLOTS[code[r, 0]])
        if n:
            data[r, :n] = np.frombuffer(blob, "<f8", n, p)
            p += 8 * n
    if p != len(blob):
        raise ValueError("compact AutoML-Zero program: length does not match its header")
    return Program(code, data, sizes)


def blob_features(blob: bytes) -> int:
    """The feature size F recorded in the bytes."""
    return blob[1] | blob[2] << 8


def program_text(blob: bytes) -> str:
    """The program's text, laid out as `ProgramSpace.to_text` writes it."""
    program = decode_program(blob)
    features = blob_features(blob)
    lines = [
        "    " + instruction_text(OPS[int(program.code[i, 0])], row, features)
        for i, row in enumerate(
            (*program.code[i].tolist(), *program.data[i].tolist()) for i in range(len(program))
        )
    ]
    n_setup, n_predict, _ = program.sizes
    split = n_setup + n_predict
    return "\n".join(
        ["def Setup():", *lines[:n_setup], "def Predict():", *lines[n_setup:split],
         "def Learn():", *lines[split:], ""]
    )  # fmt: skip
