"""One broken broadcast file per rule: each problem is the exact `file:line:col: message`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from mailengine.broadcasts.loader import load_broadcasts, parse_broadcast_text
from mailengine.broadcasts.model import LocalTime, ShopTime
from tests.broadcasts.conftest import GOOD, WriteBroadcast, problems

AB = """\
ab_test:
  variants:
    - {name: A, share: 10%}
    - {name: B, share: 10%, subject: Other}
  winner: {metric: clicks, after: 4 hours}
"""


def test_the_good_file_loads_with_its_defaults(
    tmp_path: Path, write_broadcast: WriteBroadcast
) -> None:
    write_broadcast("sale.yaml", GOOD + AB)
    loaded = load_broadcasts([tmp_path / "broadcasts"], tmp_path)
    assert loaded.problems == []
    sale = loaded.broadcasts["sale"]
    assert (sale.path, sale.topic, sale.tracking, sale.contact_pressure) == (
        "broadcasts/sale.yaml",
        "newsletter",
        True,
        True,
    )
    assert sale.send_at == ShopTime(datetime(2027, 1, 14, 9, 0))
    assert [(v.name, v.share, v.subject) for v in sale.variants] == [
        ("A", 1000, sale.subject),
        ("B", 1000, "Other"),
    ]
    assert sale.winner is not None and sale.winner.after == timedelta(hours=4)
    assert sale.rest_range() == (2000, 10_000)
    # B's subject is its own, A's the broadcast's: each problem in them points there
    assert [str(v.subject_at) for v in sale.variants] == [
        "broadcasts/sale.yaml:3:1",
        "broadcasts/sale.yaml:8:29",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + "subjet: Hi\n",
            [
                "broadcasts/b.yaml:5:1: unknown key 'subjet' in a broadcast (did you mean "
                "'subject'?); allowed: name, description, topic, audience, template, subject, "
                "preheader, coupon, send_at, throttle, tracking, contact_pressure, content, ab_test"
            ],
        ),
        (
            "name: sale\ntemplate: newsletter/newsletter\n",
            [
                "broadcasts/b.yaml:1:1: missing 'subject': every broadcast needs name, template, "
                "subject, send_at",
                "broadcasts/b.yaml:1:1: missing 'send_at': every broadcast needs name, template, "
                "subject, send_at",
            ],
        ),
        (
            GOOD.replace("name: sale", "name: Winter Sale"),
            [
                "broadcasts/b.yaml:1:1: a name is lower-case letters, digits and '-', e.g. "
                "december-sale: 'Winter Sale'"
            ],
        ),
        (
            GOOD.replace('"2027-01-14 09:00"', '"2027-01-14 09:00+01:00"'),
            [
                "broadcasts/b.yaml:4:1: '2027-01-14 09:00+01:00' has a time zone: send_at is a "
                "time in the shop's zone (config timezone), written without one, e.g. "
                '"2026-12-10 09:00"'
            ],
        ),
        (
            GOOD.replace('"2027-01-14 09:00"', "2027-01-14"),
            [
                "broadcasts/b.yaml:4:1: '2027-01-14' has no time of day: write send_at: "
                '"2026-12-10 09:00" (in the shop\'s time zone) or {date: 2026-12-10, local: '
                '"10:00"} (that hour in each customer\'s own zone)'
            ],
        ),
        (
            GOOD.replace('"2027-01-14 09:00"', "{date: 2027-01-14, local: 10:00}"),
            [
                'broadcasts/b.yaml:4:29: write the time in quotes, e.g. "09:00" (unquoted, '
                "YAML reads a number)"
            ],
        ),
        (
            GOOD.replace('"2027-01-14 09:00"', '{date: "2027-02-30", locale: "10:00"}'),
            [
                'broadcasts/b.yaml:4:1: send_at needs local: write send_at: "2026-12-10 '
                '09:00" (in the shop\'s time zone) or {date: 2026-12-10, local: "10:00"} '
                "(that hour in each customer's own zone)",
                "broadcasts/b.yaml:4:11: expected a date such as 2026-12-10, got '2027-02-30'",
                "broadcasts/b.yaml:4:31: unknown key 'locale' in send_at (did you mean "
                "'local'?); allowed: date, local",
            ],
        ),
        (
            GOOD.replace('"2027-01-14 09:00"', "{date: 2027-02-30, local: '10:00'}"),
            ["broadcasts/b.yaml:4:17: invalid value '2027-02-30': day is out of range for month"],
        ),
        (
            GOOD + "audience: {orders_cont: {gte: 1}}\n",
            [
                "broadcasts/b.yaml:5:12: unknown field 'orders_cont' in condition (did you "
                "mean 'orders_count'?); fields: "
            ],
        ),
        (
            GOOD + "coupon: {percent: 20}\n",
            ["broadcasts/b.yaml:5:1: a coupon needs valid_for, e.g. valid_for: 14 days"],
        ),
        (
            GOOD + "throttle: {per_hour: 30}\n",
            [
                "broadcasts/b.yaml:5:12: per_hour is a whole number of messages an hour, at "
                "least 60: 30"
            ],
        ),
        (
            GOOD + "contact_pressure: ignore\ntracking: yes please\n",
            [
                "broadcasts/b.yaml:5:1: contact_pressure is apply (the caps of config "
                "contact_pressure count this mail) or waive (they do not), got 'ignore'",
                "broadcasts/b.yaml:6:1: expected true or false, got 'yes please'",
            ],
        ),
        (
            GOOD + "content:\n  headline: Hi\n  until: 2027-01-20\n",
            [
                "broadcasts/b.yaml:7:3: content holds text, numbers, true/false, lists and "
                "mappings; write 2027-01-20 in quotes ('2027-01-20')"
            ],
        ),
        (
            GOOD + "template: other\n",
            ["broadcasts/b.yaml:5:1: duplicate key 'template'"],
        ),
        (
            GOOD + "content: [unclosed\n",
            ["broadcasts/b.yaml:6:1: invalid YAML: expected ',' or ']', but got '<stream end>'"],
        ),
    ],
    ids=[
        "unknown-key",
        "missing-keys",
        "bad-name",
        "send-at-with-offset",
        "send-at-without-time",
        "local-time-unquoted",
        "local-bad-date-and-key",
        "a-date-the-calendar-has-not",
        "audience-field",
        "coupon",
        "throttle",
        "pressure-and-tracking",
        "content-date",
        "duplicate-key",
        "invalid-yaml",
    ],
)
def test_each_problem_names_its_place(
    tmp_path: Path, write_broadcast: WriteBroadcast, text: str, expected: list[str]
) -> None:
    write_broadcast("b.yaml", text)
    found = problems(tmp_path)
    assert len(found) == len(expected), found
    for problem, wanted in zip(found, expected, strict=True):
        assert problem.startswith(wanted), problem


@pytest.mark.parametrize(
    ("ab_test", "expected"),
    [
        (
            AB.replace("{name: B, share: 10%, subject: Other}", "{name: A, share: 10%}"),
            [
                "broadcasts/b.yaml:8:8: the variant name 'A' is already used by variant 1: "
                "names must be unique"
            ],
        ),
        (
            AB.replace("share: 10%}", "share: 10.125%}", 1),
            [
                "broadcasts/b.yaml:7:17: 10.125%: write a share with at most two decimals, e.g. "
                "12.25%"
            ],
        ),
        (
            AB.replace("10%", "50%"),
            [
                "broadcasts/b.yaml:6:3: the shares total 100 %: with a winner the variants are "
                "tested on part of the audience and the winner goes to the rest, so they must "
                "total less than 100 % (e.g. 10% each)"
            ],
        ),
        (
            AB.replace("  winner: {metric: clicks, after: 4 hours}\n", ""),
            [
                "broadcasts/b.yaml:6:3: the shares total 20 %: without a winner the variants "
                "split the whole audience and must total 100 % (or add winner: {metric: "
                "clicks, after: 4 hours} to send the best one to the rest)"
            ],
        ),
        (
            AB.replace("    - {name: B, share: 10%, subject: Other}\n", ""),
            [
                "broadcasts/b.yaml:6:3: an A/B test needs a list of at least two variants, e.g. "
                "{name: A, share: 10%}"
            ],
        ),
        (
            AB.replace("{name: A, share: 10%}", "{name: 'A/1', sahre: 5}"),
            [
                "broadcasts/b.yaml:7:7: a variant needs a share of the audience, e.g. share: 10%",
                "broadcasts/b.yaml:7:8: a variant name is 1 to 20 letters, digits, '-' or '_': "
                "'A/1'",
                "broadcasts/b.yaml:7:21: unknown key 'sahre' in a variant (did you mean "
                "'share'?); allowed: name, share, subject, preheader, template",
            ],
        ),
        (
            AB.replace("metric: clicks", "metric: click"),
            [
                "broadcasts/b.yaml:9:12: unknown metric 'click' (did you mean 'clicks'?); use "
                "opens, clicks, conversions, revenue"
            ],
        ),
        (
            AB.replace("after: 4 hours", "after: 5 minutes"),
            [
                "broadcasts/b.yaml:9:28: '5 minutes': the winner is chosen between 15 minutes "
                "and 7 days after the test is sent"
            ],
        ),
        (
            AB.replace("after: 4 hours", "after: 8 days"),
            [
                "broadcasts/b.yaml:9:28: '8 days': the winner is chosen between 15 minutes "
                "and 7 days after the test is sent"
            ],
        ),
        (
            AB.replace("subject: Other}", "subject: Other, template: Newsletter/B}"),
            [
                "broadcasts/b.yaml:8:45: expected a template name such as "
                "'newsletter/newsletter', got 'Newsletter/B'"
            ],
        ),
    ],
    ids=[
        "duplicate-variant",
        "share-decimals",
        "shares-with-winner",
        "shares-without-winner",
        "one-variant",
        "variant-name-and-key",
        "metric",
        "wait-too-short",
        "wait-too-long",
        "variant-template",
    ],
)
def test_each_ab_test_problem_names_its_place(
    tmp_path: Path, write_broadcast: WriteBroadcast, ab_test: str, expected: list[str]
) -> None:
    write_broadcast("b.yaml", GOOD + ab_test)
    assert problems(tmp_path) == expected


def test_a_broken_file_never_stops_the_others_and_names_are_unique(
    tmp_path: Path, write_broadcast: WriteBroadcast
) -> None:
    write_broadcast("a.yaml", GOOD)
    write_broadcast("b.yaml", GOOD.replace("subject:", "subjekt:"))
    write_broadcast("c.yaml", GOOD)
    write_broadcast("d.yaml", GOOD.replace("name: sale", "name: other"))
    loaded = load_broadcasts([tmp_path / "broadcasts", tmp_path / "not-there"], tmp_path)
    assert sorted(loaded.broadcasts) == ["other", "sale"]
    assert [str(problem) for problem in loaded.problems] == [
        "broadcasts/b.yaml:1:1: missing 'subject': every broadcast needs name, template, "
        "subject, send_at",
        "broadcasts/b.yaml:3:1: unknown key 'subjekt' in a broadcast (did you mean 'subject'?); "
        "allowed: name, description, topic, audience, template, subject, preheader, coupon, "
        "send_at, throttle, tracking, contact_pressure, content, ab_test",
        "broadcasts/c.yaml:1:1: the name 'sale' is already used by broadcasts/a.yaml (line 1): "
        "broadcast names must be unique",
    ]


def test_text_from_the_api_is_read_alike_json_included() -> None:
    body = (
        '{"name": "api-sale", "template": "newsletter/newsletter", "subject": "Hi",\n'
        ' "send_at": {"date": "2027-01-14", "local": "10:00"},\n'
        ' "ab_test": {"variants": [{"name": "A", "share": "50%"}, {"name": "B", "share": 50}]}}'
    )
    found, trouble = parse_broadcast_text(body, "api:api-sale")
    assert trouble == []
    assert found is not None and found.path == "api:api-sale"
    assert found.send_at == LocalTime(date(2027, 1, 14), time(10, 0))
    assert [v.share for v in found.variants] == [5000, 5000] and found.winner is None
    _, trouble = parse_broadcast_text(body.replace('"share": 50}', '"shar": 50}'), "api:x")
    assert [str(problem) for problem in trouble] == [
        "api:x:3:58: a variant needs a share of the audience, e.g. share: 10%",
        "api:x:3:72: unknown key 'shar' in a variant (did you mean 'share'?); allowed: name, "
        "share, subject, preheader, template",
    ]
    _, trouble = parse_broadcast_text('{"name": "x",', "api:x")
    assert [str(problem) for problem in trouble] == [
        "api:x:1:14: invalid YAML: expected the node content, but found '<stream end>'"
    ]
