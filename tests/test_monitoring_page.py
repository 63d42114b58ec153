"""The monitor's status page (``GET /``) and its JSON (``/api/websocket/status``): served
self-contained, and rendered by a real browser (headless Chromium) against a monitor fed
by simulated exchanges."""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.test_monitoring import monitored_feed, wait_until_healthy
from trio_feeds.ops.monitoring import status_page
from trio_feeds.ops.monitoring._status import MessageRates

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


class _Refs(html.parser.HTMLParser):
    """Every URL-valued attribute and every tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in ("src", "href", "action", "data", "poster", "srcset") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _same_origin(url: str) -> bool:
    return not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", url, re.I)


async def test_status_page_is_served_self_contained() -> None:
    async with monitored_feed() as (_sims, feed, url):
        await wait_until_healthy(feed)
        async with httpx.AsyncClient(base_url=url) as http:
            page = await http.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            csp = page.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "connect-src 'self'" in csp
            assert page.content == status_page()
            refs = _Refs()
            refs.feed(page.text)
            # nothing loaded from anywhere: no external script, stylesheet, image or font
            assert not [t for t, a in refs.tags if t in ("link", "img", "iframe", "object")]
            assert not [a for t, a in refs.tags if t == "script" and "src" in a]
            assert all(_same_origin(u) for u in refs.urls), refs.urls
            script = "\n".join(refs.scripts)
            assert "http://" not in page.text and "https://" not in page.text
            assert "//" not in re.sub(r"//[^\n]*", "", script.replace('"//"', ""))
            # the URLs the script fetches are relative, and answer on this monitor
            fetched = re.findall(r'"(api/[^"]+)"', script)
            assert fetched == ["api/websocket/status"]
            for path in fetched:
                r = await http.get("/" + path)
                assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert (await http.head("/")).content == b""


async def test_status_report_shows_sources_symbols_switches_and_gaps() -> None:
    async with monitored_feed(stale_after=1.0, reconnect_delay=0.2) as (sims, feed, url):
        await wait_until_healthy(feed)
        sims.binance.drop()  # reconnects: a switch to okx and a gap on binance
        with trio.fail_after(10):
            while not (feed.switches and feed.counters.recent_gaps):  # noqa: ASYNC110
                await trio.sleep(0.02)
        async with httpx.AsyncClient(base_url=url) as http:
            report = (await http.get("/api/websocket/status")).json()
    names = [s["name"] for s in report["sources"]]
    assert names == ["binance", "okx"]
    by_name = {s["name"]: s for s in report["sources"]}
    assert by_name["okx"]["state"] == "streaming"
    assert by_name["okx"]["messages"] > 0
    assert set(by_name["okx"]["records"]) == {"trade", "quote"}
    assert set(by_name["okx"]["lag"]) == {"p50", "p90", "p99", "max"}
    [symbol] = report["symbols"]
    assert symbol["symbol"] == "BTC-USDT"
    assert set(symbol["sources"]) == {"binance", "okx"}
    assert symbol["active"] == report["active_source"]
    first = report["switches"][-1]  # newest first
    assert (first["from"], first["to"]) == ("binance", "okx")
    assert first["reason"].startswith("binance: disconnected")
    assert report["switch_count"] == len(report["switches"]) >= 1
    gap = report["gaps"][-1]
    assert gap["exchange"] == "binance" and gap["reason"]


async def test_status_report_lists_the_backfills_that_closed_gaps() -> None:
    async with monitored_feed(reconnect_delay=0.2) as (sims, feed, url):
        await wait_until_healthy(feed)
        with trio.fail_after(10):  # a trade id to fill from
            while feed.counters.records["binance"]["trade"] < 5:  # noqa: ASYNC110
                await trio.sleep(0.02)
        sims.binance.refuse_connections(2)  # trades go on while binance is away
        sims.binance.drop()
        with trio.fail_after(15):
            while not feed.counters.recent_fills:  # noqa: ASYNC110
                await trio.sleep(0.02)
        async with httpx.AsyncClient(base_url=url) as http:
            report = (await http.get("/api/websocket/status")).json()
            page = (await http.get("/")).text
            metrics = (await http.get("/metrics")).text
    fill = report["fills"][0]
    event = feed.counters.recent_fills[-1]
    assert (fill["exchange"], fill["symbol"], fill["channel"]) == ("binance", "BTC-USDT", "trade")
    assert fill["count"] == event.count > 0
    # Binance trade ids are consecutive: the fill is exactly the hole
    assert int(fill["last_id"]) - int(fill["first_id"]) + 1 == fill["count"]
    assert report["gaps"] and report["gaps"][0]["exchange"] == "binance"
    assert '<table id="fills">' in page
    families = {m.name: m for m in text_string_to_metric_families(metrics)}
    filled = {
        s.labels["exchange"]: s.value for s in families["trio_feeds_backfilled_trades"].samples
    }
    fills = {s.labels["exchange"]: s.value for s in families["trio_feeds_gaps_filled"].samples}
    assert filled["binance"] == sum(f.count for f in feed.counters.recent_fills) > 0
    assert fills["binance"] == len(feed.counters.recent_fills) and fills["okx"] == 0


def _dump_dom(browser: str, url: str, profile: Path) -> str:
    """The page's DOM after its script ran: Chromium in virtual time, which waits for the
    page's fetches (``--virtual-time-budget``).  On a loaded machine the first report can
    come after the budget: asked again with a longer one (the page itself is unchanged)."""
    dom = ""
    for budget in (3000, 10000, 30000):
        argv = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions", "--disable-background-networking",
            f"--user-data-dir={profile}", f"--virtual-time-budget={budget}", "--dump-dom", url,
        ]  # fmt: skip
        env = {**os.environ, "HOME": str(profile)}
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        dom = proc.stdout
        if re.search(r'<body[^>]*data-updated="[0-9.]+"', dom):
            break
    return dom


def _row(dom: str, source: str) -> dict[str, str]:
    """The cells of a source's row in the sources table, by class."""
    m = re.search(rf'<tr[^>]*data-source="{source}"[^>]*>(.*?)</tr>', dom, re.S)
    assert m, f"no row for {source} in the rendered page"
    cells = re.findall(r'<td class="([^"]*)"[^>]*>(.*?)</td>', m.group(1), re.S)
    out = {}
    for classes, text in cells:
        names = [c for c in classes.split() if c != "num" and not c.startswith("state-")]
        out[names[0]] = text
    return out


@pytest.mark.timeout(240)
async def test_a_real_browser_renders_sources_and_their_states(tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip(
            "no Chromium found (looked for " + ", ".join(BROWSERS) + "): the status page was "
            "not checked in a browser; install it with `apt-get install chromium` (.ci/run does)"
        )
    async with monitored_feed(stale_after=1.0, reconnect_delay=0.2) as (sims, feed, url):
        await wait_until_healthy(feed)
        dom = await trio.to_thread.run_sync(_dump_dom, browser, url + "/", tmp_path / "a")
        assert re.search(r'<body[^>]*data-updated="[0-9.]+"', dom), "the script never rendered"
        assert 'id="health" class="badge ok">healthy<' in dom
        binance, okx = _row(dom, "binance"), _row(dom, "okx")
        assert binance["name"] == "binance" and binance["state"] == "streaming"
        assert okx["state"] == "streaming"
        assert int(okx["messages"]) > 0
        assert okx["rate"] == "…" or float(okx["rate"]) >= 0  # unknown on a first report
        assert re.search(r'<tr[^>]*data-source="binance"[^>]*class="active"', dom) or re.search(
            r'<tr[^>]*class="active"[^>]*data-source="binance"', dom
        )
        assert 'data-symbol="BTC-USDT"' in dom
        # okx goes away: the page shows it
        sims.okx.refuse_connections(1000)
        sims.okx.drop()
        with trio.fail_after(10):
            while feed.health().sources["okx"].connected:  # noqa: ASYNC110
                await trio.sleep(0.02)
        dom = await trio.to_thread.run_sync(_dump_dom, browser, url + "/", tmp_path / "b")
        okx = _row(dom, "okx")
        assert okx["state"] in ("connecting", "backoff"), okx
        assert okx["connected"] == "down"
        assert _row(dom, "binance")["state"] == "streaming"


def test_message_rates_are_measured_over_at_least_a_second() -> None:
    rates = MessageRates()
    assert rates.update(100.0, {"binance": 10, "okx": 5}) == {"binance": None, "okx": None}
    # too soon after the first sample: still unknown, not a rate over 0.5 s
    assert rates.update(100.5, {"binance": 30, "okx": 5}) == {"binance": None, "okx": None}
    # from the newest sample at least a second old (100.5 s)
    assert rates.update(102.5, {"binance": 430, "okx": 5}) == {"binance": 200.0, "okx": 0.0}
    assert rates.update(103.5, {"binance": 530, "okx": 65}) == {"binance": 100.0, "okx": 60.0}
    # a counter that went back (a source restarted its count) never makes a negative rate
    assert rates.update(104.5, {"binance": 0, "okx": 65})["binance"] == 0.0
    # a source appearing later has no earlier count: measured from 0
    assert rates.update(106.5, {"binance": 150, "okx": 65, "bybit": 40})["bybit"] == 20.0
