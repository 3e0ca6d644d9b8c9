"""A real JupyterHub on loopback: dummy authenticator, local process spawner, its proxy from npm.

One hub per test module (the ``hub`` fixture; a module imports it). Each user's single-user server runs the
codex_nb server extension from this source tree and the freshly built lab extension.
The administrator's settings are what a team would put in ``/etc/jupyter``: here a
temporary directory given to every server as ``JUPYTER_CONFIG_PATH``, holding
``codex_nb_config.json`` (the model), and the endpoint and key the hub's spawner
hands each server's environment. The model is the scripted one on loopback.

Under CI (CI=true) a missing JupyterHub or proxy fails the run; locally it skips.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from scripted_llm import ScriptedLLM
from server_processes import (ARTIFACTS, BUILT_EXTENSION, REPO, free_port, share_built_extension, stop_process,
                              wait_until, write_no_news_settings)

USERS = ("alice", "bob")
SECRET_KEY = "sk-team-" + uuid.uuid4().hex  # must never appear in a response of our routes


def unavailable(reason: str):
    from server_processes import unavailable as fail_or_skip

    fail_or_skip("hub tests", reason)


def _proxy_command() -> str | None:
    local = Path(sys.executable).parent / "configurable-http-proxy"  # .ci/setup installs it into .venv
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


@dataclass
class Hub:
    url: str  # http://127.0.0.1:PORT/
    service_token: str
    home: Path  # home/<user> is each user's server root
    admin_config: Path
    llm: ScriptedLLM
    log_path: Path
    users: tuple = USERS
    secret_key: str = SECRET_KEY
    tokens: dict = field(default_factory=dict)  # user -> API token for that user's server
    process: subprocess.Popen = field(repr=False, default=None)

    def hub_api(self, method: str, path: str, body=None, token: str | None = None):
        resp = requests.request(method, f"{self.url}hub/api/{path}", json=body, timeout=30,
                                headers={"Authorization": f"token {token or self.service_token}"})
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def server(self, user: str, method: str, path: str, *, as_user: str | None = None, **kw) -> requests.Response:
        """A request to ``/user/<user>/<path>`` with ``as_user``'s token (default: the owner's)."""
        token = self.tokens[as_user or user]
        return requests.request(method, f"{self.url}user/{user}/{path}", timeout=kw.pop("timeout", 60),
                                headers={"Authorization": f"token {token}"}, allow_redirects=False, **kw)

    def upload(self, user: str, name: str, nb_json: dict) -> None:
        resp = self.server(user, "PUT", f"api/contents/{name}",
                           json={"type": "notebook", "format": "json", "content": nb_json})
        assert resp.status_code in (200, 201), resp.text


def _config(tmp: Path, ports: dict, service_token: str, llm: ScriptedLLM, share: Path, admin_config: Path) -> str:
    bin_dir = Path(sys.executable).parent
    environment = {
        # what an administrator sets once for everyone
        "JUPYTER_CONFIG_PATH": str(admin_config),
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": SECRET_KEY,
        # this source tree and its freshly built front end, whatever is installed
        "JUPYTER_PATH": str(share),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports['public']}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports['hub']}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports['proxy_api']}"
c.ConfigurableHTTPProxy.command = [{_proxy_command()!r}]
c.JupyterHub.db_url = "sqlite:///{tmp / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = "{tmp / 'cookie_secret'}"
c.JupyterHub.pid_file = "{tmp / 'hub.pid'}"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "team-password"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{tmp / 'home'}/{{username}}"
c.Spawner.cmd = [{str(bin_dir / 'jupyterhub-singleuser')!r}]
c.Spawner.args = ["--allow-root", "--ServerApp.jpserver_extensions={{'codex_nb': True}}",
                  "--LabApp.expose_app_in_browser=True"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {environment!r}
c.JupyterHub.services = [{{"name": "tests", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "tests", "services": ["tests"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "read:users", "read:hub"]}}]
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    proxy = _proxy_command()
    if shutil.which("jupyterhub", path=str(Path(sys.executable).parent)) is None and shutil.which("jupyterhub") is None:
        unavailable("jupyterhub is not installed (pip install jupyterhub; .ci/setup does it)")
    if proxy is None:
        unavailable("configurable-http-proxy is not installed (npm install -g configurable-http-proxy; .ci/setup does it)")
    if not (BUILT_EXTENSION / "package.json").exists():
        unavailable(f"the lab extension is not built ({BUILT_EXTENSION})")
    tmp = tmp_path_factory.mktemp("hub")
    for user in USERS:  # each server reads its user's ~/.jupyter
        write_no_news_settings(tmp / "home" / user / ".jupyter" / "lab" / "user-settings")
    share = share_built_extension(tmp / "share")
    admin_config = tmp / "etc-jupyter"
    admin_config.mkdir()
    (admin_config / "codex_nb_config.json").write_text(json.dumps({"CodexNB": {"model": "openai:scripted-model"}}))
    # The endpoint lists another model first: a bare "openai" would pick it, so an answer from
    # scripted-model shows that the administrator's setting was read.
    llm = ScriptedLLM(models=("listed-first", "scripted-model")).start()
    ports = {name: free_port() for name in ("public", "hub", "proxy_api")}
    service_token = uuid.uuid4().hex
    (tmp / "jupyterhub_config.py").write_text(_config(tmp, ports, service_token, llm, share, admin_config))
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "jupyterhub.log"
    log = open(log_path, "wb")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_NB_MODEL", "CODEX_NB_AUDIT_LOG",
                        "CODEX_NB_HISTORY_DIR", "JPY_SESSION_NAME")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(tmp / "jupyterhub_config.py")],
                               cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    hub = Hub(url=f"http://127.0.0.1:{ports['public']}/", service_token=service_token, home=tmp / "home",
              admin_config=admin_config, llm=llm, log_path=log_path, process=process)
    try:
        _wait(lambda: hub.hub_api("GET", "info"), process, 120, "the hub did not start")
        hub.hub_api("POST", "users", {"usernames": list(USERS)})
        for user in USERS:
            hub.hub_api("POST", f"users/{user}/server")
        for user in USERS:
            _wait(lambda: (hub.hub_api("GET", f"users/{user}")["servers"].get("") or {}).get("ready") or None,
                  process, 150, f"{user}'s server did not start")
            hub.tokens[user] = hub.hub_api("POST", f"users/{user}/tokens",
                                           {"scopes": [f"access:servers!user={user}"], "expires_in": 3600})["token"]
        yield hub
    finally:
        for user in USERS:
            try:
                hub.hub_api("DELETE", f"users/{user}/server")
            except Exception:  # noqa: BLE001 - the hub may already be gone; cleanup_servers stops them too
                pass
        stop_process(process, 30)
        log.close()
        llm.stop()


def _wait(probe, process, seconds: float, message: str):
    return wait_until(probe, process, "jupyterhub", seconds, message, ARTIFACTS / "jupyterhub.log",
                      retry_on=(requests.RequestException, KeyError))
