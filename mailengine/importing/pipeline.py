"""Read and check an import file in a second process while this one writes to the database.

Records cross the process boundary as plain tuples (pickling dataclasses costs as much as
parsing them), so the writer spends its time writing.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from mailengine.errors import ImportFileError, MailengineError
from mailengine.importing.batches import ImportKind, ImportOptions, ParsedBatch, parsed_batches
from mailengine.store.records import ConsentStatement, CustomerUpsert, OrderUpsert

_ORDER_FIELDS = tuple(field.name for field in fields(OrderUpsert))
_CONSENT_FIELDS = tuple(field.name for field in fields(ConsentStatement))
_QUEUE_DEPTH = 4


def batches_from_reader_process(
    path: Path, kind: ImportKind, options: ImportOptions
) -> Iterator[ParsedBatch]:
    """The batches of `parsed_batches`, produced by a reader process."""
    context = multiprocessing.get_context("spawn")
    channel: Any = context.Queue(maxsize=_QUEUE_DEPTH)
    reader = context.Process(
        target=_read, args=(path, kind, options, channel), name="mailengine-import-reader"
    )
    reader.start()
    try:
        while True:
            item = channel.get()
            if item is None:
                return
            if item[0] == "error":
                raise ImportFileError(item[1], location=item[2])
            _, packed, rejected, position = item
            records = [(line, _unpack(kind, values)) for line, values in packed]
            yield ParsedBatch(records=records, rejected=rejected, position=position)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


def _read(path: Path, kind: ImportKind, options: ImportOptions, channel: Any) -> None:
    try:
        for batch in parsed_batches(path, kind, options):
            packed = [(line, _pack(record)) for line, record in batch.records]
            channel.put(("batch", packed, batch.rejected, batch.position))
    except MailengineError as error:
        channel.put(("error", error.message, error.location))
    channel.put(None)


def _pack(record: CustomerUpsert | OrderUpsert) -> tuple[Any, ...]:
    if isinstance(record, OrderUpsert):
        return tuple(getattr(record, name) for name in _ORDER_FIELDS)
    consent = record.consent
    packed_consent = (
        tuple(getattr(consent, name) for name in _CONSENT_FIELDS) if consent is not None else None
    )
    return (record.email, record.fields, record.attributes, packed_consent)


def _unpack(kind: ImportKind, values: tuple[Any, ...]) -> CustomerUpsert | OrderUpsert:
    if kind == "orders":
        return OrderUpsert(*values)
    email, profile, attributes, consent = values
    return CustomerUpsert(
        email=email,
        fields=profile,
        attributes=attributes,
        consent=ConsentStatement(*consent) if consent is not None else None,
    )
