"""The distributed shape with its registry and device streams on a Redis Cluster (3 masters, DESIGN.md
§10 `kind = "redis-cluster"`): a device's keys and the registry's live on different nodes, and a
node restarting under load loses nothing."""
import pytest

from distributed import backends_fixture, server  # noqa: F401
from test_distributed import changes_survive

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
    """Every node holds some of the keys in play (the devices' sequences and logs, the registry's
    devices and feed): whichever restarts, nothing accepted is lost."""
    changes_survive(server, ws_clients, lambda: backends.restart_cluster_node(node), f"a restart of node {node}")
