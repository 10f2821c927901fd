"""`mailengine dkim`: the DNS TXT record to publish for the configured DKIM key, and whether
the record published now matches it (exit 1 when it is missing or another key)."""

from __future__ import annotations

import click

from mailengine.cli.context import CliContext, pass_context
from mailengine.engine.dispatch_processes import configured_dkim_signer
from mailengine.outbound import check_published, zone_entry


def _nameserver(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "53")
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise click.BadParameter(f"{value!r} is not HOST or HOST:PORT", param_hint="--nameserver")
    return host, int(port)


@click.command("dkim")
@click.option("--no-check", is_flag=True, help="Print the record only; do not ask DNS.")
@click.option(
    "--nameserver",
    metavar="HOST[:PORT]",
    help="Ask this DNS server instead of the system's resolver.",
)
@pass_context
def dkim_command(context: CliContext, no_check: bool, nameserver: str | None) -> None:
    """Print the DNS TXT record for the DKIM key and check the published one."""
    settings = context.settings
    signer = configured_dkim_signer(settings)
    state = "on" if settings.dkim.enabled else "off (dkim.enabled: false)"
    click.echo(
        f"DKIM key for {signer.domain}, selector {signer.selector} ({signer.algorithm}); "
        f"signing is {state}."
    )
    click.echo("Publish this TXT record in the domain's DNS zone:\n")
    click.echo(zone_entry(signer))
    click.echo(f"\nname:  {signer.selector}._domainkey.{signer.domain}")
    click.echo(f"value: {signer.dns_record()}\n")
    if no_check:
        click.echo("published: not checked (--no-check)")
        return
    checked = check_published(signer, _nameserver(nameserver))
    click.echo(f"published: {checked.state}: {checked.detail}")
    if checked.state in ("missing", "differs"):
        raise click.exceptions.Exit(1)
