"""What the validation kernel may not do, enforced inside it by a Python audit hook.

The hook is installed (silently, before any cell of the notebook runs) in the
fresh kernel that validates, and it raises ``PermissionError`` for:

* writes to the user's own directory when validation runs in a scratch copy:
  ``open(..., "w")`` and the ``os``/``shutil`` calls that create, change,
  rename or delete files, on paths that resolve into that directory (an
  absolute path, ``..``, or a link the scratch copy made to a file too large to
  copy). The scratch copy itself is writable;
* with the network turned off: connecting or sending to, and resolving, any
  host that is not this machine's loopback address.

What this guarantees: code that the kernel runs in Python, including
libraries that open files and sockets through Python (pandas, numpy,
matplotlib, urllib, requests, httpx, aiohttp), cannot change the protected
directory or reach the network. What it does not: native code that calls the
operating system itself (a C library writing through its own file handles, a
socket opened by C code) and child processes (``!cmd``, ``subprocess``). For
child processes, the kernel's environment sends proxy-aware tools (curl, wget,
pip, git) to a closed local port when the network is off. An audit hook stops
accidents, not an adversary: code that wants to can go around it with ctypes.
"""
from __future__ import annotations

import json

BLOCKED_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
PROXY_VARIABLES = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
                   "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY")

_HOOK = r'''
def _codex_nb_guard(protected, allowed, network):
    import os, sys
    protected = [os.path.realpath(p) for p in protected]
    allowed = [os.path.realpath(p) for p in allowed]
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    path_events = {
        "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.truncate": (0,), "os.chmod": (0,),
        "os.chown": (0,), "os.utime": (0,), "os.rename": (0, 1), "os.link": (0, 1), "os.symlink": (1,),
        "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
        "shutil.copymode": (1,), "shutil.copystat": (1,), "os.setxattr": (0,), "os.removexattr": (0,),
    }
    loopback = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None}
    realpath, fspath, isinstance_, PermissionError_ = os.path.realpath, os.fspath, isinstance, PermissionError

    def inside(path):
        if isinstance_(path, int):
            return False
        try:
            path = os.fsdecode(fspath(path))
        except TypeError:
            return False
        full = realpath(path)
        for root in allowed:
            if full == root or full.startswith(root + os.sep):
                return False
        for root in protected:
            if full == root or full.startswith(root + os.sep):
                return True
        return False

    def refuse_write(path):
        raise PermissionError_(
            f"validation runs in a scratch copy of the notebook's directory and does not write to the original: "
            f"{os.fsdecode(fspath(path))!s} (validate in place to allow it)")

    def local(host):
        if isinstance_(host, bytes):
            host = host.decode("ascii", "replace")
        return host in loopback or (isinstance_(host, str) and host.startswith("127."))

    def refuse_network(host):
        raise PermissionError_(f"network access is turned off for this validation (tried to reach {host!s})")

    def hook(event, args):
        if event == "open":
            if not protected:
                return
            path, mode, flags = args
            writes = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and isinstance_(flags, int) and flags & write_flags)
            if writes and inside(path):
                refuse_write(path)
        elif event in path_events:
            if protected:
                for i in path_events[event]:
                    if i < len(args) and inside(args[i]):
                        refuse_write(args[i])
        elif not network and event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            address = args[1] if len(args) > 1 else None
            if isinstance_(address, tuple) and address and not local(address[0]):
                refuse_network(address[0])
        elif not network and event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                                       "socket.gethostbyaddr"):
            if args and not local(args[0]):
                refuse_network(args[0])

    sys.addaudithook(hook)
'''


def guard_code(protected: list[str], allowed: list[str], network: bool) -> str | None:
    """Code that installs the hook without leaving a name in the user's namespace; None when nothing is guarded."""
    if not protected and network:
        return None
    arguments = json.dumps([protected, allowed, network])
    # exec in a namespace of its own: the kernel's variables, In/Out and the execution count stay untouched.
    program = _HOOK + f"\n_codex_nb_guard(*__import__('json').loads({arguments!r}))\n"
    return f"exec({program!r}, {{}})"


def kernel_environment(base: dict, network: bool) -> dict:
    """The kernel's environment: the caller's, with proxies pointing nowhere when the network is off."""
    env = dict(base)
    if not network:
        for name in PROXY_VARIABLES:
            env[name] = BLOCKED_PROXY
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
    return env
