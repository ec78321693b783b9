"""The wheel is self-contained: installed outside the checkout, it migrates and serves pages.

Builds the wheel offline (`pip wheel --no-build-isolation`, setuptools comes with the test
extras), installs it without dependencies into a fresh virtualenv in a temporary folder, and lets
that virtualenv see this one's site-packages through a .pth file (dependencies without network;
.pth files inside that folder, such as the editable install's finder, are not processed, so the
checkout stays invisible). About 30-60 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "ptap", "templates", "config")

PROBE = """
import json, pathlib, ptap
from ptap import create_app
from ptap.resources import resource_dir
app = create_app()
client = app.test_client()
login = client.get("/login")
missing = client.get("/pas-de-page-ici")
css = client.get("/static/css/ptap.css")
specs = pathlib.Path(ptap.__file__).parent / "dmp_bridge" / "conformance" / "specs"
print(json.dumps({
    "package": ptap.__file__,
    "templates": str(resource_dir("templates")),
    "instance": app.instance_path,
    "login": [login.status_code, login.get_data(as_text=True)],
    "missing": [missing.status_code, missing.get_data(as_text=True)],
    "css": css.status_code,
    "specs": sum(1 for p in specs.rglob("*") if p.is_file()),
}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PTAP_", "FLASK_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_outside_the_checkout_and_serves_the_login_page(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    env = _clean_env()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(
        [*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", "dist"], tmp_path, env
    )
    (wheel,) = (tmp_path / "dist").glob("ptap-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        tmp_path,
        env,
    )
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp_path,
            env,
        ).strip()
    )
    (site / "ptap-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    app_env = _clean_env(
        PTAP_ENV="development", PTAP_DATABASE_URL=f"sqlite:///{tmp_path / 'ptap.sqlite3'}"
    )
    _run([str(venv / "bin" / "ptap"), "db", "upgrade"], elsewhere, app_env)
    assert "Configuration OK." in _run(
        [str(venv / "bin" / "ptap"), "check-config"], elsewhere, app_env
    )
    probe = json.loads(_run([str(python), "-c", PROBE], elsewhere, app_env))

    assert probe["package"].startswith(str(site))
    assert probe["templates"].startswith(str(site))
    assert not probe["instance"].startswith(str(site))
    status, page = probe["login"]
    assert status == 200
    assert "Mot de passe" in page
    status, page = probe["missing"]
    assert status == 404
    assert "Page introuvable" in page
    assert probe["css"] == 200
    assert probe["specs"] > 100
