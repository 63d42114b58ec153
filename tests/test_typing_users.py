"""A user's application type-checks with ``mypy --strict`` against trio_feeds.

What users get: the package found by mypy after ``pip install -e .`` (a plain path in a
``.pth`` file, not an import hook mypy cannot follow), a ``py.typed`` marker, and a public
API without ``Any`` leaking into strict code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mypy", reason="mypy is a test dependency (pip install -e '.[test]')")

APP = """\
import httpx
import trio
import trio_feeds
from trio_feeds.monitoring import serve_monitoring
from trio_feeds.testing import open_simulated_exchanges


async def main() -> None:
    async with (
        open_simulated_exchanges(["BTC-USDT"], memory=True) as sims,
        trio_feeds.open_feed(
            ["binance", "okx"], ["BTC-USDT"], ["trade", "quote"],
            urls=sims.urls, connector=sims.connector, clock=sims.clock,
        ) as feed,
        trio.open_nursery() as nursery,
    ):
        url: str = await nursery.start(serve_monitoring, feed)
        async for record in feed:
            if isinstance(record, trio_feeds.Trade):
                price: float = record.price
                when: int = record.timestamp
                print(price, when, record.symbol, trio_feeds.dumps(record))
            elif isinstance(record, trio_feeds.SourceSwitch):
                print(record.from_source, record.to_source, record.reason)
            health: trio_feeds.Health = feed.health()
            for name, st in health.sources.items():
                latency: float | None = st.latency
                print(name, st.state, latency, feed.active_source)
            async with httpx.AsyncClient() as http:
                print((await http.get(url + "/metrics")).text)
            break
        nursery.cancel_scope.cancel()


trio.run(main)
"""

#: the same application with one mistake: mypy must see trio_feeds' types to report it
WRONG = APP.replace("price: float = record.price", "price: str = record.price")


def _bare_env(tmp_path: Path, paths: list[Path]) -> Path:
    """A virtualenv without packages whose site-packages holds one ``.pth`` file listing
    ``paths`` (what an editable install writes), plus this environment's site-packages
    for the dependencies. Returns its python."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    lines = [str(p) for p in paths] + [deps]
    (Path(purelib) / "user-app.pth").write_text("\n".join(lines) + "\n")
    return python


def _mypy(python: Path, app: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental",
            "--python-executable", str(python), str(app),
        ],
        capture_output=True,
        text=True,
        cwd=app.parent,
        env=env,
        timeout=600,
    )  # fmt: skip


def test_py_typed_ships_with_the_package() -> None:
    assert (ROOT / "trio_feeds" / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()  # in package-data


@pytest.mark.timeout(600)
def test_a_user_app_passes_mypy_strict_against_the_installed_package(tmp_path: Path) -> None:
    python = _bare_env(tmp_path, [ROOT])
    app = tmp_path / "app" / "app.py"
    app.parent.mkdir()
    app.write_text(APP)
    good = _mypy(python, app)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Success" in good.stdout
    # ... and mypy really saw trio_feeds' types (not Any): a wrong annotation is an error
    app.write_text(WRONG)
    wrong = _mypy(python, app)
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert 'Incompatible types in assignment (expression has type "float"' in wrong.stdout
    assert wrong.stdout.count("error:") == 1, wrong.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_editable_install_is_a_path_type_checkers_can_follow(tmp_path: Path) -> None:
    """``pip install -e .`` (setuptools' PEP 660 editable wheel) installs a ``.pth`` path to
    the checkout, not an import-hook finder: mypy cannot follow import hooks."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"needs setuptools >= 77 (pyproject.toml), found {setuptools.__version__}")
    src = tmp_path / "checkout"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "trio_feeds",
        src / "trio_feeds",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"),
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build = (
        "import sys, setuptools.build_meta as b; "
        "print(b.build_editable(sys.argv[1], {'--build-option': []}))"
    )
    env = {**os.environ, "CFLAGS": "-O0"}
    proc = subprocess.run(
        [sys.executable, "-c", build, str(wheels)],
        cwd=src,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = wheels / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        pth = [n for n in names if n.endswith(".pth")]
        assert len(pth) == 1, names
        lines = z.read(pth[0]).decode().split()
        assert not any(n.endswith("_finder.py") for n in names), names
    assert not any(line.startswith("import") for line in lines), lines
    paths = [Path(line) for line in lines]
    assert any((p / "trio_feeds" / "py.typed").is_file() for p in paths), lines
    python = _bare_env(tmp_path, paths)
    app = tmp_path / "app" / "app.py"
    app.parent.mkdir()
    app.write_text(APP)
    result = _mypy(python, app)
    assert result.returncode == 0, result.stdout + result.stderr
