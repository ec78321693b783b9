"""ptap.gunicorn_conf: single-worker gthread processes, each with its own control socket."""

import importlib

import ptap.gunicorn_conf


def _load(monkeypatch, **env):
    for name in ("PTAP_GUNICORN_BIND", "PTAP_GUNICORN_CONTROL_SOCKET", "RUNTIME_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(ptap.gunicorn_conf)


def test_each_process_gets_its_own_control_socket(monkeypatch):
    first = _load(monkeypatch, PTAP_GUNICORN_BIND="127.0.0.1:8001", RUNTIME_DIRECTORY="/run/ptap")
    assert first.control_socket == "/run/ptap/ptap-gunicorn-8001.ctl"
    second = _load(monkeypatch, PTAP_GUNICORN_BIND="127.0.0.1:8002", RUNTIME_DIRECTORY="/run/ptap")
    assert second.control_socket == "/run/ptap/ptap-gunicorn-8002.ctl"
    assert second.workers == 1
    assert second.worker_class == "gthread"
    assert second.wsgi_app == "ptap:create_app()"


def test_the_control_socket_can_be_named(monkeypatch):
    conf = _load(monkeypatch, PTAP_GUNICORN_CONTROL_SOCKET="/srv/ptap/web-a.ctl")
    assert conf.control_socket == "/srv/ptap/web-a.ctl"
    assert "gunicorn.ctl" not in conf.control_socket


def test_gunicorn_logs_json_lines_in_production(monkeypatch):
    monkeypatch.delenv("PTAP_LOG_FORMAT", raising=False)
    monkeypatch.setenv("PTAP_ENV", "production")
    conf = _load(monkeypatch)
    formatter = conf.logconfig_dict["formatters"]["json"]["()"]
    assert formatter == "ptap.core.logs.JsonFormatter"
    monkeypatch.setenv("PTAP_ENV", "development")
    assert _load(monkeypatch).logconfig_dict == {}


def test_the_worker_freezes_the_loaded_application_out_of_the_gc(monkeypatch):
    import gc

    conf = _load(monkeypatch)
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    conf.post_worker_init(object())
    assert calls == ["collect", "freeze"]


def test_a_stopping_worker_writes_its_batched_rows(monkeypatch):
    from ptap.core import write_behind

    conf = _load(monkeypatch)
    calls = []
    monkeypatch.setattr(write_behind, "flush_all", lambda: calls.append("flush") or 0)
    conf.worker_exit(object(), object())
    assert calls == ["flush"]


def test_a_dead_worker_is_dropped_from_multiprocess_metrics(monkeypatch, tmp_path):
    from prometheus_client import multiprocess

    conf = _load(monkeypatch)
    dead = []
    monkeypatch.setattr(multiprocess, "mark_process_dead", lambda pid: dead.append(pid))
    worker = type("Worker", (), {"pid": 4242})()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    conf.child_exit(object(), worker)
    assert dead == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf.child_exit(object(), worker)
    assert dead == [4242]
