//! The Kafka output: one record per alert, value = the alert JSON, key = its container id,
//! produced with `acks=all` (rskafka always asks every in-sync replica to acknowledge).
//!
//! The partition of a record is chosen as the Java client's default partitioner does
//! (murmur2 of the key), so one container's alerts stay in one partition, in order, and land
//! where any other Kafka producer would put the same key.
//!
//! A batch that cannot be produced (broker down, topic missing, request timed out) is retried
//! with backoff, on a fresh connection and fresh metadata each time, until its delivery
//! timeout; alerts behind it wait in the bounded queue meanwhile (a full queue drops and counts,
//! detection never waits). A broker that comes back within the delivery timeout therefore gets
//! every alert the queue held, in order; an alert whose acknowledgement was lost may be
//! delivered twice (at least once).

use super::config::{client_tls, KafkaConfig, KafkaSaslMechanism};
use super::dispatcher::{next_batch, Counters, Delivery, ErrorLog};
use super::AlertsError;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

const OUTPUT: &str = "kafka";

/// What the brokers' connections need, read once at start: TLS roots and the SASL password.
pub(crate) struct ClientSettings {
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<SaslConfig>,
}

impl ClientSettings {
    pub(crate) fn load(cfg: &KafkaConfig) -> Result<Self, AlertsError> {
        let tls = if cfg.tls { Some(client_tls("kafka", cfg.tls_ca_file.as_deref())?.rustls_config()) } else { None };
        let sasl = match &cfg.sasl {
            Some(s) => {
                let credentials = Credentials::new(s.username.clone(), s.password()?);
                Some(match s.mechanism {
                    KafkaSaslMechanism::Plain => SaslConfig::Plain(credentials),
                    KafkaSaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                    KafkaSaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
                })
            }
            None => None,
        };
        Ok(ClientSettings { tls, sasl })
    }
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`, seed 0x9747b28c).
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions` (> 0), as the Java client's default partitioner.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// A client of the cluster with the topic's partition count, and one client per partition
/// made when first needed.
struct Connection {
    client: rskafka::client::Client,
    partitions: i32,
    by_partition: HashMap<i32, PartitionClient>,
}

impl Connection {
    async fn open(cfg: &KafkaConfig, settings: &ClientSettings) -> Result<Connection, String> {
        // No retries inside rskafka: the first error of a call ends it, so the retry policy
        // (and the log and counters) stay this module's, and every retry starts from fresh
        // metadata read with list_topics, which never auto-creates the topic (rskafka's
        // per-topic metadata refresh asks the broker to create a missing topic).
        let backoff = BackoffConfig {
            init_backoff: cfg.backoff.initial,
            max_backoff: cfg.backoff.max,
            base: 2.0,
            deadline: Some(std::time::Duration::ZERO),
        };
        let mut builder = ClientBuilder::new(cfg.brokers.clone()).client_id("tracewarden").backoff_config(backoff);
        if let Some(tls) = &settings.tls {
            builder = builder.tls_config(tls.clone());
        }
        if let Some(sasl) = &settings.sasl {
            builder = builder.sasl_config(sasl.clone());
        }
        let brokers = cfg.brokers.join(",");
        let client = builder.build().await.map_err(|e| format!("connect to {brokers}: {e}"))?;
        let topics = client.list_topics().await.map_err(|e| format!("metadata from {brokers}: {e}"))?;
        let partitions = topics
            .iter()
            .find(|t| t.name == cfg.topic)
            .map(|t| t.partitions.len())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("topic {} does not exist on {brokers}", cfg.topic))?;
        let partitions = i32::try_from(partitions).map_err(|_| format!("topic {}: too many partitions", cfg.topic))?;
        Ok(Connection { client, partitions, by_partition: HashMap::new() })
    }

    /// Produces `records` to `partition` and waits for the acknowledgement.
    async fn produce(&mut self, topic: &str, partition: i32, records: Vec<Record>) -> Result<(), String> {
        let client = match self.by_partition.entry(partition) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let c = self
                    .client
                    .partition_client(topic, partition, UnknownTopicHandling::Error)
                    .await
                    .map_err(|e| format!("partition {topic}/{partition}: {e}"))?;
                e.insert(c)
            }
        };
        client
            .produce(records, Compression::NoCompression)
            .await
            .map(drop)
            .map_err(|e| format!("produce to {topic}/{partition}: {e}"))
    }
}

fn record(d: &Delivery, timestamp: chrono::DateTime<chrono::Utc>) -> Record {
    Record {
        key: Some(d.alert.container_id.as_bytes().to_vec()),
        value: Some(d.json.as_bytes().to_vec()),
        headers: BTreeMap::new(),
        timestamp,
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    chrono::DateTime::from_timestamp_nanos(i64::try_from(ns).unwrap_or(i64::MAX))
}

/// One attempt at `pending`: connects if needed, then produces each partition's share, in
/// order. What was acknowledged is counted sent and leaves `pending`; the rest stays for the
/// next attempt.
async fn attempt(
    cfg: &KafkaConfig,
    settings: &ClientSettings,
    conn: &mut Option<Connection>,
    pending: &mut Vec<Delivery>,
    counters: &Counters,
) -> Result<(), String> {
    let c = match conn {
        Some(c) => c,
        None => {
            let opened = tokio::time::timeout(cfg.timeout, Connection::open(cfg, settings))
                .await
                .map_err(|_| format!("connect to {}: timed out after {:?}", cfg.brokers.join(","), cfg.timeout))??;
            conn.insert(opened)
        }
    };
    let mut groups: BTreeMap<i32, Vec<Delivery>> = BTreeMap::new();
    for d in pending.drain(..) {
        groups.entry(partition_for(d.alert.container_id.as_bytes(), c.partitions)).or_default().push(d);
    }
    let mut result = Ok(());
    let timestamp = now();
    for (partition, group) in groups {
        if result.is_ok() {
            let records = group.iter().map(|d| record(d, timestamp)).collect();
            let produced =
                tokio::time::timeout(cfg.timeout, c.produce(&cfg.topic, partition, records)).await.unwrap_or_else(
                    |_| Err(format!("produce to {}/{partition}: timed out after {:?}", cfg.topic, cfg.timeout)),
                );
            match produced {
                Ok(()) => {
                    group.iter().for_each(|_| counters.sent());
                    continue;
                }
                Err(e) => result = Err(e),
            }
        }
        pending.extend(group);
    }
    result
}

/// Delivers `batch` (emptied), retrying until the delivery timeout; what is left then counts
/// failed. A failed attempt drops the connection: the next one reconnects and re-reads the
/// metadata (a restarted broker, a moved leader, a re-created topic).
async fn deliver(
    cfg: &KafkaConfig,
    settings: &ClientSettings,
    conn: &mut Option<Connection>,
    batch: &mut Vec<Delivery>,
    counters: &Counters,
    log: &mut ErrorLog,
) {
    let deadline = Instant::now() + cfg.delivery_timeout;
    let mut retry = 0;
    loop {
        match attempt(cfg, settings, conn, batch, counters).await {
            Ok(()) => return log.ok(OUTPUT),
            Err(e) => {
                *conn = None;
                let wait = cfg.backoff.delay(retry);
                if Instant::now() + wait > deadline {
                    batch.drain(..).for_each(|_| counters.failed());
                    return log.error(OUTPUT, &format!("{e}; gave up after {} attempts", retry + 1));
                }
                log.error(OUTPUT, &format!("{e}; retrying in {wait:?} ({} alerts waiting)", batch.len()));
                tokio::time::sleep(wait).await;
                retry += 1;
            }
        }
    }
}

/// The Kafka worker: batches what is queued (at most `max_batch`) and delivers it.
pub(crate) async fn run(
    cfg: KafkaConfig,
    settings: ClientSettings,
    mut rx: mpsc::Receiver<Delivery>,
    counters: Arc<Counters>,
) {
    let mut conn = None;
    let mut log = ErrorLog::default();
    let mut batch = Vec::with_capacity(cfg.max_batch);
    while next_batch(&mut rx, &mut batch, cfg.max_batch).await {
        deliver(&cfg, &settings, &mut conn, &mut batch, &counters, &mut log).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Kafka's own test vectors (clients' UtilsTest.testMurmur2).
        for (key, want) in [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key.as_bytes()), want, "{key}");
        }
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        for n in 1..8 {
            for key in ["host", "3ad7b2c1e0f4", "", "a7f00d"] {
                let p = partition_for(key.as_bytes(), n);
                assert!((0..n).contains(&p), "{key} in {n}: {p}");
                assert_eq!(p, partition_for(key.as_bytes(), n));
            }
        }
        assert_eq!(partition_for(b"foobar", 3), (-790_332_482i32 & 0x7fff_ffff) % 3);
    }
}
