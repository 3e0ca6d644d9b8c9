"""Validation kernels on a Jupyter Kernel Gateway (or Enterprise Gateway) instead of this machine.

``c.CodexNB.validation_gateway_url`` (or ``codex-nb validate --gateway-url URL``, or
``CODEX_NB_VALIDATION_GATEWAY_URL``) names the gateway. Nothing else about a
validation changes: papermill drives nbclient over a kernel started for the
validation (see ``kernels``), the guard is installed, the report is the same.
Only the kernel lives elsewhere: it is started through the gateway's REST API
(``POST /api/kernels``) and spoken to over its websocket
(``/api/kernels/ID/channels``), by the small manager and clients below.
jupyter_server's own ``GatewayKernelManager`` is not used because it reads one
process-wide ``GatewayClient``: inside a Jupyter server that already sends its
kernels to a gateway, pointing it elsewhere would move the user's kernels too.

What does not carry over is the machine. A remote kernel does not start in the
notebook's directory and may not see its files at all. The request carries the
directory the kernel should run in as ``KERNEL_WORKING_DIR`` (Enterprise
Gateway starts kernels there; Kernel Gateway ignores it), and before anything
else runs, a silent set-up step moves the kernel into that directory when the
gateway host has it — the scratch copy (same machine, or a temporary directory
on a shared mount), or the notebook's own directory in place (a shared project
directory) — recognised by the names in it, not only by its path. When the host
does not have it the kernel stays in the gateway's own directory, and the
report says so (``ValidationReport.gateway``): cells that read relative files
then fail there as they would on any machine without those files.

Spare kernels (``kernels.prepare_spare``) are started on the gateway the same
way; each spare holds one kernel of the gateway until it is used or expires.
"""
from __future__ import annotations

import ast
import json
import os
import queue
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .engine import failure

ENV_URL = "CODEX_NB_VALIDATION_GATEWAY_URL"
ENV_TOKEN = "JUPYTER_GATEWAY_AUTH_TOKEN"  # the variable jupyter_server's gateway client reads too
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
REQUEST_TIMEOUT = 30.0
SAMPLE_NAMES = 20  # names of a directory's entries that identify it on the gateway host
FIX_UNREACHABLE = (f"start the gateway, fix c.CodexNB.validation_gateway_url (or {ENV_URL}, --gateway-url), "
                   "or set it to '' to validate on this machine")


class GatewayError(Exception):
    """The gateway refused or could not be reached; ``failure`` is the report's failure for it."""

    def __init__(self, failure_: dict):
        super().__init__(failure_["message"])
        self.failure = failure_


def url_from(explicit: str | None = None, configured: str | None = None) -> str | None:
    """The gateway to validate on, or None for this machine: an explicit value, else the setting, else the env."""
    for value in (explicit, configured or None, os.environ.get(ENV_URL)):
        if value is not None:
            return check_url(value)
    return None


def check_url(value: str) -> str | None:
    value = value.strip().rstrip("/")
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        from ..errors import UsageProblem

        raise UsageProblem(f"{value!r} is not a kernel gateway URL",
                           hint="give it as http://HOST:PORT (or https://…), e.g. http://127.0.0.1:8889")
    return value


def _request(url: str, method: str = "GET", body: dict | None = None, timeout: float = REQUEST_TIMEOUT):
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(ENV_TOKEN)
    if token:
        headers["Authorization"] = f"token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _unreachable(url: str, exc: Exception) -> dict:
    if isinstance(exc, urllib.error.HTTPError) and exc.code in (401, 403):
        return failure("engine_error", ename="GatewayRefused", evalue=f"HTTP {exc.code}", gateway=url,
                       message=f"the kernel gateway at {url} refused the request (HTTP {exc.code}); "
                               f"set {ENV_TOKEN} to its token (KG_AUTH_TOKEN on the gateway)")
    reason = getattr(exc, "reason", None) or exc
    return failure("engine_error", ename="GatewayUnreachable", evalue=str(reason), gateway=url,
                   message=f"the kernel gateway at {url} cannot be reached ({reason}); {FIX_UNREACHABLE}")


def kernel_problem(url: str, nb, kernel_name: str | None) -> tuple[str | None, dict | None]:
    """The kernel to ask the gateway for, or the failure: unreachable, or ``missing_kernel`` as locally."""
    name = kernel_name or (nb.metadata.get("kernelspec") or {}).get("name")
    try:
        specs = sorted((_request(f"{url}/api/kernelspecs") or {}).get("kernelspecs") or {})
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors; ValueError: not JSON
        return name, _unreachable(url, exc)
    listed = ", ".join(specs) or "none"
    if not name:
        return None, failure("missing_kernel", ename="NoSuchKernel", evalue="the notebook names no kernel",
                             kernel=None, installed=specs, gateway=url,
                             message=f"the notebook's metadata names no kernel (the kernel gateway at {url} "
                                     f"has: {listed})")
    if name not in specs:
        return name, failure("missing_kernel", ename="NoSuchKernel", evalue=f"no kernel named {name!r}",
                             kernel=name, installed=specs, gateway=url,
                             message=f"the kernel gateway at {url} has no kernel named {name!r} "
                                     f"(it has: {listed}); pass --kernel NAME or install it on the gateway")
    return name, None


def _names(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))[:SAMPLE_NAMES]
    except OSError:
        return []


# Runs silently in the fresh kernel before the guard: move into the wanted directory if this host
# has it (its path exists and holds the names it holds here); sys.path follows the move, as a
# kernel started there would have it. Nothing is left in the user's namespace.
_MOVE = r'''
import os, sys
path, names = __import__("json").loads(ARGS)
try:
    if os.path.isdir(path) and set(names) <= set(os.listdir(path)):
        old = os.getcwd()
        os.chdir(path)
        sys.path[:] = [path if entry == old else entry for entry in sys.path]
except OSError:
    pass
'''
_WHERE = {"cwd": "__import__('os').getcwd()", "host": "__import__('socket').gethostname()"}


def move_to_workdir(kernel, timeout: float) -> None:
    """Move a kernel just started on a gateway into its working directory if the gateway host has it.

    Sets ``kernel.cwd`` to where the kernel really is and ``kernel.gateway`` to what the report says.
    """
    wanted = kernel.cwd
    program = _MOVE.replace("ARGS", repr(json.dumps([str(wanted), _names(wanted)])))
    client = kernel.km.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        reply = client.execute_and_reply(f"exec({program!r}, {{}})", timeout=timeout, user_expressions=_WHERE)
    finally:
        client.stop_channels()
    found = {}
    for key, value in (reply.get("user_expressions") or {}).items():
        try:
            found[key] = ast.literal_eval(value["data"]["text/plain"])
        except (KeyError, TypeError, ValueError, SyntaxError):
            found[key] = None
    cwd = found.get("cwd") or ""
    sees = cwd == str(wanted)
    what = "the notebook's directory" if kernel.scratch is None else "the scratch copy of the notebook's directory"
    kernel.gateway = {
        "url": kernel.key.gateway_url, "kernel_id": kernel.km.kernel_id, "host": found.get("host"),
        "cwd": cwd, "wanted": str(wanted), "sees_files": sees,
        "note": (f"on the kernel gateway at {kernel.key.gateway_url}, in {what} ({cwd})" if sees else
                 f"on the kernel gateway at {kernel.key.gateway_url}, in its own directory {cwd} on "
                 f"{found.get('host') or 'its host'}: that host has no {wanted}, so the notebook's files "
                 "are not there (share the directory with the gateway host, see docs/team.md)"),
    }
    kernel.cwd = Path(cwd) if cwd else wanted


class _Connection:
    """One websocket to a kernel on the gateway; a reader thread sorts its messages by channel."""

    def __init__(self, manager: "GatewayKernelManager", timeout: float):
        import websocket

        self.manager = manager
        self.queues = {name: queue.Queue() for name in CHANNELS}
        base = manager.url.replace("http", "ws", 1)
        token = os.environ.get(ENV_TOKEN)
        self.socket = websocket.create_connection(
            f"{base}/api/kernels/{urllib.parse.quote(manager.kernel_id)}/channels", timeout=timeout,
            header=[f"Authorization: token {token}"] if token else None, enable_multithread=True)
        self.socket.settimeout(None)  # the reader blocks until a message or the close
        self.open = True
        self._reader = threading.Thread(target=self._read, name="codex-nb-gateway-channels", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while self.open:
                raw = self.socket.recv()
                if not raw:
                    break
                msg = _decode(raw)
                if msg.get("msg_type") == "status" and msg.get("content", {}).get("execution_state") in (
                        "restarting", "dead"):
                    # The gateway restarts a kernel that died; the validation's kernel is gone all the same.
                    self.manager.died = True
                channel = msg.pop("channel", None) or "shell"
                self.queues.get(channel, self.queues["shell"]).put(msg)
        except Exception:  # the socket closed (shut down, or the gateway went away)
            pass
        self.open = False

    def send(self, channel: str, msg: dict) -> None:
        from jupyter_client.jsonutil import json_default

        self.socket.send(json.dumps({**msg, "channel": channel}, default=json_default))

    def close(self) -> None:
        self.open = False
        try:
            self.socket.close()
        except Exception:
            pass


def _decode(raw) -> dict:
    """A websocket message: JSON text, or the gateway's binary frame (offsets, JSON, then buffers)."""
    if isinstance(raw, str):
        return json.loads(raw)
    count = struct.unpack("!I", raw[:4])[0]
    offsets = list(struct.unpack("!" + "I" * count, raw[4:4 * (count + 1)])) + [len(raw)]
    parts = [raw[offsets[i]:offsets[i + 1]] for i in range(count)]
    msg = json.loads(parts[0].decode("utf-8"))
    msg["buffers"] = parts[1:]
    return msg


class _AsyncChannel:
    """A channel for jupyter_client's asynchronous client over the shared websocket."""

    def __init__(self, connection: _Connection, name: str):
        self.connection, self.name = connection, name
        self.queue = connection.queues[name]

    async def get_msg(self, timeout: float | None = None) -> dict:
        import asyncio

        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                return self.queue.get_nowait()
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
            # A short, growing pause: waiting on the queue itself would block the event loop.
            await asyncio.sleep(pause if deadline is None else min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 0.02)

    async def msg_ready(self) -> bool:
        return not self.queue.empty()

    def send(self, msg: dict) -> None:
        self.connection.send(self.name, msg)

    def is_alive(self) -> bool:
        return self.connection.open

    def is_beating(self) -> bool:
        return self.connection.open and not self.connection.manager.died

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def _async_client_class():
    from jupyter_client.asynchronous import AsyncKernelClient

    class GatewayKernelClient(AsyncKernelClient):
        """jupyter_client's asynchronous client whose channels are one websocket to the gateway."""

        def __init__(self, manager=None, **kwargs):
            super().__init__(**kwargs)
            self.manager = manager
            self.connection = None
            self.channels = {}

        def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
            self.connection = _Connection(self.manager, REQUEST_TIMEOUT)
            self.channels = {name: _AsyncChannel(self.connection, name) for name in CHANNELS}
            self._hb_channel = self.channels["hb"]  # what the client asks whether the kernel lives
            self.allow_stdin = stdin

        def stop_channels(self):
            if self.connection is not None:
                self.connection.close()

        @property
        def channels_running(self):
            return self.connection is not None and self.connection.open

        shell_channel = property(lambda self: self.channels["shell"])
        iopub_channel = property(lambda self: self.channels["iopub"])
        stdin_channel = property(lambda self: self.channels["stdin"])
        control_channel = property(lambda self: self.channels["control"])
        hb_channel = property(lambda self: self.channels["hb"])

    return GatewayKernelClient


class _BlockingClient:
    """The few blocking calls the set-up steps make (``kernels._install_guard``, ``_warm``, the move)."""

    def __init__(self, manager: "GatewayKernelManager"):
        from jupyter_client.session import Session

        self.manager, self.session, self.connection = manager, Session(), None

    def start_channels(self) -> None:
        self.connection = _Connection(self.manager, REQUEST_TIMEOUT)

    def stop_channels(self) -> None:
        if self.connection is not None:
            self.connection.close()

    def _send(self, msg_type: str, content: dict) -> str:
        msg = self.session.msg(msg_type, content)
        self.connection.send("shell", msg)
        return msg["header"]["msg_id"]

    def wait_for_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self._send("kernel_info_request", {})
            try:
                while True:
                    reply = self.get_shell_msg(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return
            except queue.Empty:
                if time.monotonic() >= deadline or self.manager.died:
                    raise RuntimeError(f"the kernel on the gateway did not answer in {timeout:.0f} s") from None

    def execute(self, code: str, silent: bool = False, store_history: bool = True,
                user_expressions: dict | None = None) -> str:
        return self._send("execute_request", {"code": code, "silent": silent, "store_history": store_history,
                                              "user_expressions": user_expressions or {}, "allow_stdin": False,
                                              "stop_on_error": True})

    def execute_and_reply(self, code: str, timeout: float, user_expressions: dict | None = None) -> dict:
        msg_id = self.execute(code, silent=True, store_history=False, user_expressions=user_expressions)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"]

    def get_shell_msg(self, timeout: float | None = None) -> dict:
        return self.connection.queues["shell"].get(timeout=timeout)

    def get_iopub_msg(self, timeout: float | None = None) -> dict:
        return self.connection.queues["iopub"].get(timeout=timeout)


class GatewayKernelManager:
    """The part of jupyter_client's KernelManager that validation uses, for one kernel on a gateway."""

    provisioner = None  # no local process: the watchdog and shutdown go through the gateway's API

    def __init__(self, url: str, kernel_name: str):
        self.url, self.kernel_name = url, kernel_name
        self.kernel_id: str | None = None
        self.died = False

    @property
    def has_kernel(self) -> bool:
        return self.kernel_id is not None

    def start_kernel(self, cwd: str, timeout: float) -> None:
        # Only KERNEL_* variables (and what the gateway allows) reach the kernel; none of this process's.
        body = {"name": self.kernel_name, "env": {"KERNEL_WORKING_DIR": cwd}}
        try:
            model = _request(f"{self.url}/api/kernels", "POST", body, timeout=max(timeout, REQUEST_TIMEOUT))
        except urllib.error.HTTPError as exc:
            detail = _http_detail(exc)
            if exc.code in (401, 403) and "Resource Limit" not in detail:
                raise GatewayError(_unreachable(self.url, exc)) from None
            raise GatewayError(failure(
                "kernel_died", ename="GatewayKernelStart", evalue=detail, gateway=self.url,
                message=f"the kernel gateway at {self.url} did not start a {self.kernel_name!r} kernel "
                        f"(HTTP {exc.code}: {detail}); check the gateway's log")) from None
        except (OSError, ValueError) as exc:
            raise GatewayError(_unreachable(self.url, exc)) from None
        self.kernel_id = model["id"]

    def client(self, **kwargs):
        return _async_client_class()(manager=self, **kwargs)

    def blocking_client(self) -> _BlockingClient:
        return _BlockingClient(self)

    def _kernel_url(self) -> str:
        return f"{self.url}/api/kernels/{urllib.parse.quote(self.kernel_id)}"

    def is_alive(self) -> bool:
        if not self.has_kernel or self.died:
            return False
        try:
            model = _request(self._kernel_url(), timeout=5)
        except urllib.error.HTTPError as exc:
            return exc.code != 404
        except (OSError, ValueError):
            return False  # the gateway is gone, and the kernel with it as far as this run can tell
        return (model or {}).get("execution_state") not in ("dead", "restarting")

    def interrupt_kernel(self) -> None:
        if self.has_kernel:
            try:
                _request(f"{self._kernel_url()}/interrupt", "POST", {})
            except (OSError, ValueError):
                pass

    def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        if self.has_kernel:
            try:
                _request(self._kernel_url(), "DELETE", timeout=10)
            except (OSError, ValueError):
                pass  # already gone (404), or the gateway is: nothing is left to shut down from here

    def kill(self) -> None:
        """What the watchdog calls from another thread when a run overruns its total timeout."""
        self.died = True
        self.shutdown_kernel(now=True)

    def cleanup_resources(self, restart: bool = False) -> None:
        pass


def _http_detail(exc) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        return str(body.get("message") or body.get("reason") or exc.reason)
    except Exception:
        return str(exc.reason)
