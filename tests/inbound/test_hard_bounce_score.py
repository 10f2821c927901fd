"""Hard-bounce detection scored against sisimai's expected results for 584 real bounces.

Goal from issue 8: at least 95 % of hard bounces detected as hard (they suppress the address),
and no soft bounce marked hard. A file counts as hard when any recipient in it is.
"""

from __future__ import annotations

import csv

from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.parse import parse_inbound
from tests.inbound.corpus import SISIMAI, corpus_or_skip


def test_hard_bounces_are_found_and_soft_ones_are_not_suppressed() -> None:
    corpus_or_skip()
    with (SISIMAI / "labels_maildir-bsd.csv").open(newline="") as handle:
        rows = [
            row
            for row in csv.DictReader(handle)
            if row["category"] == "bounce(DSN/NDR)" and row["hardbounce_any"] in ("0", "1")
        ]
    matrix = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    missed, suppressed_soft = [], []
    for row in rows:
        report = parse_bounce(parse_inbound((SISIMAI / "maildir-bsd" / row["file"]).read_bytes()))
        labelled_hard = row["hardbounce_any"] == "1"
        matrix[(labelled_hard, report.hard)] += 1
        if labelled_hard and not report.hard:
            missed.append(f"{row['file']} ({row['reasons']})")
        if report.hard and not labelled_hard:
            suppressed_soft.append(f"{row['file']} ({row['reasons']})")
    hard_total = matrix[(True, True)] + matrix[(True, False)]
    recall = matrix[(True, True)] / hard_total
    print(
        f"\n{len(rows)} labelled bounces ({hard_total} hard)\n"
        f"                 detected hard  detected soft\n"
        f"labelled hard    {matrix[(True, True)]:13}  {matrix[(True, False)]:13}\n"
        f"labelled soft    {matrix[(False, True)]:13}  {matrix[(False, False)]:13}\n"
        f"hard-bounce recall {recall:.1%}; soft bounces marked hard: {len(suppressed_soft)}\n"
        f"missed: {missed}\nsoft marked hard: {suppressed_soft}"
    )
    assert len(rows) == 584  # 606 bounces, of which 22 carry no expected result
    assert recall >= 0.95
    assert suppressed_soft == []


def test_per_recipient_results_carry_codes_and_the_original_message_id() -> None:
    corpus_or_skip()
    report = parse_bounce(
        parse_inbound((SISIMAI / "maildir-bsd" / "lhost-exim-02.eml").read_bytes())
    )
    assert [r.recipient for r in report.recipients] == [
        "kijitora@example.jp",
        "sabatora@example.jp",
    ]
    assert all(r.hard and r.reason == "userunknown" for r in report.recipients)
    assert [r.status for r in report.recipients] == ["5.1.1", "5.2.1"]
    assert {r.reply_code for r in report.recipients} == {"550"}
    assert report.original_message_id == "<E1X58pB-0004bW-2s@marutamachi.example.org>"
    assert not report.standard

    full = parse_bounce(
        parse_inbound((SISIMAI / "maildir-bsd" / "lhost-qmail-06.eml").read_bytes())
    )
    assert full.recipients and not full.hard
    assert full.recipients[0].reason == "mailboxfull"
