"""Where the bundled templates and default configuration live, installed or in a checkout.

The repository keeps `templates/` and `config/` at its top level (STYLE §1); the wheel copies
them into the package (`ptap/templates`, `ptap/config`, see setup.py) so that a non-editable
install finds them too. A checkout or an editable install reads the top-level folders.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the bundled folder `name` ("templates", "config"): packaged, else the checkout's."""
    bundled = PACKAGE / name
    return bundled if bundled.is_dir() else PACKAGE.parent / name


def instance_path() -> Path:
    """Return the instance folder: PTAP_INSTANCE_PATH, the checkout's, or one under sys.prefix."""
    override = os.environ.get("PTAP_INSTANCE_PATH")
    if override:
        return Path(override)
    if (PACKAGE.parent / "pyproject.toml").is_file():
        return PACKAGE.parent / "instance"
    # An installed package: never inside site-packages (Flask's own default for packages).
    import sys

    return Path(sys.prefix) / "var" / "ptap-instance"
