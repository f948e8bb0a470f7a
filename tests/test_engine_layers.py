"""The layers (issue 11, part 6): config below the engine, the engine below
the domain registry (each checked in a fresh interpreter, since this test
process has long imported everything), and only `Run` itself touching its
private members."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import evoforge.evolution


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


def private_run_members(source: str) -> list[str]:
    """``run._x`` / ``self.run._x`` accesses in ``source`` (dunders aside)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
            continue
        if node.attr.startswith("__"):
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id == "run") or (
            isinstance(owner, ast.Attribute) and owner.attr == "run"
        ):
            found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


def test_private_run_members_are_found():
    source = "def f(run, self):\n    run._busy = True\n    self.run._checkpoint()\n    run.n\n"
    assert private_run_members(source) == ["run._busy (line 2)", "self.run._checkpoint (line 3)"]


def test_only_the_run_module_touches_a_runs_private_members():
    """The island driver, the pacer and the rest use `Run`'s public methods."""
    engine = Path(evoforge.evolution.__file__).parent
    offenders = {
        str(path.relative_to(engine)): found
        for path in sorted(engine.rglob("*.py"))
        if path.name != "run.py" and (found := private_run_members(path.read_text()))
    }
    assert offenders == {}
