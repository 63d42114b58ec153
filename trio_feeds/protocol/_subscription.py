from __future__ import annotations

import attrs


@attrs.frozen(slots=True, order=True)
class Subscription:
    """One stream of one symbol on one exchange.

    ``channel`` is the normalized kind (``"trade"``, ``"book"``, …);
    ``symbol`` is canonical (``"BTC-USDT"``); ``stream`` is the exchange's own
    channel name (Binance ``"aggTrade"``, ``"depth@100ms"``; OKX ``"books5"``)
    and ``topic`` what the exchange calls the whole subscription
    (``"btcusdt@aggTrade"``; ``"books5:BTC-USDT"``).
    """

    exchange: str
    channel: str
    symbol: str
    stream: str
    topic: str
