"""The hosted copy of a sent message ("view this email in your browser"): rendered again from
its outbox row each time it is asked for, with the time it was composed, so that it is the
HTML that was sent (the same signed links, the same tracked keys) and the mail is stored
once, as its row.

It imports the store and the composer.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from mailengine.errors import MailengineError
from mailengine.outbound.composer import Composer
from mailengine.outbound.send_checks import stranger_recipient
from mailengine.store.sent_messages import sent_message
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
