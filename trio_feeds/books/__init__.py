"""Order books: the local book and its integrity checks (no I/O, no trio)."""
