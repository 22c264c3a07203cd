"""Scenario files written and read by ``clusterdyn explore``.

*Save* writes the sliders as a complete scenario file (no ``base``: all nine levers and both
later stage starts) in the shipped files' layout, one line per lever, and proves it by loading
it back with the command line's loader before it is offered. *Load* reads an uploaded file with
that same loader, so a bad file gets the loader's one-line message, naming the uploaded file
and the key, never a traceback.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from clusterdyn.explore.workbench import Settings
from clusterdyn.scenarios.catalog import RESERVED, available
from clusterdyn.scenarios.spec import LEVERS, STAGES, Scenario, ScenarioError, load
from clusterdyn.sdmodels.model import Model

#: Scenario names a saved file may take: they are also its file name.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Largest scenario file accepted for upload (bytes); shipped files are about 2 kB.
MAX_UPLOAD_BYTES = 64_000


def check_name(name: str) -> str:
    """A valid name for a saved scenario, or a one-line :class:`ScenarioError`."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise ScenarioError(f"scenario name {name!r}: expected lower-case letters, digits and _, "
                            "starting with a letter (it is also the file name), e.g. 'my_mix'")
    if name in available() or name in RESERVED:
        raise ScenarioError(f"scenario name {name!r} is a shipped scenario's: choose another, "
                            "so that the file is never confused with it")
    return name


def _string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes), on one line.
    return json.dumps(text, ensure_ascii=False)


def _number(value: float | str) -> str:
    if isinstance(value, str):
        return _string(value)
    value = round(float(value), 6)
    return str(int(value)) if value.is_integer() else repr(value)


def scenario_toml(settings: Settings, name: str, description: str, rationale: str) -> str:
    """The text of a complete scenario file holding ``settings``."""
    data = settings.to_dict(name, description.strip(), rationale.strip())
    lines = [f"name = {_string(name)}", f"description = {_string(data['description'])}",
             f"rationale = {_string(data['rationale'])}", ""]
    for stage in STAGES:
        lines += [f"[stages.{stage}]", f"start = {_number(data['stages'][stage]['start'])}", ""]
    lines += ["[levers]", f"# intensity in [{', '.join(STAGES)}]"]
    lines += [f"{k} = [{', '.join(_number(v) for v in data['levers'][k])}]" for k in LEVERS]
    if settings.parameters:
        lines += ["", "[parameters]"]
        lines += [f"{_string(k)} = {_number(v)}" for k, v in settings.parameters]
    return "\n".join(lines) + "\n"


def save_text(settings: Settings, name: str, description: str, rationale: str,
              model: Model) -> str:
    """The scenario file's text, after checking it loads back to the same settings.

    Raises
    ------
    ScenarioError
        If the name is not allowed or the settings are not a valid scenario (one line).
    """
    name = check_name(name)
    description = description.strip() or "Built in clusterdyn explore."
    rationale = rationale.strip() or "Explored interactively in clusterdyn explore."
    text = scenario_toml(settings, name, description, rationale)
    scenario = _load_text(f"{name}.toml", text.encode(), model)
    if Settings.from_scenario(scenario) != _rounded(settings):
        raise ScenarioError(f"{name}.toml: the saved file does not load back to the settings "
                            "shown (please report this)")
    return text


def _rounded(settings: Settings) -> Settings:
    def r(value: float | str) -> float | str:
        return value if isinstance(value, str) else round(float(value), 6)

    return Settings(tuple(tuple(r(v) for v in row) for row in settings.levers),  # type: ignore[misc]
                    (r(settings.starts[0]), r(settings.starts[1])),
                    tuple((k, r(v)) for k, v in settings.parameters))  # type: ignore[misc]


def load_upload(filename: str, content: bytes, model: Model) -> Scenario:
    """Read an uploaded scenario file with the command line's loader.

    Parameters
    ----------
    filename : str
        The name the browser gave (only its last part is used; the loader requires the
        ``name`` key to equal the file name without ``.toml``).
    content : bytes

    Raises
    ------
    ScenarioError
        One line naming the uploaded file and the key.
    """
    shown = Path(filename or "scenario.toml").name
    if len(content) > MAX_UPLOAD_BYTES:
        raise ScenarioError(f"{shown}: {len(content):,} bytes; a scenario file is at most "
                            f"{MAX_UPLOAD_BYTES:,} bytes")
    if not shown.endswith(".toml"):
        raise ScenarioError(f"{shown}: expected a scenario file ending in .toml")
    return _load_text(shown, content, model)


def _load_text(filename: str, content: bytes, model: Model) -> Scenario:
    with tempfile.TemporaryDirectory(prefix="clusterdyn-explore-") as folder:
        path = Path(folder) / filename
        path.write_bytes(content)
        try:
            return load(path, model)
        except ScenarioError as exc:
            # The loader names the temporary copy; the user knows the file by its own name.
            raise ScenarioError(str(exc).replace(str(path), filename)) from None
