from glob import glob

from setuptools import find_packages, setup

package_name = "fdvla"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ]
    # launch/ and config/ live at the repository root (ARCHITECTURE.md layout); the symlinks
    # in this package make colcon install them into share/fdvla.
    + [(f"share/{package_name}/launch", glob("launch/*.py")),
       (f"share/{package_name}/config", glob("config/*.yaml") + glob("config/*.rviz"))],
    # Python dependencies are pinned in requirements/*.txt (pip mode) or come from
    # package.xml (rosdep, native mode); nothing here so pip never pulls a second torch.
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="FD-VLA developers",
    maintainer_email="fdvla@example.org",
    description="FD-VLA bringup: launch files, robot setups (YAML), rviz config and the fdvla command-line tool.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            'fdvla = fdvla.cli:main',
            'fdvla_process = fdvla.process:main'
        ],
    },
)
