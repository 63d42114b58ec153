"""Sessions: tests, lint, typing, docs, bench.  Run ``nox -l`` to list them."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)
    # the order book again on its pure-Python loops (what installs without a C compiler get)
    session.run(
        "python", "-m", "pytest", "-q", "tests/test_book.py", "tests/test_engine.py",
        "tests/test_fast.py", "tests/test_okx_adapter.py", "tests/test_binance_adapter.py",
        env={"TRIO_FEEDS_PURE_PYTHON": "1"},
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".", "ruff", "import-linter")
    session.run("ruff", "check", "trio_feeds", "tests", "bench", "noxfile.py")
    # the layers: sans-I/O protocol, no exchange named by the engine, no cycles (pyproject.toml)
    session.run("lint-imports")
    session.run("ruff", "format", "--check", "trio_feeds", "tests", "bench", "noxfile.py")


@nox.session
def typing(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy")
    session.run("mypy", "trio_feeds")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs]")
    # no -W: intersphinx cannot reach its inventories on an offline machine
    session.run("sphinx-build", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("python", "bench/run_all.py", *session.posargs)
