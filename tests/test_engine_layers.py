"""The layers (issue 11, part 6): config below the engine, the engine below
the domain registry; each checked in a fresh interpreter, since this test
process has long imported everything."""

from __future__ import annotations

import subprocess
import sys


def imported_after(statement: str, prefix: str) -> list[str]:
    code = (
        f"import sys; {statement}; "
        f"print(sorted(m for m in sys.modules if m.startswith({prefix!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)  # a printed list of module names


def test_config_does_not_import_the_engine():
    assert imported_after("import evoforge.config", "evoforge.evolution") == []


def test_the_engine_does_not_import_the_domain_registry():
    for module in ("evoforge.evolution.run", "evoforge.evolution.archipelago"):
        assert imported_after(f"import {module}", "evoforge.domains") == [], module
    assert imported_after("import evoforge.evolution.run", "evoforge.automl_zero") == []


def test_parsing_a_config_loads_the_strategies_and_a_run_finds_the_registry():
    statement = (
        "from evoforge.config import parse_config; "
        "c = parse_config({'run': {'domain': 'toy'}, 'search': {'strategy': 'random_walk'}}); "
        "assert c.search.strategy == 'random_walk'"
    )
    assert "evoforge.evolution.strategies.registry" in imported_after(statement, "evoforge.evol")
    statement = (
        "from evoforge.evolution.domain_source import domain_source; "
        "assert domain_source().builder('automl_zero')"
    )
    assert "evoforge.domains" in imported_after(statement, "evoforge.domains")
