"""Subscriber maps: which subscriber a hit belongs to (issue 5, docs/subscribers.md).

    smap = load_subscriber_map("subscribers.yaml")      # or default_subscriber_map()
    ids, how = smap.resolve(client_ips, client_ports, ts_ns)
    smap.info(ids[0])                                    # {'name': ..., 'contract': ...}

values.py parses cells, yaml_map.py / csv_map.py read files into
entries.py (large CSV a column at a time: csv_scan.py finds the cells,
columns.py converts them, ids.py numbers subscribers), lookup.py indexes
them, map.py ties it together.
"""

from .lookup import NONE
from .map import (HOW, HOW_CGNAT, HOW_IP, HOW_LEASE, HOW_STATIC, SubscriberMap,
                  default_subscriber_map, load_subscriber_map)

__all__ = ["HOW", "HOW_CGNAT", "HOW_IP", "HOW_LEASE", "HOW_STATIC", "NONE", "SubscriberMap",
           "default_subscriber_map", "load_subscriber_map"]
