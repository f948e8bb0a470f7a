"""Figures for the report: matplotlib drawn off-screen into PNG bytes.

Uses `matplotlib.figure.Figure` directly, not pyplot: no GUI backend, no
global figure state, so a report can be built in any process (a notebook, a
worker, a test) without a display.

Example:
    >>> png = figure_png(lambda fig: fig.add_subplot().plot([0, 1], [1, 0]))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from evoforge.errors import EvoforgeError

#: The pip extra that brings matplotlib.
EXTRA = "torch"


class MissingDependencyError(EvoforgeError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            f"the report's plots need matplotlib, which is not installed:"
            f" pip install 'evoforge[{EXTRA}]' (or pip install matplotlib)"
        ) from None
    return Figure


def figure_png(draw: Callable[[Any], Any], size: tuple[float, float] = (7.0, 3.6)) -> bytes:
    """Call ``draw(figure)`` on a new figure of ``size`` inches; its PNG bytes."""
    fig = _figure_class()(figsize=size, layout="constrained")
    draw(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return buffer.getvalue()
