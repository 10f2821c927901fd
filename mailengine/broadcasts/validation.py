"""Validate broadcast files and the templates their variants send, as `validate` does for
workflows: every problem as `path:line:col`, in the file or the template where it is."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from mailengine.broadcasts.loader import BroadcastSet, load_broadcasts
from mailengine.broadcasts.model import Broadcast, Variant
from mailengine.errors import SourceLocation
from mailengine.render import TemplateLibrary
from mailengine.workflows.copy_warnings import SendCopy
from mailengine.workflows.guarantees import guaranteed_by_audience
from mailengine.workflows.problems import Problem, unique_problems
from mailengine.workflows.validation import check_send


def validate_broadcasts(
    paths: Iterable[Path],
    library: TemplateLibrary,
    display_base: Path | None = None,
) -> BroadcastSet:
    """Load the broadcasts and check every template, subject and preheader they send.

    A broadcast whose templates are wrong stays in `broadcasts` (its file is fine) while its
    problems are listed: callers that must refuse it check `ok`.
    """
    result = load_broadcasts(paths, display_base)
    checked: dict[str, list[Problem]] = {}
    found = (check_broadcast(each, library, checked) for each in result.broadcasts.values())
    result.problems.extend(unique_problems(problem for each in found for problem in each))
    return result


def check_broadcast(
    broadcast: Broadcast, library: TemplateLibrary, checked: dict[str, list[Problem]]
) -> list[Problem]:
    """Each variant's template (it exists, compiles, uses only what its mail has), subject
    and preheader; `checked` keeps results by template so that each is reported once."""
    present = guaranteed(broadcast)
    problems: list[Problem] = []
    for variant in broadcast.test_variants():
        named_at = variant.template_at or variant.location
        lines = _lines(variant)
        problems.extend(check_send(variant.template, named_at, lines, present, library, checked))
    return problems


def guaranteed(broadcast: Broadcast) -> frozenset[str]:
    """What every mail of the broadcast has: `broadcast` and each key of its `content`, the
    `coupon` when it gives one, and what its audience guarantees (see `guarantees`)."""
    found = {"broadcast", "broadcast.content"}
    found.update(f"broadcast.content.{key}" for key in broadcast.content)
    if broadcast.coupon is not None:
        found.add("coupon")
    return frozenset(found) | guaranteed_by_audience(broadcast.audience)


def _lines(variant: Variant) -> Iterator[tuple[str, str, SourceLocation]]:
    yield "subject", variant.subject, variant.subject_at or variant.location
    if variant.preheader is not None:
        yield "preheader", variant.preheader, variant.preheader_at or variant.location


def broadcast_sends(broadcast: Broadcast) -> list[SendCopy]:
    """The broadcast's variants as `copy_warnings` reads them."""
    texts = tuple((text, broadcast.location) for text in content_texts(broadcast.content))
    return [
        SendCopy(
            variant.template,
            variant.template_at or variant.location,
            tuple(_lines(variant)),
            variant.preheader is not None,
            texts,
        )
        for variant in broadcast.test_variants()
    ]


_NOT_COPY = frozenset({"link", "image", "url", "href", "sku", "price"})


def content_texts(content: object, key: str = "") -> list[str]:
    """The words of a broadcast's `content` a reader sees (headline, paragraphs, titles...):
    every string but links, image paths and other values under a key such as `link`."""
    if isinstance(content, dict):
        return [text for k, value in content.items() for text in content_texts(value, str(k))]
    if isinstance(content, list):
        return [text for value in content for text in content_texts(value, key)]
    if isinstance(content, str) and key not in _NOT_COPY and content.strip():
        return [content]
    return []
