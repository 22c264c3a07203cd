"""A copy of the model whose normalised effect tables carry an uncertain *shape*.

The effect tables of ``salmon_cluster.mdl`` (``Effect of ... = WITH LOOKUP (input, table)``)
are the modeller's judgement except at their reference point, where the input is at its
reference (ratio 1) and the effect is 1 by construction. :func:`shaped_model` writes a derived
``.mdl`` in which every such table ``X`` becomes

.. code-block:: text

    X = MAX(0, 1 + X shape * (X table - 1))
    X table = WITH LOOKUP (input, (the original table))
    X shape = 1  ~ dmnl [0.5,1.5]

so that ``X shape`` scales the table's deviation from 1 (0.5 halves every effect, 1.5 makes it
half as strong again) while keeping the reference point; ``MAX(0, ...)`` keeps a multiplier
from turning negative when a steep table is stretched. ``X table`` is an auxiliary holding the
unshaped table's value: the compiled runner (:mod:`clusterdyn.sdmodels._codegen`) evaluates inline
``WITH LOOKUP`` tables only, not separately defined lookups called as functions.

Which tables: those that contain the point (1, 1), i.e. pass through 1 at the reference point
of a normalised input (12 tables). Two ``WITH LOOKUP`` elements are left as they are:
``Rest of world production data`` (data, not an effect) and ``Effect of farming area on
investment``, a feasibility multiplier that is 1 at an empty farming area and must reach 0 at a
full one: scaling its deviation from 1 would let capacity exceed the biophysical ceiling, which
the model's reality checks (``sdmodels/salmon_cluster.checks.toml``) forbid.

With every shape at 1 the derived model reproduces the shipped one (``tests/test_robustness.py``
checks 1e-9 relative). The copy lives in the cache folder (never next to the source), in a
folder keyed by the source's SHA-256 and by the derived text's, and is named like the source so
that the shipped calibration applies to it (:meth:`clusterdyn.sdmodels.Model.with_calibration`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clusterdyn.io import write_atomically
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model, calibration_file, load_model
from clusterdyn.sdmodels.translation import write_in_cache

#: Range of every shape constant (dmnl).
SHAPE_RANGE = (0.5, 1.5)
SHAPE_SUFFIX = " shape"
TABLE_SUFFIX = " table"
#: Doc string of the shape constants, as written into the derived ``.mdl``.
SHAPE_DOC = ("Shape of the effect table: scales its deviation from 1 (assumption, range "
             "0.5-1.5)")

# One element of the .mdl: "Name=\n\tWITH LOOKUP (input,\n\t\t(table) )\n\t~\tunits\n\t~\tdoc\n\t|"
_ELEMENT = re.compile(
    r"^(?P<name>[^\n=~|]+?)=\n\tWITH LOOKUP \((?P<body>.*?)\)\n"
    r"\t~\t(?P<units>[^\n]*)\n\t~\t(?P<doc>[^\n]*)\n\t\|",
    re.MULTILINE | re.DOTALL,
)
_POINT = re.compile(r"\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)")


@dataclass(frozen=True)
class EffectTable:
    """A ``WITH LOOKUP`` element of the source ``.mdl``.

    Attributes
    ----------
    name : str
        The element's Vensim name.
    argument : str
        The expression the table is read at.
    table : str
        The table text ``([(xmin,ymin)-(xmax,ymax)],(x,y),...)``.
    points : tuple of (float, float)
        The table's points (the range box excluded).
    """

    name: str
    argument: str
    table: str
    points: tuple[tuple[float, float], ...]

    @property
    def normalised(self) -> bool:
        """Whether the table passes through (1, 1): effect 1 at the reference point."""
        return (1.0, 1.0) in self.points


def _split(name: str, body: str) -> EffectTable:
    start = body.find("([")
    if start < 0:
        raise ModelInputError(f"element {name!r}: cannot find the table of its WITH LOOKUP")
    argument = body[:start].rstrip().rstrip(",").strip()
    table = body[start:].strip()
    box_end = table.find("]")
    points = tuple((float(x), float(y)) for x, y in _POINT.findall(table[box_end + 1:]))
    return EffectTable(name.strip(), argument, table, points)


def effect_tables(text: str) -> list[EffectTable]:
    """Every ``WITH LOOKUP`` element of a ``.mdl``'s text, in file order."""
    return [_split(m["name"], m["body"]) for m in _ELEMENT.finditer(text)]


def shaped_tables(text: str) -> list[str]:
    """Names of the tables :func:`shaped_text` gives a shape (those through (1, 1))."""
    return [t.name for t in effect_tables(text) if t.normalised]


def shape_parameter(table: str) -> str:
    """The shape constant of effect table ``table``."""
    return table + SHAPE_SUFFIX


def shaped_text(text: str) -> str:
    """The ``.mdl`` text with every normalised effect table split into value, table and shape.

    Raises
    ------
    ModelInputError
        If the text has no normalised effect table, or a derived name already exists.
    """
    tables = {t.name: t for t in effect_tables(text) if t.normalised}
    if not tables:
        raise ModelInputError("the model has no WITH LOOKUP table through (1, 1) to shape")
    for name in tables:
        for new in (name + TABLE_SUFFIX, shape_parameter(name)):
            if re.search(rf"^{re.escape(new)}\s*=", text, re.MULTILINE):
                raise ModelInputError(f"cannot shape {name!r}: the model already has {new!r}")

    def replace(match: re.Match[str]) -> str:
        name = match["name"].strip()
        if name not in tables:
            return match.group(0)
        t, units, doc = tables[name], match["units"], match["doc"]
        low, high = SHAPE_RANGE
        return (
            f"{name}=\n\tMAX(0, 1+{shape_parameter(name)}*({name}{TABLE_SUFFIX}-1))\n"
            f"\t~\t{units}\n\t~\t{doc} Shaped: 1 + shape x (table - 1), at least 0.\n\t|\n\n"
            f"{name}{TABLE_SUFFIX}=\n\tWITH LOOKUP ({t.argument},\n\t\t{t.table})\n"
            f"\t~\t{units}\n\t~\tThe table of {name} as shipped (shape 1).\n\t|\n\n"
            f"{shape_parameter(name)}=\n\t1\n\t~\tdmnl [{low:g},{high:g}]\n\t~\t{SHAPE_DOC}\n\t|"
        )

    return _ELEMENT.sub(replace, text)


def shaped_mdl(source: str | Path) -> Path:
    """Write (once) the shaped copy of ``source`` into the cache folder; return its path.

    The folder is ``<cache>/shaped/<source SHA-256[:16]>-<derived SHA-256[:8]>/`` and the file
    keeps the source's name. An existing copy is reused (its content is fixed by its folder
    name).
    """
    source = Path(source)
    raw = source.read_bytes()
    text = shaped_text(raw.decode("utf-8"))
    derived = text.encode("utf-8")
    key = f"{hashlib.sha256(raw).hexdigest()[:16]}-{hashlib.sha256(derived).hexdigest()[:8]}"

    def write(root: Path) -> Path:
        target = root / "shaped" / key / source.name
        if not (target.is_file() and target.read_bytes() == derived):
            target.parent.mkdir(parents=True, exist_ok=True)
            # newline="" in write_atomically: the bytes are exactly the derived text's.
            write_atomically(target, lambda handle: handle.write(text))
        return target

    return write_in_cache(write)


def shaped_model(name: str = "salmon_cluster") -> Model:
    """The shaped copy of a shipped model, with the shipped calibration as its baseline.

    Parameters
    ----------
    name : str
        A shipped model name.

    Returns
    -------
    Model
        Loaded from the cached copy (:func:`shaped_mdl`); its parameters are the shipped
        model's plus one ``<table> shape`` per shaped table, and its :attr:`~Model.baseline`
        is the shipped calibration (a ``.mdl`` outside ``sdmodels/`` gets none by itself).
    """
    source = load_model(name, defaults="mdl")
    model = load_model(str(shaped_mdl(source.mdl_path)))
    found = calibration_file(source.name)
    return model.with_calibration(found) if found.is_file() else model


__all__ = ["SHAPE_RANGE", "EffectTable", "effect_tables", "shape_parameter", "shaped_mdl",
           "shaped_model", "shaped_tables", "shaped_text"]
