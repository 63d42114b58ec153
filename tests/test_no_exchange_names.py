"""Issue 13 acceptance: outside ``trio_feeds/exchanges/`` and ``trio_feeds/testing/`` no
identifier or string literal names an exchange (docstrings and comments may).

The engine, feed, books, core and protocol layers know exchanges only through their
``ExchangeSpec``.  ``LAYERS`` lists the folders checked; the others (``ops/``, ``sinks/``,
``simulator/``) join as they are made exchange-free.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trio_feeds

ROOT = Path(trio_feeds.__file__).parent
EXCHANGES = ("binance", "okx", "bybit", "coinbase")
LAYERS = ("core", "protocol", "engine", "feed", "books")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        # attribute docstrings: a string expression right after an assignment
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    ids.add(id(stmt.value))
    return ids


def _names_an_exchange(text: str) -> str | None:
    low = text.lower()
    return next((e for e in EXCHANGES if e in low), None)


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            texts.append(node.name)
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            texts.append(node.arg)
        elif isinstance(node, ast.alias):
            texts.extend(filter(None, (node.name, node.asname)))
        elif isinstance(node, ast.ImportFrom) and node.module:
            texts.append(node.module)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            texts.append(node.value)
        for text in texts:
            if _names_an_exchange(text):
                line = getattr(node, "lineno", "?")
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {text!r}")
    return found


FILES = sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")) + sorted(
    ROOT.glob("*.py")
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_layer_names_no_exchange(path: Path) -> None:
    assert offences(path) == []
