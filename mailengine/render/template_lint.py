"""Check a Jinja template against what templates can see, before any customer meets it.

Walks Jinja's syntax tree (names, attributes and keys, filters, tests, loops, `if`s) with the
context's schema (`render.schema`) and reports what will fail when mail is sent: a name that
does not exist (`custmer`), a field no context has (`lastorder`, `customer.frist_name`), an
unknown filter or test, and a value some customers lack used without a fallback or a test
(`{{ customer.first_name }}` fails for everyone without a first name). `present` names the
values the workflow guarantees (its audience wants `orders_count >= 1`: `last_order` is set).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from jinja2 import Environment, TemplateSyntaxError, nodes

from mailengine.render.lint_guards import NOTHING, Paths, falsy, path_of, truthy, with_prefixes
from mailengine.render.schema import (
    ANYTHING,
    FreeMapping,
    ListOf,
    NamedByFiles,
    Record,
    Shape,
    context_schema,
)

# Parses only (the sandbox's own parse rewrites loops and `~`); knows `_()` and `{% trans %}`.
_PARSER = Environment(extensions=["jinja2.ext.i18n"])
_PARSER.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})
_KEEPS_LIST = frozenset(
    {"sort", "reverse", "list", "unique", "select", "reject", "selectattr", "rejectattr"}
)
_FALLBACK_FILTERS = frozenset({"default", "d"})
_LENIENT_COMPARISONS = frozenset({"eq", "ne"})
# Why a section may be None, by its top-level name.
_NONE_WHEN = {
    "last_order": "for customers without orders",
    "order": "in mail that is not about one order",
    "coupon": "in a step that gives no coupon",
    "ticket": "in mail that is not about a support ticket",
    "broadcast": "in mail that is not part of a broadcast",
    "predictions": "for customers not predicted yet",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at `line` of the checked source; `token` is the text to point at."""

    line: int
    token: str
    message: str


@dataclass(frozen=True, slots=True)
class Value:
    shape: Shape
    path: str | None = None
    absent: str | None = None  # why some customers lack it, when they may


@dataclass
class _Scope:
    names: dict[str, Value] = field(default_factory=dict)
    parent: _Scope | None = None

    def find(self, name: str) -> Value | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None


def lint(
    source: str, filters: Iterable[str], tests: Iterable[str], present: Paths = NOTHING
) -> list[Finding]:
    """Every problem of `source` (a template, a subject); a syntax error is the only one."""
    try:
        tree = _PARSER.parse(source)
    except TemplateSyntaxError as exc:
        return [Finding(exc.lineno, "", f"Jinja syntax error: {exc.message}")]
    checker = _Checker(frozenset(filters), frozenset(tests), _assigned_names(tree))
    guaranteed = frozenset(path for given in present for path in with_prefixes(given))
    checker.statements(tree.body, _Scope(), guaranteed)
    return checker.findings


def _assigned_names(tree: nodes.Template) -> frozenset[str]:
    """Every name the template binds anywhere (set, for, macro, with, import)."""
    names: set[str] = {"loop", "caller", "varargs", "kwargs"}
    for node in tree.find_all(nodes.Name):
        if node.ctx in ("store", "param"):
            names.add(node.name)
    for macro in tree.find_all(nodes.Macro):
        names.add(macro.name)
    return frozenset(names)


class _Checker:
    def __init__(self, filters: frozenset[str], tests: frozenset[str], assigned: frozenset[str]):
        self.filters = filters
        self.tests = tests
        self.assigned = assigned
        self.schema = context_schema()
        self.globals = frozenset(_PARSER.globals)
        self.findings: list[Finding] = []
        self._seen: set[tuple[int, str]] = set()

    def report(self, node: nodes.Node, token: str, message: str) -> None:
        key = (node.lineno, message)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding(node.lineno, token, message))

    # --- statements ------------------------------------------------------------------------

    def statements(self, body: Iterable[nodes.Node], scope: _Scope, guards: Paths) -> None:
        for node in body:
            self.statement(node, scope, guards)

    def statement(self, node: nodes.Node, scope: _Scope, guards: Paths) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.use(child, scope, guards, lenient=False)
        elif isinstance(node, nodes.If):
            self._if(node, scope, guards)
        elif isinstance(node, nodes.For):
            self._for(node, scope, guards)
        elif isinstance(node, nodes.Assign):
            value = self.use(node.node, scope, guards, lenient=True)
            self.bind(node.target, scope, value)
        elif isinstance(node, nodes.AssignBlock):
            self.statements(node.body, _Scope(parent=scope), guards)
            self._filter_name(node.filter)
            self.bind(node.target, scope, Value(ANYTHING))
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            self._callable(node, scope, guards)
        elif isinstance(node, nodes.With):
            inner = _Scope(parent=scope)
            for target, given in zip(node.targets, node.values, strict=False):
                self.bind(target, inner, self.use(given, scope, guards, lenient=True))
            self.statements(node.body, inner, guards)
        elif isinstance(node, nodes.FilterBlock):
            self._filter_name(node.filter)
            self.statements(node.body, scope, guards)
        elif isinstance(node, nodes.ExprStmt):
            self.use(node.node, scope, guards, lenient=False)
        elif isinstance(node, nodes.Import | nodes.FromImport):
            for name in _imported(node):
                scope.names[name] = Value(ANYTHING)
        elif isinstance(node, nodes.Stmt):  # blocks, scopes, autoescape: their bodies
            for inner_node in node.iter_child_nodes():
                self.statement(inner_node, scope, guards)

    def _if(self, node: nodes.If, scope: _Scope, guards: Paths) -> None:
        otherwise = guards
        branches: list[nodes.If] = [node, *node.elif_]
        for branch in branches:
            self.use(branch.test, scope, otherwise, lenient=True)
            self.statements(branch.body, scope, otherwise | truthy(branch.test))
            otherwise = otherwise | falsy(branch.test)
        self.statements(node.else_, scope, otherwise)

    def _for(self, node: nodes.For, scope: _Scope, guards: Paths) -> None:
        items = self.use(node.iter, scope, guards, lenient=False)
        inner = _Scope(parent=scope)
        item = items.shape.item if isinstance(items.shape, ListOf) else ANYTHING
        self.bind(node.target, inner, Value(item))
        inner.names["loop"] = Value(ANYTHING)
        body_guards = guards
        if node.test is not None:
            self.use(node.test, inner, guards, lenient=True)
            body_guards = guards | truthy(node.test)
        self.statements(node.body, inner, body_guards)
        self.statements(node.else_, scope, guards)

    def _callable(self, node: nodes.Macro | nodes.CallBlock, scope: _Scope, guards: Paths) -> None:
        if isinstance(node, nodes.Macro):
            scope.names[node.name] = Value(ANYTHING)
        else:
            self.use(node.call, scope, guards, lenient=False)
        inner = _Scope(parent=scope)
        for name in ("caller", "varargs", "kwargs", *(arg.name for arg in node.args)):
            inner.names[name] = Value(ANYTHING)
        self.statements(node.body, inner, guards)

    def bind(self, target: nodes.Node, scope: _Scope, value: Value) -> None:
        if isinstance(target, nodes.Name):
            scope.names[target.name] = Value(value.shape, target.name, value.absent)
        else:
            for name in target.find_all(nodes.Name):
                scope.names[name.name] = Value(ANYTHING)

    # --- expressions -----------------------------------------------------------------------

    def use(self, node: nodes.Node, scope: _Scope, guards: Paths, *, lenient: bool) -> Value:
        """Check `node` and what it is used for: `lenient` where a missing value is fine
        (an `if`, `==`, a `default`), else it must be there for every customer."""
        value = self.value(node, scope, guards)
        if value.absent and not lenient and value.path not in guards:
            self.report(node, _last_token(value.path), _missing_message(value))
        return value

    def value(self, node: nodes.Node, scope: _Scope, guards: Paths) -> Value:
        if isinstance(node, nodes.Name):
            return self._name(node, scope)
        if isinstance(node, nodes.Getattr):
            return self._member(node, node.node, node.attr, scope, guards)
        if isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                return self._member(node, node.node, node.arg.value, scope, guards)
            self.use(node.arg, scope, guards, lenient=False)
            base = self.use(node.node, scope, guards, lenient=False)
            return Value(_item_of(base.shape))
        if isinstance(node, nodes.Filter):
            return self._filter(node, scope, guards)
        if isinstance(node, nodes.Test):
            if node.name not in self.tests:
                self.report(
                    node, node.name, _unknown("unknown test", node.name, self.tests, "tests")
                )
            self.use(node.node, scope, guards, lenient=True)
            self._arguments(node, scope, guards)
            return Value(Shape("value"))
        if isinstance(node, nodes.Compare):
            lenient = all(op.op in _LENIENT_COMPARISONS for op in node.ops)
            self.use(node.expr, scope, guards, lenient=lenient)
            for operand in node.ops:
                self.use(operand.expr, scope, guards, lenient=lenient)
            return Value(Shape("value"))
        if isinstance(node, nodes.And | nodes.Or):
            self.use(node.left, scope, guards, lenient=True)
            proved = truthy(node.left) if isinstance(node, nodes.And) else falsy(node.left)
            self.use(node.right, scope, guards | proved, lenient=True)
            return Value(ANYTHING)
        if isinstance(node, nodes.Not):
            self.use(node.node, scope, guards, lenient=True)
            return Value(Shape("value"))
        if isinstance(node, nodes.CondExpr):
            self.use(node.test, scope, guards, lenient=True)
            self.use(node.expr1, scope, guards | truthy(node.test), lenient=False)
            if node.expr2 is not None:
                self.use(node.expr2, scope, guards | falsy(node.test), lenient=False)
            return Value(ANYTHING)
        if isinstance(node, nodes.Const):
            return Value(Shape("value"))
        for child in node.iter_child_nodes():  # calls, operators, literals: all must be there
            if isinstance(child, nodes.Expr):
                self.use(child, scope, guards, lenient=False)
            elif isinstance(child, nodes.Pair | nodes.Keyword):
                for part in child.iter_child_nodes():
                    self.use(part, scope, guards, lenient=False)
        return Value(ANYTHING)

    def _name(self, node: nodes.Name, scope: _Scope) -> Value:
        local = scope.find(node.name)
        if local is not None:
            return local
        known = self.schema.fields.get(node.name)
        if known is not None:
            return _field_value(node.name, node.name, known.shape, known.required)
        if node.name in self.globals or node.name in self.assigned:
            return Value(ANYTHING)
        message = _unknown("unknown name", node.name, self.schema.fields, "templates see")
        self.report(node, node.name, message)
        return Value(ANYTHING)

    def _member(
        self, node: nodes.Node, owner: nodes.Node, key: str | int, scope: _Scope, guards: Paths
    ) -> Value:
        base = self.use(owner, scope, guards, lenient=False)
        shape = base.shape
        path = path_of(node)
        if isinstance(shape, Record) and isinstance(key, str):
            found = shape.fields.get(key)
            if found is not None:
                return _field_value(path, key, found.shape, found.required)
            if key not in _DICT_METHODS:
                head = f"{base.path or 'this value'} has no field"
                self.report(node, key, _unknown(head, key, shape.fields, "its fields"))
            return Value(ANYTHING)
        if isinstance(shape, FreeMapping) and isinstance(key, str):
            if key in _DICT_METHODS:
                return Value(ANYTHING)
            if isinstance(shape, NamedByFiles):
                return Value(shape.value, path)
            return Value(shape.value, path, _missing_key(base.path, key))
        if isinstance(shape, ListOf) and isinstance(key, int):
            empty = None if base.path in guards else "is missing when the list is empty"
            return Value(shape.item, path, empty)
        return Value(ANYTHING)

    def _filter(self, node: nodes.Filter, scope: _Scope, guards: Paths) -> Value:
        self._filter_name(node)
        fallback = node.name in _FALLBACK_FILTERS
        value = (
            self.use(node.node, scope, guards, lenient=fallback)
            if node.node is not None
            else Value(ANYTHING)
        )
        self._arguments(node, scope, guards)
        if node.name in _KEEPS_LIST and isinstance(value.shape, ListOf):
            return Value(value.shape)
        if node.name in ("first", "last"):
            return Value(_item_of(value.shape))
        return Value(ANYTHING)

    def _filter_name(self, node: nodes.Filter | None) -> None:
        if node is not None and node.name not in self.filters:
            message = _unknown("unknown filter", node.name, self.filters, "filters")
            self.report(node, node.name, message)

    def _arguments(self, node: nodes.Filter | nodes.Test, scope: _Scope, guards: Paths) -> None:
        for argument in [*node.args, *(keyword.value for keyword in node.kwargs)]:
            self.use(argument, scope, guards, lenient=False)


def _field_value(path: str | None, name: str, shape: Shape, required: bool) -> Value:
    if not required:
        return Value(shape, path, f"is missing for customers whose data has no {_words(name)}")
    if shape.nullable:
        return Value(shape, path, f"is None {_NONE_WHEN.get(name, 'for some customers')}")
    return Value(shape, path)


def _missing_key(mapping: str | None, key: str) -> str:
    """Why a key of a free mapping may be missing: the customer's attributes, or the
    broadcast's content (the key is there when the broadcast's file has it)."""
    if mapping == "broadcast.content":
        return f"is missing when the broadcast's content has no {key!r}"
    return f"is missing for customers without a {key!r} attribute"


def _item_of(shape: Shape) -> Shape:
    return shape.item if isinstance(shape, ListOf) else ANYTHING


def _missing_message(value: Value) -> str:
    path = value.path or "this value"
    if value.absent and value.absent.startswith("is None"):
        return f"{path} {value.absent}: test it first with {{% if {path} %}}"
    return (
        f"{path} {value.absent}: give a fallback such as {{{{ {path} | default('...') }}}} "
        f"or test it first with {{% if {path} %}}"
    )


def _unknown(head: str, name: str, known: Iterable[str], listed: str) -> str:
    """`unknown filter 'nosuchfilter' (did you mean ...?); filters: ...`."""
    choices = sorted(known)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    shown = ", ".join(choices) if len(choices) <= 16 else ", ".join(choices[:16]) + ", ..."
    return f"{head} '{name}'{hint}; {listed}: {shown}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _last_token(path: str | None) -> str:
    if not path:
        return ""
    return path.rsplit(".", 1)[-1].split("[", 1)[0]


def _imported(node: nodes.Import | nodes.FromImport) -> Iterator[str]:
    if isinstance(node, nodes.Import):
        yield node.target
        return
    for name in node.names:
        yield name[1] if isinstance(name, tuple) else name
