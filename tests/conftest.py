"""Shared fixtures: one translated model per test session, in a private cache folder."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_translation_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Each test session translates the .mdl into its own cache, so the tests also cover a
    # first translation from scratch and never depend on a user's cache.
    os.environ["CLUSTERDYN_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def model():
    """The model with the .mdl's own parameter values: the structure tests and the golden
    trajectory are about the equations, not about a particular fit."""
    from sdmodels import load_model

    return load_model("salmon_cluster", defaults="mdl")


@pytest.fixture(scope="session")
def default_run(model):
    return model.run(variables="all")
