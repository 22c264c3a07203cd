"""The names of the simulation engines, importable without numpy, PySD or numba (the parsers
of ``clusterdyn --help`` list them). One tuple for every command: ``run``
(:mod:`clusterdyn.sdmodels.engines`), ``calibrate`` (:mod:`clusterdyn.calibration.runners`) and
``sensitivity``."""

#: The choices of ``--engine``: ``auto`` (compiled, else PySD with a notice), ``compiled``
#: (the compiled engine, or an error) and ``pysd``.
ENGINES = ("auto", "compiled", "pysd")
