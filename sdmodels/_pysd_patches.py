"""A correction to PySD 3.14 applied wherever the project imports PySD's Vensim translator.

``pysd.translators.vensim.vensim_element.SubscriptRange.__init__`` has a mutable default,
``mapping: List[str] = []``, and PySD's Python builder appends to a range's ``mapping`` when the
range is a copy (``DimB <-> DimA``; ``pysd/builders/python/subscripts.py``). Every range created
without a mapping shares that one list, so after PySD has translated a model with a subscript
copy, the ranges of every model parsed later in the same process carry the copied range's name
as a mapping: PySD's own translations and the compiled engine's parse then depend on which
models were read before (found by the conformance suite: ``except_subranges`` is refused by the
compiled engine after ``subscript_copy`` has been translated). The patch gives each range its
own list; a range created with a mapping is unchanged.
"""

from __future__ import annotations

from typing import Any

from pysd.translators.vensim import vensim_element

_PATCHED = "_clusterdyn_fresh_mapping"


def apply() -> None:
    """Give every ``SubscriptRange`` made without a mapping a list of its own (idempotent)."""
    cls = vensim_element.SubscriptRange
    if getattr(cls.__init__, _PATCHED, False):
        return
    original = cls.__init__

    def __init__(self: Any, name: str, definition: Any, mapping: list | None = None) -> None:
        original(self, name, definition, [] if mapping is None else mapping)

    setattr(__init__, _PATCHED, True)
    __init__.__doc__ = original.__doc__
    cls.__init__ = __init__


apply()
