"""Out-of-office replies recognisable only by their words get no acknowledgement; customers who
mention holidays or being away are still people."""

from __future__ import annotations

import pytest

from mailengine.inbound import rules
from mailengine.inbound.absence import own_words
from mailengine.inbound.chain import Classification, default_chain
from mailengine.inbound.parse import parse_inbound
from tests.inbound.builders import raw_message

CHAIN = default_chain(own_domains=["shop.example"])
QUOTE = "\n\nOn Mon, 23 Nov 2026 at 09:00, Example Shop <hello@shop.example> wrote:\n> Hello?\n"

ABSENCE_NOTICES = {
    "en": "Thank you for your email. I am out of the office until 2 December with limited "
    "access to email. For urgent matters please contact sales@customer.example.",
    "en-short": "I'm currently away until Monday 30 November and will reply when I return.",
    "en-leave": "Hello, I am on parental leave until March. Your message will not be forwarded.",
    "de": "Vielen Dank für Ihre Nachricht. Ich bin bis zum 4. Dezember nicht im Büro und habe "
    "keinen Zugriff auf meine E-Mails. In dringenden Fällen wenden Sie sich an Herrn Maier.",
    "de-urlaub": "Guten Tag,\nich bin derzeit im Urlaub. Ab dem 7.12. bin ich wieder erreichbar.",
    "fr": "Bonjour,\nJe suis absente jusqu'au 3 décembre inclus. Pour toute urgence, merci de "
    "contacter le standard.",
    "fr-retour": "Je serai absent du bureau du 20 au 30 novembre. Je serai de retour le 1er.",
    "es": "Gracias por su mensaje. Estaré fuera de la oficina hasta el 2 de diciembre con "
    "acceso limitado al correo.",
    "es-vacaciones": "Hola, estoy de vacaciones hasta el lunes. Responderé a mi regreso.",
    "nl": "Beste afzender,\nIk ben afwezig tot en met 4 december. Uw e-mail wordt niet "
    "doorgestuurd.",
    "nl-tot": "Ik ben tot 4 december niet op kantoor. Voor dringende zaken kunt u bellen.",
}

PEOPLE = {
    "away-where": "I was away, where is my parcel?",
    "holiday-question": "We are going on holiday on Friday. Can you deliver before then?",
    "absent-question": "I am out of the office until Monday. Could you deliver on Tuesday?",
    "de-urlaub-frage": "Ich war im Urlaub. Wo ist mein Paket?",
    "fr-question": "Je suis absente jusqu'au 3 décembre, pouvez-vous livrer après ?",
    "es-question": "¿Estaré fuera de la oficina, pueden entregar el lunes?",
    "nl-was": "Ik was afwezig toen de bezorger kwam. Kunt u het opnieuw proberen?",
    "past": "My neighbour was on vacation so nobody took the parcel. Please send it again.",
    "office-hours": "What are your office hours during the holidays? I'm out of stock on socks.",
}


@pytest.mark.parametrize("body", ABSENCE_NOTICES.values(), ids=ABSENCE_NOTICES.keys())
def test_absence_notices_with_a_reply_subject_and_no_headers_are_not_answered(body: str) -> None:
    msg = parse_inbound(raw_message(subject="Re: Your order SO-1042", body=body + QUOTE))
    assert rules.AbsenceNoticeText().check(msg)
    verdict = CHAIN.classify(msg)
    assert verdict.classification is Classification.AUTO_REPLY
    assert verdict.matched == ("absence_notice_text",)
    assert not verdict.may_answer


@pytest.mark.parametrize("body", PEOPLE.values(), ids=PEOPLE.keys())
def test_customers_mentioning_holidays_or_absence_are_answered(body: str) -> None:
    msg = parse_inbound(raw_message(subject="Re: Your order SO-1042", body=body + QUOTE))
    verdict = CHAIN.classify(msg)
    assert verdict.classification is Classification.HUMAN, verdict.matched
    assert verdict.may_answer


def test_a_new_message_that_is_no_reply_is_not_read_as_an_absence_notice() -> None:
    body = ABSENCE_NOTICES["en"]
    msg = parse_inbound(raw_message(subject="Delivery address", body=body))
    assert not rules.AbsenceNoticeText().check(msg)


def test_absence_words_in_the_quoted_message_do_not_count() -> None:
    body = (
        "Thanks, the parcel arrived today. All good.\n\n"
        "-----Original Message-----\nFrom: Example Shop\n"
        "I am out of the office until 2 December.\n"
    )
    msg = parse_inbound(raw_message(subject="Re: Your order", body=body))
    assert own_words(msg.body_text).strip() == "Thanks, the parcel arrived today. All good."
    assert CHAIN.classify(msg).may_answer
