"""Coupons at the till: look a code up, and redeem it once, online or in store."""

from __future__ import annotations

import click

from mailengine.cli.context import CliContext, pass_context
from mailengine.errors import MailengineError
from mailengine.store.coupons import find_coupon, redeem


@click.group()
def coupon() -> None:
    """Look up and redeem the personal coupon codes mails carry."""


@coupon.command("show")
@click.argument("code")
@pass_context
def coupon_show(state: CliContext, code: str) -> None:
    """Is CODE valid: its value, expiry, and whether it was used."""
    database = state.ready_database()
    with database.session() as session:
        found = find_coupon(session, code)
    if found is None:
        raise MailengineError(f"no coupon has the code {code.strip().upper()}")
    zone = state.settings.zone
    value = (
        f"{found.percent} % off"
        if found.percent is not None
        else (f"{(found.amount_minor or 0) / 100:.2f} {found.currency} off")
    )
    used = (
        f"used on {found.redeemed_at.astimezone(zone):%Y-%m-%d %H:%M}"
        if found.redeemed_at
        else "not used"
    )
    expired = found.expires_at <= state.clock.now()
    click.echo(
        f"{found.code}: {value}, valid until {found.expires_at.astimezone(zone):%Y-%m-%d %H:%M}"
        f"{' (expired)' if expired else ''}, {used}"
    )


@coupon.command("redeem")
@click.argument("code")
@click.option("--order", required=True, help="The order (or receipt) number it was used on.")
@click.option("--channel", type=click.Choice(["online", "store"]), default="store")
@pass_context
def coupon_redeem(state: CliContext, code: str, order: str, channel: str) -> None:
    """Use CODE once; refused when it was used before or has expired."""
    database = state.ready_database()
    with database.transaction() as session:
        accepted, reason = redeem(session, code, order, channel, state.clock.now())
    if not accepted:
        raise MailengineError(f"coupon {code.strip().upper()} refused: {reason}")
    click.echo(f"coupon {code.strip().upper()} redeemed on {order} ({channel})")
