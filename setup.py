"""The one thing pyproject.toml cannot say: the repository's top-level ``scenes/`` folder ships inside the
package as ``visualizer/scenes/``, beside every package found under ``visualizer/`` (so a new subpackage
needs no entry here). Everything else is in pyproject.toml.
"""
from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["visualizer", "visualizer.*"]), "visualizer.scenes"],
      package_dir={"visualizer.scenes": "scenes"})
