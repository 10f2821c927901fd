"""A workflow's `public:` block: what customers read about it on the preferences page.

```yaml
public:
  title: Welcome tips                 # one line, at most 60 characters
  blurb: A few mails in your first week: how sizes run, free returns, our favourites.
```

`description` is for the people who review the workflow ("the top 20 % of customers by
spend"); `public` is what the customer is shown, so it is written for them. Without it a
workflow is shown by its name only.
"""

from __future__ import annotations

from typing import Any

from mailengine.workflows.model import PublicText
from mailengine.workflows.problems import ProblemLog

PUBLIC_KEYS = ("title", "blurb")
TITLE_MAX = 60
BLURB_MAX = 300


def parse_public(data: Any, log: ProblemLog) -> PublicText | None:
    """The block's texts, or None after logging each problem at its place."""
    at = ("public",)
    if not isinstance(data, dict):
        log.at(at, "public is a mapping: title (required) and blurb, as customers read them")
        return None
    before = len(log.problems)
    log.unknown_keys(data, PUBLIC_KEYS, at, "public")
    if "title" not in data:
        log.at(at, "missing 'title': the name customers see on the preferences page")
    title = _text(data.get("title"), "title", TITLE_MAX, log)
    blurb = _text(data.get("blurb"), "blurb", BLURB_MAX, log) if "blurb" in data else ""
    if len(log.problems) != before or title is None or blurb is None:
        return None
    return PublicText(title=title, blurb=blurb)


def _text(value: Any, key: str, longest: int, log: ProblemLog) -> str | None:
    at = ("public", key)
    if value is None:
        return None
    if not isinstance(value, str):
        log.at(at, f"expected text, got {value!r}")
        return None
    text = " ".join(value.split())
    if not text:
        log.at(at, f"{key} is empty: write what customers should read")
        return None
    if len(text) > longest:
        log.at(at, f"{key} has {len(text)} characters; at most {longest} fit the page")
        return None
    return text
