"""Real bounces, complaints and auto-replies are never answered; the people's mail is."""

from __future__ import annotations

import csv

import pytest

from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.chain import Classification, default_chain
from mailengine.inbound.complaints import parse_complaint
from mailengine.inbound.parse import parse_inbound
from tests.inbound.corpus import FLANKER_BOUNCES, SISIMAI, corpus_or_skip

CHAIN = default_chain(own_domains=["shop.example"])
_AUTOMATIC = {
    Classification.BOUNCE,
    Classification.COMPLAINT,
    Classification.AUTO_REPLY,
    Classification.LIST_BULK,
}


def _labels() -> list[dict[str, str]]:
    with (SISIMAI / "labels_maildir-bsd.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_no_bounce_complaint_or_auto_reply_in_the_corpus_is_answered() -> None:
    corpus_or_skip()
    files = sorted((SISIMAI / "maildir-bsd").glob("*.eml"))
    files += sorted((FLANKER_BOUNCES / "bounce").glob("*.eml"))
    files += sorted((FLANKER_BOUNCES / "complaints").glob("*.eml"))
    answered = []
    for path in files:
        verdict = CHAIN.classify(parse_inbound(path.read_bytes()))
        if verdict.may_answer:
            answered.append(path.name)
        assert verdict.classification in _AUTOMATIC | {Classification.INVALID}, path.name
        assert verdict.matched, path.name
    print(f"\n{len(files)} automatic messages, {len(answered)} answered")
    assert len(files) == 629 + 9 + 2
    assert answered == []


def test_each_labelled_category_gets_its_classification() -> None:
    corpus_or_skip()
    expected = {
        "bounce(DSN/NDR)": Classification.BOUNCE,
        "feedback-report(ARF)": Classification.COMPLAINT,
        "auto-reply(RFC3834)": Classification.AUTO_REPLY,
    }
    wrong = []
    for row in _labels():
        verdict = CHAIN.classify(
            parse_inbound((SISIMAI / "maildir-bsd" / row["file"]).read_bytes())
        )
        if verdict.classification != expected[row["category"]]:
            wrong.append((row["file"], verdict.classification.value, verdict.matched))
    print(f"\nclassified otherwise than labelled: {wrong}")
    # Amazon SNS notices (JSON bodies from no-reply@), fml list errors and KDDI's no-reply
    # bounces read as auto-replies or list mail: still never answered, but keep them rare.
    assert len(wrong) <= 10


@pytest.mark.parametrize("name", ["is-not-bounce-01.eml", "is-not-bounce-02.eml"])
def test_mail_written_by_people_is_answerable(name: str) -> None:
    corpus_or_skip()
    msg = parse_inbound((SISIMAI / "maildir-not-bounce" / name).read_bytes())
    verdict = CHAIN.classify(msg)
    assert verdict.classification is Classification.HUMAN
    assert verdict.may_answer
    assert verdict.matched == ()
    assert msg.from_address is not None
    assert parse_bounce(msg).recipients == ()


def test_the_auto_replied_postmaster_message_is_not_answered() -> None:
    corpus_or_skip()
    msg = parse_inbound((SISIMAI / "maildir-not-bounce" / "rb-issue-368-bug.eml").read_bytes())
    assert not CHAIN.classify(msg).may_answer


def test_arf_complaints_name_the_complainer_and_the_original() -> None:
    corpus_or_skip()
    yahoo = parse_complaint(
        parse_inbound((FLANKER_BOUNCES / "complaints" / "yahoo.eml").read_bytes())
    )
    assert yahoo is not None
    assert yahoo.source == "arf"
    assert yahoo.feedback_type == "abuse"
    assert yahoo.recipients == ("user@yahoo.com",)
    assert yahoo.original_mail_from == "bounce+705f77.d4a-user=yahoo.com@example.com"
    assert yahoo.original_message_id == "<20120711015015.4A8BE2E088E@www.example.com>"
    many = parse_complaint(parse_inbound((SISIMAI / "maildir-bsd" / "arf-16.eml").read_bytes()))
    assert many is not None
    assert len(many.recipients) == 7


def test_non_arf_complaints_are_read() -> None:
    corpus_or_skip()
    hotmail = parse_complaint(parse_inbound((SISIMAI / "maildir-bsd" / "arf-22.eml").read_bytes()))
    assert hotmail is not None
    assert (hotmail.source, hotmail.recipients) == ("hotmail", ("kijitora@example.com",))
    assert hotmail.original_message_id == "<0000000000fffffffff0000000000000@example.com>"
    apple = parse_complaint(parse_inbound((SISIMAI / "maildir-bsd" / "arf-26.eml").read_bytes()))
    assert apple is not None
    assert (apple.source, apple.feedback_type) == ("apple-unsubscribe", "opt-out")
    assert apple.recipients == ("example@icloud.com",)


def test_every_labelled_complaint_parses_as_one() -> None:
    corpus_or_skip()
    for row in _labels():
        if row["category"] != "feedback-report(ARF)":
            continue
        complaint = parse_complaint(
            parse_inbound((SISIMAI / "maildir-bsd" / row["file"]).read_bytes())
        )
        assert complaint is not None, row["file"]
        assert complaint.feedback_type == row["feedback_type"].split("|")[0], row["file"]
