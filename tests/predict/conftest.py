"""The CDNOW sample as order arrays, and its calibration-period summaries (weeks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from mailengine.predict import Summaries, summarise
from mailengine.predict.arrays import Floats, Ints

CDNOW = Path(__file__).parent / "data" / "CDNOW_sample.txt"
# The paper's 39-week calibration period ends on 1997-09-30, its holdout on 1998-06-30.
CALIBRATION_END = date(1997, 9, 30).toordinal()
HOLDOUT_END = date(1998, 6, 30).toordinal()


@dataclass(frozen=True)
class CdnowOrders:
    customer: Ints
    day: Ints
    amount: Floats


@dataclass(frozen=True)
class Weeks:
    """Calibration summaries with recency and age in weeks, as in the paper."""

    days: Summaries
    frequency: Floats
    recency: Floats
    age: Floats


@pytest.fixture(scope="session")
def cdnow() -> CdnowOrders:
    rows = np.loadtxt(CDNOW)
    stamps = rows[:, 2].astype(np.int64)
    days = np.array(
        [date(int(s) // 10000, int(s) // 100 % 100, int(s) % 100).toordinal() for s in stamps],
        dtype=np.int64,
    )
    return CdnowOrders(customer=rows[:, 1].astype(np.int64), day=days, amount=rows[:, 4])


@pytest.fixture(scope="session")
def calibration(cdnow: CdnowOrders) -> Weeks:
    days = summarise(cdnow.customer, cdnow.day, cdnow.amount, CALIBRATION_END)
    return Weeks(days, days.frequency, days.recency / 7.0, days.age / 7.0)
