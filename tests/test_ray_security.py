"""A Ray cluster that evoforge starts listens on loopback only, with no
dashboard, whatever the environment says (issue 19).

The run goes in a subprocess whose environment lacks
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` (which makes Ray bind 127.0.0.1 by
itself, and so hid the problem) and ``RAY_ADDRESS``; while it runs, the test
lists the listening TCP sockets of that process and all its descendants (GCS
server, raylet, runtime-env agent, island actors, the driver) from
``/proc/net/tcp{,6}`` and ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray backend needs: pip install 'evoforge[ray]'")
if not Path("/proc/net/tcp").exists():
    pytest.skip("lists sockets through Linux's /proc", allow_module_level=True)

TESTS = Path(__file__).parent
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

CHILD = """
import sys
sys.path.insert(0, {tests!r})
import toy_domain
from evoforge.config import parse_config
from evoforge.evolution.run import Run

cfg = parse_config({{
    "run": {{"domain": "toy", "seed": 1, "max_individuals": 10**7, "max_seconds": 120,
             "backend": "ray", "workers": 2, "checkpoint_seconds": 1.0}},
    "search": {{"population_size": 10, "tournament_size": 3,
                "islands": {{"count": 2, "migrate_every": 200}}}},
    "toy": {{"length": 16, "sleep": 0.002}},
}})
result = Run.create({run_dir!r}, cfg).run()
print("STOPPED", result.stop_reason, result.n_individuals, flush=True)
"""


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} prints it: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _listening() -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) of every listening TCP socket."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], int(fields[9])
                if state == LISTEN:
                    host, port = local.split(":")
                    out[inode] = (str(_address(host)), int(port, 16))
    return out


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _sockets_of(pids: set[int]) -> dict[int, set[int]]:
    """pid -> inodes of its sockets."""
    out: dict[int, set[int]] = {}
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue  # exited meanwhile, or a link vanished
        out[pid] = {int(link[8:-1]) for link in links if link.startswith("socket:[")}
    return out


def _scan(root: int) -> list[tuple[int, str, str, int]]:
    """(pid, command line, address, port) of each listening socket of ``root``'s tree."""
    pids = _descendants(root)
    listening = _listening()
    found = []
    for pid, inodes in _sockets_of(pids).items():
        for inode in inodes & listening.keys():
            found.append((pid, _cmdline(pid), *listening[inode]))
    return found


def test_a_local_ray_cluster_listens_on_loopback_only(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(CHILD.format(tests=str(TESTS), run_dir=str(tmp_path / "run")))
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")
    }
    child = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[tuple[str, int], tuple[int, str]] = {}
    tree: dict[int, str] = {}  # every process of the run seen, with its command line
    try:
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline and child.poll() is None:
            for pid, cmd, host, port in _scan(child.pid):
                seen[(host, port)] = (pid, cmd)
            tree.update((pid, _cmdline(pid)) for pid in _descendants(child.pid))
            commands = [cmd for pid, cmd in seen.values()]
            actors = {pid for pid, cmd in seen.values() if "_IslandActor" in cmd}
            if (
                len(actors) == 2
                and any("gcs_server" in c for c in commands)
                and any("raylet" in c for c in commands)
                and child.pid in {pid for pid, _ in seen.values()}
            ):
                # Everything is up; look once more, then stop the run (Ctrl-C).
                time.sleep(1.0)
                for pid, cmd, host, port in _scan(child.pid):
                    seen[(host, port)] = (pid, cmd)
                break
            time.sleep(0.2)
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        for pid in tree.keys() - {child.pid}:  # Ray processes left behind by a failure
            if "ray" in _cmdline(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert "STOPPED interrupted" in output, output[-3000:]
    commands = {cmd for _, cmd in seen.values()}
    actors = {pid for pid, cmd in seen.values() if "_IslandActor" in cmd}
    assert len(actors) == 2, (seen, output[-3000:])
    assert any("gcs_server" in c for c in commands) and any("raylet" in c for c in commands)
    exposed = {
        addr: who for addr, who in seen.items() if ipaddress.ip_address(addr[0]) not in LOOPBACK
    }
    assert not exposed, f"Ray listens beyond 127.0.0.0/8: {exposed}"
    # No dashboard: Ray still runs its head process for usage stats, without
    # the web frontend (and, as checked above, listening on nothing outside).
    heads = [cmd for cmd in tree.values() if "dashboard/dashboard.py" in cmd]
    assert all("--disable-frontend" in cmd for cmd in heads), heads


def test_a_local_cluster_that_did_not_bind_loopback_is_stopped_and_refused(monkeypatch):
    import ray

    from evoforge.evolution import ray_cluster

    calls = []

    context = types.SimpleNamespace(
        address_info={"node_ip_address": "192.0.2.7", "gcs_address": "192.0.2.7:6379"}
    )

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw) or context)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    with pytest.raises(RuntimeError, match=r"came up on 192\.0\.2\.7, not on loopback"):
        ray_cluster.init_ray(None)
    assert calls[0]["address"] == "local" and calls[0]["_node_ip_address"] == "127.0.0.1"
    assert calls[0]["include_dashboard"] is False and calls[-1] == "shutdown"


def test_a_missing_ray_is_named(monkeypatch):
    from evoforge.config import ConfigError
    from evoforge.evolution import ray_cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ConfigError, match=r"run\.backend: 'ray' needs Ray, which is not installed"):
        ray_cluster.init_ray(None)
