"""The hosted copy of a sent message ("view this email in your browser"): rendered again from
its outbox row each time it is asked for, with the time it was composed, so that it is the
HTML that was sent (the same signed links, the same tracked keys) and the mail is stored
once, as its row. Likewise the subjects the studio shows: as each customer received them.

It imports the store and the composer.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailengine.errors import MailengineError
from mailengine.outbound.composer import Composer
from mailengine.outbound.send_checks import stranger_recipient
from mailengine.store.sent_messages import outbox_messages, sent_message
from mailengine.store.workflow_files import template_versions

log = logging.getLogger(__name__)


def hosted_html(session: Session, composer: Composer, outbox_id: int) -> str | None:
    """The HTML of sent message `outbox_id`, or None: not sent, or its customer is gone or
    asked to be forgotten (their copy goes with their data)."""
    found = sent_message(session, outbox_id)
    if found is None:
        return None
    send, recipient = found.send, found.recipient
    if recipient is None:
        if send.kind == "marketing" or send.customer_id is not None:
            return None
        recipient = stranger_recipient(send)
    if recipient.forgotten:
        return None
    digest = send.template_version
    template = template_versions(session, {digest}).get(digest) if digest else None
    try:
        composed = composer.compose(send, recipient, found.composed_at, found.coupon, template)
    except MailengineError as exc:
        log.warning("hosted copy of message %d could not be rendered: %s", outbox_id, exc)
        return None
    return composed.rendered.html


@dataclass(frozen=True)
class ShownSubject:
    """A mail's subject as its customer read it (or will, rendered now), or else as written
    with why it could not be rendered (`problem`)."""

    text: str
    problem: str | None = None


def subjects_as_received(
    session: Session, composer: Composer, outbox_ids: Collection[int], now: datetime
) -> dict[int, ShownSubject]:
    """The subject of each outbox row for its customer, in their language: a sent one as it
    was composed, one still to go as it would be `now`."""
    messages = outbox_messages(session, outbox_ids)
    digests = {m.send.template_version for m in messages.values()} - {None}
    templates = template_versions(session, {d for d in digests if d})
    shown: dict[int, ShownSubject] = {}
    for outbox_id, message in messages.items():
        send, recipient = message.send, message.recipient
        if recipient is None or recipient.forgotten:
            shown[outbox_id] = ShownSubject(send.subject, "its customer is gone")
            continue
        digest = send.template_version
        at = message.composed_at if message.sent else now
        try:
            rendered = composer.rendered(
                send, recipient, at, message.coupon, templates.get(digest) if digest else None
            )
        except MailengineError as exc:
            shown[outbox_id] = ShownSubject(send.subject, str(exc))
            continue
        shown[outbox_id] = ShownSubject(rendered.subject)
    return shown
