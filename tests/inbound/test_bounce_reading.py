"""How report formats seen in the wild are read: field order in DSNs, the SMTP command a
failure answered, and which transcript lines belong to which recipient."""

from __future__ import annotations

from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.dsn import parse_delivery_status
from mailengine.inbound.parse import parse_inbound


def test_fields_before_final_recipient_belong_to_that_recipient() -> None:
    """Some servers write Status and Diagnostic-Code ahead of Final-Recipient."""
    [record] = parse_delivery_status(
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Diagnostic-Code: SMTP; 550 5.1.1 RCP-P1 Recipient address does not exist\n"
        "Status: 5.1.1\n"
        "Final-Recipient: rfc822; gone@else.example\n"
        "Action: failed\n"
    )
    assert (record.final_recipient, record.status, record.action) == (
        "gone@else.example",
        "5.1.1",
        "failed",
    )
    assert record.diagnostic == "550 5.1.1 RCP-P1 Recipient address does not exist"


def test_per_message_fields_stay_out_of_the_recipients() -> None:
    records = parse_delivery_status(
        "Reporting-MTA: dns; mx.example.net\nArrival-Date: Mon, 23 Nov 2026 09:00:00 +0000\n\n"
        "Final-Recipient: rfc822; a@else.example\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; b@else.example\nAction: delayed\nStatus: 4.4.7\n"
    )
    assert [(r.final_recipient, r.action, r.status) for r in records] == [
        ("a@else.example", "failed", "5.1.1"),
        ("b@else.example", "delayed", "4.4.7"),
    ]


def _text_bounce(body: str, subject: str = "failure notice") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@shop.example\r\n"
        f"Subject: {subject}\r\nContent-Type: text/plain\r\n\r\n{body}"
    ).encode()


def test_qmail_does_not_like_recipient_is_a_refused_rcpt() -> None:
    body = (
        "Hi. This is the qmail-send program at mx.example.net.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        "<gone@else.example>:\r\n192.0.2.153 does not like recipient.\r\n"
        "Remote host said: 550 5.2.1 <gone@else.example>... User Unknown\r\n"
        "Giving up on 192.0.2.153.\r\n"
    )
    [failure] = parse_bounce(parse_inbound(_text_bounce(body))).recipients
    assert (failure.recipient, failure.reason, failure.hard) == (
        "gone@else.example",
        "userunknown",
        True,
    )


def test_a_sendmail_host_line_belongs_to_the_next_recipient() -> None:
    """A refused connection is no unknown host, even when the next host is unknown."""
    body = (
        "   ----- Transcript of session follows -----\r\n"
        "554 <kept@one.example>... Remote protocol error: Connection reset by peer\r\n"
        "550 two.example (smtp)... 550 Host unknown\r\n"
        "554 <gone@two.example>... 550 Host unknown (Authoritative answer from name server)\r\n"
        "250 three.example (smtp)... 250 Deferred\r\n"
    )
    report = parse_bounce(parse_inbound(_text_bounce(body, "Returned mail: User unknown")))
    reasons = {r.recipient: (r.reason, r.hard) for r in report.recipients}
    assert reasons["kept@one.example"][1] is False
    assert reasons["gone@two.example"] == ("hostunknown", True)


def test_a_temporary_dns_failure_is_still_no_unknown_host() -> None:
    body = (
        "This is the mail system at host mx.example.net.\r\n\r\n"
        "<gone@two.example>: Host or domain name not found. Name service error for "
        "name=two.example type=MX: Host not found, try again\r\n"
    )
    [failure] = parse_bounce(parse_inbound(_text_bounce(body))).recipients
    assert (failure.reason, failure.hard) == ("networkerror", False)
