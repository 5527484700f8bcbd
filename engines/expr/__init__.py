"""Loom's one expression language: formulas, validations, visible_if / required_if,
defaults, flow and rule conditions and report measures (see docs/expressions.md).

    >>> from decimal import Decimal
    >>> from engines.expr import compile_expression
    >>> total = compile_expression("ROUND(qty * price, 2)", {"qty": "number", "price": "money"})
    >>> total.evaluate({"qty": Decimal("3"), "price": Decimal("1.995")})
    Decimal('5.99')

The grammar is ``expr.lark``; ``compile_expression`` parses, checks against the
description of the fields and compiles once; ``Compiled.evaluate`` then runs per
record with no parsing. Functions are a registry (``FUNCTIONS``,
``register_function``).
"""

from engines.expr.checking import describe_fields
from engines.expr.compiler import Compiled, check_expression, compile_expression
from engines.expr.cycles import evaluation_order, find_cycle
from engines.expr.errors import ErrorValue, ExpressionError, Problem
from engines.expr.functions import FUNCTIONS, FunctionSpec, register_function
from engines.expr.types import ListOf

__all__ = [
    "Compiled", "ErrorValue", "ExpressionError", "FUNCTIONS", "FunctionSpec", "ListOf",
    "Problem", "check_expression", "compile_expression", "describe_fields",
    "evaluation_order", "find_cycle", "register_function",
]
