"""Face boxes (x, y, w, h in pixels): their overlap, and one-to-one matching of two sets of boxes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Box = tuple[int, int, int, int]
A = TypeVar("A")
B = TypeVar("B")


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def greedy_matches(
    left: Sequence[A], right: Sequence[B], overlap: Callable[[A, B], float], min_overlap: float
) -> dict[int, int]:
    """{left index: right index}, one to one, taking the pairs with the highest overlap first and none under
    `min_overlap`."""
    pairs = sorted(((overlap(a, b), i, j) for i, a in enumerate(left) for j, b in enumerate(right)), reverse=True)
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for value, i, j in pairs:
        if value < min_overlap:
            break
        if i not in matched and j not in taken:
            matched[i] = j
            taken.add(j)
    return matched
