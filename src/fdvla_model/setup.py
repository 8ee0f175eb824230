from glob import glob

from setuptools import find_packages, setup

package_name = "fdvla_model"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    # The shipped default policy (`--policy default`): safetensors + JSON + tokenizer.
    package_data={package_name: ["checkpoints/default/*", "checkpoints/default/tokenizer/*"]},
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
    description="The FD-VLA model (SmolVLA with the Force Distillation Module): architecture, weight loading, dataset format and training; no ROS.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            
        ],
    },
)
