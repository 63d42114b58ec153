"""The package layout keeps its promises: layers by import contracts, no exchange named
outside its own package, modules a reader can hold in mind.

The import contracts themselves live in pyproject.toml (``lint-imports``, run by
``nox -s lint`` and ``.ci/run``); this file checks what import-linter cannot.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "trio_feeds"

#: Where exchange names belong: each exchange's own package, and the test toolkit that
#: starts simulated exchanges by name.
EXCHANGE_HOMES = ("exchanges", "testing")
EXCHANGE_NAME = re.compile(r"binance|okx|bybit|coinbase", re.IGNORECASE)

#: Modules allowed past MAX_LINES, each with the reason.
MAX_LINES = 400
LONG_MODULES: dict[str, str] = {
    "engine/session.py": "the receive path of a connection stays one method (the hot loop)",
}


def _modules(*, outside: tuple[str, ...] = ()) -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.relative_to(PKG).parts[0] not in outside)


def _docstring_lines(tree: ast.AST) -> set[int]:
    """First lines of docstrings: module, class, function and attribute docstrings, i.e. every
    bare string statement (documentation, not code)."""
    return {
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def exchange_names_in(path: Path) -> list[str]:
    """Identifiers and string literals (docstrings excepted) that name an exchange."""
    source = path.read_text()
    docstrings = _docstring_lines(ast.parse(source))
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        code = tok.type == tokenize.NAME or (
            tok.type == tokenize.STRING and tok.start[0] not in docstrings
        )
        if code and EXCHANGE_NAME.search(tok.string):
            found.append(f"{path.relative_to(PKG)}:{tok.start[0]}: {tok.string[:60]}")
    return found


def test_the_checker_finds_an_exchange_name(tmp_path: Path) -> None:
    probe = PKG / "_layout_probe.py"
    try:
        probe.write_text('"""Binance in a docstring is documentation."""\nX = {"okx": 1}\n')
        found = exchange_names_in(probe)
    finally:
        probe.unlink()
    assert found == ['_layout_probe.py:2: "okx"']


def test_no_exchange_is_named_outside_its_package() -> None:
    found = [hit for path in _modules(outside=EXCHANGE_HOMES) for hit in exchange_names_in(path)]
    assert not found, "exchange names outside trio_feeds/exchanges/:\n" + "\n".join(found)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_modules_stay_readable(path: Path) -> None:
    name = str(path.relative_to(PKG))
    lines = len(path.read_text().splitlines())
    if name in LONG_MODULES:
        assert lines > MAX_LINES, f"{name} is short now: drop it from LONG_MODULES"
    else:
        assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it"


def test_the_layers_are_folders() -> None:
    """The package root holds the public entry points only, not private modules."""
    root = sorted(p.name for p in PKG.glob("*.py"))
    assert root == ["__init__.py", "__main__.py", "cli.py", "monitoring.py"]
