"""Write a calibration's estimates into a ``.mdl`` as its default values.

The shipped ``.mdl`` carries the shipped calibration as its defaults, so that a Vensim user who
opens it runs the shipped model (``tests/test_supply_limits.py`` checks it). After a change to
the model, the calibration moves; this puts the new estimates back::

    python -m clusterdyn.sdmodels.defaults calibration/results/salmon_cluster.toml

Only the value line of each estimated constant changes (as the results file writes it, 4
significant digits); units, ranges, comments and the sketch stay as they are. The results
file's hashes then no longer match the ``.mdl``: recalibrate (``clusterdyn reproduce
--recalibrate``), which finds the same estimates because the search does not start from the
defaults of the parameters it frees.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import ModelInputError
from .model import MODELS_DIR, read_calibrated_values


def with_defaults(text: str, values: Mapping[str, float], source: str = ".mdl") -> str:
    """The ``.mdl`` text with the value line of each named constant replaced.

    Parameters
    ----------
    text : str
        The ``.mdl`` source.
    values : mapping of str to float
        New default values by Vensim name.
    source : str
        Name of the file, for error messages.

    Returns
    -------
    str
        The new source (equal to ``text`` when every value is already the default).

    Raises
    ------
    ModelInputError
        If a name is not declared exactly once as a constant (a name, ``=``, then a single
        number on the next line).
    """
    for name, value in values.items():
        pattern = re.compile(r"(^|\n)(" + re.escape(name) + r"=\n\t)([-+.\deE]+)(\n)")
        found = len(pattern.findall(text))
        if found != 1:
            raise ModelInputError(f"{source}: expected one constant {name!r} with a number on "
                                  f"the line after 'name=', found {found}")
        text = pattern.sub(lambda m, v=value: f"{m[1]}{m[2]}{float(v)!r}{m[4]}", text)
    return text


def write_defaults(results: str | Path, mdl: str | Path | None = None) -> list[str]:
    """Write the estimates of a calibration results file as the ``.mdl``'s defaults.

    Parameters
    ----------
    results : str or pathlib.Path
        A calibration results file (``clusterdyn calibrate -o``).
    mdl : str or pathlib.Path, optional
        The model to rewrite (default: the shipped ``sdmodels/salmon_cluster.mdl``).

    Returns
    -------
    list of str
        The names whose default changed.
    """
    results = Path(results)
    values = read_calibrated_values(results)
    path = Path(mdl) if mdl is not None else MODELS_DIR / "salmon_cluster.mdl"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelInputError(f"model file {path}: cannot be read ({exc})") from None
    changed = [name for name, value in values.items()
               if with_defaults(text, {name: value}, str(path)) != text]
    new = with_defaults(text, values, str(path))
    if new != text:
        path.write_text(new, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m clusterdyn.sdmodels.defaults RESULTS.toml [MODEL.mdl]``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m clusterdyn.sdmodels.defaults RESULTS.toml [MODEL.mdl]",
              file=sys.stderr)
        return 2
    try:
        changed = write_defaults(*args)
    except ModelInputError as exc:
        print(f"clusterdyn.sdmodels.defaults: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(changed)} defaults changed" + (f": {', '.join(changed)}" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
