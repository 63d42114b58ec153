"""The public API: every module declares ``__all__``, every name in it resolves, has a
docstring and appears in the API reference (``docs/api/``)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from functools import cache
from pathlib import Path

import pytest

import trio_feeds

ROOT = Path(__file__).resolve().parent.parent
API_DOCS = ROOT / "docs" / "api"

#: the modules whose names make up the public API, each documented in docs/api/
API_MODULES = [
    "trio_feeds",
    "trio_feeds.protocol",
    "trio_feeds.testing",
    "trio_feeds.sinks",
    "trio_feeds.monitoring",
    "trio_feeds.exchanges",
    "trio_feeds.engine.transport",
    "trio_feeds.engine.tws",
]


def _public_modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(trio_feeds.__path__, "trio_feeds.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    ]
    return sorted(["trio_feeds", *names])


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_declares_all_and_its_names_resolve(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    names = list(module.__all__)
    assert len(names) == len(set(names)), f"{name}.__all__ lists a name twice"
    for n in names:
        assert hasattr(module, n), f"{name}.__all__ names {n!r}, which does not resolve"


@cache
def _attr_docs(module: str) -> dict[str, str]:
    """Documented module-level names of ``module``'s source: a ``#:`` comment right above
    the assignment or a string literal right after it (what autodoc shows)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return {}
    source = Path(spec.origin).read_text(encoding="utf-8")
    lines = source.splitlines()
    docs: dict[str, str] = {}
    body = ast.parse(source).body
    for i, node in enumerate(body):
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        else:
            continue
        doc = ""
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        if above.startswith("#:"):
            doc = above[2:].strip()
        nxt = body[i + 1] if i + 1 < len(body) else None
        if (
            isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            doc = nxt.value.value.strip()
        for t in targets:
            if doc:
                docs[t] = doc
    return docs


def _data_doc(name: str) -> str:
    for module in _public_and_private_modules():
        doc = _attr_docs(module).get(name)
        if doc:
            return doc
    return ""


@cache
def _public_and_private_modules() -> tuple[str, ...]:
    walked = pkgutil.walk_packages(trio_feeds.__path__, "trio_feeds.")
    return (*(info.name for info in walked if "__main__" not in info.name), "trio_feeds")


def _api_names() -> list[tuple[str, str]]:
    return [(m, n) for m in API_MODULES for n in importlib.import_module(m).__all__]


@pytest.mark.parametrize(("module", "name"), _api_names())
def test_every_public_name_has_a_docstring(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
    elif callable(obj):
        doc = getattr(obj, "__doc__", None)
    else:
        doc = _data_doc(name)
    assert doc and doc.strip(), f"{module}.{name} has no docstring"


@cache
def _documented() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(API_DOCS.glob("*.md")))
    return set(re.findall(r"^\.\. (?:auto\w+|py:\w+):: ([\w.]+)", text, re.M))


@pytest.mark.parametrize(("module", "name"), _api_names())
def test_every_public_name_is_in_the_api_reference(module: str, name: str) -> None:
    assert f"{module}.{name}" in _documented(), (
        f"{module}.{name} is not documented in docs/api/ (add an autodoc directive)"
    )


def test_the_api_reference_documents_only_public_names() -> None:
    public = {f"{m}.{n}" for m, n in _api_names()}
    assert _documented() <= public, sorted(_documented() - public)


def test_the_exception_tree_is_documented() -> None:
    """docs/api/errors.md draws the tree, and every exception in it is a TrioFeedsError."""
    text = (API_DOCS / "errors.md").read_text(encoding="utf-8")
    errors = [
        n
        for n in trio_feeds.__all__
        if inspect.isclass(getattr(trio_feeds, n))
        and issubclass(getattr(trio_feeds, n), BaseException)
    ]
    assert len(errors) >= 10
    for n in errors:
        cls = getattr(trio_feeds, n)
        assert issubclass(cls, trio_feeds.TrioFeedsError)
        assert re.search(rf"[├└]── {n}\b", text) or n == "TrioFeedsError", n
        bases = [b.__name__ for b in cls.__bases__ if b.__name__ in errors]
        if bases:
            # drawn below one of its trio_feeds base classes
            tree = text.split("```text", 1)[1].split("```", 1)[0]
            at = tree.index(f"── {n}")
            assert any(tree.rfind(b, 0, at) >= 0 for b in bases), (n, bases)
