"""Pool names: the pool list, plus the pool hosts the traffic itself gave away.

A miner's configuration often crosses the network in clear before the miner
starts: a config.json or a dropper script fetched over HTTP, a pool's
"getting started" page, a bfgminer command line in a log upload. Their
stratum URLs (`stratum+tcp://host:port`, `stratum+ssl://`, `stratum+tls://`,
`stratum2+tcp://`) name the pool. The signatures in signatures/pool_urls.yaml
hand such flows to the slow path; `harvest` reads the URLs out of their first
bytes, and from then on the host counts as a pool name for the rest of the
capture (or live run): a TLS server name under it, a DNS answer for it, a
proxy asked for it, or its address when the URL gave an address literal.
Evidence names the flow and frame the URL came from. A learned host counts
only for the client of the flow that carried the URL (the device that fetched
its own configuration and then mines): a web page that merely mentions
`stratum+tcp://some.popular.site` must not turn everybody's visits to that
site into pool traffic. `applies(entry, client)` says whether it counts.

`PoolNames` answers like a PoolList (`name_match`, `address_match`, `ja4`),
remembers verdicts (a network asks for the same few names all day), and is
bounded: at most `limit` learned hosts, the oldest dropped first.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict

from .pools import suffix_entry, valid_domain

STRATUM_URL = re.compile(
    rb"(stratum2?\+(?:tcp|ssl|tls))://(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.\-]{0,252})"
    rb"(?::(\d{1,5}))?", re.I)
LEARNED_LIMIT = 4096
MEMO_LIMIT = 65536
CLIENTS_PER_HOST = 64      # clients a learned host counts for (the latest ones)


def applies(entry, client):
    """Whether a pool entry counts for a flow of `client`: list entries always,
    learned hosts only for the clients whose traffic carried their URL."""
    return entry is not None and ("clients" not in entry or client in entry["clients"])


def address_key(text):
    """An address as the flow table holds it: (hi, lo) of its 128-bit (IPv4-mapped) form."""
    address = ipaddress.ip_address(text)
    if address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    value = int(address)
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF


def is_address(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def stratum_urls(data: bytes):
    """(scheme, host, port or None) of every stratum URL in `data`; scheme and host in
    lower case, address literals without brackets. Hosts that are neither a domain
    nor an address are skipped."""
    out = []
    for m in STRATUM_URL.finditer(data):
        scheme = m.group(1).decode("ascii").lower()
        host = m.group(2).decode("ascii").lower().strip("[]").rstrip(".")
        port = int(m.group(3)) if m.group(3) else None
        if port is not None and not 0 < port < 65536:
            port = None
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            if not valid_domain(host):
                continue
        out.append((scheme, host, port))
    return out


class PoolNames:
    """A PoolList and the pool hosts learned from stratum URLs in the traffic."""

    def __init__(self, pools, limit=LEARNED_LIMIT):
        self.pools = pools
        self.limit = limit
        self.learned = OrderedDict()       # host (name or address text) -> entry
        self.address_keys = {address_key(a) for a in pools.addresses}   # (hi, lo) of rows
        self.memo = {}                     # name -> name_match(name)
        self.on_learn = []                 # callables run when a new host is learned

    @property
    def ja4(self):
        return self.pools.ja4

    @property
    def addresses(self):
        return self.pools.addresses

    def with_pools(self, pools):
        """The same learned hosts over a new pool list (a reload)."""
        out = PoolNames(pools, self.limit)
        for host, entry in self.learned.items():
            out._add(host, entry)
        return out

    def name_match(self, name):
        """The pool-list entry covering `name`, else the learned host covering it."""
        if not name:
            return None
        entry = self.memo.get(name, False)
        if entry is False:
            entry = self.pools.name_match(name) or suffix_entry(self.learned, name)
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            self.memo[name] = entry
        return entry

    def address_match(self, address):
        return self.pools.address_match(address) or self.learned.get(address)

    def harvest(self, data: bytes, flow_id: int, frame: int, client: str):
        """Learn the hosts of the stratum URLs in `data` (bytes of flow `flow_id`, whose
        client is `client`)."""
        for scheme, host, port in stratum_urls(data):
            if self.pools.name_match(host) is not None \
                    or self.pools.address_match(host) is not None:
                continue
            known = self.learned.get(host)
            if known is not None:                  # another client with the same config
                clients = known["clients"]
                clients.pop(client, None)
                clients[client] = None
                while len(clients) > CLIENTS_PER_HOST:
                    clients.pop(next(iter(clients)))
                continue
            where = f"[{host}]" if ":" in host else host
            url = f"{scheme}://{where}" + (f":{port}" if port else "")
            self._add(host, {"pool": host, "source": f"{url} in flow {flow_id}, frame {frame}",
                             "flow_id": flow_id, "clients": {client: None}})

    def _add(self, host, entry):
        self.learned[host] = entry
        if is_address(host):
            self.address_keys.add(address_key(host))
        while len(self.learned) > self.limit:
            gone, _ = self.learned.popitem(last=False)
            if is_address(gone):
                self.address_keys.discard(address_key(gone))
        self.memo.clear()
        for callback in self.on_learn:
            callback()
