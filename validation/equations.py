"""The model's equations as parsed by PySD's Vensim front end, for the validation battery.

The units check and the integration stepper read the ``.mdl`` through the same parser as
PySD's translation and :mod:`clusterdyn.sdmodels._codegen`
(:class:`pysd.translators.vensim.vensim_file.VensimFile`), so they see exactly the equations
that PySD simulates, as abstract syntax trees.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures import abstract_model as am

from clusterdyn.sdmodels._codegen import parse_model

#: PySD reference names of the control variables (``Time`` has no equation of its own).
CONTROL_KEYS = ("initial_time", "final_time", "time_step", "saveper")


@dataclass(frozen=True)
class Equation:
    """One model variable: its name, declared units and equation.

    Attributes
    ----------
    name : str
        The Vensim name, e.g. ``"Production capacity"``.
    key : str
        PySD's reference name (lower case, spaces as underscores), as used inside the ASTs.
    kind : str
        ``"constant"`` (a number), ``"auxiliary"``, ``"stock"`` (INTEG), ``"smooth"``
        (SMOOTH), ``"control"`` (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) or
        ``"other"`` (a construct the battery does not interpret).
    units : str
        The declared Vensim units, e.g. ``"t/(Year*Year)"`` (empty when none are declared).
    ast : object
        PySD's abstract syntax tree of the right-hand side (a number or an
        :class:`~pysd.translators.structures.abstract_expressions.AbstractSyntax`).
    """

    name: str
    key: str
    kind: str
    units: str
    ast: object


def reference_key(name: str) -> str:
    """PySD's reference name of a Vensim variable name (as in
    :mod:`clusterdyn.sdmodels._codegen`)."""
    return name.lower().replace(" ", "_")


def _kind(element: am.AbstractElement, ast: object) -> str:
    if isinstance(element, am.AbstractControlElement):
        return "control"
    if isinstance(ast, ae.IntegStructure):
        return "stock"
    if isinstance(ast, ae.SmoothStructure):
        return "smooth"
    if isinstance(ast, int | float) and not isinstance(ast, bool):
        return "constant"
    if isinstance(ast, ae.AbstractSyntax) and not isinstance(ast, ae.LookupsStructure):
        return "auxiliary"
    return "other"


@functools.lru_cache(maxsize=8)
def _parse(path: Path, sha256: str) -> tuple[Equation, ...]:
    del sha256  # part of the cache key only: an edited file is parsed again
    elements = parse_model(path)
    equations = []
    for element in elements:
        if len(element.components) != 1:
            raise NotImplementedError(
                f"{path.name}: {element.name!r} is defined by several equations, which the "
                "validation does not support"
            )
        ast = element.components[0].ast
        units = " ".join(str(element.units or "").split())
        equations.append(
            Equation(element.name, reference_key(element.name), _kind(element, ast), units, ast)
        )
    return tuple(equations)


def parse_equations(mdl_path: str | Path) -> tuple[Equation, ...]:
    """Every equation of a ``.mdl``, in file order (cached by the file's SHA-256).

    Raises
    ------
    NotImplementedError
        For macros, subscripts or variables defined by several equations.
    """
    path = Path(mdl_path).resolve()
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return _parse(path, sha256)


def references(node: object) -> Iterator[str]:
    """PySD reference names used in an expression (``time`` included; functions excluded)."""
    if isinstance(node, ae.ReferenceStructure):
        yield node.reference
    elif isinstance(node, ae.CallStructure):
        for argument in node.arguments:
            yield from references(argument)
    elif isinstance(node, ae.InlineLookupsStructure):
        yield from references(node.argument)
    elif isinstance(node, ae.ArithmeticStructure | ae.LogicStructure):
        for argument in node.arguments:
            yield from references(argument)
    elif isinstance(node, ae.AbstractSyntax):
        for value in vars(node).values():
            if isinstance(value, ae.AbstractSyntax):
                yield from references(value)
