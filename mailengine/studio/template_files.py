"""The template files the editor may open and save, and nothing else.

A name is a path under the configured templates folder without `.mjml`
(`welcome/hello`, `partials/footer`); names that leave the folder (`..`, absolute paths,
links pointing out) are refused before any file is touched. A file is saved whole and
atomically (a temporary file beside it, then a rename), and only when it is still the
version the editor opened: a change made on disk meanwhile is never overwritten. The file on
disk stays the source of truth; the engine picks a change up on `mailengine reload`.

It may import `render` and the shared vocabulary.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from mailengine.errors import MailengineError
from mailengine.render.mjml_cache import TEMPLATE_NAME, TEMPLATE_SUFFIX, display_path

_SAVING = threading.Lock()


class TemplateNameError(MailengineError, ValueError):
    """The name is not a template file under the templates folder."""


class ChangedOnDiskError(MailengineError, RuntimeError):
    """The file changed on disk since the editor opened it."""


@dataclass(frozen=True)
class TemplateSource:
    name: str
    path: Path
    shown: str  # `templates/welcome/hello.mjml`, as problems name it
    text: str
    version: str  # sha256 of the bytes on disk


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def template_names(root: Path) -> list[str]:
    """Every `.mjml` file under the templates folder (partials too), sorted."""
    base = root.resolve()
    names = []
    for file in root.rglob(f"*{TEMPLATE_SUFFIX}"):
        if file.is_file() and file.resolve().is_relative_to(base):
            names.append(file.relative_to(root).with_suffix("").as_posix())
    return sorted(names)


def template_file(root: Path, name: str) -> Path:
    """The file of template `name`, refusing anything outside the templates folder."""
    if not TEMPLATE_NAME.fullmatch(name) or ".." in name.split("/"):
        raise TemplateNameError(
            f"{name!r} is not a template name: use a path under the templates folder without "
            "the .mjml suffix, such as welcome/hello"
        )
    file = root / f"{name}{TEMPLATE_SUFFIX}"
    if not file.resolve().is_relative_to(root.resolve()):
        raise TemplateNameError(f"{name!r} leads out of the templates folder")
    if not file.is_file():
        raise TemplateNameError(f"there is no template {display_path(root, file)}")
    return file


def read_template(root: Path, name: str) -> TemplateSource:
    file = template_file(root, name)
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateNameError(
            f"{display_path(root, file)} is not UTF-8 text (byte {exc.start}): fix it in a text "
            "editor first"
        ) from None
    return TemplateSource(name, file, display_path(root, file), text, version_of(data))


def save_template(root: Path, name: str, text: str, opened_version: str) -> TemplateSource:
    """Write `text` as template `name` if the file is still `opened_version`."""
    file = template_file(root, name)
    data = text.encode("utf-8")
    with _SAVING:
        current = version_of(file.read_bytes())
        if current != opened_version:
            raise ChangedOnDiskError(
                f"{display_path(root, file)} changed on disk since you opened it; nothing was "
                "saved. Copy your changes, reload the page, and apply them to the new version"
            )
        write_atomically(file, data)
    return TemplateSource(name, file, display_path(root, file), text, version_of(data))


def write_atomically(file: Path, data: bytes) -> None:
    """Replace `file` with `data` in one rename: readers see the old or the new file whole."""
    mode = file.stat().st_mode & 0o777 if file.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
