"""Operations: the CLI, configuration, recording and replay, monitoring."""
