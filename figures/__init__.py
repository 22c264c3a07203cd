"""The reproducible figure set: ``clusterdyn figures -o DIR`` (see ``figures/README.md``).

>>> from pathlib import Path
>>> from clusterdyn.figures import FIGURES, render, check
>>> report = render(Path("figures/output"), names=["calibration_fit"])
>>> check(Path("figures/output")).ok
True

Names are resolved lazily, so ``import figures.command`` (the CLI) does not import matplotlib.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIGURES", "FigureSpec", "check", "render"]


def __getattr__(name: str) -> Any:
    if name in ("FIGURES", "FigureSpec"):
        from clusterdyn.figures import registry

        return getattr(registry, name)
    if name in ("check", "render"):
        from clusterdyn.figures import rendering as module

        return getattr(module, name)
    raise AttributeError(f"module 'clusterdyn.figures' has no attribute {name!r}")
