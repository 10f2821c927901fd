"""The checks beside a preview, on mails made for the purpose and on a shipped one."""

from __future__ import annotations

from mailengine.studio.mail_checks import GMAIL_CLIP_BYTES, MailReport, check_mail
from mailengine.studio.mail_frames import dark_mode, inert
from mailengine.studio.tag_balance import unbalanced_tags

PAGE = """<html><head><style>p{{color:#222}}</style></head><body>
<img src="https://cdn.example/logo.png" alt="Fjord &amp; Field">
<img src="https://cdn.example/hero.jpg">
<a href="https://shop.example/c/KEY123"><img src="x.png" alt="Shop"> now</a>
<a href="mailto:hello@shop.example">write to us</a>
<a href="#">more</a>
<p>{body}</p>
<img src="https://shop.example/o/PIXEL.gif" width="1" height="1" alt="">
</body></html>"""


def report(body: str = "Hello", subject: str = "Your order", preheader: str = "") -> MailReport:
    html = PAGE.format(body=body)
    return check_mail(
        subject=subject,
        preheader=preheader,
        html_body=html,
        text_body=body,
        message_bytes=len(html) + 900,
        tracked_targets={"KEY123": "https://shop.example/new-in"},
    )


def by_name(found: MailReport) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    return {check.name: (check.level, check.summary, check.details) for check in found.checks}


def test_links_are_listed_with_where_they_really_lead() -> None:
    found = report()
    assert [(link.text, link.target, link.tracked) for link in found.links] == [
        ("[Shop] now", "https://shop.example/new-in", True),
        ("write to us", "mailto:hello@shop.example", False),
        ("more", "#", False),
    ]
    assert by_name(found)["Links"] == ("warning", "3 link(s), 1 tracked; 1 lead nowhere", ("more",))


def test_an_image_without_alt_is_named_and_the_open_pixel_is_not() -> None:
    assert by_name(report())["Images"] == (
        "warning",
        "1 image(s) without alt text",
        ("no alt: https://cdn.example/hero.jpg",),
    )


def test_size_warns_near_and_over_where_gmail_clips() -> None:
    assert by_name(report())["Size"][0] == "ok"
    near = report(body="x" * int(GMAIL_CLIP_BYTES * 0.95))
    assert by_name(near)["Size"][0] == "warning"
    over = report(body="é" * (GMAIL_CLIP_BYTES // 2 + 10))  # two bytes each in UTF-8
    level, summary, _ = by_name(over)["Size"]
    assert level == "error"
    assert "Gmail clips this mail" in summary
    assert over.html_bytes > GMAIL_CLIP_BYTES


def test_a_missing_preheader_shows_what_inboxes_show_instead() -> None:
    level, _, details = by_name(report(body="Thanks   for\nyour order"))["Preheader"]
    assert (level, details) == ("warning", ("shown instead: Thanks for your order",))
    assert by_name(report(preheader="It ships today"))["Preheader"] == ("ok", "It ships today", ())


def test_spam_phrases_and_a_shouting_subject_are_flagged() -> None:
    found = by_name(report(body="Act now: a FREE GIFT for you", subject="WINNER OF THE WEEK"))
    level, summary, details = found["Spam words"]
    assert level == "warning"
    assert details == (
        "subject: winner",
        "text: act now",
        "text: free gift",
        "subject: mostly capital letters",
    )
    assert summary == "4 phrase(s) to reread"
    assert by_name(report(body="Our winners' picks"))["Spam words"][0] == "ok"


def test_frames_open_no_link_and_the_dark_view_uses_the_mails_own_rules() -> None:
    plain = (
        "<html><head><title>x</title></head><body><a href='https://x.example'>x</a></body></html>"
    )
    assert '<base target="_blank"></head>' in inert(plain)
    inverted, how = dark_mode(plain)
    assert how == "inverted"
    assert "filter:invert(1)" in inverted
    own = plain.replace(
        "</head>",
        "<style>@media (prefers-color-scheme: dark){body{background:#000}}</style></head>",
    )
    switched, how = dark_mode(own)
    assert how == "own rules"
    assert "@media all{body{background:#000}}" in switched
    assert "filter:invert" not in switched


def test_an_element_left_open_is_found_at_its_line() -> None:
    source = (
        "<mjml>\n  <mj-body>\n    <mj-section>\n      <mj-text>{{ '<b>' }}Hi\n"
        "    </mj-section>\n  </mj-body>\n</mjml>\n"
    )
    assert [(t.line, t.column, t.message) for t in unbalanced_tags(source)] == [
        (4, 7, "<mj-text> is never closed")
    ]
    assert unbalanced_tags(source.replace("Hi\n", "Hi</mj-text>\n")) == []
    assert [
        t.message for t in unbalanced_tags("<mjml><mj-body></mj-section></mj-body></mjml>")
    ] == ["</mj-section> closes nothing"]
