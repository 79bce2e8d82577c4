"""Remove what a node left on the host, by name and path, never by broad pattern.

Used by ``node.down`` after its processes stopped, and safe to run when nothing is there:

- processes still in the node's pod cgroups (``/sys/fs/cgroup/<subsystem>/kubepods``);
- mounts under the node's directories (kubelet volumes, container root filesystems, pod network
  namespaces), deepest first;
- iptables rules and chains whose names kubelet, kube-proxy and the CNI plugins use
  (``KUBE-*``, ``CNI-*``), in both address families and both iptables backends, and
  kube-proxy's nftables tables;
- the pod cgroups themselves;
- pod logs kubelet writes outside its root directory (``/var/log/pods``, and the
  ``/var/log/containers`` links into it). No other kubelet runs on this host, so every entry
  there is the node's.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from embedded_cluster.hostfs import mounts_under

CGROUP_ROOT = Path("/sys/fs/cgroup")
POD_CGROUP = "kubepods"
CHAIN_PREFIXES = ("KUBE-", "CNI-")
POD_LOGS = Path("/var/log/pods")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
IPTABLES_TOOLS = (
    ("iptables-nft", "iptables-nft-save"),
    ("ip6tables-nft", "ip6tables-nft-save"),
    ("iptables-legacy", "iptables-legacy-save"),
    ("ip6tables-legacy", "ip6tables-legacy-save"),
)
NFT_TABLES = (("ip", "kube-proxy"), ("ip6", "kube-proxy"))


def _pod_cgroup_dirs() -> list[Path]:
    """Every cgroup directory under ``kubepods`` in every v1 hierarchy, deepest first."""
    dirs: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return dirs
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / POD_CGROUP
        if top.is_dir() and not top.is_symlink():
            dirs.extend(p for p in top.rglob("*") if p.is_dir())
            dirs.append(top)
    return sorted(dirs, key=lambda p: len(p.parts), reverse=True)


def pod_processes() -> set[int]:
    pids: set[int] = set()
    for directory in _pod_cgroup_dirs():
        with contextlib.suppress(OSError):
            pids.update(int(x) for x in (directory / "cgroup.procs").read_text().split())
    return pids


def kill_pod_processes(timeout_s: float = 10.0) -> int:
    """SIGKILL every process left in the pod cgroups; return how many there were."""
    pids = pod_processes()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while pod_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(pids)


def remove_pod_cgroups() -> list[str]:
    """rmdir the (now empty) pod cgroups; return those that could not be removed."""
    stuck = []
    for directory in _pod_cgroup_dirs():
        try:
            directory.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            stuck.append(str(directory))
    return stuck


def unmount_under(roots: Iterable[Path]) -> list[str]:
    """Unmount (lazily if busy) everything below ``roots``; return what is still mounted."""
    roots = list(roots)
    for _ in range(3):
        targets = mounts_under(roots)
        if not targets:
            return []
        for target in targets:
            rc = subprocess.run(["umount", target], capture_output=True, check=False).returncode
            if rc != 0:
                subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    return mounts_under(roots)


def _ours(name: str) -> bool:
    return name.startswith(CHAIN_PREFIXES)


def _iptables_cleanup(tool: str, save: str) -> list[str]:
    try:
        dump = subprocess.run([save], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return []
    if dump.returncode != 0:
        return []
    removed: list[str] = []
    table = ""
    chains: dict[str, list[str]] = {}
    jumps: dict[str, list[list[str]]] = {}
    for line in dump.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
            chains.setdefault(table, [])
            jumps.setdefault(table, [])
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if _ours(name):
                chains[table].append(name)
        elif line.startswith("-A "):
            args = shlex.split(line)
            chain = args[1]
            target = args[args.index("-j") + 1] if "-j" in args else ""
            if not _ours(chain) and _ours(target):
                jumps[table].append(args)
    for tbl, rules in jumps.items():
        for args in rules:
            cmd = [tool, "-w", "5", "-t", tbl, "-D", *args[1:]]
            if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
                removed.append(f"{tool} -t {tbl} {' '.join(args)}")
    for tbl, names in chains.items():
        for name in names:
            subprocess.run([tool, "-w", "5", "-t", tbl, "-F", name], capture_output=True)
        for name in names:
            if (
                subprocess.run(
                    [tool, "-w", "5", "-t", tbl, "-X", name], capture_output=True, check=False
                ).returncode
                == 0
            ):
                removed.append(f"{tool} -t {tbl} chain {name}")
    return removed


def remove_iptables() -> list[str]:
    """Delete the KUBE-*/CNI-* rules and chains in every backend and family."""
    removed = []
    for tool, save in IPTABLES_TOOLS:
        removed += _iptables_cleanup(tool, save)
    if shutil.which("nft") is None:
        return removed
    for family, table in NFT_TABLES:
        listed = subprocess.run(
            ["nft", "list", "table", family, table], capture_output=True, check=False
        )
        if listed.returncode == 0:
            subprocess.run(["nft", "delete", "table", family, table], capture_output=True)
            removed.append(f"nft table {family} {table}")
    return removed


def _mentions_ours(line: str) -> bool:
    return any(prefix in line for prefix in CHAIN_PREFIXES)


def iptables_leftovers() -> list[str]:
    """KUBE-*/CNI-* chains still present anywhere (for checks and tests)."""
    left = []
    for _tool, save in IPTABLES_TOOLS:
        try:
            dump = subprocess.run([save], capture_output=True, text=True, check=False).stdout
        except FileNotFoundError:
            continue
        left += [f"{save}: {line}" for line in dump.splitlines() if _mentions_ours(line)]
    return left


def remove_pod_logs() -> int:
    """Delete kubelet's pod log folders and the links to them; return how many were removed."""
    removed = 0
    if CONTAINER_LOG_LINKS.is_dir():
        for link in CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and str(os.readlink(link)).startswith(str(POD_LOGS) + "/"):
                link.unlink()
                removed += 1
    if POD_LOGS.is_dir():
        for folder in POD_LOGS.iterdir():
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    for directory in (CONTAINER_LOG_LINKS, POD_LOGS):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty
    return removed
