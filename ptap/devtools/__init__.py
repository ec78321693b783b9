"""Development-only tools (the DMP simulator): excluded from the wheel, never imported by ptap.

A production install (``pip install ptap``) does not contain this package; the editable install
that ``make run`` and ``make test`` use does. Nothing outside ``devtools`` may import it (an
import-linter contract in pyproject.toml says so).
"""
