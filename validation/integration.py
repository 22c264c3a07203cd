"""Integration error of the default Euler time step, on every public output.

Three comparisons, each the largest relative difference over the years 1978-2003 of each
output of :data:`clusterdyn.sdmodels.PUBLIC_OUTPUTS`:

- **halving**: Euler at the ``.mdl``'s time step against Euler at half of it (the project's
  runner, :mod:`clusterdyn.sdmodels.vectorized`, equal to PySD to rounding). For a first-order
  method
  the error of the default step is about twice this (Richardson), also reported;
- **RK4**: Euler against the classical fourth-order Runge-Kutta method at the same step, from
  :mod:`clusterdyn.validation.stepper` (the same derivative function for both methods);
- **RK4 convergence**: RK4 at the time step against RK4 at half of it. RK4 is only first
  order over the steps where a policy stage switches (``IF THEN ELSE`` on Time: its last
  stage sees the next stage's levers), so this is not negligible where a stock is tiny.

A self-check comes first: the stepper's Euler mode must reproduce the project's runner to
1e-9, or the RK4 comparison would measure two different models.

Limits (:data:`LIMITS`): halving < 1% (the criterion under which the ``.mdl``'s 1/128 year
step was chosen, see its TIME STEP comment), Euler vs RK4 < 3% (twice the halving limit, as
Euler's error is about twice the halving difference, plus 1% for RK4's own error at the stage
switches), RK4 convergence < 1%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterdyn.sdmodels import PUBLIC_OUTPUTS, Model
from clusterdyn.sdmodels.vectorized import compile_model
from clusterdyn.validation.stepper import compile_stepper

#: Pass limits on the largest relative difference, by comparison.
LIMITS: dict[str, float] = {"self": 1e-9, "halving": 0.01, "rk4": 0.03, "rk4_convergence": 0.01}
LABELS: dict[str, str] = {
    "self": "stepper Euler vs runner Euler",
    "halving": "Euler dt vs dt/2",
    "rk4": "Euler vs RK4",
    "rk4_convergence": "RK4 dt vs dt/2",
}


def relative_difference(values: pd.Series, reference: pd.Series) -> tuple[float, int]:
    """Largest ``|values - reference| / |reference|`` over the years, and its year.

    Where the reference is 0 the absolute difference is divided by the series' largest
    magnitude instead (0 when both are 0).
    """
    a, b = values.to_numpy(dtype=float), reference.to_numpy(dtype=float)
    scale = np.abs(b)
    floor = float(np.max(scale)) or 1.0
    rel = np.abs(a - b) / np.where(scale > 0, scale, floor)
    i = int(np.argmax(rel))
    return float(rel[i]), int(reference.index[i])


@dataclass(frozen=True)
class OutputError:
    """Largest relative differences of one output, by comparison (value, year)."""

    output: str
    differences: Mapping[str, tuple[float, int]]

    @property
    def richardson(self) -> float:
        """Richardson estimate of the Euler error at the default step: 2 x halving."""
        return 2 * self.differences["halving"][0]

    def failures(self) -> list[str]:
        """Comparisons over their limit."""
        return [k for k, (v, _) in self.differences.items() if not v < LIMITS[k]]


@dataclass(frozen=True)
class IntegrationReport:
    """Result of :func:`check_integration`."""

    dt: float
    outputs: tuple[OutputError, ...]

    @property
    def passed(self) -> bool:
        """True when every output is within every limit."""
        return not any(o.failures() for o in self.outputs)

    def worst(self, comparison: str) -> tuple[str, float, int]:
        """The output with the largest difference in ``comparison``: (name, value, year)."""
        o = max(self.outputs, key=lambda o: o.differences[comparison][0])
        return (o.output, *o.differences[comparison])


def check_integration(model: Model, params: Mapping[str, float] | None = None,
                      until: int | None = None) -> IntegrationReport:
    """Measure the Euler integration error of ``model`` at its default time step.

    Raises
    ------
    NotImplementedError
        If the model uses a construct the RK4 stepper does not support.
    """
    checked = model.validate_params(params)
    until = int(until or model.final_time)
    dt = model.time_step
    runner = compile_model(model)
    names = list(PUBLIC_OUTPUTS)
    euler = runner.run(checked, until=until, dt=dt, variables=names).to_frame(0)
    euler_half = runner.run(checked, until=until, dt=dt / 2, variables=names).to_frame(0)
    stepper = compile_stepper(model.mdl_path)
    own_euler = stepper.run(checked, until, dt, "euler", names)
    rk4 = stepper.run(checked, until, dt, "rk4", names)
    rk4_half = stepper.run(checked, until, dt / 2, "rk4", names)
    pairs = {
        "self": (own_euler, euler),
        "halving": (euler, euler_half),
        "rk4": (euler, rk4),
        "rk4_convergence": (rk4, rk4_half),
    }
    outputs = tuple(
        OutputError(name, {k: relative_difference(a[name], b[name]) for k, (a, b) in
                           pairs.items()})
        for name in names
    )  # fmt: skip
    return IntegrationReport(dt, outputs)
