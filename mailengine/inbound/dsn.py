"""RFC 3464 delivery-status fields: one record per recipient of a message/delivery-status part."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ADDRESS = re.compile(r"[^\s<>\"'();,:]+@[^\s<>\"'();,:]+")


@dataclass
class DsnRecipient:
    """The fields of one per-recipient block, values as written (addresses bare, lower-case)."""

    final_recipient: str | None = None
    original_recipient: str | None = None
    action: str | None = None
    status: str | None = None
    diagnostic_type: str | None = None
    diagnostic: str = ""
    remote_mta: str | None = None


def delivery_status_fields(text: str) -> list[tuple[str, str]]:
    """`(lower-case name, value)` pairs in order; continuation lines joined, junk lines kept out."""
    fields: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        match = _FIELD.match(line.strip())
        if match:
            fields.append((match.group(1).lower(), match.group(2).strip()))
    return fields


def parse_delivery_status(text: str) -> list[DsnRecipient]:
    """Per-recipient records, one per block; robust to blocks run together.

    Fields written before a block's first recipient line (Status, Diagnostic-Code, Action
    ahead of Final-Recipient, as some servers order them) belong to that recipient.
    """
    records: list[DsnRecipient] = []
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    for block in re.split(r"\n[ \t]*\n", normal):
        current: DsnRecipient | None = None
        ahead: list[tuple[str, str]] = []
        for name, value in delivery_status_fields(block):
            if name in ("final-recipient", "original-recipient"):
                attribute = name.replace("-", "_")
                if current is None or getattr(current, attribute):
                    current = DsnRecipient()
                    records.append(current)
                setattr(current, attribute, address_of(value))
                for early_name, early_value in ahead:
                    _set_field(current, early_name, early_value)
                ahead.clear()
            elif current is not None:
                _set_field(current, name, value)
            else:
                ahead.append((name, value))
    return [record for record in records if record.final_recipient or record.original_recipient]


def _set_field(record: DsnRecipient, name: str, value: str) -> None:
    """One per-recipient field; the first value wins (later ones come from quoted text)."""
    if name == "action" and record.action is None:
        record.action = value.split()[0].lower() if value.split() else None
    elif name == "status" and record.status is None:
        record.status = status_code(value)
    elif name == "diagnostic-code" and not record.diagnostic:
        kind, semicolon, detail = value.partition(";")
        if semicolon:
            record.diagnostic_type = kind.strip().upper()
        record.diagnostic = " ".join((detail if semicolon else value).split())
    elif name == "remote-mta" and record.remote_mta is None:
        record.remote_mta = value.partition(";")[2].strip() or value


def address_of(value: str) -> str | None:
    """`rfc822; <User@Example.com>` → `user@example.com`."""
    _, semicolon, rest = value.partition(";")
    match = _ADDRESS.search(rest if semicolon else value)
    if not match:
        return None
    return match.group(0).strip(".").lower()


def status_code(text: str) -> str | None:
    """The first enhanced status code (RFC 3463) in some text, e.g. `5.1.1`."""
    match = _STATUS.search(text)
    return f"{match.group(1)}.{match.group(2)}.{match.group(3)}" if match else None
