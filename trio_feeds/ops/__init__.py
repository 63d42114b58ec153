"""Operations: the CLI, configuration, recording and replay, monitoring."""

#: a layer, not an API: import from its modules (public names: ``trio_feeds``)
__all__: list[str] = []
