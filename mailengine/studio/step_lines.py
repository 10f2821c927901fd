"""Change a send step's subject or preheader inside its workflow file, leaving the rest alone.

Subjects and preheaders live in `workflows/*.yaml` beside the step that sends the template.
The editor changes only the characters of those values (comments, key order and layout stay
as written), writes each as a double-quoted YAML string, and adds a missing preheader on
the line after the subject. The changed file must load as a workflow again, with the step
saying what was asked, or nothing is changed.

It may import `workflows` and the shared vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from mailengine.errors import MailengineError, SourceLocation
from mailengine.workflows.loader import parse_workflow
from mailengine.workflows.model import SendStep, Workflow
from mailengine.yamlsource import load_yaml_text


class StepLinesError(MailengineError, ValueError):
    """The subject or preheader cannot be written into the workflow file as asked."""


@dataclass(frozen=True)
class StepLines:
    subject: str
    preheader: str  # "" for none


def step_key_path(step_id: str) -> tuple[str | int, ...]:
    """`3.then.1` → ("steps", 2, "then", 0): where the step is in the file's data."""
    parts = step_id.split(".")
    path: list[str | int] = ["steps", int(parts[0]) - 1]
    for arm, position in zip(parts[1::2], parts[2::2], strict=True):
        path += [arm, int(position) - 1]
    return tuple(path)


def with_step_lines(text: str, shown: str, step_id: str, lines: StepLines) -> tuple[str, Workflow]:
    """The workflow file's text with the step's subject and preheader set, and the workflow
    it loads as; refused (naming `file:line:col`) when it would not load."""
    for part, value in (("subject", lines.subject), ("preheader", lines.preheader)):
        if "\n" in value or "\r" in value:
            raise StepLinesError(f"the {part} is one line; remove the line break")
    if not lines.subject.strip():
        raise StepLinesError("a send step needs a subject")
    mapping = _step_node(text, shown, step_id)
    values = {key.value: value for key, value in mapping.value if isinstance(key, yaml.ScalarNode)}
    edits: list[tuple[int, int, str]] = [_replace(values["subject"], lines.subject)]
    if "preheader" in values:
        edits.append(_replace(values["preheader"], lines.preheader))
    elif lines.preheader:
        edits.append(_insert_preheader(text, mapping, values["subject"], lines.preheader, shown))
    changed = text
    for start, end, new in sorted(edits, reverse=True):
        changed = changed[:start] + new + changed[end:]
    workflow, problems = parse_workflow(load_yaml_text(changed, shown))
    if workflow is None or problems:
        first = problems[0] if problems else None
        raise StepLinesError(
            f"the workflow would not load: {first.message if first else 'no workflow'}",
            location=first.location if first else SourceLocation(shown),
        )
    step = next((s for s in workflow.sends() if s.id == step_id), None)
    if step is None or (step.subject, step.preheader or "") != (lines.subject, lines.preheader):
        raise StepLinesError(f"step {step_id} of {shown} cannot be changed as asked")
    return changed, workflow


def step_lines_of(step: SendStep) -> StepLines:
    return StepLines(step.subject, step.preheader or "")


def _step_node(text: str, shown: str, step_id: str) -> yaml.MappingNode:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise StepLinesError(f"{shown} is not valid YAML: {exc}") from None
    for key in step_key_path(step_id):
        node = _child(node, key)
        if node is None:
            break
    if not isinstance(node, yaml.MappingNode):
        raise StepLinesError(f"{shown} has no send step {step_id}; reload the page")
    return node


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(key, int):
        if isinstance(node, yaml.SequenceNode) and 0 <= key < len(node.value):
            child: yaml.Node = node.value[key]
            return child
        return None
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    return None


def _replace(value: yaml.Node, new: str) -> tuple[int, int, str]:
    start, end = value.start_mark.index, value.end_mark.index
    if isinstance(value, yaml.ScalarNode) and value.style in ("|", ">"):
        raise StepLinesError(
            f"the value at line {value.start_mark.line + 1} is a block of lines; "
            "write it on one line in the file first"
        )
    return start, end, json.dumps(new, ensure_ascii=False)


def _insert_preheader(
    text: str, mapping: yaml.MappingNode, subject: yaml.Node, preheader: str, shown: str
) -> tuple[int, int, str]:
    quoted = json.dumps(preheader, ensure_ascii=False)
    at = subject.end_mark.index
    if mapping.flow_style:
        return at, at, f", preheader: {quoted}"
    subject_key = next(key for key, value in mapping.value if value is subject)
    line_end = text.find("\n", at)
    if line_end == -1:
        line_end = len(text)
    if text[at:line_end].strip() and not text[at:line_end].strip().startswith("#"):
        raise StepLinesError(f"add the preheader by hand in {shown}: the subject line goes on")
    indent = " " * subject_key.start_mark.column
    return line_end, line_end, f"\n{indent}preheader: {quoted}"
