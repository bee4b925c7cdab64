"""geodistill_ros: an ament_python ROS 2 package that also installs with plain pip.

The runtime (``geodistill_ros``) needs no PyTorch; ``training`` does (extra ``training``).
rclpy and the message packages come from the user's ROS 2 install, never from these requirements.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "geodistill_ros"

RUNTIME = [
    "numpy>=1.24",
    "opencv-python-headless>=4.8",
    "onnxruntime>=1.17",
    "rosbags>=0.10",
    "rosbags-image>=0.9",
    "requests>=2.28",
    "pyyaml>=6",
    "tqdm>=4.60",
    "matplotlib>=3.7",
    "transforms3d>=0.4",
]
EXTRAS = {
    # torch itself is pinned by scripts/setup.sh (torch==2.13.0, the local CPU wheel); any version works here.
    "training": ["torch>=2.1", "onnx>=1.15", "onnxscript>=0.1"],
    "geotiff": ["rasterio>=1.3"],
    "dev": ["pytest>=7", "pytest-timeout>=2", "ruff>=0.4", "evo>=1.25", "rasterio>=1.3"],
}

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Cross-view (ground-to-satellite) metric localization for ROS 2, after GeoDistill (ICCV 2025)",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*", "training", "training.*"]),
    package_data={PACKAGE: ["models/*", "models/**/*"], "training": ["configs/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "geodistill = geodistill_ros.cli:main",
            "localizer_node = geodistill_ros.node:main",
        ],
    },
)
