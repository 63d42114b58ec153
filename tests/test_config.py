"""FeedConfig: the environment names deployments use, TOML files, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

import trio_feeds
from trio_feeds import ConfigError, FeedConfig
from trio_feeds.testing import open_simulated_exchanges


def test_defaults_mirror_open_feed() -> None:
    c = FeedConfig()
    assert c.enabled and c.failover
    assert c.exchanges == ("binance",) and c.symbols == ("BTC-USDT",) and c.channels == ("trade",)
    assert c.conflict == "primary" and c.max_source_latency == 5.0 and c.primary is None


def test_from_env_reads_the_deployed_names() -> None:
    env = {
        "ENABLE_WEBSOCKET_FEEDS": "yes",
        "PRIMARY_EXCHANGE": "okx",
        "ENABLE_FAILOVER": "0",
        "MAX_SOURCE_LATENCY": "250",
        "CONFLICT_RESOLUTION": "Latest",
        "TRIO_FEEDS_EXCHANGES": "binance, okx",
        "TRIO_FEEDS_SYMBOLS": "BTC-USDT,ETH-USDT",
        "TRIO_FEEDS_CHANNELS": "trade,quote",
        "UNRELATED": "x",
    }
    c = FeedConfig.from_env(env)
    assert c.enabled is True and c.failover is False
    assert c.primary == "okx"
    assert c.max_source_latency == pytest.approx(0.25)  # milliseconds -> seconds
    assert c.conflict == "latest"
    assert c.exchanges == ("binance", "okx")
    assert c.symbols == ("BTC-USDT", "ETH-USDT")
    assert c.channels == ("trade", "quote")
    kw = c.feed_kwargs(stale_after=3.0)
    assert kw["max_source_latency"] == pytest.approx(0.25) and kw["stale_after"] == 3.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("0", False), ("Yes", True), ("no", False)],
)
def test_booleans(value: str, expected: bool) -> None:
    assert FeedConfig.from_env({"ENABLE_FAILOVER": value}).failover is expected


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"ENABLE_FAILOVER": "maybe"}, ["ENABLE_FAILOVER", "maybe", "true/false"]),
        ({"ENABLE_WEBSOCKET_FEEDS": "2"}, ["ENABLE_WEBSOCKET_FEEDS", "yes/no"]),
        ({"CONFLICT_RESOLUTION": "median"}, ["CONFLICT_RESOLUTION", "primary, latest, average"]),
        ({"MAX_SOURCE_LATENCY": "fast"}, ["MAX_SOURCE_LATENCY", "milliseconds"]),
        ({"MAX_SOURCE_LATENCY": "-5"}, ["MAX_SOURCE_LATENCY", "positive"]),
        ({"PRIMARY_EXCHANGE": "kraken"}, ["PRIMARY_EXCHANGE", "kraken", "binance"]),
        ({"TRIO_FEEDS_EXCHANGES": "binance,ftx"}, ["TRIO_FEEDS_EXCHANGES", "ftx", "okx"]),
        ({"TRIO_FEEDS_CHANNELS": "trades,news"}, ["TRIO_FEEDS_CHANNELS", "news"]),
        ({"TRIO_FEEDS_SYMBOLS": " , "}, ["TRIO_FEEDS_SYMBOLS", "empty"]),
    ],
)
def test_invalid_values_name_the_variable_and_the_accepted_values(
    env: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        FeedConfig.from_env(env)
    for word in words:
        assert word in str(info.value)


def test_primary_must_be_configured() -> None:
    with pytest.raises(ConfigError, match=r"PRIMARY_EXCHANGE='okx'.*accepted values: binance"):
        FeedConfig.from_env({"PRIMARY_EXCHANGE": "okx"})
    c = FeedConfig.from_env({"PRIMARY_EXCHANGE": "okx", "TRIO_FEEDS_EXCHANGES": "binance,okx"})
    assert c.primary == "okx"


def test_toml_then_env(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(
        "[trio_feeds]\n"
        'exchanges = ["binance", "okx"]\n'
        'symbols = ["ETH-USDT"]\n'
        'channels = ["trade", "book"]\n'
        'conflict = "average"\n'
        "max_source_latency = 0.5\n"
        "stale_after = 4.0\n"
        "book_depth = 5\n"
        "[trio_feeds.urls]\n"
        'binance = "ws://127.0.0.1:1"\n'
    )
    c = FeedConfig.from_toml(path)
    assert c.exchanges == ("binance", "okx") and c.conflict == "average"
    assert c.max_source_latency == 0.5
    assert c.options == {
        "stale_after": 4.0,
        "book_depth": 5,
        "urls": {"binance": "ws://127.0.0.1:1"},
    }
    both = FeedConfig.load(path, {"CONFLICT_RESOLUTION": "latest", "MAX_SOURCE_LATENCY": "100"})
    assert both.conflict == "latest" and both.max_source_latency == pytest.approx(0.1)
    assert both.options["stale_after"] == 4.0


def test_toml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('conflict = "median"\n')
    with pytest.raises(ConfigError, match=r"bad.toml: conflict='median'.*primary, latest, average"):
        FeedConfig.from_toml(bad)
    bad.write_text("stale_afer = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'stale_afer'"):
        FeedConfig.from_toml(bad)
    bad.write_text('failover = "yes"\n')
    with pytest.raises(ConfigError, match="failover"):
        FeedConfig.from_toml(bad)
    bad.write_text("this is = not toml [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        FeedConfig.from_toml(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        FeedConfig.from_toml(tmp_path / "missing.toml")


def test_evolve_validates_and_is_frozen() -> None:
    c = FeedConfig()
    with pytest.raises(ConfigError, match="conflict"):
        c.evolve(conflict="median")
    with pytest.raises(AttributeError):
        c.conflict = "latest"  # type: ignore[misc]
    assert c.evolve(exchanges=["okx"], primary="okx").exchanges == ("okx",)


async def test_open_feed_with_the_config() -> None:
    config = FeedConfig.from_env(
        {"TRIO_FEEDS_EXCHANGES": "binance,okx", "PRIMARY_EXCHANGE": "okx", "ENABLE_FAILOVER": "no"}
    )
    async with (
        open_simulated_exchanges(["BTC-USDT"], memory=True, rate=20) as sims,
        config.open_feed(urls=sims.urls, connector=sims.connector, clock=sims.clock) as feed,
    ):
        with trio.fail_after(5):
            async for item in feed:
                if item.kind == "trade":
                    break
        assert feed.active_source == "okx"
        assert item.exchange == "okx"


async def test_disabled_feeds_refuse_to_start() -> None:
    config = FeedConfig.from_env({"ENABLE_WEBSOCKET_FEEDS": "false"})
    with pytest.raises(ConfigError, match="ENABLE_WEBSOCKET_FEEDS"):
        async with config.open_feed():
            pass  # pragma: no cover
    assert trio_feeds.FeedConfig is FeedConfig


# -- units, plausibility, symbols, unknown names (issue 18) ----------------------------------
import warnings  # noqa: E402

from trio_feeds.ops.config import ConfigWarning  # noqa: E402


@pytest.mark.parametrize("raw", ["0.5", "0.01", "5000000"])
def test_max_source_latency_in_the_environment_refuses_what_cannot_be_milliseconds(
    raw: str,
) -> None:
    with pytest.raises(ConfigError, match="MAX_SOURCE_LATENCY") as info:
        FeedConfig.from_env({"MAX_SOURCE_LATENCY": raw})
    assert "milliseconds" in str(info.value)


def test_max_source_latency_in_the_environment_warns_on_odd_values() -> None:
    with pytest.warns(ConfigWarning, match=r"MAX_SOURCE_LATENCY='20'.*milliseconds"):
        assert FeedConfig.from_env({"MAX_SOURCE_LATENCY": "20"}).max_source_latency == 0.02
    with pytest.warns(ConfigWarning, match="120000 milliseconds"):
        FeedConfig.from_env({"MAX_SOURCE_LATENCY": "120000"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert FeedConfig.from_env({"MAX_SOURCE_LATENCY": "500"}).max_source_latency == 0.5


def test_max_source_latency_in_seconds_names_the_unit(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text("max_source_latency = 500\n")  # milliseconds written where seconds go
    with pytest.raises(ConfigError, match=r"feeds.toml: max_source_latency=500.*seconds"):
        FeedConfig.from_toml(path)
    path.write_text("max_source_latency = 0.0001\n")
    with pytest.raises(ConfigError, match=r"max_source_latency=0.0001.*seconds"):
        FeedConfig.from_toml(path)
    path.write_text("max_source_latency = 120\n")
    with pytest.warns(ConfigWarning, match=r"max_source_latency=120 seconds.*in seconds"):
        FeedConfig.from_toml(path)
    with pytest.raises(ConfigError, match="seconds"):
        FeedConfig().evolve(max_source_latency="0.5")
    with pytest.raises(ConfigError, match="seconds"):
        FeedConfig().evolve(max_source_latency=-1)


def test_from_env_normalizes_and_validates_symbols_and_exchange_names() -> None:
    c = FeedConfig.from_env(
        {"TRIO_FEEDS_SYMBOLS": "btc/usdt, ETHUSDT", "TRIO_FEEDS_EXCHANGES": "Binance,OKX",
         "PRIMARY_EXCHANGE": "OKX"}
    )  # fmt: skip
    assert c.symbols == ("BTC-USDT", "ETH-USDT")
    assert c.exchanges == ("binance", "okx") and c.primary == "okx"
    with pytest.raises(ConfigError, match=r"TRIO_FEEDS_SYMBOLS: symbol 'BTC USDT'"):
        FeedConfig.from_env({"TRIO_FEEDS_SYMBOLS": "BTC-USDT,BTC USDT"})
    # a perpetual is read into its canonical form (whether an exchange lists it is theirs to say)
    assert FeedConfig.from_env({"TRIO_FEEDS_SYMBOLS": "BTC/USDT:USDT"}).symbols == (
        "BTC-USDT-PERP",
    )
    with pytest.raises(ConfigError, match=r"TRIO_FEEDS_EXCHANGES: unknown exchange 'okk'.*'okx'"):
        FeedConfig.from_env({"TRIO_FEEDS_EXCHANGES": "okk"})


def test_unknown_trio_feeds_variables_are_warned_about() -> None:
    with pytest.warns(
        ConfigWarning, match=r"TRIO_FEEDS_SYMBOL .*did you mean 'TRIO_FEEDS_SYMBOLS'"
    ):
        c = FeedConfig.from_env({"TRIO_FEEDS_SYMBOL": "ETH-USDT"})
    assert c.symbols == ("BTC-USDT",)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeedConfig.from_env({"TRIO_FEEDS_PURE_PYTHON": "1", "OTHER_THING": "x"})


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("stale_after = -1\n", ["bad.toml: stale_after=-1", "seconds"]),
        ("book_depth = '5'\n", ["bad.toml: book_depth='5'", "whole number"]),
        ("standby = 'warm'\n", ["bad.toml: standby='warm'", "hot, cold"]),
        ("keep_raw = 1\n", ["bad.toml: keep_raw=1", "boolean"]),
        ("[urls]\nkraken = 'ws://h:1'\n", ["bad.toml: urls.kraken", "unknown exchange"]),
        ("[urls]\nbinance = 5\n", ["bad.toml: urls.binance=5", "not a URL"]),
        ("symbols = ['BTC USDT']\n", ["bad.toml: symbols", "'BTC USDT'"]),
        ("exchanges = 'okk'\n", ["bad.toml: exchanges", "'okk'", "did you mean 'okx'"]),
        ("stale_afer = 3\n", ["bad.toml", "'stale_afer'", "did you mean 'stale_after'"]),
    ],
)
def test_toml_errors_name_the_file_and_the_key(tmp_path: Path, toml: str, words: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(toml)
    with pytest.raises(ConfigError) as info:
        FeedConfig.from_toml(bad)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"stale_afer": 3}, ["'stale_afer'", "did you mean 'stale_after'"]),
        ({"exchanges": 5}, ["exchanges"]),
        ({"symbols": None}, ["symbols"]),
        ({"symbols": ["BTC USDT"]}, ["'BTC USDT'"]),
        ({"channels": [1]}, ["channels"]),
        ({"options": 5}, ["options"]),
        ({"stale_after": 0}, ["stale_after", "seconds"]),
        ({"enabled": "yes"}, ["enabled", "boolean"]),
    ],
)
def test_evolve_raises_config_error(changes: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        FeedConfig().evolve(**changes)
    for word in words:
        assert word in str(info.value)


def test_evolve_takes_open_feed_arguments_into_options() -> None:
    c = FeedConfig().evolve(stale_after=3.0, symbols=["eth/btc"], exchanges=["OKX"])
    assert c.options == {"stale_after": 3.0}
    assert c.symbols == ("ETH-BTC",) and c.exchanges == ("okx",)
    assert c.feed_kwargs()["stale_after"] == 3.0
    assert FeedConfig(symbols=["btcusdt"]).symbols == ("BTC-USDT",)
