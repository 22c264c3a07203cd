"""Model validation battery: units, reality checks, integration error, stocks, behaviour.

Run it all with ``clusterdyn check -o report.md`` (:mod:`clusterdyn.validation.command`), or each
part:

>>> from clusterdyn.sdmodels import load_model
>>> from clusterdyn.validation.units import check_units
>>> check_units(load_model().mdl_path).passed
True

See ``validation/README.md``.
"""
