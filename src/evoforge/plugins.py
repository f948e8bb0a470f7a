"""The plugin loader: import ``run.plugins`` modules so that they register
their domains and strategies.

It sits below both registries (`evoforge.domains` for domains, the engine's
`evoforge.evolution.strategies.registry` for strategies), so neither reaches
into the other to load a plugin. A run directory's ``config.toml`` may come
from someone else and names these modules, so only installed, importable
module names are accepted: an empty name, a file path or a name that
`importlib.util.find_spec` cannot find is refused with `ConfigError` before
anything is imported.

Example:
    >>> import_plugins(["json"])
    >>> import_plugins(["/tmp/evil.py"])
    Traceback (most recent call last):
    ...
    evoforge.config.ConfigError: run.plugins[0]: expected an installed module name such as 'my_package.domains', got '/tmp/evil.py'
"""  # noqa: E501

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable

from evoforge.config import ConfigError


def _find_module(name: str) -> bool:
    """Whether ``name`` is an installed module, found without importing it or
    its parent packages (a dotted name is looked up level by level)."""
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name imports nothing
        for depth in range(1, len(parts)):
            if spec is None or spec.submodule_search_locations is None:
                return False
            dotted = ".".join(parts[: depth + 1])
            if ".".join(parts[:depth]) in sys.modules:  # already imported: ask normally
                spec = importlib.util.find_spec(dotted)
            else:
                spec = importlib.machinery.PathFinder.find_spec(
                    dotted, list(spec.submodule_search_locations)
                )
    except (ImportError, ValueError):
        return False
    return spec is not None


def import_plugins(modules: Iterable[str]) -> None:
    """Import ``run.plugins`` modules (each registers what it provides);
    `ConfigError` naming ``run.plugins[i]`` for a name that is not an
    installed module or cannot be imported.

    Example:
        >>> import_plugins([])  # nothing to load
    """
    modules = list(modules)
    for i, module in enumerate(modules):
        path = f"run.plugins[{i}]"
        if not isinstance(module, str) or not all(
            part.isidentifier() for part in module.split(".")
        ):
            raise ConfigError(
                path,
                f"expected an installed module name such as 'my_package.domains', got {module!r}",
            )
        if not _find_module(module):
            raise ConfigError(
                path,
                f"no installed module named {module!r} (plugins must be importable "
                "modules, e.g. installed with pip)",
            )
    for i, module in enumerate(modules):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"run.plugins[{i}]", f"cannot import {module!r}: {exc}") from None
