"""Which values a Jinja test proves present: `{% if last_order %}` guards `last_order.items`.

A value that some customers lack may be used where the template has tested it first; this
module reads a test expression and says which dotted paths are surely there when the test
is true (`truthy`) and when it is false (`falsy`).
"""

from __future__ import annotations

from jinja2 import nodes

from mailengine.render.schema import DISCRIMINATORS

Paths = frozenset[str]
NOTHING: Paths = frozenset()


def path_of(node: nodes.Node) -> str | None:
    """`customer.attributes.size` for a plain chain of names, attributes and constant keys."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        base = path_of(node.node)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = path_of(node.node)
        key = node.arg.value
        if base is None:
            return None
        if isinstance(key, str):
            return f"{base}.{key}"
        if isinstance(key, int):
            return f"{base}[{key}]"
    return None


def with_prefixes(path: str | None) -> Paths:
    """`a.b.c` and everything it passes through: if `a.b.c` is there, so are `a` and `a.b`."""
    if not path:
        return NOTHING
    parts = path.split(".")
    return frozenset(".".join(parts[: index + 1]) for index in range(len(parts)))


def truthy(test: nodes.Node) -> Paths:
    """Paths that are present whenever `test` is true."""
    if isinstance(test, nodes.And):
        return truthy(test.left) | truthy(test.right)
    if isinstance(test, nodes.Or):
        return truthy(test.left) & truthy(test.right)
    if isinstance(test, nodes.Not):
        return falsy(test.node)
    if isinstance(test, nodes.Test) and test.name == "defined":
        return with_prefixes(path_of(test.node))
    if isinstance(test, nodes.Compare) and len(test.ops) == 1:
        return _compared(test, test.ops[0], truth=True)
    if isinstance(test, nodes.Filter) and test.name in ("length", "count") and test.node:
        return with_prefixes(path_of(test.node))
    return with_prefixes(path_of(test))


def falsy(test: nodes.Node) -> Paths:
    """Paths that are present whenever `test` is false."""
    if isinstance(test, nodes.And):
        return falsy(test.left) & falsy(test.right)
    if isinstance(test, nodes.Or):
        return falsy(test.left) | falsy(test.right)
    if isinstance(test, nodes.Not):
        return truthy(test.node)
    if isinstance(test, nodes.Test) and test.name in ("undefined", "none"):
        return with_prefixes(path_of(test.node))
    if isinstance(test, nodes.Compare) and len(test.ops) == 1:
        return _compared(test, test.ops[0], truth=False)
    return NOTHING


def _compared(test: nodes.Compare, operand: nodes.Operand, *, truth: bool) -> Paths:
    """`x == 'a'` true (or `x != 'a'` false) means x is there, and what a discriminator says."""
    if operand.op not in ("eq", "ne") or not isinstance(operand.expr, nodes.Const):
        return NOTHING
    value = operand.expr.value
    equal = (operand.op == "eq") == truth
    path = path_of(test.expr)
    if path is None or value is None:
        return NOTHING
    found: set[str] = set(with_prefixes(path)) if equal else set()
    owner, _, field = path.rpartition(".")
    variants = DISCRIMINATORS.get(field)
    if owner and variants and value in variants:
        if equal:
            chosen = [set(variants[value])]
        else:
            chosen = [set(fields) for other, fields in variants.items() if other != value]
        common = set.intersection(*chosen) if chosen else set()
        found.update(f"{owner}.{name}" for name in common)
    return frozenset(found)
