"""RFM: recency, frequency and monetary value, each scored 1-5 among customers who bought.

Scores are quintiles (NTILE(5)) over buyers: recency by last order (5 = most recent),
frequency by orders count, monetary by total spend; ties are split by customer id so the
result is the same on every run and database. The score is their sum (3-15). Segments are the
usual map of the recency/frequency grid, which names every one of its 25 cells once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RfmCell:
    """Recency scores `recency[0]..recency[1]` and frequency scores `frequency[0]..[1]`."""

    recency: tuple[int, int]
    frequency: tuple[int, int]


SEGMENTS: dict[str, tuple[RfmCell, ...]] = {
    "champions": (RfmCell((5, 5), (4, 5)),),
    "loyal": (RfmCell((3, 4), (4, 5)),),
    "potential-loyalists": (RfmCell((4, 5), (2, 3)),),
    "new-customers": (RfmCell((5, 5), (1, 1)),),
    "promising": (RfmCell((4, 4), (1, 1)),),
    "need-attention": (RfmCell((3, 3), (3, 3)),),
    "about-to-sleep": (RfmCell((3, 3), (1, 2)),),
    "at-risk": (RfmCell((1, 2), (3, 4)),),
    "cannot-lose": (RfmCell((1, 2), (5, 5)),),
    "hibernating": (RfmCell((1, 2), (1, 2)),),
}
SCORE_RANGE = (3, 15)
