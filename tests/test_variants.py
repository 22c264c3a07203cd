"""Structural variants (calibration.variants): declaration, building, scoring, the report."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from calibration import variants as variants_module
from calibration.spec import SpecError, load_spec
from calibration.variants import VARIANTS_FILE, build, load_variants, main
from sdmodels import load_model
from sdmodels.translation import cache_root
from tests.precision import assert_same_at_precision

SHIPPED_REPORT = Path("calibration/results/structure_variants.md")


def test_every_variant_builds_in_the_cache_with_a_valid_spec():
    """Each edit matches the shipped .mdl exactly once, the result translates and its spec
    (the shipped spec plus the variant's parameters) validates against it."""
    variants = load_variants()
    assert len(variants) >= 5  # the world experience curve joined the model (issue 15)
    combined = variants["market_development_and_investment_sensitivity"]
    assert combined.edits == (variants["market_development"].edits
                              + variants["investment_sensitivity"].edits)
    for variant in variants.values():
        mdl, spec_path = build(variant)
        assert cache_root() in mdl.parents  # never next to the source
        model = load_model(str(mdl))
        spec = load_spec(model, spec_path)
        added = {p["name"] for p in variant.parameters}
        assert added <= {p.name for p in spec.parameters}
        assert added <= set(model.parameters)


@pytest.mark.parametrize("text, message", [
    ('[[variant]]\nname = "x"\nhypothesis = "h"\n[[variant.edit]]\nreplace = "no such text"\n'
     'with = "y"\n', "edit[0]: its replace text occurs 0 times"),
    ('[[variant]]\nname = "x"\nhypothesis = "h"\nincludes = ["later"]\n',
     "'later' is not an earlier variant"),
    ('[[variant]]\nname = "x"\n', "expected name, hypothesis"),
    ('[[variant]]\nname = "x"\nhypothesis = "h"\n[[variant.edit]]\nreplace = "a"\n',
     "expected the keys replace and with"),
    ("[[variant]\n", "variants.toml"),
])
def test_bad_variant_files_name_the_variant_and_key(tmp_path, text, message):
    path = tmp_path / "variants.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message.replace("[", r"\[")):
        for variant in load_variants(path).values():
            build(variant)


def test_unknown_variant_is_one_clear_error(capsys):
    assert main(["--only", "nope", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "unknown variant(s) ['nope']" in err and "Traceback" not in err


def test_shipped_report_is_what_the_command_writes_now(tmp_path):
    """The committed comparison of the structural variants is regenerated at its written
    precision (:mod:`tests.precision`)
    (every calibration is seeded; about 3-4 minutes on the 2-core machine).

    Its first row recalibrates the shipped structure, so it must also equal the shipped
    results files' objectives."""
    out = tmp_path / "variants.md"
    assert main(["-o", str(out)]) == 0
    # its percentages are rounded to whole numbers: one may flip on another processor
    assert_same_at_precision(out, SHIPPED_REPORT, rounded_whole_numbers=True)
    shipped_row = [c.strip() for c in out.read_text().splitlines()[6].split("|")]
    assert shipped_row[1].startswith("shipped")
    for column, results in ((3, "salmon_cluster_until_1995.toml"), (-4, "salmon_cluster.toml")):
        written = tomllib.loads((SHIPPED_REPORT.parent / results).read_text())
        # the results file keeps 4 significant digits, the report 4 decimals
        assert float(shipped_row[column]) == pytest.approx(
            written["calibration"]["objective"], rel=1e-3)
    assert VARIANTS_FILE.is_file() and variants_module.BASE_MODEL == "salmon_cluster"
