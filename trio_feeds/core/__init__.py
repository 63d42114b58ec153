"""Shared foundations: records, errors, symbols, conversion, validation (no I/O, no trio)."""
