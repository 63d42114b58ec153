"""Order books: the local book and its integrity checks (no I/O, no trio)."""

#: a layer, not an API: import from its modules (public names: ``trio_feeds``)
__all__: list[str] = []
