"""`mailengine validate` finds what would fail when mail is sent, at its `file:line:col`.

Checked against the render context's schema (names, fields, filters, tests, values some
customers lack), MRML's components, and by rendering each send step for real customers of
the database and the built-in sample customers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailengine.cli.workflow_commands import validate
from mailengine.store.database import Database
from mailengine.store.enrollments import enrollment_table
from mailengine.store.outbox import outbox_table
from tests.workflows.conftest import SHIPPED_OK, invoke, populate


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def with_database(project: Path) -> Database:
    database = Database(f"sqlite:///{project / 'var' / 'test.db'}")
    database.upgrade()
    populate(database)
    return database


def test_what_passed_before_and_fails_at_send_time_is_reported_where_it_is(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    workflows, templates = project / "workflows", project / "templates"
    edit(workflows / "vip.yaml", "{{ customer.first_name | default('Hello') }}",
         "{{ custmer.first_name | default('Hello') }}")  # fmt: skip
    edit(workflows / "vip.yaml", "Early access", "{{ sender.name | nosuchfilter }}: early access")
    guarded = "{% if customer.first_name %}{{ customer.first_name }}, we{% else %}We{% endif %}"
    edit(workflows / "win-back.yaml", guarded, "{{ customer.first_name }}, we")
    edit(templates / "win-back" / "we-miss-you.mjml", '{{ _("It has been a while.") }}',
         '{{ _("It has been a while.") }} {{ lastorder.external_id }}')  # fmt: skip
    edit(templates / "welcome" / "hello.mjml", "<mj-section", "<mj-sectoin")
    edit(templates / "welcome" / "hello.mjml", "</mj-section>", "</mj-sectoin>")
    code, output = invoke(project, validate, [])
    assert code == 1
    assert copy_lines(output) == [
        # churn-risk-win-back.yaml sends we-miss-you too, and comes first
        "templates/win-back/we-miss-you.mjml:11:174: unknown name 'lastorder' (did you mean "
        "'last_order'?); templates see: broadcast, coupon, customer, language, last_order, links, "
        "order, orders, polls, preheader, questionnaires, sender, subject, support, ticket",
        "workflows/vip.yaml:10:5: subject: unknown name 'custmer' (did you mean 'customer'?); "
        "templates see: broadcast, coupon, customer, language, last_order, links, order, orders, "
        "polls, preheader, questionnaires, sender, subject, support, ticket",
        "workflows/vip.yaml:11:5: preheader: unknown filter 'nosuchfilter'; filters: abs, "
        "asset_url, attr, batch, capitalize, center, count, d, date, datetime, default, "
        "dictsort, e, escape, filesizeformat, first, ...",
        "templates/welcome/hello.mjml:7:6: unknown MJML component <mj-sectoin> (did you mean "
        "<mj-section>?): MRML copies it into the HTML as it is, and what is inside loses its "
        "layout",
        "workflows/win-back.yaml:14:5: subject: customer.first_name is missing for customers "
        "whose data has no first name: give a fallback such as "
        "{{ customer.first_name | default('...') }} or test it first with "
        "{% if customer.first_name %}",
        "5 problem(s) in 4 file(s); 8 workflow(s) loaded",
    ]


def test_a_workflow_guarantees_what_its_audience_and_trigger_select(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """win-back's audience has orders, birthday's trigger a birthday; welcome has neither,
    and a step without a coupon has no `coupon`."""
    monkeypatch.chdir(project)
    templates = project / "templates"
    unguarded = "{{ last_order.placed_at | date }} {{ customer.birthday | date }}"
    for name in ("win-back/coupon", "birthday/happy-birthday", "welcome/our-favourites"):
        edit(templates / f"{name}.mjml", "</mj-text>", f" {unguarded}</mj-text>")
    edit(templates / "welcome" / "hello.mjml", "</mj-text>", " {{ coupon.code }}</mj-text>")
    code, output = invoke(project, validate, ["--no-render"])
    assert code == 1
    lines = copy_lines(output)
    assert lines[-1] == "5 problem(s) in 4 file(s); 8 workflow(s) loaded"
    assert lines[:-1] == [
        "templates/birthday/happy-birthday.mjml:10:193: last_order is None for customers "
        "without orders: test it first with {% if last_order %}",
        # from churn-risk-win-back.yaml, which sends win-back/coupon too, and comes second
        "templates/win-back/coupon.mjml:9:245: customer.birthday is missing for customers "
        "whose data has no birthday: give a fallback such as "
        "{{ customer.birthday | default('...') }} or test it first with "
        "{% if customer.birthday %}",
        "templates/welcome/hello.mjml:9:186: coupon is None in a step that gives no coupon: "
        "test it first with {% if coupon %}",
        "templates/welcome/our-favourites.mjml:9:185: last_order is None for customers without "
        "orders: test it first with {% if last_order %}",
        "templates/welcome/our-favourites.mjml:9:228: customer.birthday is missing for "
        "customers whose data has no birthday: give a fallback such as "
        "{{ customer.birthday | default('...') }} or test it first with "
        "{% if customer.birthday %}",
    ]


def test_each_send_step_is_rendered_for_real_customers_and_the_sample_data(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes are text for some customers and numbers for others: only rendering finds that
    `shoe_size + 1` fails, for whom, where. Nothing is written to the database."""
    monkeypatch.chdir(project)
    database = with_database(project)
    edit(
        project / "templates" / "vip" / "welcome-to-vip.mjml",
        '{{ _("Hems, sleeves and waists adjusted for free by post.") }}',
        '{{ _("Hems, sleeves and waists adjusted for free by post.") }}'
        "{% if customer.attributes.shoe_size %} (shoes in size "
        "{{ customer.attributes.shoe_size + 1 }}){% endif %}",
    )
    started = time.process_time()
    code, output = invoke(project, validate, [])
    spent = time.process_time() - started
    assert code == 1
    lines = copy_lines(output)
    assert lines[0].startswith("workflows/vip.yaml:9:5: send 1 (vip/welcome-to-vip) fails for ")
    real = [line for line in lines[1:-1] if "@example.org" in line]
    assert real, output
    customer = real[0].split(":", 1)[0].strip()
    assert customer.startswith("person")
    assert (
        f"{customer}: templates/vip/welcome-to-vip.mjml:22:279: TypeError: can only concatenate "
        f'str (not "int") to str in the html part of vip/welcome-to-vip for customer {customer}'
    ) in real[0]
    assert lines[-1] == "1 problem(s) in 1 file(s); 8 workflow(s) loaded"
    assert spent < 8, f"validate took {spent:.1f} s of CPU"
    with database.session() as session:
        for table in (enrollment_table, outbox_table):
            assert session.execute(select(func.count()).select_from(table)).scalar_one() == 0
    database.dispose()


def test_the_shipped_workflows_render_for_every_sampled_customer(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with_database(project).dispose()
    started = time.monotonic()
    code, output = invoke(project, validate, [])
    assert code == 0, output
    first, rendered = copy_lines(output)
    assert first == SHIPPED_OK
    assert rendered.startswith("rendered 14 send step(s) ")
    assert rendered.endswith(
        "up to 20 customers of each audience in the database and 20 built-in sample customers"
    )
    assert time.monotonic() - started < 30  # a loaded 2-core machine; ~2 s of CPU alone


def copy_lines(output: str) -> list[str]:
    """The output without the warnings about copy (untranslated edits: see
    test_translation_warnings)."""
    return [
        line
        for line in output.splitlines()
        if ": warning: " not in line and "(they do not stop sending)" not in line
    ]
