"""The Jinja sandboxes templates run in: strict about missing data, immutable, Babel-aware,
and on a budget per render (`render.limits`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, NoReturn, cast

from jinja2 import Environment, StrictUndefined, Template, UndefinedError, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup, escape

from mailengine.render import limits
from mailengine.render.assets import AssetCatalog, asset_url_filter
from mailengine.render.formatting import FILTERS
from mailengine.render.translations import SOURCE_LANGUAGE, Catalogs
from mailengine.render.wire_html import character_references

try:  # what markupsafe's `escape` runs on a str before making it Markup
    from markupsafe._speedups import _escape_inner as escape_text
except ImportError:  # markupsafe without its C extension
    from markupsafe._native import _escape_inner as escape_text


class MissingValueError(UndefinedError):
    """A template used a value this customer's data does not have."""

    def __init__(self, message: str, *, name: str | None, owner: Any) -> None:
        super().__init__(message)
        self.name = name
        self.owner = owner


class MissingValue(StrictUndefined):
    """Undefined that fails on use but lets tests such as `{% if customer.city %}` be false.

    A name that is not in the context at all (a typo such as `custmer`) fails even in a test;
    a field the customer's data lacks (`customer.city`) is false in `if`, unequal in `==`,
    replaced by `| default(...)`, and an error everywhere else. Unsafe attributes the sandbox
    refused fail everywhere.
    """

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is not UndefinedError:
            raise self._undefined_exception(self._undefined_message)
        raise MissingValueError(
            self._undefined_message, name=self._undefined_name, owner=self._undefined_obj
        )

    # Jinja binds these to the base class's function, so they are bound again here.
    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __rmul__ = __div__ = __rdiv__ = _fail_with_undefined_error
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _fail_with_undefined_error
    __mod__ = __rmod__ = __pos__ = __neg__ = __pow__ = __rpow__ = _fail_with_undefined_error
    __call__ = __getitem__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = _fail_with_undefined_error
    __int__ = __float__ = __complex__ = _fail_with_undefined_error
    __iter__ = __str__ = __len__ = __contains__ = _fail_with_undefined_error
    __hash__ = _fail_with_undefined_error

    def _lenient(self) -> bool:
        return self._undefined_obj is not missing and self._undefined_exception is UndefinedError

    def __bool__(self) -> bool:  # type: ignore[override]
        if self._lenient():
            return False
        self._fail_with_undefined_error()

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if self._lenient():
            return False
        self._fail_with_undefined_error()

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        if self._lenient():
            return True
        self._fail_with_undefined_error()


def output_escape(value: Any) -> str:
    """What `{{ value }}` writes into escaped output: markupsafe's `escape`, as plain text.

    Output pieces are only joined, so they need not be Markup; making a str's escaped copy
    Markup (its `__new__` is Python) took three quarters of the call, some 0.25 us, 80 times
    per rendered HTML body. Anything but a plain str (Markup, numbers, missing values) goes
    through `escape` as before.
    """
    if type(value) is str:
        return escape_text(value)
    return str(escape(value))


def output_escape_as_ascii(value: Any) -> str:
    """`output_escape`, then non-ASCII characters as character references (as
    `shape_rendered_html` would make them in the whole message, when its shaping allows).

    What it makes of a short plain str is kept: the same values recur in a message and from
    one to the next (a shop's links some 30 times a message); a lookup costs less than the
    escaping and the check, and the text made is a function of the value alone."""
    if type(value) is str:
        found = _ESCAPED.get(value)
        if found is not None:
            return found
        return _keep(_ESCAPED, value, _as_ascii(escape_text(value)))
    if type(value) is Markup:  # (translated copy: kept apart, as it is not escaped)
        found = _MARKUP.get(value)
        if found is not None:
            return found
        return _keep(_MARKUP, value, _as_ascii(str(value)))
    return _as_ascii(str(escape(value)))


def _as_ascii(escaped: str) -> str:
    return escaped if escaped.isascii() else character_references(escaped)


def _keep(table: dict[Any, str], value: str, made: str) -> str:
    if len(value) <= _ESCAPED_LONGEST:
        if len(table) >= _ESCAPED_KEPT:
            table.clear()
        table[value] = made
    return made


_ESCAPED: dict[str, str] = {}  # (a dict's get and set are atomic: shared by threads)
_MARKUP: dict[Markup, str] = {}
_ESCAPED_KEPT = 4096
_ESCAPED_LONGEST = 256


def escape_output_as_ascii(template: Template) -> None:
    """Make `template`'s `{{ }}` output ASCII as it is written: for HTML whose static text is
    ASCII and whose every construct may become character references (`RenderedShaping`'s
    `charrefs`). The message then needs no pass over all of it to find the few non-ASCII
    letters customer data brought in (some 15 us on 40 KB); what any other way brings in
    is still found there."""
    namespace = template.root_render_func.__globals__
    if namespace.get("escape") is output_escape:
        namespace["escape"] = output_escape_as_ascii


class BudgetTemplate(Template):
    """A template whose `render` runs on the budget of `render.limits`, and whose output
    is escaped by `output_escape`."""

    @classmethod
    def _from_namespace(
        cls, environment: Environment, namespace: MutableMapping[str, Any], globals: Any
    ) -> Template:
        # The compiled module imports Jinja's `escape` for the one place it uses it: the
        # output of `{{ }}` when escaping (CodeGenerator._output_child_pre).
        if "escape" in namespace:
            namespace["escape"] = output_escape
        return super()._from_namespace(environment, namespace, globals)

    def render(self, *args: Any, **kwargs: Any) -> str:
        context = self.new_context(dict(*args, **kwargs))
        try:
            return limits.run_on_budget(lambda: self.root_render_func(context))
        except Exception:
            self.environment.handle_exception()

    def render_pieces(self, values: dict[str, Any]) -> list[str]:
        """`render`, not joined: the static text and the values in the order yielded."""
        context = self.new_context(values)
        try:
            return limits.pieces_on_budget(lambda: self.root_render_func(context))
        except Exception:
            self.environment.handle_exception()


class DictFirstCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `x.name` on a plain dict holding the key looked up in the
    template's own code: what `MailSandbox.getattr` does first, without its call (some 0.15
    us, 200 times a message). Anything else (another type, a key the dict lacks) goes to
    `environment.getattr` as before."""

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        if self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        # `x` evaluated once, into a name of the generated function's own; nested lookups
        # each assign it before theirs, and use it right after.
        self.write("(_dict_value if type(_dict_owner := ")
        self.visit(node.node, frame)
        self.write(
            f") is dict and (_dict_value := _dict_owner.get({node.attr!r}, missing)) is not "
            f"missing else environment.getattr(_dict_owner, {node.attr!r}))"
        )


class MailSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with dict keys found before dict methods, and every render on a budget.

    Jinja looks up `order.items` as an attribute first, which on a plain dict is the `items`
    method; templates read plain dicts, so a key of that name must win. Operators that can
    make large values, calls, loops and `~` are checked against `render.limits` (intercepted
    operators are also no longer folded into constants while compiling, where a bomb would
    have gone off in `validate`).
    """

    template_class = BudgetTemplate
    code_generator_class: type[CodeGenerator] = DictFirstCodeGenerator
    intercepted_binops = limits.INTERCEPTED_BINOPS
    # The translation functions `install_translations` gives, by id (see `call`).
    translation_calls: Mapping[int, Callable[..., Any]] = MappingProxyType({})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            value = obj.get(attribute, missing)
            if value is not missing:
                return value
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return limits.checked_binop(operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        translation = __self.translation_calls.get(id(__obj))  # (by id: any callable)
        if translation is not None and translation is __obj and _SCOPE_KEYWORDS.isdisjoint(kwargs):
            # `_()`, `gettext()`, `ngettext()`: our own functions, safe and taking the context;
            # called directly they skip the checks and Jinja's dispatch (some 3 us each, ten
            # times a message). In a loop or block Jinja's `Context.call` derives the context.
            return translation(__context, *args, **kwargs)
        limits.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The parsed template, with each loop's items counted and each `~` checked."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            items = cast(nodes.Expr, loop.iter)
            loop.iter = _call(_COUNTED, [items], items.lineno)
        join = _MARKUP_JOIN if self.autoescape else _STR_JOIN
        for parent in [tree, *tree.find_all(nodes.Node)]:
            for field, value in parent.iter_fields():
                if isinstance(value, nodes.Concat):
                    setattr(parent, field, _checked_concat(value, join))
                elif isinstance(value, list):
                    value[:] = [
                        _checked_concat(item, join) if isinstance(item, nodes.Concat) else item
                        for item in value
                    ]
        tree.set_environment(self)
        return tree


# What Jinja adds to a call in a loop or block, for `Context.call` to derive the context.
_SCOPE_KEYWORDS = frozenset({"_loop_vars", "_block_vars"})
_COUNTED = "mailengine.render.limits.counted"
_CHECKED_CONCAT = "mailengine.render.limits.checked_concat"
_MARKUP_JOIN = "jinja2.runtime.markup_join"
_STR_JOIN = "jinja2.runtime.str_join"


def _call(function: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.ImportedName(function), args, [], None, None, lineno=lineno)


def _checked_concat(concat: nodes.Concat, join: str) -> nodes.Call:
    parts = nodes.List(concat.nodes, lineno=concat.lineno)
    return _call(_CHECKED_CONCAT, [parts, nodes.ImportedName(join)], concat.lineno)


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """Jinja's `default`, also used when a value is None (data that is known to be absent)."""
    if isinstance(value, StrictUndefined) or value is None or (boolean and not value):
        return fallback
    return value


def _make(*, autoescape: bool, assets: AssetCatalog | None) -> MailSandbox:
    env = MailSandbox(
        autoescape=autoescape,
        undefined=MissingValue,
        auto_reload=False,
        cache_size=0,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(FILTERS)
    env.filters["translate"] = str  # until `install_translations` gives the catalogs
    if assets is not None:
        env.filters["asset_url"] = asset_url_filter(assets)
    for name, function in list(env.filters.items()):
        env.filters[name] = limits.checked_filter(name, function)
    # `default` hands back one of its arguments, each already checked where it was made, so
    # it is left unwrapped: it is most of a template's filter calls (30 of 35 in a message).
    env.filters["default"] = env.filters["d"] = _default
    return env


def html_environment(assets: AssetCatalog | None = None) -> MailSandbox:
    """The sandbox for HTML bodies: customer data is escaped. With `assets`, templates name
    their images with the `asset_url` filter."""
    return _make(autoescape=True, assets=assets)


def text_environment(assets: AssetCatalog | None = None) -> MailSandbox:
    """The sandbox for text parts, subjects and preheaders: nothing is escaped."""
    return _make(autoescape=False, assets=assets)


def install_translations(env: MailSandbox, catalogs: Catalogs) -> None:
    """`_()`, `gettext()`, `ngettext()` and `{% trans %}` in `env` translate into the
    language of the mail being rendered (its `language`), from `catalogs`."""

    # Jinja's newstyle gettext in one function each (its own wraps the translating function
    # in a second one, and `_` in a third that looks `gettext` up): translate, mark safe
    # when escaping, then always format with the keywords, escaped (Markup's `%`).
    # A message without keywords is the same text each time in one language: kept, unless
    # the catalogs are read again when they change.
    plain: dict[tuple[str, str, bool], str] = {}

    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        language = _language(context)
        escaping = context.eval_ctx.autoescape
        keep = not variables and not catalogs.auto_reload and type(message) is str
        if keep:
            found = plain.get((language, message, escaping))
            if found is not None:
                return found
        translated = catalogs.gettext(language, message)
        result = (Markup(translated) if escaping else translated) % variables
        if keep:
            if len(plain) >= 4096:
                plain.clear()
            plain[language, message, escaping] = result
        return result

    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, count: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", count)
        translated = catalogs.ngettext(_language(context), singular, plural, count)
        if context.eval_ctx.autoescape:
            return Markup(translated) % variables
        return translated % variables

    @pass_context
    def translate(context: Context, text: Any) -> str:
        """`{{ broadcast.content.headline | translate }}`: free text from a file, looked up
        whole (no placeholders, a "%" is just a percent sign)."""
        return catalogs.gettext(_language(context), str(text))

    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, newstyle=True
    )
    env.globals.update(gettext=gettext, ngettext=ngettext, _=gettext)
    env.translation_calls = {id(gettext): gettext, id(ngettext): ngettext}
    env.filters["translate"] = limits.checked_filter("translate", translate)


def _language(context: Context) -> str:
    language = context.resolve_or_missing("language")  # a tag, `pt-BR`, for `pt_BR`
    return language.replace("-", "_") if isinstance(language, str) else SOURCE_LANGUAGE


_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def single_line(text: str) -> str:
    """Collapse all whitespace and drop control characters: header values never carry CR/LF."""
    return " ".join(_LINE_BREAKING.sub(" ", text).split())


__all__ = [
    "MailSandbox",
    "MissingValue",
    "MissingValueError",
    "SecurityError",
    "html_environment",
    "install_translations",
    "single_line",
    "text_environment",
]
