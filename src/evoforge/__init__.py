"""evoforge: discover machine-learning components by evolution.

From Python: `search` runs a search (any domain, in memory or in a run
directory, with callbacks) and `open_run` reads a run directory; see
`evoforge.api`. They are imported on first use, so ``import evoforge`` stays
light for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "open_run", "search"]

if TYPE_CHECKING:
    from evoforge.api import open_run, search


def __getattr__(name: str) -> Any:
    if name in ("search", "open_run"):
        from evoforge import api

        return getattr(api, name)
    raise AttributeError(f"module 'evoforge' has no attribute {name!r}")
