"""The documentation's complete examples run (offline: on the simulated exchanges)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def runnable_examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S)):
            complete = block.lstrip().startswith(("import", "from"))
            offline = "open_simulated_exchanges" in block or not re.search(
                r"open_feed\(|open_redis|open_replay|open_sink", block
            )
            if complete and offline:
                found.append((f"{page.name}#{i}", block))
    return found


EXAMPLES = runnable_examples()


def test_there_are_runnable_examples() -> None:
    pages = {name.split("#")[0] for name, _ in EXAMPLES}
    assert {"records.md", "testing.md", "operations.md"} <= pages


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_runs(name: str, code: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"


#: A project made of a page's ``# file: NAME`` blocks (any language), as the tutorial says.
FILE_BLOCK = re.compile(r"```[a-z]*\n# file: (\S+)\n(.*?)```", re.S)

#: until the package is reinstalled with its ``pytest11`` entry point, load the plugin as
#: the entry point would (under the same name, so an installed entry point is not doubled)
PLUGIN_SHIM = """
def pytest_configure(config):
    if not config.pluginmanager.has_plugin("trio_feeds"):
        from trio_feeds.testing import pytest_plugin
        config.pluginmanager.register(pytest_plugin, "trio_feeds")
"""


def file_projects() -> list[tuple[str, dict[str, str]]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        files = dict(FILE_BLOCK.findall(page.read_text()))
        if files:
            found.append((page.name, files))
    return found


PROJECTS = file_projects()


def test_the_tutorial_is_a_project() -> None:
    pages = {name for name, _ in PROJECTS}
    assert "tutorial-testing.md" in pages


@pytest.mark.parametrize(("name", "files"), PROJECTS, ids=[n for n, _ in PROJECTS])
def test_file_projects_pass_their_tests(name: str, files: dict[str, str], tmp_path: Path) -> None:
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    if "conftest.py" not in files:
        (tmp_path / "conftest.py").write_text(PLUGIN_SHIM)
    root = str(DOCS.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, f"{name}:\n{proc.stdout}\n{proc.stderr}"
    tests = sum(1 for f in files if f.startswith("test_"))
    assert "passed" in proc.stdout and tests > 0
