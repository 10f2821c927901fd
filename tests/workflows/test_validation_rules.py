"""One broken workflow file per rule of validation: the exact `file:line:col: message`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailengine.workflows.loader import load_workflows
from mailengine.workflows.validation import validate_workflows
from tests.workflows.conftest import WriteWorkflow

GOOD_TEMPLATE = (
    "<mjml><mj-body><mj-section><mj-column>"
    "<mj-text>Hello {{ customer.first_name | default('there') }}</mj-text>"
    "</mj-column></mj-section></mj-body></mjml>\n"
)
HEAD = 'name: win-back\ntrigger:\n  schedule: "0 9 * * *"\n'
SEND = "  - send: win-back/coupon\n    subject: Hi\n"


def problems(tmp_path: Path) -> list[str]:
    """Every problem of the files in tmp_path/workflows, shown relative to tmp_path."""
    result = load_workflows([tmp_path / "workflows"], tmp_path)
    return [str(problem) for problem in result.problems]


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    (folder / "win-back").mkdir(parents=True)
    (folder / "win-back" / "coupon.mjml").write_text(GOOD_TEMPLATE, encoding="utf-8")
    return folder


def test_unknown_top_level_key_suggests_the_right_one(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    write_workflow("w.yaml", HEAD + "stpes:\n" + SEND)
    assert (
        problems(tmp_path)
        == [
            "workflows/w.yaml:4:1: unknown key 'stpes' in a workflow (did you mean 'steps'?); "
            "allowed: name, description, transactional, trigger, audience, exit_when, reenter, "
            "holdout, tracking, steps, public",
            "workflows/w.yaml:1:1: missing 'steps': every workflow needs name, trigger and steps",
        ][::-1]
    )


def test_unknown_key_in_a_step(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "steps:\n" + SEND + "    preheadr: Hello\n")
    assert problems(tmp_path) == [
        "workflows/w.yaml:7:5: unknown key 'preheadr' in a send step "
        "(did you mean 'preheader'?); allowed: send, subject, preheader, coupon, at"
    ]


def test_unknown_step_kind(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "steps:\n  - sned: win-back/coupon\n")
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:5: unknown key 'sned' in a step (did you mean 'send'?); "
        "allowed: send, wait, if, exit"
    ]


def test_bad_duration(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "steps:\n" + SEND + "  - wait: 7 dayz\n")
    assert problems(tmp_path) == [
        "workflows/w.yaml:7:5: '7 dayz': unknown unit 'dayz': write a whole number and a unit: "
        "minutes, hours, days or weeks (e.g. '3 days')"
    ]


def test_months_are_refused_as_ambiguous(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "reenter: after 6 months\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:4:1: '6 months': months and years differ in length, write days "
        "instead (e.g. '180 days')"
    ]


def test_unquoted_time_of_day_read_as_a_number(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    write_workflow("w.yaml", HEAD + "steps:\n" + SEND + "  - wait: {until: 9:30}\n")
    assert problems(tmp_path) == [
        'workflows/w.yaml:7:12: write the time in quotes, e.g. "09:00" '
        "(unquoted, YAML reads a number)"
    ]


def test_bad_cron_expression(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", 'name: w\ntrigger:\n  schedule: "0 25 * * *"\nsteps:\n' + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:3:3: invalid cron expression '0 25 * * *': '25' is not an hour "
        "(0-23) (minute hour day month weekday)"
    ]


def test_unknown_field_in_a_condition(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow(
        "w.yaml", HEAD + "audience:\n  all:\n    - orders_cnt: {gte: 1}\nsteps:\n" + SEND
    )
    assert problems(tmp_path) == [
        "workflows/w.yaml:6:7: unknown field 'orders_cnt' in condition (did you mean "
        "'orders_count'?); fields: email, first_name, last_name, locale, timezone, zip, city, "
        "country, consent, birthday, created_at, orders_count, total_spent, spent_365d, "
        "first_order_at, last_order_at, days_since_last_order, p_active, churn_risk, "
        "expected_orders_90d, predicted_value_365d, predicted_next_order_at, best_send_hour, "
        "attributes.<name>, polls.<name>, top, rfm, rfm_segment, spent, orders, all, any, not"
    ]


def test_unknown_operator(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow(
        "w.yaml", HEAD + "audience:\n  last_order_at: {bfore: 90 days ago}\nsteps:\n" + SEND
    )
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:19: unknown operator 'bfore' (did you mean 'before'?); "
        "operators for timestamp fields: before, after, within, is_set"
    ]


def test_operator_that_does_not_fit_the_field(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    write_workflow("w.yaml", HEAD + "audience:\n  city: {gte: Berlin}\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:10: 'city' cannot use 'gte'; operators for text fields: "
        "eq, ne, in, not_in, starts_with, is_set"
    ]


def test_wrong_value_type(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "audience:\n  orders_count: {gte: many}\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:18: orders_count gte: expected a whole number, got 'many'"
    ]


def test_unknown_choice_of_a_field(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "audience:\n  consent: grantd\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:3: consent eq: 'grantd' is not one of granted, withdrawn, pending, "
        "unknown (did you mean 'granted'?)"
    ]


def test_unknown_rfm_segment(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "audience:\n  rfm_segment: champs\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:3: rfm_segment: unknown segment 'champs' (did you mean "
        "'champions'?); segments: champions, loyal, potential-loyalists, new-customers, "
        "promising, need-attention, about-to-sleep, at-risk, cannot-lose, hibernating"
    ]


def test_missing_template(tmp_path: Path, write_workflow: WriteWorkflow, templates: Path) -> None:
    write_workflow(
        "w.yaml", HEAD + "steps:\n" + SEND + "  - send: win-back/lost\n    subject: Hi\n"
    )
    result = validate_workflows([tmp_path / "workflows"], templates, tmp_path)
    assert [str(problem) for problem in result.problems] == [
        "workflows/w.yaml:7:5: template 'win-back/lost' not found: "
        "expected templates/win-back/lost.mjml"
    ]


def test_broken_subject_template(
    tmp_path: Path, write_workflow: WriteWorkflow, templates: Path
) -> None:
    write_workflow(
        "w.yaml",
        HEAD + 'steps:\n  - send: win-back/coupon\n    subject: "{{ customer.first_name"\n',
    )
    result = validate_workflows([tmp_path / "workflows"], templates, tmp_path)
    assert [str(problem) for problem in result.problems] == [
        "workflows/w.yaml:6:5: subject: Jinja syntax error: unexpected end of template, "
        "expected 'end of print statement'."
    ]


def test_steps_after_an_exit(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "steps:\n  - exit\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:6:5: this step comes after an exit and is never reached: remove it"
    ]


def test_steps_after_a_branch_whose_arms_both_exit(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    branch = "  - if: {orders_count: 0}\n    then: [exit]\n    else: [exit]\n"
    write_workflow("w.yaml", HEAD + "steps:\n" + branch + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:8:5: this step comes after an exit and is never reached: remove it"
    ]


def test_empty_steps(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "steps: []\n")
    assert problems(tmp_path) == [
        "workflows/w.yaml:4:1: expected a non-empty list of steps (send, wait, if, exit)"
    ]


def test_empty_branch_arm(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "steps:\n  - if: {orders_count: 0}\n    then: []\n")
    assert problems(tmp_path) == [
        "workflows/w.yaml:6:5: expected a non-empty list of steps (send, wait, if, exit)"
    ]


def test_duplicate_names_across_files(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("a.yaml", HEAD + "steps:\n" + SEND)
    write_workflow("b.yaml", "description: again\n" + HEAD + "steps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/b.yaml:2:1: the name 'win-back' is already used by workflows/a.yaml "
        "(line 1): workflow names must be unique"
    ]


def test_duplicate_keys_in_one_file(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", HEAD + "name: again\nsteps:\n" + SEND)
    assert problems(tmp_path) == ["workflows/w.yaml:4:1: duplicate key 'name'"]


def test_invalid_yaml(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", "name: w\ntrigger: [\n")
    assert problems(tmp_path) == [
        "workflows/w.yaml:3:1: invalid YAML: expected the node content, but found '<stream end>'"
    ]


def test_yaml_tags_are_not_constructed(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", "name: !!python/object/apply:os.system [echo hi]\n")
    [problem] = problems(tmp_path)
    assert problem.startswith("workflows/w.yaml:1:7: unsupported YAML tag")


def test_coupon_with_both_percent_and_amount(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    coupon = "    coupon: {percent: 10, amount: 5, valid_for: 14 days}\n"
    write_workflow("w.yaml", HEAD + "steps:\n" + SEND + coupon)
    assert problems(tmp_path) == [
        "workflows/w.yaml:7:5: a coupon takes either percent or amount (not both)"
    ]


def test_transactional_workflow_must_be_event_triggered(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    write_workflow("w.yaml", HEAD + "transactional: true\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:4:1: a transactional workflow must be triggered by an event"
    ]


def test_bad_event_type(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow("w.yaml", "name: w\ntrigger: {event: Order Placed}\nsteps:\n" + SEND)
    assert problems(tmp_path) == [
        "workflows/w.yaml:2:11: an event type is dotted lower-case words, e.g. order.placed: "
        "'Order Placed'"
    ]


def test_every_problem_of_a_file_is_reported(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow(
        "w.yaml",
        HEAD
        + "audience:\n  orders_count: {gte: many}\nreenter: sometimes\nsteps:\n"
        + "  - wait: 3 dayz\n  - exit\n"
        + SEND,
    )
    assert problems(tmp_path) == [
        "workflows/w.yaml:5:18: orders_count gte: expected a whole number, got 'many'",
        "workflows/w.yaml:6:1: reenter is never, always or 'after N days', got 'sometimes'",
        "workflows/w.yaml:8:5: '3 dayz': unknown unit 'dayz': write a whole number and a unit: "
        "minutes, hours, days or weeks (e.g. '3 days')",
        "workflows/w.yaml:10:5: this step comes after an exit and is never reached: remove it",
    ]


def test_public_texts_are_checked_where_they_stand(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    steps = "steps:\n" + SEND
    write_workflow("a.yaml", HEAD + "public:\n  titel: We miss you\n" + steps)
    write_workflow("b.yaml", HEAD.replace("win-back", "b") + "public: We miss you\n" + steps)
    long_title = "A title far too long for the preferences page of any shop at all, really"
    write_workflow(
        "c.yaml",
        HEAD.replace("win-back", "c")
        + f"public:\n  title: {long_title}\n  blurb: [not, text]\n"
        + steps,
    )
    assert problems(tmp_path) == [
        "workflows/a.yaml:4:1: missing 'title': the name customers see on the preferences page",
        "workflows/a.yaml:5:3: unknown key 'titel' in public (did you mean 'title'?); "
        "allowed: title, blurb",
        "workflows/b.yaml:4:1: public is a mapping: title (required) and blurb, as customers "
        "read them",
        "workflows/c.yaml:5:3: title has 72 characters; at most 60 fit the page",
        "workflows/c.yaml:6:3: expected text, got ['not', 'text']",
    ]


def test_public_texts_reach_the_workflow(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    write_workflow(
        "w.yaml",
        HEAD
        + "description: The top 20 % by spend\n"
        + "public:\n  title: We miss you\n  blurb: >-\n    A note when we have not\n"
        + "    seen you for a while.\nsteps:\n"
        + SEND,
    )
    workflow = load_workflows([tmp_path / "workflows"], tmp_path).workflows["win-back"]
    assert workflow.public is not None
    assert (workflow.public.title, workflow.public.blurb) == (
        "We miss you",
        "A note when we have not seen you for a while.",
    )
