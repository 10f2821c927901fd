"""The NPS mail over real SMTP, and the pages its links open: fetching every link records
nothing; only the form's POST records, replaces, and opens a ticket for a detractor; forged,
altered and expired links get the error page; a questionnaire records per question."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from mailengine.clock import FrozenClock
from mailengine.store.database import Database
from mailengine.store.desk import ticket_entries
from mailengine.store.events import event_table
from mailengine.store.models import Customer, Suppression
from mailengine.store.polls import answer_table, latest_answers, questionnaire_answers
from mailengine.store.tickets import list_tickets
from mailengine.web.pages import PAGE_HEADERS
from tests.polls.nps_mail import PUBLIC_URL, SentMail, poll_app, send_nps_mail

ORIGIN = {"Origin": PUBLIC_URL}


@pytest.fixture
async def client(database: Database, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=poll_app(database, clock), client=("203.0.113.7", 5100))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client


@pytest.fixture
async def mail(database: Database, clock: FrozenClock) -> SentMail:
    return await send_nps_mail(database, clock)


def _recorded(database: Database) -> tuple[int, int]:
    """(poll answers, events) stored."""
    with database.session() as session:
        answers = session.execute(select(func.count()).select_from(answer_table)).scalar_one()
        events = session.execute(select(func.count()).select_from(event_table)).scalar_one()
    return int(answers), int(events)


async def test_fetching_every_link_of_the_mail_records_nothing(
    mail: SentMail, client: httpx.AsyncClient, database: Database
) -> None:
    links = mail.links()
    ours = [url for url in links if url.startswith(PUBLIC_URL)]
    assert len(mail.poll_links()) == 11  # NPS 0-10
    assert any("/questionnaire/after_delivery/" in url for url in ours)
    before = _recorded(database)
    for url in ours:  # the poll and questionnaire pages, preferences, the hosted copy
        answer = await client.get(url)
        assert answer.status_code == 200, url
        if "/poll/" in url or "/questionnaire/" in url:
            policy = answer.headers["content-security-policy"]
            assert policy == PAGE_HEADERS["Content-Security-Policy"]
            assert answer.headers["cache-control"] == "no-store"
    for score, url in mail.poll_links().items():
        page = (await client.get(url)).text
        assert f'value="{score}" checked' in page
        assert page.count(" checked") == 1
        assert "<script" not in page
    assert _recorded(database) == before


async def test_the_form_records_replaces_and_a_detractor_gets_a_ticket(
    mail: SentMail, client: httpx.AsyncClient, database: Database, clock: FrozenClock
) -> None:
    three = mail.poll_links()["3"]
    sent = await client.post(
        three, data={"answer": "3", "comment": "The zip broke."}, headers=ORIGIN
    )
    assert sent.status_code == 200 and "Thank you for your answer" in sent.text
    clock.advance(timedelta(minutes=2))
    # Changed their mind on the page: another answer of the same link's poll, sent again.
    again = await client.post(three, data={"answer": "4", "comment": "Zip broke"}, headers=ORIGIN)
    assert again.status_code == 200
    with database.session() as session:
        answers = session.execute(select(answer_table.c.score, answer_table.c.outbox_id)).all()
        latest = latest_answers(session, mail.customer_id)["delivery_nps"]
        tickets = list_tickets(session, open_only=True)
        notes = ticket_entries(session, tickets[0].id)
        types = session.execute(select(event_table.c.type)).scalars().all()
        consent = session.execute(select(Customer.consent_status)).scalar_one()  # type: ignore[call-overload]
        suppressed = session.execute(select(func.count()).select_from(Suppression)).scalar_one()
    assert [tuple(row) for row in answers] == [(4, mail.outbox_id)]
    assert (latest.score, latest.comment) == (4, "Zip broke")
    assert len(tickets) == 1 and tickets[0].subject == "delivery_nps 3: The zip broke."
    assert [(note.kind, note.via) for note in notes] == [("note", "poll")]
    assert "The zip broke." in notes[0].body
    assert types == ["poll.answered", "poll.answered"]
    assert (consent, suppressed) == ("unknown", 0)


async def test_a_promoter_gets_no_ticket_and_a_post_from_elsewhere_records_nothing(
    mail: SentMail, client: httpx.AsyncClient, database: Database
) -> None:
    ten = mail.poll_links()["10"]
    other = await client.post(
        ten, data={"answer": "10"}, headers={"Origin": "https://evil.example"}
    )
    assert other.status_code == 403
    assert _recorded(database) == (0, 0)
    assert (await client.post(ten, data={"answer": "10"}, headers=ORIGIN)).status_code == 200
    wrong = await client.post(ten, data={"answer": "11"}, headers=ORIGIN)
    assert wrong.status_code == 422 and "Please choose an answer" in wrong.text
    with database.session() as session:
        assert list_tickets(session, open_only=True) == []
    assert _recorded(database) == (1, 1)


async def test_forged_altered_and_expired_links_get_the_error_page(
    mail: SentMail, client: httpx.AsyncClient, database: Database, clock: FrozenClock
) -> None:
    seven = mail.poll_links()["7"]
    base, token = seven.rsplit("/", 1)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_answer = seven.replace("/delivery_nps/7/", "/delivery_nps/8/")
    other_mail = seven.replace(f"/7/{mail.outbox_id}/", f"/7/{mail.outbox_id + 1}/")
    for url in (
        f"{base}/{flipped}",
        other_answer,
        other_mail,
        f"{base}/x",
        seven.replace("delivery_nps", "nope"),
    ):
        for answer in (
            await client.get(url),
            await client.post(url, data={"answer": "7"}, headers=ORIGIN),
        ):
            assert answer.status_code in (400, 404), url
            if answer.status_code == 400:
                assert "This link does not work" in answer.text
    for mail_text in ("abc", "-1", "99999999999", "٣"):
        bad_mail = seven.replace(f"/7/{mail.outbox_id}/", f"/7/{mail_text}/")
        page = await client.get(bad_mail)
        assert page.status_code == 400 and "This link does not work" in page.text, mail_text
    clock.advance(timedelta(days=400))
    expired = await client.post(seven, data={"answer": "7"}, headers=ORIGIN)
    assert expired.status_code == 400 and "This link does not work" in expired.text
    assert _recorded(database) == (0, 0)


async def test_a_questionnaire_records_each_question(
    mail: SentMail, client: httpx.AsyncClient, database: Database
) -> None:
    (url,) = [link for link in mail.links() if "/questionnaire/" in link]
    page = await client.get(url)
    assert page.status_code == 200 and "How did the sizes fit?" in page.text
    bad = await client.post(url, data={"q_fit": "huge"}, headers=ORIGIN)
    assert bad.status_code == 422 and "Please choose one of the answers" in bad.text
    sent = await client.post(
        url, data={"q_fit": "too_small", "q_delivery": "4", "q_remarks": " Lovely "}, headers=ORIGIN
    )
    assert sent.status_code == 200 and "3 answers" in sent.text
    await client.post(url, data={"q_fit": "just_right"}, headers=ORIGIN)
    with database.session() as session:
        found = questionnaire_answers(session, mail.customer_id, "after_delivery")
    assert {name: (given.answer, given.score) for name, given in found.items()} == {
        "fit": ("just_right", None),
        "delivery": ("4", 4),
        "remarks": ("Lovely", None),
    }
    again = await client.get(url)
    assert 'value="just_right" checked' in again.text and "Lovely</textarea>" in again.text
