"""A step's subject and preheader written into its workflow file, the rest left as written."""

from __future__ import annotations

import pytest

from mailengine.studio.step_lines import StepLines, StepLinesError, step_key_path, with_step_lines

WORKFLOW = """\
name: spring   # the spring sale
trigger: {event: spring.started}
steps:
  - send: spring/hello
    subject: "Spring is here"   # keep it short
  - wait: 2 days
  - if: {orders_count: 0}
    then:
      - {send: spring/nudge, subject: 'Still thinking?'}
    else:
      - send: spring/thanks
        subject: Thanks
        preheader: For your order
"""


def test_step_ids_name_their_place_in_the_file() -> None:
    assert step_key_path("1") == ("steps", 0)
    assert step_key_path("3.else.1") == ("steps", 2, "else", 0)


def test_a_subject_changes_and_a_preheader_is_added_below_it() -> None:
    lines = StepLines("Spring is here, {{ customer.first_name | default('friend') }}", "New: linen")
    text, workflow = with_step_lines(WORKFLOW, "workflows/spring.yaml", "1", lines)
    assert text.splitlines()[3:6] == [
        "  - send: spring/hello",
        "    subject: \"Spring is here, {{ customer.first_name | default('friend') }}\""
        "   # keep it short",
        '    preheader: "New: linen"',
    ]
    step = workflow.sends()[0]
    assert (step.subject, step.preheader) == (lines.subject, lines.preheader)
    assert text.count("\n") == WORKFLOW.count("\n") + 1
    assert "# the spring sale" in text


def test_flow_style_steps_and_an_emptied_preheader() -> None:
    text, workflow = with_step_lines(
        WORKFLOW, "workflows/spring.yaml", "3.then.1", StepLines('Still "thinking"?', "Psst")
    )
    assert '- {send: spring/nudge, subject: "Still \\"thinking\\"?", preheader: "Psst"}' in text
    assert workflow.sends()[1].preheader == "Psst"
    text, workflow = with_step_lines(
        WORKFLOW, "workflows/spring.yaml", "3.else.1", StepLines("Thanks!", "")
    )
    assert '        subject: "Thanks!"\n        preheader: ""\n' in text
    assert workflow.sends()[2].preheader == ""


def test_what_cannot_be_written_is_refused_with_the_reason() -> None:
    with pytest.raises(StepLinesError, match="one line"):
        with_step_lines(WORKFLOW, "w.yaml", "1", StepLines("Two\nlines", ""))
    with pytest.raises(StepLinesError, match="needs a subject"):
        with_step_lines(WORKFLOW, "w.yaml", "1", StepLines("  ", ""))
    with pytest.raises(StepLinesError, match="no send step 9"):
        with_step_lines(WORKFLOW, "w.yaml", "9", StepLines("Hi", ""))
