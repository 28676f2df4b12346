"""Hosts for the scale-out test: network namespaces joined by veth pairs to a bridge of the test's own.

Each host has its own network stack, address and host name (a UTS namespace); it reaches the services on
the bridge's address and nothing else (no route leads out of the bridge). Everything is named with a
random suffix, so two test runs on one machine do not collide, and ``close()`` removes all of it whatever
happened in between. The addresses come from 198.18.0.0/15, the range reserved for network benchmarks.
"""

import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field


class NamespacesUnavailable(RuntimeError):
    """This machine (or user) cannot create network namespaces; the message says why."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass(frozen=True)
class Host:
    name: str
    namespace: str
    address: str

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host: its network namespace and a host name of its own."""
        return [
            "ip", "netns", "exec", self.namespace,
            "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.name, *argv,
        ]  # fmt: skip


@dataclass
class Network:
    """A bridge carrying the services' address (``gateway``), and ``hosts`` attached to it."""

    suffix: str
    gateway: str
    hosts: list[Host] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # everything made so far, for close()
    links: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"sob{self.suffix}"

    @classmethod
    def create(cls, host_names: list[str]) -> "Network":
        """The bridge and one namespace per host; raises NamespacesUnavailable (saying why) if it cannot."""
        if shutil.which("ip") is None or shutil.which("unshare") is None:
            raise NamespacesUnavailable("the `ip` and `unshare` commands are not installed")
        subnet = _free_subnet()
        network = cls(suffix=uuid.uuid4().hex[:6], gateway=f"{subnet}.1")
        try:
            _ip("link", "add", network.bridge, "type", "bridge")
            network.links.append(network.bridge)
            _ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
            _ip("link", "set", network.bridge, "up")
            for number, name in enumerate(host_names, start=1):
                network.hosts.append(network._attach(name, number, f"{subnet}.{10 + number}"))
        except subprocess.CalledProcessError as error:
            network.close()
            raise NamespacesUnavailable(f"`{' '.join(error.cmd)}` failed: {error.stderr.strip()}") from None
        return network

    def _attach(self, name: str, number: int, address: str) -> Host:
        namespace, outer, inner = (
            f"so-{self.suffix}-{name}",
            f"{self.bridge}v{number}",
            f"{self.bridge}p{number}",
        )
        _ip("netns", "add", namespace)
        self.namespaces.append(namespace)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self.links.append(outer)
        _ip("link", "set", inner, "netns", namespace)
        _ip("link", "set", outer, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inner)
        _ip("-n", namespace, "link", "set", inner, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        return Host(name=name, namespace=namespace, address=address)

    def close(self) -> None:
        """Remove every namespace and link this network made; each step is tried whatever failed before."""
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        for link in reversed(self.links):
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=30)
        self.namespaces.clear()
        self.links.clear()

    def leftovers(self) -> list[str]:
        """This network's namespaces and links that still exist (none after ``close()``)."""
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        found = [line.split()[0] for line in namespaces.splitlines() if f"so-{self.suffix}-" in line]
        return found + ([self.bridge] if f" {self.bridge}:" in links or f" {self.bridge}@" in links else [])


def _free_subnet() -> str:
    taken = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    for _ in range(100):
        subnet = f"198.{random.randint(18, 19)}.{random.randint(0, 255)}"
        if f" {subnet}." not in taken:
            return subnet
    raise NamespacesUnavailable("no free /24 left in 198.18.0.0/15")
