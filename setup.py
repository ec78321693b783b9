"""Build hook: ship the top-level templates/ and config/ inside the wheel's ptap package.

The repository keeps them at the top level (docs/architecture.md, "Packaging"); a wheel must be
self-contained, so they are copied to ptap/templates and ptap/config at build time, where
ptap.resources looks first. Editable installs read the checkout's folders instead. Everything
else (metadata, dependencies, package data) lives in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("templates", "config")


class BuildWithResources(build_py):
    """build_py that also copies the bundled top-level folders into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name in BUNDLED:
            target = Path(self.build_lib) / "ptap" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target, ignore=shutil.ignore_patterns("__pycache__"))

    def get_source_files(self) -> list[str]:
        # sdist lists these, so a wheel built from the sdist has them too.
        files = list(super().get_source_files())
        for name in BUNDLED:
            files += [
                str(p.relative_to(HERE)) for p in sorted((HERE / name).rglob("*")) if p.is_file()
            ]
        return files


setup(cmdclass={"build_py": BuildWithResources})
