"""Bounces and complaints map back to the send through a genuine VERP address only."""

from __future__ import annotations

from mailengine.inbound.bounces import parse_bounce
from mailengine.inbound.complaints import parse_complaint
from mailengine.inbound.parse import parse_inbound
from mailengine.inbound.verp_lookup import VerpKey
from mailengine.outbound.verp import encode_bounce_address

SECRET = b"verp-secret-for-tests"
KEY = VerpKey(local_part="bounces", domain="shop.example", secret=SECRET)


def _dsn(to: str, *, status: str = "5.1.1", diagnostic: str = "550 5.1.1 User unknown") -> bytes:
    return (
        "Return-Path: <>\r\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Original-Recipient: rfc822; Gone@Else.example\r\n"
        "Final-Recipient: rfc822; gone@else.example\r\n"
        f"Action: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: Example Shop <hello@shop.example>\r\nTo: gone@else.example\r\n"
        "Message-ID: <send-42@shop.example>\r\nSubject: Your order\r\n\r\n"
        "--b1--\r\n"
    ).encode()


def test_a_bounce_to_a_verp_address_names_its_send() -> None:
    address = encode_bounce_address(
        4242, local_part="bounces", domain="shop.example", secret=SECRET
    )
    report = parse_bounce(parse_inbound(_dsn(address)), KEY)
    assert report.send_id == 4242
    assert report.standard
    assert report.original_message_id == "<send-42@shop.example>"
    (recipient,) = report.recipients
    assert recipient.recipient == "gone@else.example"
    assert recipient.original_recipient == "gone@else.example"
    assert (recipient.status, recipient.reply_code, recipient.reason) == (
        "5.1.1",
        "550",
        "userunknown",
    )
    assert recipient.hard and report.hard


def test_the_envelope_recipient_is_used_when_the_to_field_is_not_ours() -> None:
    address = encode_bounce_address(7, local_part="bounces", domain="shop.example", secret=SECRET)
    msg = parse_inbound(_dsn("someone@else.example"), envelope_recipients=[address])
    assert parse_bounce(msg, KEY).send_id == 7


def test_a_forged_verp_address_maps_to_no_send() -> None:
    genuine = encode_bounce_address(
        4242, local_part="bounces", domain="shop.example", secret=SECRET
    )
    forged_id = encode_bounce_address(
        4243, local_part="bounces", domain="shop.example", secret=b"someone else's secret"
    )
    local, domain = genuine.split("@")
    encoded_id, signature = local.removeprefix("bounces+").split("-")
    other_id = f"bounces+{encoded_id}0-{signature}@{domain}"  # another send, same signature
    bad_signature = f"bounces+{encoded_id}-{'0' * len(signature)}@{domain}"
    for address in (forged_id, other_id, bad_signature):
        assert parse_bounce(parse_inbound(_dsn(address)), KEY).send_id is None
    assert parse_bounce(parse_inbound(_dsn(genuine))).send_id is None  # no key, no mapping


def test_a_full_mailbox_is_soft() -> None:
    report = parse_bounce(
        parse_inbound(_dsn("x@shop.example", status="5.2.2", diagnostic="552 5.2.2 Mailbox full"))
    )
    assert report.recipients[0].reason == "mailboxfull"
    assert not report.hard


def test_a_delayed_report_is_never_hard() -> None:
    raw = _dsn("x@shop.example", status="4.4.7", diagnostic="Delivery time expired")
    report = parse_bounce(parse_inbound(raw.replace(b"Action: failed", b"Action: delayed")))
    assert report.recipients[0].reason == "expired"
    assert not report.hard


def test_a_complaint_names_its_send_through_original_mail_from() -> None:
    address = encode_bounce_address(99, local_part="bounces", domain="shop.example", secret=SECRET)
    raw = (
        "From: feedback@fbl.example.net\r\nTo: abuse@shop.example\r\nSubject: FW: sale\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n"
        "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <{address}>\r\n"
        "Original-Rcpt-To: anna@customer.example\r\n\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: hello@shop.example\r\nTo: anna@customer.example\r\n"
        "Message-ID: <send-99@shop.example>\r\n"
        "Subject: sale\r\n\r\nBuy now\r\n--b--\r\n"
    ).encode()
    complaint = parse_complaint(parse_inbound(raw), KEY)
    assert complaint is not None
    assert complaint.send_id == 99
    assert complaint.recipients == ("anna@customer.example",)
    assert complaint.original_message_id == "<send-99@shop.example>"
    assert complaint.user_agent == "FBL/1.0"
