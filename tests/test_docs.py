"""The documentation's complete examples run (offline: on the simulated exchanges)."""

from __future__ import annotations

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
