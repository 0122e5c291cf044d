"""The broker's HTTP listener: /health, /ready, JSON errors, and /metrics (Prometheus' text
format, Kafka's names as the JMX exporter renders them) scraped before and after real client
activity with confluent-kafka's defaults: the counters move by what was done."""

import json
import pathlib
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import kavka_bin

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def get(http: str, path: str, method: str = "GET"):
    """(status, content type, body) of `method path`."""
    req = urllib.request.Request(f"http://{http}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def scrape(http: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample."""
    status, ctype, body = get(http, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
    samples = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when none; without
    labels: every sample, the unlabelled total included)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_health_ready_and_json_errors(broker):
    status, ctype, body = get(broker.http, "/health")
    assert (status, ctype, json.loads(body)) == (200, "application/json", {"status": "UP"})
    status, _, body = get(broker.http, "/ready")
    assert (status, json.loads(body)) == (200, {"status": "READY"})
    status, ctype, body = get(broker.http, "/no/such/page")
    assert (status, ctype) == (404, "application/json")
    assert json.loads(body) == {"error_code": 404, "message": "no such path: /no/such/page"}
    status, _, body = get(broker.http, "/metrics", method="POST")
    assert status == 405 and json.loads(body)["error_code"] == 405, body


def test_counters_and_gauges_follow_produce_fetch_and_groups(broker):
    bs = broker.bootstrap
    before = scrape(broker.http)
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([
        NewTopic("metered", num_partitions=2, replication_factor=1),
        NewTopic("small", num_partitions=1, replication_factor=1,
                 config={"max.message.bytes": "200"}),
    ]).values():
        f.result(30)

    producer = Producer({"bootstrap.servers": bs})
    for i in range(10):
        producer.produce("metered", key=str(i % 2), value=f"value-{i}".encode())
    assert producer.flush(30) == 0
    # One batch the topic refuses (MESSAGE_TOO_LARGE): a failed produce request.
    errors = []
    producer.produce("small", value=b"x" * 1000, on_delivery=lambda e, m: errors.append(e))
    producer.flush(30)
    assert errors and errors[0] is not None, errors

    consumer = Consumer({"bootstrap.servers": bs, "group.id": "metered-group",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["metered"])
    got = 0
    deadline = time.monotonic() + 60
    while got < 10 and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is not None and m.error() is None:
            got += 1
    assert got == 10
    consumer.commit(asynchronous=False)
    during = scrape(broker.http)
    consumer.close()

    def delta(name, **labels):
        return value(during, name, **labels) - value(before, name, **labels)

    assert delta("kafka_server_brokertopicmetrics_messagesin_total", topic="metered") == 10
    bytes_in = delta("kafka_server_brokertopicmetrics_bytesin_total", topic="metered")
    assert bytes_in > 10 * len("value-0"), bytes_in
    # Every stored byte went out to the consumer at least once.
    assert delta("kafka_server_brokertopicmetrics_bytesout_total", topic="metered") >= bytes_in
    assert delta("kafka_server_brokertopicmetrics_failedproducerequests_total", topic="small") == 1
    assert delta("kafka_server_brokertopicmetrics_failedproducerequests_total", topic="metered") == 0
    assert delta("kafka_server_brokertopicmetrics_totalfetchrequests_total", topic="metered") >= 1
    # The all-topics counter carries the topic's.
    name = "kafka_server_brokertopicmetrics_messagesin_total"
    assert during[(name, frozenset())] == sum(
        v for (n, ls), v in during.items() if n == name and ls)
    assert delta("kafka_network_requestmetrics_requests_total", request="Produce") >= 2
    assert delta("kafka_network_requestmetrics_requests_total", request="JoinGroup") >= 1
    assert delta("kafka_network_requestmetrics_totaltimems_count", request="Fetch") >= 1
    assert value(during, "kafka_network_requestmetrics_totaltimems",
                 request="Produce", quantile="0.99") > 0

    assert value(during, "kafka_log_log_logendoffset", topic="metered") == 10
    assert value(during, "kafka_log_log_size", topic="metered") >= bytes_in
    assert value(during, "kafka_server_replicamanager_partitioncount") >= 3
    assert (value(during, "kafka_server_replicamanager_leadercount")
            == value(during, "kafka_server_replicamanager_partitioncount"))
    assert value(during, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(during, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(during, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(during, "kafka_coordinator_group_groupmetadatamanager_numgroups") >= 1
    assert value(during, "kafka_coordinator_group_groupmetadatamanager_numgroupsstable") >= 1
    assert value(during, "kafka_server_socket_server_metrics_connection_count",
                 listener="PLAINTEXT") >= 1

    # Every metric the Grafana dashboard in the repo plots is served.
    dashboard = json.loads((pathlib.Path(__file__).parents[3] / "dashboards" / "kavka.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in re.findall(r"\b(?:kafka|kavka)_[a-z0-9_]+", e)}
    served = {n for (n, _) in during}
    assert len(used) >= 15 and used <= served, sorted(used - served)

    # The consumer closed: its connections are gone from the gauge, not from the counter.
    time.sleep(0.5)
    after = scrape(broker.http)
    assert (value(after, "kafka_server_socket_server_metrics_connection_creation_total")
            >= value(during, "kafka_server_socket_server_metrics_connection_creation_total"))
    producer.flush(1)


def test_an_http_address_that_is_taken_stops_the_start_with_one_line(broker_factory):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    addr = f"127.0.0.1:{taken.getsockname()[1]}"
    b = broker_factory({"kavka.http.listener": addr}, start=False)
    with pytest.raises(RuntimeError) as failed:
        b.start()
    assert f"cannot listen on {addr} (kavka.http.listener)" in str(failed.value)
    taken.close()


def test_no_http_listener_when_the_key_is_empty(broker_factory):
    b = broker_factory({"kavka.http.listener": ""})
    assert "serving /metrics" not in b.log_path.read_text()
    out = subprocess.run([kavka_bin(), "topics", "--bootstrap-server", b.bootstrap, "--list"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_consumer_lag_under_kafka_lag_exporters_names(broker):
    """A group that committed offset 3 of 10 records lags 7, about as old as the records."""
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    admin.create_topics([NewTopic("lagged", num_partitions=1, replication_factor=1)])["lagged"].result(30)
    producer = Producer({"bootstrap.servers": bs})
    for i in range(10):
        producer.produce("lagged", value=f"r{i}".encode())
    assert producer.flush(30) == 0
    produced_at = time.time()
    consumer = Consumer({"bootstrap.servers": bs, "group.id": "laggards"})
    consumer.commit(offsets=[TopicPartition("lagged", 0, 3)], asynchronous=False)
    consumer.close()
    time.sleep(1.0)
    s = scrape(broker.http)
    cluster = {v for (n, ls), _ in s.items() if n == "kafka_consumergroup_group_lag"
               for k, v in ls if k == "cluster_name"}
    assert len(cluster) == 1, cluster
    where = dict(group="laggards", topic="lagged", partition="0")
    assert value(s, "kafka_consumergroup_group_offset", **where) == 3
    assert value(s, "kafka_consumergroup_group_lag", **where) == 7
    seconds = value(s, "kafka_consumergroup_group_lag_seconds", **where)
    assert 1.0 <= seconds <= time.time() - produced_at + 5, seconds
    assert value(s, "kafka_consumergroup_group_max_lag", group="laggards") == 7
    assert value(s, "kafka_consumergroup_group_sum_lag", group="laggards") == 7
    assert value(s, "kafka_consumergroup_group_topic_sum_lag", group="laggards", topic="lagged") == 7
    assert value(s, "kafka_partition_latest_offset", topic="lagged", partition="0") == 10
    assert value(s, "kafka_partition_earliest_offset", topic="lagged", partition="0") == 0

    # Caught up: no lag, no age.
    consumer = Consumer({"bootstrap.servers": bs, "group.id": "laggards"})
    consumer.commit(offsets=[TopicPartition("lagged", 0, 10)], asynchronous=False)
    consumer.close()
    s = scrape(broker.http)
    assert value(s, "kafka_consumergroup_group_lag", **where) == 0
    assert value(s, "kafka_consumergroup_group_lag_seconds", **where) == 0
