"""The function registry: name -> ``FunctionSpec`` (arguments, result type and the
Python function that computes it).

Built-in functions are registered the same way engines register their own
(``balance``, ``lookup``, ``count_records``, ``user``): with ``register_function``,
into ``FUNCTIONS`` (the default registry) or into a registry of the caller's own —
``dict(FUNCTIONS)`` extended, passed to ``compile_expression(..., functions=...)``.

Argument kinds, checked before the expression runs where the types are known:

``number``   a number (TRUE/FALSE and blank count as 1/0 and 0)
``text``     any single value, shown as text
``logical``  TRUE/FALSE (or a number: 0 is FALSE)
``date``     a date or date and time
``scalar``   any single value
``values``   single values or a subtable column (``lines.amount``), as a range
``rows``     like ``values``, and also a whole subtable (``lines``) — for counting
``any``      anything, unchecked (linked records too): for engine functions
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engines.expr.errors import ErrorValue, Failure

KINDS = ("number", "text", "logical", "date", "scalar", "values", "rows", "any")


@dataclass(frozen=True)
class FunctionSpec:
    """One function. ``impl`` receives the evaluated arguments (and first the ``env``
    mapping when ``needs_env``); it returns a value, or raises ``Failure`` (see
    ``engines.expr.errors.fail``) to give an error value."""

    name: str
    impl: Callable
    params: tuple[str, ...]
    min_args: int
    max_args: int | None
    returns: object  # a type, or a callable: argument types -> type
    repeat: int = 1  # with max_args None: how many of the last params repeat
    needs_env: bool = False
    volatile: bool = False  # never computed ahead (TODAY, NOW, engine look-ups)
    catches_errors: bool = False  # receives error values as values (ISERROR, IFERROR)
    lazy: bool = False  # arguments evaluated only when needed (IF, IFS, SWITCH)
    signature: str = ""
    summary: str = ""
    example: str = ""
    category: str = "engine"

    def kind_of(self, index: int) -> str:
        if index < len(self.params):
            return self.params[index]
        start = len(self.params) - self.repeat
        return self.params[start + (index - start) % self.repeat]

    def result_type(self, arg_types: list):
        return self.returns(arg_types) if callable(self.returns) else self.returns


FUNCTIONS: dict[str, FunctionSpec] = {}

def _arity(signature: str, repeat: int) -> tuple[int, int | None]:
    inside = signature[signature.index("(") + 1: signature.rindex(")")].strip()
    parts = [part.strip() for part in inside.split(",") if part.strip()]
    variadic = bool(parts) and parts[-1] == "..."
    if variadic:
        parts = parts[:-1]
    required = sum(1 for part in parts if not part.startswith("["))
    return required, None if variadic else len(parts)


def register_function(name: str, impl: Callable, *, signature: str | None = None,
                      params: tuple[str, ...] = (), returns="any",
                      min_args: int | None = None, max_args: int | None = -1,
                      repeat: int = 1, needs_env: bool = False, volatile: bool = False,
                      catches_errors: bool = False, lazy: bool = False, summary: str = "",
                      example: str = "", category: str = "engine",
                      registry: dict | None = None, replace: bool = False) -> FunctionSpec:
    """Add a function to ``registry`` (default: ``FUNCTIONS``) and return its spec.

    ``signature`` such as ``"balance(ledger, item, [place])"`` gives the argument
    count (``[...]`` optional, a trailing ``...`` repeats the last ``repeat``
    arguments) unless ``min_args`` / ``max_args`` are given (``max_args=None``: no
    limit). ``params`` names each argument's kind (see the module docstring; missing
    ones are ``any``). Names ignore case. Functions that do not catch errors never
    see an error value: an error in an argument is the call's result. A function
    gives an error value by returning one or by raising it with ``errors.fail``."""
    key = name.upper()
    registry = FUNCTIONS if registry is None else registry
    if key in registry and not replace:
        raise ValueError(f"a function named {key} is already registered; "
                         "pass replace=True to replace it")
    signature = signature or f"{key}(...)"
    low, high = _arity(signature, repeat)
    low = low if min_args is None else min_args
    high = high if max_args == -1 else max_args
    kinds = tuple(params) or ("any",) * max(high or low or 1, 1)
    if high is not None and len(kinds) < high:
        kinds += ("any",) * (high - len(kinds))
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown argument kind {kind!r}; use one of {', '.join(KINDS)}")
    if category == "engine" and not catches_errors and not lazy:
        impl = _refusing_errors(impl, needs_env)
    spec = FunctionSpec(key, impl, kinds, low, high, returns, repeat, needs_env,
                        volatile or needs_env, catches_errors, lazy, signature, summary,
                        example, category)
    registry[key] = spec
    return spec


def _refusing_errors(impl: Callable, needs_env: bool) -> Callable:
    # Built-ins meet error values through the value conversions, which raise them;
    # an engine's function is spared the check.
    skip = 1 if needs_env else 0

    def checked(*args):
        for value in args[skip:]:
            if isinstance(value, ErrorValue):
                raise Failure(value)
        result = impl(*args)
        if isinstance(result, ErrorValue):
            raise Failure(result)
        return result

    checked.__name__ = getattr(impl, "__name__", "function")
    return checked


def builtin(category: str, signature: str, params: tuple[str, ...], returns, summary: str,
            example: str, **options):
    """Register the decorated function as a built-in of ``category`` (used by the
    modules below; ``example`` is ``"formula → result"`` and is checked by the tests)."""
    name = signature[: signature.index("(")]

    def decorate(impl):
        register_function(name, impl, signature=signature, params=params, returns=returns,
                          summary=summary, example=example, category=category, **options)
        return impl

    return decorate


def _load_builtins():
    from engines.expr.functions import dates, logic, math, text  # noqa: F401


_load_builtins()
