"""Shared foundations: records, errors, symbols, conversion, validation (no I/O, no trio)."""

#: a layer, not an API: import from its modules (public names: ``trio_feeds``)
__all__: list[str] = []
