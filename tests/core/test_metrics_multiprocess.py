"""With PROMETHEUS_MULTIPROC_DIR, /metrics adds up the counters of every worker process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from ptap import create_app
app = create_app({"ENV": "testing", "DATABASE_URL": sys.argv[1], "METRICS_TOKEN": "t" * 40})
client = app.test_client()
if sys.argv[2] == "request":
    assert client.get("/healthz").status_code == 200
else:
    response = client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 40})
    assert response.status_code == 200, response.status_code
    print(response.get_data(as_text=True))
"""


def _run(env: dict[str, str], database_url: str, what: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, database_url, what],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_counters_of_several_processes_are_added_up(app, database_url, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTAP_", "FLASK_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    _run(env, database_url, "request")
    _run(env, database_url, "request")
    text = _run(env, database_url, "scrape")
    line = 'ptap_http_requests_total{endpoint="core.healthz",method="GET",status="200"} 2.0'
    assert line in text
    # The scrape-time gauges are there once, not once per process file.
    assert text.count('ptap_outbox_depth{kind="mail"}') == 1
