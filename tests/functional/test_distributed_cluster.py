"""The distributed shape with its registry and device streams on a Redis Cluster (3 masters, DESIGN.md
§10 `kind = "redis-cluster"`): a device's keys and the registry's live on different nodes, and a
node restarting under load loses nothing."""
import time

import pytest

from distributed import backends_fixture, server  # noqa: F401
from test_distributed import Load, Seen, collect

# User-level tests of the embedded suite and of the standalone-Redis deployment, run here against
# the `server` fixture of distributed.py.
from test_delivery import (  # noqa: F401
    test_create_update_delete_reach_all_four_channel_patterns,
    test_filtered_subscription_gets_enter_leave_and_delete,
    test_http_subscription_snapshot_and_removal,
)
from test_subscriptions import test_a_change_matching_several_subscriptions_reaches_the_device_once  # noqa: F401
from test_distributed import test_a_device_moves_to_another_instance_and_resumes_without_a_gap  # noqa: F401


backends = backends_fixture("redis-cluster")


@pytest.mark.parametrize("node", [1, 2, 3])
def test_a_cluster_node_restart_is_survived_and_loses_nothing(server, backends, ws_clients, node):
    """Every node holds some of the keys in play (the device's sequence and log, the registry's
    devices and stream): whichever restarts, writes are accepted again, every accepted change
    reaches the device once, in order, on the socket it had."""
    model = "restart"
    watcher = server.token("watcher", "watcher-device")
    c = ws_clients(server.ws_url)
    c.register(watcher)
    c.subscribe(model=model)

    class Client:
        def recv(self, timeout):
            return c.recv(timeout)

        def reconnect(self, resume_from):
            raise AssertionError("the device lost its socket: a Redis node restart must not close it")

    load = Load(server, server.token("writer", "w"), model)
    load.thread.start()
    seen, seqs = Seen(), []
    client = collect(Client(), watcher, seen, seqs, {"d10"}, timeout=30)
    assert "d10" in seen, "the load did not get going: " + server.read_log()
    backends.restart_cluster_node(node)
    after = len(load.accepted)
    deadline = time.time() + 60
    while len(load.accepted) < after + 20 and time.time() < deadline:
        time.sleep(0.1)
    load.stop.set()
    load.thread.join(30)
    assert len(load.accepted) >= after + 20, "writes were not accepted again after the node restart"
    collect(client, watcher, seen, seqs, set(load.accepted), timeout=90)
    missing = set(load.accepted) - seen
    assert not missing, f"{len(missing)} accepted changes never delivered, e.g. {sorted(missing)[:5]}"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a repeat in the sequence numbers"
