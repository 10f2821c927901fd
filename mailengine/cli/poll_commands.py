"""`mailengine polls report NAME`: a poll's Net Promoter Score over time and per product
category, as a table, CSV or JSON. The figures come from `store.polls.poll_report`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from mailengine.cli.context import CliContext, pass_context
from mailengine.cli.tables import (
    Column,
    Fact,
    Facts,
    OutputFormat,
    Rows,
    TablePrinter,
    format_option,
)
from mailengine.errors import MailengineError
from mailengine.polls.loader import load_polls
from mailengine.polls.nps import NpsFigure, Period
from mailengine.store.polls import poll_report

FIGURE_COLUMNS = (
    Column("label", "Period"),
    Column("answers", "Answers", right=True),
    Column("promoters", "Promoters (9-10)", right=True),
    Column("passives", "Passives (7-8)", right=True),
    Column("detractors", "Detractors (0-6)", right=True),
    Column("nps", "NPS", right=True, show=lambda value: "–" if value is None else f"{value:+d}"),
)


@click.group("polls")
def polls() -> None:
    """Polls asked in mail (polls/NAME.yaml): their answers as figures."""


@polls.command("report")
@click.argument("name")
@click.option("--days", type=click.IntRange(1, 3660), default=365, show_default=True,
              help="How far back: answers of the last DAYS days.")  # fmt: skip
@click.option("--by", "period", type=click.Choice(["week", "month"]), default="month",
              show_default=True, help="One row per week (from Monday) or per month.")  # fmt: skip
@format_option
@pass_context
def report(
    state: CliContext, name: str, days: int, period: Period, output_format: OutputFormat
) -> None:
    """The Net Promoter Score of poll NAME (% answering 9-10 minus % answering 0-6) over
    time and per product category of the order each mail asked about."""
    settings = state.settings
    known = load_polls([settings.paths.polls]).polls
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise MailengineError(f"no poll named '{name}' in {settings.paths.polls} (known: {names})")
    until = state.clock.now()
    since = until - timedelta(days=days)
    with state.ready_database().session() as session:
        found = poll_report(session, name, since, until, period, settings.zone)
    printer = TablePrinter(output_format, settings.zone)
    total = found.total
    printer.note(f"{name}: {total.answers} scored answers in the last {days} days")
    category_columns = (Column("label", "Category"), *FIGURE_COLUMNS[1:])
    printer.print(
        Facts(
            "total",
            [
                Fact("answers", "Answers", total.answers),
                Fact("nps", "NPS", total.score, show=FIGURE_COLUMNS[-1].show),
            ],
            title="All answers",
        ),
        Rows("periods", FIGURE_COLUMNS, [_row(row) for row in found.periods], title=f"By {period}"),
        Rows(
            "categories",
            category_columns,
            [_row(row) for row in found.categories],
            title="By product category",
            empty="no answers",
        ),
        meta={"poll": name, "since": since, "until": until, "by": period},
    )


def _row(figure: NpsFigure) -> dict[str, Any]:
    return {
        "label": figure.label,
        "answers": figure.answers,
        "promoters": figure.promoters,
        "passives": figure.passives,
        "detractors": figure.detractors,
        "nps": figure.score,
    }
