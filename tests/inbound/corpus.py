"""Where the shared real-world mail lives, and every message in it as raw bytes."""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# `../shared/corpus` beside the project; MAIL_CORPUS_DIR names it elsewhere (a worktree). Not
# MAILENGINE_*: the configuration reads every such variable as a setting.
CORPUS = Path(
    os.environ.get("MAIL_CORPUS_DIR")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
)
SISIMAI = CORPUS / "bounces" / "sisimai"
FLANKER_BOUNCES = CORPUS / "bounces" / "flanker"
_NOT_MAIL = {".csv", ".md", ".txt"}


def corpus_or_skip() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared mail corpus is not at {CORPUS.resolve()} (a fresh clone has none)")
    return CORPUS


def stdlib_email_data() -> Path | None:
    """CPython's own test messages (test/test_email/data), when the test package is installed."""
    try:
        import test  # type: ignore[import-not-found]  # the stdlib's; some distributions omit it
    except ImportError:
        return None
    data = Path(os.path.dirname(test.__file__)) / "test_email" / "data"
    return data if data.is_dir() else None


def corpus_messages(root: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) for every message under `root`; mbox files give one per message."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == "LICENSE" or path.suffix in _NOT_MAIL:
            continue
        if path.parent.name == "mailbox-mbox":
            box = mailbox.mbox(path, create=False)
            try:
                for index, key in enumerate(box.keys()):
                    yield f"{path.relative_to(root)}#{index}", box.get_bytes(key)
            finally:
                box.close()
        else:
            yield str(path.relative_to(root)), path.read_bytes()
