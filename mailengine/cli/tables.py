"""How commands print tables: rich tables for people, CSV and JSON for programs.

Every command that prints a table describes it once (columns, rows of plain values) and
takes `--format table|csv|json` through `format_option`. On a terminal a table fits the
window as rich lays it out; anywhere else (a pipe, cron mail, CI logs) it is printed whole,
however wide, never cut into "d… bo…". CSV has a header row of the columns' keys; JSON is
one document with numbers as numbers and times as ISO 8601 with the shop's offset.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TextIO, TypeVar
from zoneinfo import ZoneInfo

import click
from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "csv", "json")
OutputFormat = Literal["table", "csv", "json"]
MISSING = "–"
_Command = TypeVar("_Command", bound=Callable[..., Any])


def format_option(command: _Command) -> _Command:
    """`--format table|csv|json`, given to the command as `output_format`."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; csv (a header row) or json (numbers, ISO 8601 times) for programs.",
    )(command)


@dataclass(frozen=True)
class Column:
    """One column: `key` names it in CSV and JSON, `header` in the table.

    `show` turns a value into the table's text (else: see `shown`); it gets date-times in
    the shop's zone. A column only for
    people (`data=False`) may combine other keys of the row; one only for programs
    (`table=False`) is left out of the table.
    """

    key: str
    header: str | None = None
    right: bool = False
    show: Callable[[Any], str] | None = None
    table: bool = True
    data: bool = True
    wrap: bool = False


@dataclass
class Rows:
    """A table of records (plain values: text, numbers, Decimal, date-times, None)."""

    name: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    title: str | None = None
    empty: str = "none"
    emphasis: Callable[[Mapping[str, Any]], bool] | None = None  # bold, with a line after

    def data_keys(self) -> list[str]:
        return [column.key for column in self.columns if column.data]


@dataclass(frozen=True)
class Fact:
    """One figure of a `Facts` section: `key` for programs, `label` for people."""

    key: str
    label: str
    value: Any
    show: Callable[[Any], str] | None = None
    indent: int = 0


@dataclass
class Facts:
    """Named figures, shown as a two-column table; in JSON an object, in CSV key/value rows."""

    name: str
    facts: Sequence[Fact]
    title: str | None = None


Section = Rows | Facts


@dataclass
class TablePrinter:
    """Prints sections in the chosen format; times in `zone`, to the second."""

    output_format: OutputFormat
    zone: ZoneInfo
    stream: TextIO | None = None

    def note(self, text: str) -> None:
        """A line for people (a headline, a hint); only the table format prints it."""
        if self.output_format == "table":
            self._console().print(text, markup=False, highlight=False, soft_wrap=True)

    def print(self, *sections: Section, meta: Mapping[str, Any] | None = None) -> None:
        """Print `sections`; `meta` (the period, the workflow...) goes into JSON only."""
        if self.output_format == "json":
            document = {key: self.plain(value) for key, value in (meta or {}).items()}
            for section in sections:
                document[section.name] = self._json_section(section)
            self._out().write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        elif self.output_format == "csv":
            self._csv(sections)
        else:
            for section in sections:
                self._table(section)
        self._out().flush()

    def plain(self, value: Any) -> Any:
        """A value as JSON and CSV carry it."""
        if isinstance(value, datetime):
            return value.astimezone(self.zone).isoformat(timespec="seconds")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, Mapping):
            return {str(key): self.plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.plain(item) for item in value]
        return value

    def shown(self, value: Any) -> str:
        """A value as the table shows it: thousands separated, times in the shop's zone."""
        if value is None:
            return MISSING
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, datetime):
            return value.astimezone(self.zone).isoformat(sep=" ", timespec="seconds")
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    def _json_section(self, section: Section) -> Any:
        if isinstance(section, Facts):
            return {fact.key: self.plain(fact.value) for fact in section.facts}
        keys = section.data_keys()
        return [{key: self.plain(row.get(key)) for key in keys} for row in section.rows]

    def _csv(self, sections: Sequence[Section]) -> None:
        """One header row; with several sections a first `section` column tells them apart."""
        keys: list[str] = []
        records: list[dict[str, Any]] = []
        for section in sections:
            if isinstance(section, Facts):
                wanted = ["figure", "value"]
                found = [{"figure": f.key, "value": f.value} for f in section.facts]
            else:
                wanted = section.data_keys()
                found = [{key: row.get(key) for key in wanted} for row in section.rows]
            keys.extend(key for key in wanted if key not in keys)
            records.extend({"section": section.name, **record} for record in found)
        if len(sections) > 1:
            keys.insert(0, "section")
        writer = csv.DictWriter(
            self._out(), fieldnames=keys, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for record in records:
            writer.writerow({key: self._csv_cell(record.get(key)) for key in keys})

    def _csv_cell(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)  # as written: 70.00, not 70.0
        plain = self.plain(value)
        if isinstance(plain, dict | list):
            return json.dumps(plain, ensure_ascii=False)
        if isinstance(plain, bool):
            return "true" if plain else "false"
        return "" if plain is None else plain

    def _table(self, section: Section) -> None:
        if isinstance(section, Rows) and not section.rows:
            self.note(section.empty)
            return
        if isinstance(section, Facts):
            self._print_whole(self._facts_table(section))
        else:
            self._print_whole(self._rows_table(section))

    def _rows_table(self, section: Rows) -> Table:
        table = Table(title=section.title, title_justify="left", box=box.SIMPLE_HEAD)
        shown = [column for column in section.columns if column.table]
        for column in shown:
            table.add_column(
                column.header or column.key,
                justify="right" if column.right else "left",
                no_wrap=not column.wrap,
            )
        for row in section.rows:
            strong = section.emphasis is not None and section.emphasis(row)
            table.add_row(
                *(Text(self._cell(column.show, row.get(column.key))) for column in shown),
                style="bold" if strong else None,
                end_section=strong,
            )
        return table

    def _facts_table(self, section: Facts) -> Table:
        table = Table(title=section.title, title_justify="left", show_header=False)
        table.add_column("what", no_wrap=True)
        table.add_column("figure", justify="right", no_wrap=True)
        for fact in section.facts:
            table.add_row(
                Text("  " * fact.indent + fact.label), Text(self._cell(fact.show, fact.value))
            )
        return table

    def _cell(self, show: Callable[[Any], str] | None, value: Any) -> str:
        if show is None or value is None:
            return self.shown(value)
        return show(value.astimezone(self.zone) if isinstance(value, datetime) else value)

    def _print_whole(self, renderable: RenderableType) -> None:
        console = self._console()
        if not console.is_terminal:
            # No window to fit: as wide as the table needs, so nothing is cut or wrapped.
            measured = Measurement.get(console, console.options.update_width(10**6), renderable)
            console = self._console(width=max(measured.maximum, 20))
        console.print(renderable)

    def _console(self, width: int | None = None) -> Console:
        return Console(file=self._out(), width=width, highlight=False)

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout
