"""The five workflows in workflows/ validate with their templates and read as intended."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest

from mailengine.workflows.loader import load_workflows
from mailengine.workflows.model import (
    AllOf,
    BranchStep,
    Comparison,
    EventTrigger,
    RelativeMoment,
    ScheduleTrigger,
    SendStep,
    TopPercent,
    WaitStep,
    Workflow,
    YearlyTrigger,
)
from mailengine.workflows.validation import validate_workflows
from tests.workflows.conftest import REPO, SHIPPED


@pytest.fixture(scope="module")
def shipped() -> dict[str, Workflow]:
    result = load_workflows([REPO / "workflows"], REPO)
    assert [str(problem) for problem in result.problems] == []
    return result.workflows


def test_shipped_workflows_and_their_templates_validate() -> None:
    result = validate_workflows([REPO / "workflows"], REPO / "templates", REPO)
    assert [str(problem) for problem in result.problems] == []
    assert sorted(result.workflows) == list(SHIPPED)


def test_win_back_reads_as_the_issue_wrote_it(shipped: dict[str, Workflow]) -> None:
    workflow = shipped["win-back"]
    assert workflow.trigger == ScheduleTrigger("0 9 * * *")
    assert workflow.reenter.policy == "after"
    assert workflow.reenter.after == timedelta(days=180)
    assert [goal.event for goal in workflow.exit_when] == ["order.placed"]
    assert [step.id for step in workflow.steps] == ["1", "2", "3"]
    coupon_step = workflow.step("3")
    assert isinstance(coupon_step, SendStep)
    assert coupon_step.template == "win-back/coupon"
    assert coupon_step.coupon is not None
    assert (coupon_step.coupon.percent, coupon_step.coupon.valid_for) == (50, timedelta(days=14))
    assert workflow.path == "workflows/win-back.yaml"
    assert coupon_step.location.line == 17


def test_welcome_series_branches_on_no_order_yet(shipped: dict[str, Workflow]) -> None:
    workflow = shipped["welcome"]
    assert workflow.trigger == EventTrigger("customer.created")
    wait = workflow.step("4")
    assert isinstance(wait, WaitStep)
    assert (wait.duration, wait.until) == (timedelta(days=4), time(10, 0))
    branch = workflow.step("5")
    assert isinstance(branch, BranchStep)
    assert branch.condition == Comparison("orders_count", "eq", 0)
    assert [step.id for step in branch.then] == ["5.then.1"]
    assert workflow.templates() == [
        "welcome/hello",
        "welcome/our-favourites",
        "welcome/first-order-coupon",
    ]
    assert workflow.next_step_id("1") == "2"
    assert workflow.next_step_id("5.then.1") is None


def test_thank_you_is_transactional_and_enrolls_every_order(
    shipped: dict[str, Workflow],
) -> None:
    workflow = shipped["thank-you"]
    assert workflow.transactional
    assert workflow.trigger == EventTrigger("order.placed")
    assert workflow.reenter.policy == "always"
    assert workflow.templates() == [
        "thank-you/order-confirmed",
        "thank-you/how-is-it",
        "thank-you/how-likely",
    ]


def test_vip_is_the_top_fifth_by_spend_weekly(shipped: dict[str, Workflow]) -> None:
    workflow = shipped["vip"]
    assert workflow.audience == TopPercent(20, "spent_365d")
    assert isinstance(workflow.trigger, ScheduleTrigger)
    assert workflow.reenter.after == timedelta(days=365)


def test_birthday_is_yearly_with_a_coupon(shipped: dict[str, Workflow]) -> None:
    workflow = shipped["birthday"]
    assert workflow.trigger == YearlyTrigger("birthday", time(9, 0))
    step = workflow.step("1")
    assert isinstance(step, SendStep)
    assert step.coupon is not None
    assert step.coupon.percent == 15
    assert step.coupon.amount is None


def test_version_ignores_comments_and_changes_with_content(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("versions")
    original = (REPO / "workflows" / "win-back.yaml").read_text(encoding="utf-8")
    (folder / "a.yaml").write_text(original, encoding="utf-8")
    (folder / "b.yaml").write_text(
        "# a comment\n" + original.replace("name: win-back", "name: win-back-b"), encoding="utf-8"
    )
    (folder / "c.yaml").write_text(
        original.replace("name: win-back", "name: win-back-b").replace(
            "# cron, in the configured timezone", ""
        ),
        encoding="utf-8",
    )
    (folder / "d.yaml").write_text(
        original.replace("name: win-back", "name: win-back-d").replace("50", "40"),
        encoding="utf-8",
    )
    found = {path.name: load_workflows([path]).workflows for path in folder.iterdir()}
    versions = {name: next(iter(loaded.values())).version for name, loaded in found.items()}
    assert versions["b.yaml"] == versions["c.yaml"]
    assert len({versions["a.yaml"], versions["b.yaml"], versions["d.yaml"]}) == 3


def test_coupon_amounts_are_exact(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("amount")
    (folder / "w.yaml").write_text(
        "name: w\ntrigger: {event: a.b}\nsteps:\n  - send: win-back/coupon\n    subject: Hi\n"
        "    coupon: {amount: 7.10, valid_for: 2 weeks}\n",
        encoding="utf-8",
    )
    step = load_workflows([folder]).workflows["w"].step("1")
    assert isinstance(step, SendStep)
    assert step.coupon is not None
    assert (step.coupon.amount, step.coupon.valid_for) == (Decimal("7.10"), timedelta(days=14))


def test_replenish_reminds_before_the_predicted_next_order(shipped: dict[str, Workflow]) -> None:
    workflow = shipped["replenish"]
    assert workflow.trigger == ScheduleTrigger("0 8 * * *")
    assert workflow.audience == AllOf(
        (
            Comparison("orders_count", "gte", 1),
            Comparison("predicted_next_order_at", "within", timedelta(days=3)),
        )
    )
    assert [goal.event for goal in workflow.exit_when] == ["order.placed"]
    assert (workflow.reenter.policy, workflow.reenter.after) == ("after", timedelta(days=30))
    step = workflow.step("1")
    assert isinstance(step, SendStep)
    assert (step.template, step.at) == ("replenish/time-to-restock", "best_hour")


def test_churn_risk_win_back_follows_the_prediction_not_a_fixed_wait(
    shipped: dict[str, Workflow],
) -> None:
    workflow = shipped["churn-risk-win-back"]
    assert workflow.trigger == ScheduleTrigger("0 9 * * *")
    assert workflow.audience == AllOf(
        (Comparison("churn_risk", "gte", Decimal("0.6")), Comparison("orders_count", "gte", 2))
    )
    assert workflow.templates() == ["win-back/we-miss-you", "win-back/coupon"]
    assert [step.at for step in workflow.sends()] == ["best_hour", "best_hour"]
    assert (workflow.reenter.policy, workflow.reenter.after) == ("after", timedelta(days=180))
    # the fixed 90-day win-back stays beside it, as the example without predictions
    assert shipped["win-back"].audience == AllOf(
        (
            Comparison("orders_count", "gte", 1),
            Comparison("last_order_at", "before", RelativeMoment(timedelta(days=-90))),
        )
    )
