"""Golden trajectory of the default model run; ``python -m tests.golden`` regenerates it."""

from __future__ import annotations

from pathlib import Path

GOLDEN_FILE = Path(__file__).parent / "golden" / "salmon_cluster_default.csv"


def main() -> None:
    from clusterdyn.sdmodels import load_model

    load_model("salmon_cluster", defaults="mdl").run().to_csv(GOLDEN_FILE, float_format="%.12g")
    print(f"wrote {GOLDEN_FILE}")


if __name__ == "__main__":
    main()
