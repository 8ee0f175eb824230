from glob import glob

from setuptools import find_packages, setup

package_name = "fdvla_drivers"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    # Python dependencies are pinned in requirements/*.txt (pip mode) or come from
    # package.xml (rosdep, native mode); nothing here so pip never pulls a second torch.
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="FD-VLA developers",
    maintainer_email="fdvla@example.org",
    description="Robot (ur_rtde, MuJoCo sim) and camera (Azure Kinect, RealSense D405, sim) backends, the simulated UR5e cell, and the robot state, controller and camera nodes.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [],
    },
)
