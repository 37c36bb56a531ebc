"""refusal.ray on a two-node Ray cluster (ray.cluster_utils.Cluster: two raylets, one CPU
each): the actors spread over both nodes and still write the CLI's records (issue 16)."""
from __future__ import annotations

import pytest

from conftest import MODEL, assert_rows_equal_cli

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")

import refusal.ray as rray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def two_nodes():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False,
                                      "object_store_memory": 128 * 1024 * 1024})
    cluster.add_node(num_cpus=1, object_store_memory=128 * 1024 * 1024)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_two_nodes_one_actor_each_write_the_clis_records(two_nodes, eval_texts,
                                                         cli_eval_records):
    class OnNode(rray.RefusalPredictor):
        def __call__(self, batch):
            out = super().__call__(batch)
            node = ray.get_runtime_context().get_node_id()
            return out.append_column("node", pa.array([node] * out.num_rows))

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(eval_texts)],
                             override_num_blocks=8)
    rows = ds.map_batches(OnNode, fn_constructor_kwargs={"model": str(MODEL)},
                          batch_format="pyarrow", batch_size=100,
                          compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1).take_all()
    assert len({r["node"] for r in rows}) == 2, "both nodes should have run an actor"
    assert_rows_equal_cli(rows, cli_eval_records)
