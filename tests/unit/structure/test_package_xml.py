"""Issue 17: each package.xml lists what its package's code imports (as exec_depend), and
nothing it does not, so that colcon orders the build and rosdep installs what runs.

The code of a package is its module folder `src/<pkg>/<pkg>/` and its launch files; every
import at any depth counts (a function-level import runs too). The standard library is skipped
(`sys.stdlib_module_names`); every other import name needs a row in the tables below.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers.imports import top_level_imports

SRC = Path(__file__).resolve().parents[3] / "src"

#: ROS packages: the package.xml key is the import name.
ROS_PACKAGES = {
    "rclpy", "rcl_interfaces", "builtin_interfaces", "std_msgs", "geometry_msgs", "sensor_msgs",
    "trajectory_msgs", "nav_msgs", "visualization_msgs", "diagnostic_msgs", "std_srvs",
    "ament_index_python", "launch", "launch_ros",
}

#: Third-party Python modules -> rosdep keys. The key in rosdep's python.yaml where it has one
#: (the first six); else rosdep's convention for a PyPI-only package, python3-<PyPI name>-pip,
#: which a lab's own rosdep source resolves. Either way requirements/*.txt is what installs them,
#: with the pins (README "Dependencies"); rosdep's pip installer skips what pip already has.
PYTHON_KEYS = {
    "numpy": "python3-numpy",
    "scipy": "python3-scipy",
    "yaml": "python3-yaml",
    "matplotlib": "python3-matplotlib",
    "tqdm": "python3-tqdm",
    "transformers": "python3-transformers-pip",
    # Not in rosdep (its python3-pytorch-pip is retired; Debian's python3-torch is years old).
    "torch": "python3-torch-pip",
    "tokenizers": "python3-tokenizers-pip",
    "safetensors": "python3-safetensors-pip",
    "mujoco": "python3-mujoco-pip",
    "rich": "python3-rich-pip",
    "rosbags": "python3-rosbags-pip",
    "mcap": "python3-mcap-pip",
    "pyarrow": "python3-pyarrow-pip",
    "av": "python3-av-pip",
    "foxglove": "python3-foxglove-sdk-pip",
}

#: Vendor SDKs of hardware a simulation-only machine (and CI) does not have: not dependencies.
#: Each may only be imported under `try/except ImportError`, which turns its absence into an
#: error saying what to install when that hardware is asked for.
OPTIONAL = {
    "rtde_control": "ur_rtde, the UR arm (requirements/hardware.txt)",
    "rtde_receive": "ur_rtde, the UR arm (requirements/hardware.txt)",
    "dashboard_client": "ur_rtde, the UR arm (requirements/hardware.txt)",
    "pyrealsense2": "the RealSense D405 wrist camera (requirements/hardware.txt)",
    "pyk4a": "the Azure Kinect; it builds against Microsoft's SDK (docs/hardware.md)",
    "pyspacemouse": "the SpaceMouse over HID, teleop only (requirements/hardware.txt)",
}


def packages(src: Path) -> list[Path]:
    return sorted(p for p in src.iterdir() if (p / "package.xml").is_file())


def code_files(pkg: Path) -> list[Path]:
    """What the package installs and runs: its module folder and launch files."""
    return sorted((pkg / pkg.name).glob("**/*.py")) + sorted((pkg / "launch").glob("*.py"))


def exec_depends(package_xml: Path) -> set[str]:
    root = ET.parse(package_xml).getroot()
    return {e.text.strip() for tag in ("exec_depend", "depend") for e in root.iter(tag)}


def dependency_problems(pkg: Path, project: set[str]) -> list[str]:
    """Missing and unused exec_depends of one package, and imports no table knows."""
    needed: dict[str, set[str]] = {}
    problems = []
    for path in code_files(pkg):
        where = path.relative_to(pkg).as_posix()
        for name, guarded in sorted(top_level_imports(path).items()):
            if name in sys.stdlib_module_names or name == pkg.name:
                continue
            if name in OPTIONAL:
                if not guarded:
                    problems.append(f"{where}: optional {name} imported outside "
                                    "try/except ImportError")
                continue
            key = name if name in project | ROS_PACKAGES else PYTHON_KEYS.get(name)
            if key is None:
                problems.append(f"{where}: import {name!r} has no dependency key in "
                                "tests/unit/structure/test_package_xml.py")
            else:
                needed.setdefault(key, set()).add(where)
    declared = exec_depends(pkg / "package.xml")
    for key in sorted(set(needed) - declared):
        problems.append(f"missing <exec_depend>{key}</exec_depend> "
                        f"(imported by {', '.join(sorted(needed[key]))})")
    for key in sorted(declared - set(needed)):
        problems.append(f"<exec_depend>{key}</exec_depend> is not imported")
    return problems


@pytest.mark.parametrize("pkg", packages(SRC), ids=lambda p: p.name)
def test_package_xml_lists_what_the_code_imports(pkg):
    problems = dependency_problems(pkg, {p.name for p in packages(SRC)})
    assert not problems, f"{pkg.name}/package.xml:\n  " + "\n  ".join(problems)


def test_the_check_sees_missing_unused_and_unguarded(tmp_path):
    # A planted package: it must fail where its package.xml and its imports disagree.
    pkg = tmp_path / "fdvla_teleop"
    (pkg / "fdvla_teleop").mkdir(parents=True)
    (pkg / "fdvla_teleop" / "__init__.py").write_text(
        "import os\nimport numpy as np\nfrom fdvla_msgs import topics\nimport fdvla_teleop.x\n")
    (pkg / "fdvla_teleop" / "late.py").write_text(
        "def f():\n    from geometry_msgs.msg import Twist\n    import pyk4a\n"
        "    try:\n        import pyspacemouse\n    except ImportError:\n        pass\n"
        "    import left_pad\n")
    (pkg / "package.xml").write_text(
        "<package format='3'><name>fdvla_teleop</name><exec_depend>fdvla_msgs</exec_depend>"
        "<exec_depend>geometry_msgs</exec_depend><depend>std_srvs</depend></package>")
    assert dependency_problems(pkg, {"fdvla_msgs", "fdvla_teleop"}) == [
        "fdvla_teleop/late.py: import 'left_pad' has no dependency key in "
        "tests/unit/structure/test_package_xml.py",
        "fdvla_teleop/late.py: optional pyk4a imported outside try/except ImportError",
        "missing <exec_depend>python3-numpy</exec_depend> (imported by fdvla_teleop/__init__.py)",
        "<exec_depend>std_srvs</exec_depend> is not imported",
    ]
