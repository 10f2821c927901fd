"""Charts: round ticks, values placed on the scale, every day labelled or thinned, a table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import time_machine

from mailengine.studio.charts import (
    HEIGHT,
    Chart,
    Frame,
    Series,
    bar_chart,
    line_chart,
    nice_ticks,
)
from tests.conftest import NOW

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [f"Nov {day}" for day in range(1, 31)]


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("highest", "integers", "ticks"),
    [
        (0, True, [0, 1]),
        (3, True, [0, 1, 2, 3]),
        (7, True, [0, 2, 4, 6, 8]),
        (10, True, [0, 5, 10]),
        (10, False, [0, 2.5, 5, 7.5, 10]),
        (95, True, [0, 25, 50, 75, 100]),
        (1234, True, [0, 500, 1000, 1500]),
        (0.4, False, [0, 0.1, 0.2, 0.3, 0.4]),
        (123_456, True, [0, 50_000, 100_000, 150_000]),
    ],
)
def test_ticks_are_round_and_cover_the_highest_value(
    highest: float, integers: bool, ticks: list[float]
) -> None:
    assert nice_ticks(highest, integers=integers) == ticks


@time_machine.travel(NOW, tick=False)
def test_values_sit_on_the_scale() -> None:
    frame = Frame(nice_ticks(7), bands=4)
    assert frame.y(0) == frame.bottom
    assert frame.y(8) == frame.top
    assert frame.y(4) == pytest.approx(frame.top + frame.height / 2)
    assert [frame.x(i) for i in range(4)] == [frame.left + frame.band * (i + 0.5) for i in range(4)]


@time_machine.travel(NOW, tick=False)
def test_a_bar_chart_draws_every_value_to_scale() -> None:
    chart = Chart("sends", "Sends per day", DAYS[:3], [Series("sent", [3, 0, 7]),
                                                      Series("opened", [1, 0, 2])])  # fmt: skip
    root = ET.fromstring(bar_chart(chart))
    groups = {g.attrib["data-series"]: g for g in root.iter(f"{SVG}g") if "data-series" in g.attrib}
    assert list(groups) == ["sent", "opened"]
    frame = Frame(nice_ticks(7), bands=3)
    heights = [float(r.attrib["height"]) for r in groups["sent"].iter(f"{SVG}rect")]
    assert heights == pytest.approx([frame.height * 3 / 8, 0, frame.height * 7 / 8], abs=0.06)
    tips = [r.find(f"{SVG}title").text for r in groups["opened"].iter(f"{SVG}rect")]  # type: ignore[union-attr]
    assert tips == ["Nov 1: opened 1", "Nov 2: opened 0", "Nov 3: opened 2"]
    y_labels = [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("class") == "y-label"]
    assert y_labels == ["0", "2", "4", "6", "8"]
    assert root.attrib["role"] == "img"
    description = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert description == (
        "From Nov 1 to Nov 3. sent: total 10, highest 7 on Nov 3. "
        "opened: total 3, highest 2 on Nov 3."
    )


@time_machine.travel(NOW, tick=False)
def test_a_line_chart_thins_its_day_labels_and_keeps_every_point() -> None:
    values = [float(day % 7) for day in range(30)]
    chart = Chart("trend", "Opens", DAYS, [Series("opened", values)])
    root = ET.fromstring(line_chart(chart))
    x_labels = [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("class") == "x-label"]
    assert x_labels == DAYS[::5]  # 30 days, at most 7 labels
    dots = list(root.iter(f"{SVG}circle"))
    assert len(dots) == 30
    assert all(float(dot.attrib["cy"]) <= HEIGHT for dot in dots)
    path = next(p for p in root.iter(f"{SVG}path") if p.attrib.get("stroke-width") == "2")
    assert path.attrib["d"].count("L") == 29


@time_machine.travel(NOW, tick=False)
def test_the_table_fallback_and_an_empty_chart() -> None:
    money = Chart("revenue", "Revenue", DAYS[:2], [Series("revenue", [0, 0])],
                  value_format=lambda v: f"€{v:.2f}")  # fmt: skip
    assert money.rows() == [("Nov 1", ["€0.00"]), ("Nov 2", ["€0.00"])]
    assert "No data yet" in line_chart(money)
    assert money.description() == "From Nov 1 to Nov 2. revenue: none."
    with pytest.raises(ValueError, match="series sent has 2 values for 3 labels"):
        Chart("bad", "Bad", DAYS[:3], [Series("sent", [1, 2])])
