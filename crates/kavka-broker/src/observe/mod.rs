//! What the broker shows operators: Prometheus metrics named as the Prometheus JMX exporter
//! names Kafka's (its `kafka-2_0_0.yml` rules, lower-case), so dashboards and alerts built for
//! Kafka read them unchanged, served with `/health` and `/ready` on the HTTP listener
//! (`kavka.http.listener`, `http.rs`).
//!
//! Counters on the request path are striped atomics (`counter.rs`: each worker thread adds to
//! a cache line of its own) reached through handles registered once: a partition keeps its
//! topic's counters, a request's API and version index a table; nothing is allocated or looked
//! up by name per request. Request times go to striped log-linear histograms
//! (`histogram.rs`). Everything
//! that is state rather than an event (partition and leader counts, log sizes and offsets,
//! groups by state, connections) is read when `/metrics` is scraped (`scrape.rs`). Without
//! an HTTP listener there is no `Metrics` and the request path skips all of it.

mod counter;
mod histogram;
pub mod http;
mod lag;
mod scrape;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use kavka_protocol::api::ApiKey;

pub use counter::Striped;
pub use histogram::TimeHistogram;

/// The quantiles request times are reported at: Kafka's percentiles (50th ... 999th).
const QUANTILES: &[f64] = &[0.5, 0.75, 0.95, 0.98, 0.99, 0.999];
/// API keys and versions the request table has room for.
const API_KEYS_MAX: usize = 128;
const API_VERSIONS_MAX: usize = 32;

/// A topic's counters by name.
type CounterValues = [(&'static str, u64); 8];

/// Kafka's `BrokerTopicMetrics` of one topic (the all-topics values are their sums). A
/// partition keeps its topic's handle (`Partition::topic_metrics`).
#[derive(Debug, Default)]
pub struct TopicMetrics {
    messages_in: Striped,
    bytes_in: Striped,
    bytes_out: Striped,
    replication_bytes_out: Striped,
    produce_requests: Striped,
    failed_produce_requests: Striped,
    fetch_requests: Striped,
    failed_fetch_requests: Striped,
}

impl TopicMetrics {
    /// A produce request's batch was appended: `records` records in `bytes`.
    pub fn produced(&self, records: u64, bytes: u64) {
        self.produce_requests.add(1);
        self.messages_in.add(records);
        self.bytes_in.add(bytes);
    }

    /// A produce request's batch was refused.
    pub fn produce_failed(&self) {
        self.produce_requests.add(1);
        self.failed_produce_requests.add(1);
    }

    /// A fetch was answered with `bytes` of records (`failed`: with an error); a follower's
    /// bytes count as replication bytes.
    pub fn fetched(&self, bytes: u64, follower: bool, failed: bool) {
        self.fetch_requests.add(1);
        if failed {
            self.failed_fetch_requests.add(1);
        }
        if follower {
            self.replication_bytes_out.add(bytes);
        } else {
            self.bytes_out.add(bytes);
        }
    }

    /// (name, value) of each counter, under the exporter's names.
    fn values(&self) -> CounterValues {
        [
            (
                "kafka_server_brokertopicmetrics_messagesin_total",
                self.messages_in.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_bytesin_total",
                self.bytes_in.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_bytesout_total",
                self.bytes_out.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_replicationbytesout_total",
                self.replication_bytes_out.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_totalproducerequests_total",
                self.produce_requests.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_failedproducerequests_total",
                self.failed_produce_requests.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_totalfetchrequests_total",
                self.fetch_requests.get(),
            ),
            (
                "kafka_server_brokertopicmetrics_failedfetchrequests_total",
                self.failed_fetch_requests.get(),
            ),
        ]
    }
}

/// One listener's connections.
#[derive(Debug)]
struct ListenerConnections {
    listener: Arc<str>,
    open: Arc<AtomicI64>,
    created: Striped,
}

/// The broker's metrics.
pub struct Metrics {
    topics: RwLock<HashMap<Arc<str>, Arc<TopicMetrics>>>,
    /// `RequestsPerSec` by API key and version.
    requests: Box<[OnceLock<Striped>]>,
    /// `TotalTimeMs` by API key (rendered as a summary at Kafka's percentiles).
    total_time: Box<[OnceLock<TimeHistogram>]>,
    /// Open and accepted connections by listener.
    connections: Mutex<Vec<ListenerConnections>>,
    started: Instant,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics of their own (nothing process-global: several brokers may share a process, in
    /// tests).
    pub fn new() -> Metrics {
        Metrics {
            topics: RwLock::new(HashMap::new()),
            requests: (0..API_KEYS_MAX * API_VERSIONS_MAX)
                .map(|_| OnceLock::new())
                .collect(),
            total_time: (0..API_KEYS_MAX).map(|_| OnceLock::new()).collect(),
            connections: Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }

    /// The counters of `topic` (registered at the first call; callers keep the handle).
    pub fn topic(&self, topic: &str) -> Arc<TopicMetrics> {
        if let Some(t) = self.topics.read().expect("metrics lock").get(topic) {
            return t.clone();
        }
        let mut topics = self.topics.write().expect("metrics lock");
        topics.entry(Arc::from(topic)).or_default().clone()
    }

    /// A request of `api` at `version` was answered; it arrived at `arrived`.
    pub fn request_done(&self, api: ApiKey, version: i16, arrived: Instant) {
        let key = api as i16 as usize;
        let v = usize::try_from(version).unwrap_or(0);
        if key >= API_KEYS_MAX || v >= API_VERSIONS_MAX {
            return;
        }
        self.requests[key * API_VERSIONS_MAX + v]
            .get_or_init(Striped::default)
            .add(1);
        let micros = u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.total_time[key]
            .get_or_init(TimeHistogram::default)
            .record(micros);
    }

    /// A connection was accepted on `listener`; it counts as open until the guard drops.
    pub fn connection_opened(&self, listener: &Arc<str>) -> ConnectionGuard {
        let mut all = self.connections.lock().expect("metrics lock");
        let at = match all.iter().position(|c| c.listener == *listener) {
            Some(at) => at,
            None => {
                all.push(ListenerConnections {
                    listener: listener.clone(),
                    open: Arc::new(AtomicI64::new(0)),
                    created: Striped::default(),
                });
                all.len() - 1
            }
        };
        let c = &all[at];
        c.created.add(1);
        c.open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(c.open.clone())
    }

    /// Starts the request-time histograms' next generation: their quantiles cover the last
    /// one to two upkeep periods.
    pub fn upkeep(&self) {
        for h in self.total_time.iter().filter_map(OnceLock::get) {
            h.rotate();
        }
    }

    /// The counters and histograms in Prometheus' text format.
    fn render_events(&self) -> String {
        let mut out = String::new();
        let topics: Vec<(Arc<str>, Arc<TopicMetrics>)> = {
            let map = self.topics.read().expect("metrics lock");
            let mut v: Vec<_> = map.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let per_topic: Vec<(Arc<str>, CounterValues)> = topics
            .iter()
            .map(|(k, t)| (k.clone(), t.values()))
            .collect();
        for i in 0..8 {
            let name = TopicMetrics::default().values()[i].0;
            let total: u64 = per_topic.iter().map(|(_, v)| v[i].1).sum();
            scrape::counter_header(&mut out, name);
            out.push_str(&format!("{name} {total}\n"));
            for (topic, v) in &per_topic {
                let labels = format!("topic=\"{}\"", scrape::escaped(topic));
                out.push_str(&format!("{name}{{{labels}}} {}\n", v[i].1));
            }
            out.push('\n');
        }
        let name = "kafka_network_requestmetrics_requests_total";
        scrape::counter_header(&mut out, name);
        for (i, slot) in self.requests.iter().enumerate() {
            let Some(count) = slot.get() else { continue };
            let (key, version) = (i / API_VERSIONS_MAX, i % API_VERSIONS_MAX);
            let Ok(api) = ApiKey::try_from(key as i16) else {
                continue;
            };
            let request = api_name(api);
            out.push_str(&format!(
                "{name}{{request=\"{request}\",version=\"{version}\"}} {}\n",
                count.get()
            ));
        }
        out.push('\n');
        let name = "kafka_server_socket_server_metrics_connection_creation_total";
        scrape::counter_header(&mut out, name);
        for c in self.connections.lock().expect("metrics lock").iter() {
            let labels = format!("listener=\"{}\"", scrape::escaped(&c.listener));
            out.push_str(&format!("{name}{{{labels}}} {}\n", c.created.get()));
        }
        out.push('\n');
        self.render_times(&mut out);
        out
    }

    /// The request times as a Prometheus summary, in milliseconds.
    fn render_times(&self, out: &mut String) {
        let name = "kafka_network_requestmetrics_totaltimems";
        out.push_str(&format!("# TYPE {name} summary\n"));
        for (key, slot) in self.total_time.iter().enumerate() {
            let Some(h) = slot.get() else { continue };
            let Ok(api) = ApiKey::try_from(key as i16) else {
                continue;
            };
            let request = api_name(api);
            let values = h
                .quantiles_micros(QUANTILES)
                .unwrap_or_else(|| vec![0; QUANTILES.len()]);
            for (q, micros) in QUANTILES.iter().zip(values) {
                let ms = micros as f64 / 1000.0;
                out.push_str(&format!(
                    "{name}{{request=\"{request}\",quantile=\"{q}\"}} {ms}\n"
                ));
            }
            let sum_ms = h.sum_micros() as f64 / 1000.0;
            out.push_str(&format!("{name}_sum{{request=\"{request}\"}} {sum_ms}\n"));
            out.push_str(&format!(
                "{name}_count{{request=\"{request}\"}} {}\n",
                h.count()
            ));
        }
        out.push('\n');
    }

    /// Open connections by listener.
    fn open_connections(&self) -> Vec<(Arc<str>, i64)> {
        self.connections
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|c| (c.listener.clone(), c.open.load(Ordering::Relaxed)))
            .collect()
    }

    /// Seconds since the broker started.
    fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Keeps a connection counted as open.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<AtomicI64>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Kafka's request name (`ApiKeys.name`): `Produce`, `Fetch`, `ApiVersions`, ...
fn api_name(api: ApiKey) -> String {
    format!("{api:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_render_under_kafkas_exporter_names() {
        let m = Metrics::new();
        let topic = m.topic("clicks");
        topic.produced(3, 200);
        topic.produced(2, 100);
        topic.produce_failed();
        topic.fetched(50, false, false);
        topic.fetched(70, true, false);
        m.request_done(ApiKey::Produce, 9, Instant::now());
        let guard = m.connection_opened(&Arc::from("PLAINTEXT"));
        let text = m.render_events();
        for line in [
            "kafka_server_brokertopicmetrics_messagesin_total{topic=\"clicks\"} 5",
            "kafka_server_brokertopicmetrics_messagesin_total 5",
            "kafka_server_brokertopicmetrics_bytesin_total{topic=\"clicks\"} 300",
            "kafka_server_brokertopicmetrics_totalproducerequests_total{topic=\"clicks\"} 3",
            "kafka_server_brokertopicmetrics_failedproducerequests_total{topic=\"clicks\"} 1",
            "kafka_server_brokertopicmetrics_bytesout_total{topic=\"clicks\"} 50",
            "kafka_server_brokertopicmetrics_replicationbytesout_total{topic=\"clicks\"} 70",
            "kafka_network_requestmetrics_requests_total{request=\"Produce\",version=\"9\"} 1",
            "kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"} 1",
            "kafka_server_socket_server_metrics_connection_creation_total{listener=\"PLAINTEXT\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in:\n{text}");
        }
        assert!(
            text.contains(
                "kafka_network_requestmetrics_totaltimems{request=\"Produce\",quantile=\"0.99\"}"
            ),
            "{text}"
        );
        assert_eq!(m.open_connections(), vec![(Arc::from("PLAINTEXT"), 1)]);
        drop(guard);
        assert_eq!(m.open_connections(), vec![(Arc::from("PLAINTEXT"), 0)]);
    }
}
