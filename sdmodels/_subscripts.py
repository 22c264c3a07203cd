"""Subscripts for the compiled engine: every subscripted element becomes scalar cells.

``x[Dim1, Dim2]`` becomes one element per pair of subscript elements, named as PySD names its
output columns (``x[a,b]``), each with the expression of its definition specialised to that
pair: a reference ``y[Dim1]`` becomes a reference to the cell ``y[a]``, a constant array gives
its entry, and SUM / PROD / VMIN / VMAX over a dimension marked ``!`` become explicit sums,
products and nested MIN / MAX of the cells. The rest of the generator then sees a model
without subscripts. A dimension on the right that is not on the left is matched through a
subrange (an element of ``Sub`` is an element of ``Dim``); subscript mappings are not supported.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import numpy as np
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures import abstract_model as am

from clusterdyn.sdmodels._functions import FUNCTIONS
from clusterdyn.sdmodels.compiled import UnsupportedConstruct

_AGGREGATES = {"sum": "+", "prod": "*", "vmin": "min", "vmax": "max"}
_KNOWN_CALLS = {*FUNCTIONS, "active_initial", "lookup_extrapolate"}


class Subscripts:
    """The subscript ranges of a model.

    Parameters
    ----------
    ranges : sequence of AbstractSubscriptRange
        PySD's parse of the ranges.
    canonical : callable
        Maps a name as written to its reference name.
    """

    def __init__(self, ranges: tuple, canonical: Callable[[str], str]) -> None:
        self.canonical = canonical
        raw = {canonical(r.name): r for r in ranges}
        # Positional mappings: DimB: b1, b2 -> DimC lets an equation over DimC use DimB.
        self.maps: dict[str, set[str]] = {key: set() for key in raw}
        for key, r in raw.items():
            for target in r.mapping or ():
                if not isinstance(target, str) or canonical(target) not in raw:
                    raise UnsupportedConstruct(r.name, "a subscript mapping of this form")
                self.maps[key].add(canonical(target))
        self.ranges: dict[str, list[str]] = {}

        def expand(key: str, depth: int = 0) -> list[str]:
            if key in self.ranges:
                return self.ranges[key]
            subs = raw[key].subscripts
            if isinstance(subs, str) and canonical(subs) in raw and depth < 20:
                self.ranges[key] = expand(canonical(subs), depth + 1)  # Dim2 <-> Dim1
                return self.ranges[key]
            if not isinstance(subs, list):
                raise UnsupportedConstruct(raw[key].name, "a subscript range of this form")
            out: list[str] = []
            for s in subs:
                out += expand(canonical(s), depth + 1) if canonical(s) in raw else [s]
            self.ranges[key] = out
            return out

        for key in raw:
            expand(key)
        self.names = {canonical(e): e for elements in self.ranges.values() for e in elements}

    def expand(self, sub: str) -> list[str]:
        """Canonical elements of a range, or the element itself."""
        key = self.canonical(sub.rstrip("!"))
        if key in self.ranges:
            return [self.canonical(e) for e in self.ranges[key]]
        if key in self.names:
            return [key]
        raise UnsupportedConstruct(sub, "an unknown subscript")

    def parent(self, sub: str) -> list[str]:
        """Canonical elements of the largest range holding every element of ``sub``."""
        members = set(self.expand(sub))
        best = self.expand(sub)
        for elements in self.ranges.values():
            canon = [self.canonical(e) for e in elements]
            if members <= set(canon) and len(canon) > len(best):
                best = canon
        return best

    def is_range(self, sub: str) -> bool:
        return self.canonical(sub.rstrip("!")) in self.ranges


@dataclasses.dataclass(frozen=True)
class _Cell:
    """One position of a cell: the range it was defined over (or None) and its element."""

    range: str | None
    element: str


class Flattener:
    """Turns subscripted elements into scalar ``(key, name, ast)`` cells."""

    def __init__(self, subscripts: Subscripts) -> None:
        self.subs = subscripts
        self.canonical = subscripts.canonical
        self.dims: dict[str, list[str]] = {}  # element key -> subscripts of its definition
        self.known: set[str] = set()  # every element (lookups are called like functions)

    def prepare(self, elements: list[am.AbstractElement]) -> None:
        """Note the dimensions of every element (a reference may precede the definition)."""
        self.known = {self.canonical(e.name) for e in elements}
        for element in elements:
            for component in element.components:
                if component.subscripts[0]:
                    self.dims.setdefault(self.canonical(element.name),
                                         list(component.subscripts[0]))

    def cells(self, element: am.AbstractElement) -> list[tuple[str, str, object]]:
        """The cells of ``element``: reference key, Vensim column name, scalar expression."""
        key = self.canonical(element.name)
        out = []
        for component in element.components:
            subs, excepts = component.subscripts
            if not subs:
                out.append((key, element.name, self.resolve(component.ast, [], element.name)))
                continue
            self.dims.setdefault(key, list(subs))
            positions = [self.subs.expand(s) for s in subs]
            ranges = [i for i, s in enumerate(subs) if self.subs.is_range(s)]
            for combo in itertools.product(*positions):
                if any(all(c in self.subs.expand(e) for c, e in zip(combo, ex, strict=False))
                       for ex in excepts or ()):
                    continue
                bound = [_Cell(self.canonical(s) if self.subs.is_range(s) else None, c)
                         for s, c in zip(subs, combo, strict=True)]
                ast = component.ast
                if isinstance(ast, np.ndarray):
                    index = tuple(positions[i].index(combo[i]) for i in ranges)
                    if ast.shape != tuple(len(positions[i]) for i in ranges):
                        raise UnsupportedConstruct(element.name, "an array of another shape")
                    ast = float(ast[index])
                out.append((self._key(key, combo), self._name(element.name, combo),
                            self.resolve(ast, bound, element.name)))
        return out

    def _key(self, key: str, combo: tuple[str, ...]) -> str:
        return f"{key}[{','.join(combo)}]"

    def _name(self, name: str, combo: tuple[str, ...]) -> str:
        return f"{name}[{','.join(self.subs.names[c] for c in combo)}]"

    def _element(self, sub: str, bound: list[_Cell], name: str) -> str:
        """The element a subscript of a reference stands for in the cell ``bound``."""
        key = self.canonical(sub)
        if not self.subs.is_range(sub):
            return self.subs.expand(sub)[0]
        for cell in bound:
            if cell.range == key:
                return cell.element
        members = set(self.subs.expand(sub))
        found = []
        for cell in bound:
            if cell.element not in members or (cell.range or "").endswith("!") != (
                    sub.endswith("!")):
                continue
            # A subrange of the dimension, or the dimension of a subrange: the same element.
            other = set(self.subs.expand(cell.range)) if cell.range else members
            if other <= members or members <= other:
                found.append(cell.element)
        if not found:
            found = self._mapped(key, bound)
        if len(set(found)) != 1:
            raise UnsupportedConstruct(name, f"the dimension {sub!r} in this equation")
        return found[0]

    def _mapped(self, key: str, bound: list[_Cell]) -> list[str]:
        # A range mapped to one of the equation's: the element at the same position.
        found = []
        for cell in bound:
            if cell.range and cell.range in self.subs.maps.get(key, ()):
                source, target = self.subs.expand(cell.range), self.subs.expand(key)
                if len(source) == len(target):
                    found.append(target[source.index(cell.element)])
        return found

    def resolve(self, node: object, bound: list[_Cell], name: str) -> object:
        """``node`` for the cell ``bound``: references to cells, aggregates expanded."""
        if isinstance(node, np.ndarray):
            raise UnsupportedConstruct(name, "an array in an expression")
        if isinstance(node, ae.ReferenceStructure):
            key = self.canonical(node.reference)
            subs = node.subscripts.subscripts if node.subscripts is not None else None
            if subs is None and key not in self.dims and self.subs.is_range(key):
                # A range as a value: the 1-based position of the cell's element in it.
                # PySD numbers a subrange's elements by their place in the full dimension.
                element = self._element(node.reference, bound, name)
                return float(self.subs.parent(node.reference).index(element) + 1)
            if subs is None and key not in self.known and key in self.subs.names:
                # A subscript element as a value: its position in its dimension.
                return float(self.subs.parent(key).index(key) + 1)
            if subs is None and key in self.dims:
                subs = self.dims[key]  # an implicit reference to the whole variable
            if subs is None:
                return ae.ReferenceStructure(key)
            combo = tuple(self._element(s, bound, name) for s in subs)
            return ae.ReferenceStructure(self._key(key, combo))
        if isinstance(node, ae.CallStructure):
            function = self.canonical(node.function.reference)
            if function == "elmcount" and len(node.arguments) == 1:
                return float(len(self.subs.expand(node.arguments[0].reference)))
            if function in _AGGREGATES and len(node.arguments) == 1:
                return self._aggregate(function, node.arguments[0], bound, name)
            if function not in self.known and function not in _KNOWN_CALLS:
                # Name it now: its arguments may use subscripts only it understands.
                raise UnsupportedConstruct(
                    name, f"the function {function.upper().replace('_', ' ')}")
            target = self.resolve(node.function, bound, name)
            return ae.CallStructure(target, tuple(self.resolve(a, bound, name)
                                                  for a in node.arguments))
        if isinstance(node, ae.AbstractSyntax) and dataclasses.is_dataclass(node):
            if isinstance(node, ae.LookupsStructure):
                return node
            changes = {}
            for f in dataclasses.fields(node):
                value = getattr(node, f.name)
                if isinstance(value, list | tuple):
                    changes[f.name] = type(value)(self.resolve(v, bound, name) for v in value)
                elif isinstance(value, ae.AbstractSyntax | np.ndarray):
                    changes[f.name] = self.resolve(value, bound, name)
            return dataclasses.replace(node, **changes)
        return node

    def _aggregate(self, function: str, arg: object, bound: list[_Cell], name: str) -> object:
        # SUM(x[Dim!]): one term per element of every dimension marked "!".
        bangs = _bangs_order(arg)
        if not bangs:
            raise UnsupportedConstruct(name, f"{function.upper()} without a dimension marked !")
        terms = []
        for combo in itertools.product(*(self.subs.expand(b) for b in bangs)):
            extra = [_Cell(self.canonical(b) + "!", c) for b, c in zip(bangs, combo,
                                                                      strict=True)]
            terms.append(self.resolve(arg, [*extra, *bound], name))
        if _AGGREGATES[function] in "+*":
            if len(terms) == 1:
                return terms[0]
            return ae.ArithmeticStructure([_AGGREGATES[function]] * (len(terms) - 1), terms)
        total = terms[0]
        for term in terms[1:]:
            total = ae.CallStructure(ae.ReferenceStructure(_AGGREGATES[function]),
                                     (total, term))
        return total


def _bangs_order(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, ae.ReferenceStructure) and node.subscripts is not None:
        found += [s[:-1] for s in node.subscripts.subscripts if s.endswith("!")]
    if isinstance(node, ae.AbstractSyntax) and dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            for child in value if isinstance(value, list | tuple) else (value,):
                found += [s for s in _bangs_order(child) if s not in found]
    return found
