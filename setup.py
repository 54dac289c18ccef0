"""Packaging: the card's top-level folders install inside the ``rayflink`` namespace.

``operators/``, ``connectors/`` and ``apps/`` stay beside ``rayflink/`` in the repository but
become ``rayflink.operators``, ``rayflink.connectors`` and ``rayflink.apps`` when installed, so
nothing with a generic name lands in a user's site-packages. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

NAMESPACED = ("operators", "connectors", "apps")

packages = find_packages(include=["rayflink", "rayflink.*"])
package_dir = {}
for folder in NAMESPACED:
    package_dir[f"rayflink.{folder}"] = folder
    packages.append(f"rayflink.{folder}")
    packages += [f"rayflink.{folder}.{sub}" for sub in find_packages(where=folder)]
    package_dir.update({f"rayflink.{folder}.{sub}": f"{folder}/{sub.replace('.', '/')}"
                        for sub in find_packages(where=folder)})

setup(packages=packages, package_dir=package_dir)
