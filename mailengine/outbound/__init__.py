"""Outgoing mail: claiming due outbox rows, checks at send time, composing, MIME, DKIM, VERP,
and the transports that hand the bytes to a mail server.

The path a message takes: `dispatcher` claims a batch (`leases` keep the claims,
`mailengine.owners` names their holder) and checks who may still get it (`send_checks`);
`composer` renders it (in `compose_pool` worker processes where configured) and builds the
bytes (`mime`, `body_encoding`, `dkim`, `verp`); `sending` hands them to the `transport`
workers, one queue per recipient domain (`domain_queue`), and records outcomes in groups
(`group_commit`).

It may import the shared vocabulary (config, errors, clock, addresses, message ids, tokens),
`render` and `store`; nothing of `engine`, `inbound`, `web` or `cli`. The rest of mailengine
uses only the names below; `transport` knows nothing of the store.
"""

from mailengine.outbound.composer import ComposedMessage, Composer
from mailengine.outbound.dispatcher import (
    Dispatcher,
    DispatchOptions,
    DispatchReport,
    domain_share,
)
from mailengine.outbound.dkim import DkimSigner
from mailengine.outbound.dkim_record import PublishedCheck, check_published, zone_entry
from mailengine.outbound.hosted_copy import ShownSubject, hosted_html, subjects_as_received
from mailengine.outbound.tracking_links import read_key
from mailengine.outbound.transport.base import Transport
from mailengine.outbound.transport.maildir import MaildirWriter
from mailengine.outbound.transport.smtp import SmtpTransport
from mailengine.outbound.verp import decode_bounce_address

__all__ = [
    "ComposedMessage",
    "Composer",
    "DispatchOptions",
    "DispatchReport",
    "Dispatcher",
    "DkimSigner",
    "MaildirWriter",
    "PublishedCheck",
    "ShownSubject",
    "SmtpTransport",
    "Transport",
    "check_published",
    "decode_bounce_address",
    "domain_share",
    "hosted_html",
    "read_key",
    "subjects_as_received",
    "zone_entry",
]
