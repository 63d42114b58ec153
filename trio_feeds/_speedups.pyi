from collections.abc import Iterable
from typing import Any

def apply_side(
    sizes: dict[Any, Any], keys: list[Any], levels: Iterable[tuple[float, float]], negate: bool
) -> None: ...
def top_side(
    sizes: dict[Any, Any], keys: list[Any], n: int, negate: bool
) -> tuple[tuple[float, float], ...]: ...
