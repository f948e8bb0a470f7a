"""Strategy state with numpy arrays, as JSON without pickle.

A checkpoint is JSON inside the run store. A strategy's ``state_dict`` may
hold numpy arrays (a search distribution's mean, a covariance): `encode_state`
replaces each by ``{"__ndarray__": <base64 of its .npy bytes>}`` and
`decode_state` reads them back with ``allow_pickle=False``, so the dtype and
shape survive exactly and loading a checkpoint never runs code. Object arrays
are refused.

Example:
    >>> import json, numpy as np
    >>> state = {"mean": np.array([0.5, 1.0]), "step": 3, "hist": [np.arange(2)]}
    >>> back = decode_state(json.loads(json.dumps(encode_state(state))))
    >>> back["mean"].tolist(), back["step"], back["hist"][0].dtype == np.arange(2).dtype
    ([0.5, 1.0], 3, True)
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

_KEY = "__ndarray__"


def encode_state(value: Any) -> Any:
    """``value`` with every numpy array (and numpy scalar) made JSON-able."""
    if isinstance(value, dict):
        return {k: encode_state(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_state(v) for v in value]
    if isinstance(value, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)  # raises for object arrays
        return {_KEY: base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_state(value: Any) -> Any:
    """The inverse of `encode_state` (arrays loaded with ``allow_pickle=False``)."""
    if isinstance(value, dict):
        if len(value) == 1 and _KEY in value:
            data = base64.b64decode(value[_KEY])
            return np.load(io.BytesIO(data), allow_pickle=False)
        return {k: decode_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_state(v) for v in value]
    return value
