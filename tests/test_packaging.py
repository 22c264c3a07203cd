"""One import name and layered packages (issue 18, "One import name").

* setup.cfg installs the repository's top-level folders as sub-packages of ``clusterdyn`` and
  lists every folder that holds files;
* no code imports a bare top-level name (``sdmodels``, ``calibration``, ...), which in a
  checkout would load a second copy of a module beside ``clusterdyn.sdmodels``;
* the layers import downwards only, and nothing but the command line imports it;
* a wheel built with ``python -m build`` puts only ``clusterdyn`` on the import path, and,
  installed in a fresh virtual environment outside the checkout, runs ``clusterdyn run``,
  ``clusterdyn scenarios`` and ``clusterdyn figures`` with its package data.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Top-level folders installed as ``clusterdyn.<folder>``, lowest layer first.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("clusterdyn.errors", "clusterdyn.io", "clusterdyn.argtypes", "clusterdyn.axes"),
    ("sdmodels",),
    ("calibration",),
    ("scenarios",),
    ("ensembles", "validation", "forecasting", "policy"),
    ("figures",),
    ("explore",),
    ("clusterdyn.cli",),
)
FOLDERS = ("sdmodels", "calibration", "scenarios", "figures", "validation", "ensembles",
           "forecasting", "policy", "explore")


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines()]


def _setup() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.strip().splitlines() if line.strip()]


def test_setup_maps_every_folder_with_files_into_clusterdyn():
    config = _setup()
    packages = set(_lines(config["options"]["packages"]))
    mapping = dict(line.split(" = ") for line in _lines(config["options"]["package_dir"]))
    assert mapping == {f"clusterdyn.{folder}": folder for folder in FOLDERS}
    folders = {path.parent.relative_to(ROOT) for path in _tracked(*FOLDERS, "clusterdyn")}
    expected = {"clusterdyn"} | {"clusterdyn." + ".".join(folder.parts) for folder in folders
                                 if folder.parts[0] != "clusterdyn"
                                 and folder.parts[:2] != ("figures", "output")}
    assert packages == expected


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_code_imports_a_bare_top_level_folder():
    bad = [f"{path.relative_to(ROOT)}: {name}" for path in _tracked("*.py")
           for name in _imports(path) if name.split(".")[0] in FOLDERS]
    assert not bad


def _unit(path: Path) -> str:
    """Layer unit of a module file: its top-level folder, or ``clusterdyn.<module>``."""
    relative = path.relative_to(ROOT)
    if relative.parts[0] == "clusterdyn":
        return f"clusterdyn.{Path(relative.parts[1]).stem}"
    return relative.parts[0]


def _target(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "clusterdyn" or len(parts) < 2 or parts[1] == "__version__":
        return None
    return parts[1] if parts[1] in FOLDERS else f"clusterdyn.{parts[1]}"


def _is_command(path: Path) -> bool:
    # Subcommand modules (`command.py`, `*_command.py`, `__main__.py`) are the command line of
    # their package: they may draw figures of a higher layer, but never import clusterdyn.cli.
    return path.stem in ("command", "__main__") or path.stem.endswith("_command")


def test_layers_import_downwards_only_and_nothing_imports_the_command_line():
    rank = {unit: k for k, layer in enumerate(LAYERS) for unit in layer}
    graph = nx.DiGraph()
    upward, cli = [], []
    for path in _tracked(*FOLDERS, "clusterdyn"):
        if path.suffix != ".py" or path == ROOT / "clusterdyn" / "__init__.py":
            continue  # the package's __init__ only resolves shortcuts on first use
        unit = _unit(path)
        for name in _imports(path):
            target = _target(name)
            if target is None or target == unit:
                continue
            if target == "clusterdyn.cli":
                cli.append(f"{path.relative_to(ROOT)}")
            if _is_command(path):
                continue
            graph.add_edge(unit, target)
            if rank[target] > rank[unit]:
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not cli, "only the console script imports clusterdyn.cli"
    assert not upward
    assert nx.is_directed_acyclic_graph(graph), nx.find_cycle(graph)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # From a copy of the tracked files, as a fresh clone has them (a build in the checkout
    # would reuse its build/ folder, which can hold files since deleted).
    source = tmp_path_factory.mktemp("source")
    for path in _tracked():
        target = source / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    # --no-isolation: the build uses this environment's setuptools (no download in the tests).
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--outdir", str(out), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    wheels = list(out.glob("clusterdyn-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_has_one_top_level_import_name_and_its_package_data(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = [n for n in names if n.endswith("top_level.txt")]
        assert archive.read(top_level[0]).decode().split() == ["clusterdyn"]
    assert {name.split("/")[0] for name in names} == {"clusterdyn",
                                                       wheel.name.split("-py3")[0] + ".dist-info"}
    for needed in ("clusterdyn/sdmodels/salmon_cluster.mdl",
                   "clusterdyn/calibration/results/salmon_cluster.toml",
                   "clusterdyn/calibration/results/salmon_cluster_posterior.csv",
                   "clusterdyn/calibration/data/SOURCES.md",
                   "clusterdyn/scenarios/historical.toml",
                   "clusterdyn/figures/clusterdyn.mplstyle",
                   "clusterdyn/policy/results/optimize/settings.toml",
                   "clusterdyn/scenarios/results/loops/historical/by_year.csv",
                   "clusterdyn/forecasting/results/beyond_2003/forecast.csv"):
        assert needed in names, needed
    assert not any("figures/output/" in name or "/tests/" in name for name in names)


def test_wheel_installed_outside_the_checkout_runs_the_commands(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    # No pip of its own (ensurepip took 6-10 s of CI time): this environment's pip installs
    # the wheel into it (`pip --python`), the same pip install of the same wheel.
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this environment's site-packages (no network in the tests),
    # put on the path by a .pth line: its own .pth files are not run, so an editable install
    # of the checkout there cannot supply modules the wheel lacks.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib.stdout.strip()) / "dependencies.pth").write_text("\n".join(sorted(paths)))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   text=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    environment["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{environment['PATH']}"

    def run(*argv: str) -> str:
        done = subprocess.run(argv, cwd=work, env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    modules = run(str(python), "-c", "import sys, clusterdyn.cli, clusterdyn.figures.registry; "
                  "print('\\n'.join(m.__file__ for n, m in sys.modules.items() "
                  "if n.startswith('clusterdyn') and getattr(m, '__file__', None)))")
    assert all(Path(line).is_relative_to(env_dir) for line in modules.split()), modules
    baseline = run(str(env_dir / "bin" / "clusterdyn"), "run", "-o", "-")
    assert baseline.splitlines()[0].startswith("year,Production,")
    assert len(baseline.splitlines()) == 1 + 26
    run(str(env_dir / "bin" / "clusterdyn"), "scenarios", "historical", "no_policy", "-o", "sc")
    assert (work / "sc" / "kpis.csv").is_file()
    run(str(env_dir / "bin" / "clusterdyn"), "figures", "--no-progress", "-o", "figs")
    from clusterdyn.figures.catalog import CATALOG

    for name in CATALOG:  # structure is drawn per sector: its files carry a suffix
        assert list((work / "figs").glob(f"{name}*.png")), name
    assert (work / "figs" / "MANIFEST.json").is_file()
    assert not (work / "figures").exists()
