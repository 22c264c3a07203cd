"""Dimensional consistency of every equation of a Vensim model, with pint.

Each equation is read as PySD's abstract syntax tree (:mod:`clusterdyn.validation.equations`) and
its
units are computed from the declared units of the variables it uses, with these rules (those
of Vensim's units check):

- ``+``, ``-``, comparisons, ``MIN``/``MAX`` arguments and ``IF THEN ELSE`` branches need the
  same units (dimension and scale: ``USD`` and ``Million USD`` differ);
- ``*`` and ``/`` combine units; ``^`` needs a dimensionless exponent and a dimensionless base
  unless the exponent is a constant number; ``EXP``/``LN`` need a dimensionless argument;
- numbers have no units of their own and adapt to their context; ``Time`` is in ``Year``;
- a ``WITH LOOKUP`` takes an argument in any units and gives the variable's declared units;
- ``INTEG``: the initial value has the stock's units and the rate the stock's units per Year;
  ``SMOOTH``: the input and initial value have the output's units, the smoothing time Year.

The units an equation yields must equal the variable's declared units, both in dimension and
in scale (so ``Million USD/Year`` declared where ``USD/Year`` results is an error).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pint
from pysd.translators.structures import abstract_expressions as ae

from clusterdyn.sdmodels.parameters import Parameter
from clusterdyn.validation.equations import Equation, parse_equations

#: Vensim unit names (lower case, single spaces) -> pint unit of :data:`UNITS`.
ALIASES: dict[str, str] = {
    "year": "Year", "years": "Year", "yr": "Year",
    "kg": "kg", "kilogram": "kg", "kilograms": "kg",
    "t": "t", "tonne": "t", "tonnes": "t",
    "firm": "firms", "firms": "firms",
    "site": "sites", "sites": "sites",
    "usd": "USD", "us$": "USD",
    "million usd": "Million_USD", "musd": "Million_USD",
    "dmnl": "dimensionless", "dimensionless": "dimensionless",
}  # fmt: skip
_DEFINITIONS = (
    "Year = [time]",
    "kg = [mass]",
    "t = 1000 * kg",
    "firms = [firms]",
    "sites = [sites]",
    "USD = [currency]",
    "Million_USD = 1e6 * USD",
)
_KNOWN = ", ".join(sorted({v.replace("_", " ") for v in ALIASES.values()} - {"dimensionless"}))
_COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}
_SAME_UNITS = {"min", "max", "abs", "integer"}
_DIMENSIONLESS_ARGUMENT = {"exp", "ln"}


def make_registry() -> pint.UnitRegistry:
    """A pint registry holding only the model's units.

    ``firms`` is a base dimension of its own and ``USD`` a currency dimension;
    ``Million_USD`` is 1e6 USD and ``t`` 1000 kg.
    """
    registry = pint.UnitRegistry(None)
    for line in _DEFINITIONS:
        registry.define(line)
    return registry


UNITS = make_registry()
_Q = pint.Quantity
_DMNL = UNITS.Quantity(1.0, "dimensionless")
_YEAR = UNITS.Quantity(1.0, "Year")


class UnitsSyntaxError(ValueError):
    """A Vensim units string that cannot be read (unknown name or bad syntax)."""


class _UnitError(Exception):
    """An inconsistency found while computing the units of an equation."""


def parse_units(text: str) -> _Q:
    """Read a Vensim units string such as ``"t/(Year*firms)"`` as a pint quantity of 1.

    Raises
    ------
    UnitsSyntaxError
        For an unknown unit name (see :data:`ALIASES`) or a malformed expression.
    """
    tokens = [t.strip() for t in re.split(r"([*/^()])", text) if t.strip()]
    if not tokens:
        raise UnitsSyntaxError("no units declared")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise UnitsSyntaxError(f"units {text!r} end unexpectedly")
        position += 1
        return tokens[position - 1]

    def factor() -> _Q:
        token = take()
        if token == "(":
            value = product()
            if take() != ")":
                raise UnitsSyntaxError(f"unbalanced parentheses in units {text!r}")
        elif token == "1":
            value = _DMNL
        elif token in "*/^)":
            raise UnitsSyntaxError(f"unexpected {token!r} in units {text!r}")
        else:
            name = " ".join(token.lower().split())
            if name not in ALIASES:
                raise UnitsSyntaxError(
                    f"unknown unit {token!r} in {text!r} (known: {_KNOWN}, dmnl)"
                )
            value = UNITS.Quantity(1.0, ALIASES[name])
        if peek() == "^":
            take()
            exponent = take()
            try:
                value = value ** float(exponent)
            except ValueError:
                raise UnitsSyntaxError(f"non-numeric power {exponent!r} in {text!r}") from None
        return value

    def product() -> _Q:
        value = factor()
        while peek() in ("*", "/"):
            value = value * factor() if take() == "*" else value / factor()
        return value

    result = product()
    if position != len(tokens):
        raise UnitsSyntaxError(f"unexpected {tokens[position]!r} in units {text!r}")
    return result


def format_units(quantity: _Q | None) -> str:
    """Vensim-style text of a unit quantity, e.g. ``"t/(Year*firms)"`` or ``"dmnl"``."""
    if quantity is None:
        return "a number (no units)"
    scale = float(quantity.magnitude)
    num, den = [], []
    for name, power in sorted(quantity.unit_items()):
        label = name.replace("_", " ")
        text = label if abs(power) == 1 else f"{label}^{abs(power):g}"
        (num if power > 0 else den).append(text)
    body = "*".join(num) or ("1" if den else "dmnl")
    if den:
        body += "/" + (den[0] if len(den) == 1 else f"({'*'.join(den)})")
    return body if scale == 1 else f"{scale:g} {body}"


def _same(a: _Q, b: _Q) -> bool:
    if a.dimensionality != b.dimensionality:
        return False
    return math.isclose(float((a / b).to_base_units().magnitude), 1.0, rel_tol=1e-9)


def _scale(a: _Q, b: _Q) -> float:
    """How many ``b`` one ``a`` is (for quantities of the same dimension)."""
    return float((a / b).to_base_units().magnitude)


def _dimensionless(a: _Q | None) -> bool:
    return a is None or a.dimensionless


def _number(node: object) -> float | None:
    """Value of an expression made of numbers only (None if it uses a variable)."""
    if isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)
    if isinstance(node, ae.ArithmeticStructure):
        values = [_number(a) for a in node.arguments]
        if any(v is None for v in values):
            return None
        if list(node.operators) == ["negative"]:
            return -values[0]  # type: ignore[operator]
        result = values[0]
        for op, value in zip(node.operators, values[1:], strict=True):
            result = {"+": lambda x, y: x + y, "-": lambda x, y: x - y,
                      "*": lambda x, y: x * y, "/": lambda x, y: x / y,
                      "^": lambda x, y: x**y}[op](result, value)  # fmt: skip
        return result
    return None


class _Checker:
    """Computes the units of expressions; ``None`` stands for a unit-free number."""

    def __init__(self, units: dict[str, _Q | str], declared: _Q) -> None:
        self.units = units  # reference key -> units, or the reason they cannot be read
        self.declared = declared  # units of the variable whose equation is checked

    def same(self, what: str, values: list[_Q | None]) -> _Q | None:
        known = [v for v in values if v is not None]
        for other in known[1:]:
            if not _same(known[0], other):
                raise _UnitError(
                    f"{what} mixes {format_units(known[0])} with {format_units(other)}"
                )
        return known[0] if known else None

    def expr(self, node: object) -> _Q | None:
        if isinstance(node, int | float) and not isinstance(node, bool):
            return None
        if isinstance(node, ae.ReferenceStructure):
            if node.reference == "time":
                return _YEAR
            found = self.units.get(node.reference)
            if found is None:
                raise _UnitError(f"uses {node.reference!r}, which the model does not define")
            if isinstance(found, str):
                raise _UnitError(f"uses a variable whose units cannot be read ({found})")
            return found
        if isinstance(node, ae.ArithmeticStructure):
            return self.arithmetic(node)
        if isinstance(node, ae.LogicStructure):
            args = [self.expr(a) for a in node.arguments]
            if all(op in _COMPARISONS for op in node.operators):
                self.same(f"the comparison {' '.join(node.operators)}", args)
            return _DMNL
        if isinstance(node, ae.CallStructure):
            return self.call(node)
        if isinstance(node, ae.InlineLookupsStructure):
            self.expr(node.argument)  # any units in; the declared units out
            return self.declared
        raise _UnitError(f"the construct {type(node).__name__} is not supported by the check")

    def arithmetic(self, node: ae.ArithmeticStructure) -> _Q | None:
        ops, args = list(node.operators), list(node.arguments)
        if ops == ["negative"] or ops == ["positive"]:
            return self.expr(args[0])
        result = self.expr(args[0])
        for op, arg in zip(ops, args[1:], strict=True):
            value = self.expr(arg)
            if op in ("+", "-"):
                if result is not None and value is not None and not _same(result, value):
                    verb = "adds" if op == "+" else "subtracts"
                    raise _UnitError(
                        f"'{op}' {verb} {format_units(value)} "
                        f"{'to' if op == '+' else 'from'} {format_units(result)}"
                    )
                result = result if result is not None else value
            elif op in ("*", "/"):
                if result is None and value is None:
                    continue
                left = result if result is not None else _DMNL
                right = value if value is not None else _DMNL
                result = left * right if op == "*" else left / right
            elif op == "^":
                if not _dimensionless(value):
                    raise _UnitError(f"'^' has an exponent in {format_units(value)}")
                exponent = _number(arg)
                if result is None or result.dimensionless:
                    continue
                if exponent is None:
                    raise _UnitError(
                        f"'^' raises {format_units(result)} to a variable power (the base must "
                        "be dimensionless unless the exponent is a constant number)"
                    )
                result = result**exponent
            else:
                raise _UnitError(f"the operator {op!r} is not supported by the check")
        return result

    def call(self, node: ae.CallStructure) -> _Q | None:
        name = str(getattr(node.function, "reference", node.function))
        label = name.upper().replace("_", " ")
        if name == "if_then_else":
            condition, if_true, if_false = node.arguments
            self.expr(condition)
            return self.same("IF THEN ELSE", [self.expr(if_true), self.expr(if_false)])
        args = [self.expr(a) for a in node.arguments]
        if name in _SAME_UNITS:
            return self.same(label, args)
        if name in _DIMENSIONLESS_ARGUMENT:
            if not _dimensionless(args[0]):
                raise _UnitError(f"{label} of a quantity in {format_units(args[0])}")
            return _DMNL
        if name == "sqrt":
            return None if args[0] is None else args[0] ** 0.5
        raise _UnitError(f"the function {label} is not supported by the check")


@dataclass(frozen=True)
class UnitsIssue:
    """An equation whose units are inconsistent.

    Attributes
    ----------
    variable : str
        The variable whose equation is at fault.
    declared : str
        Its declared units.
    yields : str
        The units its equation gives (``"no consistent units"`` when they cannot be formed).
    problem : str
        What is wrong, e.g. ``"'+' adds t/Year to USD/kg"``.
    """

    variable: str
    declared: str
    yields: str
    problem: str

    def __str__(self) -> str:
        return (f"{self.variable!r} (declared {self.declared or 'no units'}; equation gives "
                f"{self.yields}): {self.problem}")


@dataclass(frozen=True)
class UnitsReport:
    """Result of :func:`check_units`: the number of equations checked and the issues."""

    mdl_path: Path
    checked: int
    issues: tuple[UnitsIssue, ...]

    @property
    def passed(self) -> bool:
        """True when every equation is dimensionally consistent."""
        return not self.issues


def _compare(label: str, computed: _Q | None, expected: _Q) -> None:
    if computed is None or _same(computed, expected):
        return
    if computed.dimensionality == expected.dimensionality:
        raise _UnitError(
            f"{label} is in {format_units(computed)}, {_scale(computed, expected):g} times "
            f"the expected {format_units(expected)}"
        )
    raise _UnitError(f"{label} is in {format_units(computed)}, expected {format_units(expected)}")


def _check_equation(eq: Equation, declared: _Q, units: dict[str, _Q | str]) -> str:
    """Check one equation; return the units it yields (raise _UnitError when inconsistent)."""
    checker = _Checker(units, declared)
    ast = eq.ast
    if eq.kind == "stock":
        _compare("the initial value", checker.expr(ast.initial), declared)
        _compare("the net flow", checker.expr(ast.flow), declared / _YEAR)
        return format_units(declared)
    if eq.kind == "smooth":
        _compare("the smoothed input", checker.expr(ast.input), declared)
        _compare("the smoothing time", checker.expr(ast.smooth_time), _YEAR)
        _compare("the initial value", checker.expr(ast.initial), declared)
        return format_units(declared)
    if eq.kind == "control":
        _compare("the control setting", declared, _YEAR)
    if eq.kind == "other":
        raise _UnitError(f"the construct {type(ast).__name__} is not supported by the check")
    computed = checker.expr(ast)
    if computed is not None and not _same(computed, declared):
        if computed.dimensionality == declared.dimensionality:
            raise _UnitError(
                f"the equation gives {_scale(computed, declared):g} times the declared units"
            )
        raise _UnitError("the equation's units differ from the declared units")
    return format_units(computed if computed is not None else declared)


def check_units(mdl_path: str | Path) -> UnitsReport:
    """Check the dimensional consistency of every equation of a ``.mdl``.

    Parameters
    ----------
    mdl_path : str or Path
        The Vensim model.

    Returns
    -------
    UnitsReport
        One :class:`UnitsIssue` per inconsistent equation (empty when all are consistent).
    """
    equations = parse_equations(mdl_path)
    units: dict[str, _Q | str] = {}
    for eq in equations:
        try:
            units[eq.key] = parse_units(eq.units)
        except UnitsSyntaxError as exc:
            units[eq.key] = f"{eq.name!r}: {exc}"
    issues = []
    for eq in equations:
        declared = units[eq.key]
        if isinstance(declared, str):
            issues.append(UnitsIssue(eq.name, eq.units, "unknown", declared.split(": ", 1)[1]))
            continue
        try:
            _check_equation(eq, declared, units)
        except _UnitError as exc:
            yields = "no consistent units"
            if eq.kind in ("auxiliary", "constant"):
                try:
                    yields = format_units(_Checker(units, declared).expr(eq.ast))
                except _UnitError:
                    pass
            issues.append(UnitsIssue(eq.name, eq.units, yields, str(exc)))
    return UnitsReport(Path(mdl_path), len(equations), tuple(issues))


def check_declarations(report: UnitsReport, parameters: Mapping[str, Parameter]) -> UnitsReport:
    """Add to ``report`` every parameter whose declared range is inverted or excludes its own
    ``.mdl`` value (a Vensim ``[min,max]`` written backwards makes the parameter impossible to
    set; a default outside it cannot be calibrated or sampled)."""
    issues = []
    for p in parameters.values():
        if p.lower > p.upper:
            issues.append(UnitsIssue(p.name, p.units, "-",
                                     f"range [{p.lower:g}, {p.upper:g}] has min > max"))
        elif not p.lower <= p.default <= p.upper:
            issues.append(UnitsIssue(p.name, p.units, "-", f"value {p.default:g} is outside "
                                     f"its declared range [{p.lower:g}, {p.upper:g}]"))
    return replace(report, issues=report.issues + tuple(issues))
