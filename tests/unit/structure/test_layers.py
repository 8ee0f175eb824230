"""Issue 17: one direction of dependencies. contract <- drivers, model <- teleop, policy node <-
the application; no circle of files, and none of subpackages inside a package."""

import subprocess
import sys
from pathlib import Path

import pytest

from helpers.imports import collapse, cycles, graph

SRC = Path(__file__).resolve().parents[3] / "src"
#: Lower layers never import higher ones; a package imports only layers below its own.
LAYERS = {"fdvla_msgs": 0, "fdvla_drivers": 1, "fdvla_model": 1, "fdvla_teleop": 2,
          "fdvla_policy_node": 2, "fdvla": 3}


def upward(g: dict) -> list[str]:
    bad = []
    for a, deps in g.items():
        pa = a.split(".")[0]
        for b in deps:
            pb = b.split(".")[0]
            if pa != pb and LAYERS[pb] >= LAYERS[pa]:
                bad.append(f"{a} -> {b}")
    return sorted(bad)


def test_every_package_has_a_layer():
    assert {p.name for p in SRC.iterdir() if (p / "package.xml").exists()} == set(LAYERS)


def test_no_import_runs_up_a_layer_or_across_one():
    assert upward(graph(SRC)) == []


def test_no_circle_of_files_or_subpackages():
    g = graph(SRC)
    assert cycles(g) == []
    assert cycles(collapse(g, 2)) == []


def test_the_checks_see_an_upward_import_and_a_circle(tmp_path):
    # The same checks on a planted tree: they must fail where the rules are broken.
    for dist, files in {"fdvla_msgs": {"types.py": "from fdvla_drivers import robot\n"},
                        "fdvla_drivers": {"robot.py": "import fdvla_drivers.sim\n",
                                          "sim.py": "from . import robot\n"}}.items():
        pkg = tmp_path / dist / dist
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        for name, text in files.items():
            (pkg / name).write_text(text)
    g = graph(tmp_path)
    assert upward(g) == ["fdvla_msgs.types -> fdvla_drivers.robot"]
    assert cycles(g) == [["fdvla_drivers.robot", "fdvla_drivers.sim"]]


@pytest.mark.parametrize("module", ["fdvla_model.model", "fdvla_model.dataset", "fdvla_model.localise",
                                    "fdvla_model.train", "fdvla_policy_node.inference",
                                    "fdvla_drivers.control", "fdvla_drivers.control.rollout"])
def test_core_imports_no_rclpy(module):
    code = f"import sys, {module}; sys.exit('rclpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, \
        f"{module} pulls in rclpy"
