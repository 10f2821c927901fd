"""Translated copy: the gettext catalogs of the templates folder, and which language a customer
gets.

Templates are written once, in English, with their copy marked for translation
(`{{ _("Welcome, %(name)s!", name=customer.first_name) }}`); subjects and preheaders of send
steps are messages as they are written. Each language has one catalog,
`<templates>/locales/<lang>/LC_MESSAGES/messages.po`, read with Babel (no compiled `.mo` that
could be stale). A customer gets their own language if it has a catalog, else the shop's
(config `locale`), else English; a message a catalog lacks stays English.

It imports only Babel and the locale helpers of `render`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import Translations

from mailengine.errors import SourceError, SourceLocation
from mailengine.render.locales import DEFAULT_LOCALE, normalise_locale

SOURCE_LANGUAGE = "en"  # the language templates, subjects and preheaders are written in
CATALOGS_DIR = "locales"
DOMAIN = "messages"


@dataclass(frozen=True)
class LoadedCatalog:
    """One language's catalog as read: the messages (for checks) and gettext over them."""

    language: str
    path: Path
    catalog: Catalog
    translations: Translations
    mtime: int

    def translated(self, message: str) -> bool:
        """Whether `message` has a translation that is used (not empty, not fuzzy)."""
        found = self.catalog.get(message)
        if found is None or found.fuzzy:
            return False
        strings = found.string if isinstance(found.string, tuple) else (found.string,)
        return all(strings)


def language_tag(language: str) -> str:
    """`de` → `de`, `pt_BR` → `pt-BR`: the catalog's language as HTML's `lang` writes it."""
    return language.replace("_", "-")


def language_name(language: str) -> str:
    """`de` → `German (de)`: how messages name a language."""
    try:
        name = Locale.parse(language).get_display_name("en") or language
    except (ValueError, TypeError):
        name = language
    return f"{name} ({language})"


class Catalogs:
    """The catalogs under `<templates_dir>/locales`, read on first use (and again when a file
    changed, with `auto_reload`). Safe to share between threads."""

    def __init__(
        self, templates_dir: Path, shop_locale: str = DEFAULT_LOCALE, *, auto_reload: bool = False
    ) -> None:
        self._folder = Path(templates_dir) / CATALOGS_DIR
        self._shop = normalise_locale(shop_locale)
        self._auto_reload = auto_reload
        self._loaded: dict[str, LoadedCatalog | None] = {}
        self._lock = threading.Lock()
        self._languages: tuple[str, ...] | None = None
        self._copy_languages: dict[str, str] = {}  # customer locale -> copy language

    @property
    def auto_reload(self) -> bool:
        """Whether a catalog is read again when its file changed."""
        return self._auto_reload

    @property
    def folder(self) -> Path:
        return self._folder

    def path(self, language: str) -> Path:
        return self._folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"

    def shown(self, language: str) -> str:
        """`templates/locales/de/LC_MESSAGES/messages.po`: the file as users of the folder
        see it."""
        return f"{self._folder.parent.name}/{CATALOGS_DIR}/{language}/LC_MESSAGES/{DOMAIN}.po"

    def languages(self) -> tuple[str, ...]:
        """The languages with a catalog, sorted (`de`, `fr`, `pt_BR`)."""
        if self._languages is None or self._auto_reload:
            found = (
                sorted(p.name for p in self._folder.iterdir() if self.path(p.name).is_file())
                if self._folder.is_dir()
                else []
            )
            self._languages = tuple(found)
        return self._languages

    def copy_language(self, customer_locale: str) -> str:
        """The language of the copy a customer with `customer_locale` (`de_AT`) gets: theirs
        (`de_AT`, then `de`) if it has a catalog, else the shop's, else the source's."""
        if self._auto_reload:  # the catalogs there are may change
            return self._copy_language(customer_locale)
        found = self._copy_languages.get(customer_locale)
        if found is None:  # (naming a Babel locale costs some 3 us: once per locale given)
            if len(self._copy_languages) >= 4096:
                self._copy_languages.clear()
            found = self._copy_languages[customer_locale] = self._copy_language(customer_locale)
        return found

    def _copy_language(self, customer_locale: str) -> str:
        customer = normalise_locale(customer_locale)
        available = self.languages()
        for locale in (customer, self._shop):
            for candidate in (str(locale), locale.language):
                if candidate in available or candidate == SOURCE_LANGUAGE:
                    return candidate
        return SOURCE_LANGUAGE

    def catalog(self, language: str) -> LoadedCatalog | None:
        """The catalog of `language`, or None for the source language or one without a file.

        Raises SourceError (naming the file and line) for a catalog that does not parse."""
        if language == SOURCE_LANGUAGE:
            return None
        read = language in self._loaded
        loaded = self._loaded.get(language)
        if read and not self._auto_reload:
            return loaded  # per recipient: one dict lookup, no path built
        path = self.path(language)
        if read and (loaded.mtime if loaded else -1) == _mtime(path):
            return loaded
        with self._lock:
            found = _load(language, path, self.shown(language)) if path.is_file() else None
            self._loaded[language] = found
            return found

    def gettext(self, language: str, message: str) -> str:
        loaded = self.catalog(language)
        return message if loaded is None else str(loaded.translations.gettext(message))

    def ngettext(self, language: str, singular: str, plural: str, count: int) -> str:
        loaded = self.catalog(language)
        if loaded is None:
            return singular if count == 1 else plural
        return str(loaded.translations.ngettext(singular, plural, count))

    def translated_messages(self, language: str) -> Mapping[str, bool]:
        """Each message id of `language`'s catalog, and whether it is translated."""
        loaded = self.catalog(language)
        if loaded is None:
            return {}
        ids = (m.id if isinstance(m.id, str) else m.id[0] for m in loaded.catalog)
        return {message: loaded.translated(message) for message in ids if message}


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


def _load(language: str, path: Path, shown: str) -> LoadedCatalog:
    """Read a `.po` file; gettext over its translated, non-fuzzy messages."""
    mtime = _mtime(path)
    try:
        with path.open("rb") as file:
            catalog = read_po(file, locale=language, abort_invalid=True)
    except PoFileError as exc:
        raise SourceError(
            f"translation catalog does not parse: {exc}",
            location=SourceLocation(shown, getattr(exc, "lineno", None)),
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"translation catalog does not parse: {exc}", location=SourceLocation(shown)
        ) from None
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return LoadedCatalog(language, path, catalog, Translations(buffer, domain=DOMAIN), mtime)
