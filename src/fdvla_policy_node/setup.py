from glob import glob

from setuptools import find_packages, setup

package_name = "fdvla_policy_node"

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
    description="The FD-VLA policy node: checkpoint loading, observation assembly, inference and chunk streaming over ROS 2; the live view.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            
        ],
    },
)
