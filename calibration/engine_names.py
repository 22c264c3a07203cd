"""The names of the simulation engines, importable without numpy, PySD or numba (the parsers
of ``clusterdyn --help`` list them); see :mod:`clusterdyn.calibration.runners`."""

#: The choices of ``--engine``: ``auto`` (compiled, else PySD with a notice), ``compiled``
#: (the vectorised runner, or an error) and ``pysd``.
ENGINES = ("auto", "compiled", "pysd")
