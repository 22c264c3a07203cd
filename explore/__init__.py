"""``clusterdyn explore``: re-run the calibrated model in the browser as policy sliders move.

:mod:`~clusterdyn.explore.workbench` (settings, runs, bands, KPIs) and
:mod:`~clusterdyn.explore.files` / :mod:`~clusterdyn.explore.exports` (scenario files, CSV,
PNG/SVG) need only the core dependencies; :mod:`~clusterdyn.explore.app` (the page) needs the
optional ``[explore]`` extra (Panel).
"""
