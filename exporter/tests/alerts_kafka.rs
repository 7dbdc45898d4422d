//! The Kafka output against a real Kafka-compatible broker (tansu, memory storage, installed by
//! scripts/bootstrap.sh): alerts of real runc containers reach the topic keyed by container id,
//! in the partition Kafka's default partitioner picks; a broker that goes away and comes back
//! gets every alert the output held meanwhile.

#[macro_use]
mod common;

use common::attack::{find_alert, Action, Opts, Target};
use common::{eventually, free_port, sample, Exporter, SHIPPED_RULES};
use exporter::alerts::{partition_for, AlertsConfig, Dispatcher, KafkaConfig};
use exporter::rules::Alert;
use exporter::server::client::ClientTls;
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "tracewarden-alerts";
/// Partitions of the topic the test creates: a container's alerts must land in the one its id
/// hashes to.
const PARTITIONS: i32 = 3;
const RULE: &str = "Read sensitive file untrusted";

/// A tansu broker on 127.0.0.1:`port` with [`TOPIC`], killed on drop.
struct Broker {
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(port: u16) -> Broker {
        Broker::start_advertising(port, port)
    }

    /// A broker on `port` that names 127.0.0.1:`advertised` as its address in metadata (where
    /// clients then connect).
    fn start_advertising(port: u16, advertised: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new("tansu")
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &advertised_url])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tansu");
        let broker = Broker { port, child: Some(child) };
        assert!(
            eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "tansu did not listen on {port}"
        );
        // Memory storage: a restarted broker has no topics until this, unless the exporter's
        // retries asked for the topic's metadata first: the broker then created it (as Kafka
        // does with auto.create.topics.enable), with its default partition count.
        let out = Command::new("tansu")
            .args(["topic", "create", "--broker", &url, "--partitions", &PARTITIONS.to_string(), TOPIC])
            .output()
            .expect("tansu topic create");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() || text.contains("already exists"), "tansu topic create: {text}");
        broker
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One record read back: partition, key, value as JSON.
#[derive(Debug)]
struct Read {
    partition: i32,
    key: String,
    value: serde_json::Value,
}

/// Every record on [`TOPIC`], read with rskafka as a consumer would, and the topic's partition
/// count.
fn read_topic(rt: &tokio::runtime::Runtime, address: &str) -> (Vec<Read>, i32) {
    rt.block_on(read_records(address, None))
}

/// [`read_topic`], over TLS with `tls`.
async fn read_records(address: &str, tls: Option<Arc<rustls::ClientConfig>>) -> (Vec<Read>, i32) {
    {
        let mut builder = ClientBuilder::new(vec![address.to_owned()]);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls);
        }
        let client = builder.build().await.expect("connect consumer");
        let topics = client.list_topics().await.expect("list topics");
        let partitions = topics.iter().find(|t| t.name == TOPIC).map_or(0, |t| t.partitions.len() as i32);
        let mut out = Vec::new();
        for partition in 0..partitions {
            let pc = client.partition_client(TOPIC, partition, UnknownTopicHandling::Error).await.expect("partition");
            let mut offset = 0;
            loop {
                let (records, high_watermark) = pc.fetch_records(offset, 1..1_000_000, 200).await.expect("fetch");
                for r in &records {
                    let key = String::from_utf8(r.record.key.clone().unwrap_or_default()).expect("utf-8 key");
                    let value = serde_json::from_slice(r.record.value.as_deref().unwrap_or_default()).expect("JSON");
                    out.push(Read { partition, key, value });
                    offset = r.offset + 1;
                }
                if records.is_empty() || offset >= high_watermark {
                    break;
                }
            }
        }
        (out, partitions)
    }
}

/// Runs `/bin/cat /etc/shadow` in a new container; returns it (kept alive, so its identity
/// stays resolvable) once the exporter printed the alert.
fn read_shadow(exporter: &Exporter, name: &str) -> (Action, serde_json::Value) {
    let target = Target::new(name);
    let mut action = Action::start(&target, "/bin/cat /etc/shadow", &Opts::default());
    action.wait_done();
    let mut alert = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            alert = find_alert(exporter, RULE, target.short_id());
            alert.is_some()
        }),
        "no {RULE:?} alert for {name} on stdout"
    );
    (action, alert.expect("found"))
}

fn kafka_counter(exporter: &Exporter, name: &str) -> f64 {
    sample(&exporter.metrics(), name, &[("output", "kafka")]).unwrap_or(f64::NAN)
}

/// The record of `alert` (by container id), checked: key, partition, same JSON as stdout.
fn check_record<'a>((records, partitions): &'a (Vec<Read>, i32), alert: &serde_json::Value) -> Option<&'a Read> {
    let id = alert["container_id"].as_str().expect("container_id");
    let r = records.iter().find(|r| r.key == id && r.value["rule"] == RULE)?;
    assert_eq!(r.partition, partition_for(id.as_bytes(), *partitions), "keyed partition of {id}");
    assert_eq!(&r.value, alert, "the record is the alert line");
    Some(r)
}

/// Whether tansu is installed; a missing one fails the test (or skips it, see
/// [`common::prerequisite::needs`]).
fn tansu_available(test: &str) -> bool {
    let found = Command::new("tansu")
        .arg("--version")
        .output()
        .map_err(|e| format!("tansu not installed ({e}); scripts/bootstrap.sh installs it"));
    common::prerequisite::needs(test, found).is_some()
}

#[test]
fn alerts_reach_kafka_and_survive_a_broker_restart() {
    kernel_test!(alerts_reach_kafka_and_survive_a_broker_restart);
    if !tansu_available("alerts_reach_kafka_and_survive_a_broker_restart") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut broker = Broker::start(free_port());
    let exporter = Exporter::start(&[
        "--rules-dir",
        SHIPPED_RULES,
        "--kafka.brokers",
        &broker.address(),
        "--kafka.topic",
        TOPIC,
        "--kafka.delivery-timeout",
        "60s",
    ]);

    // Broker up: the alert is on the topic, keyed by its container.
    let (_first, alert) = read_shadow(&exporter, "kafka-up");
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || check_record(&read_topic(&rt, &broker.address()), &alert).is_some()),
        "the alert never reached the topic: {alert}"
    );
    eprintln!("kafka: first alert read back {:?} after stdout", started.elapsed());

    // Broker gone: alerts wait in the output; nothing fails or drops.
    broker.stop();
    let held: Vec<_> = (0..4).map(|i| read_shadow(&exporter, &format!("kafka-down-{i}"))).collect();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(kafka_counter(&exporter, "tracewarden_alert_outputs_failed_total"), 0.0, "nothing given up yet");

    // Broker back (empty: memory storage; the topic re-created): every held alert arrives.
    let mut broker = Broker::start(broker.port);
    let back = Instant::now();
    let mut missing = Vec::new();
    let all_arrived = eventually(Duration::from_secs(30), || {
        let records = read_topic(&rt, &broker.address());
        missing = held.iter().filter(|(_, a)| check_record(&records, a).is_none()).map(|(_, a)| a.clone()).collect();
        missing.is_empty()
    });
    assert!(all_arrived, "alerts held while the broker was down were lost: {missing:?}");
    eprintln!("kafka: {} held alerts all read back {:?} after the broker was back", held.len(), back.elapsed());
    assert_eq!(kafka_counter(&exporter, "tracewarden_alert_outputs_failed_total"), 0.0);
    assert_eq!(kafka_counter(&exporter, "tracewarden_alert_outputs_dropped_total"), 0.0);
    assert!(kafka_counter(&exporter, "tracewarden_alert_outputs_sent_total") >= 5.0);
    broker.stop();
}

/// A TLS terminator on `listener` (rustls with `config`) forwarding each connection to the
/// broker's plain listener: this tansu build serves no TLS of its own.
async fn terminate_tls(listener: TcpListener, config: Arc<rustls::ServerConfig>, broker_port: u16) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    while let Ok((stream, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let (Ok(mut tls), Ok(mut plain)) =
                (acceptor.accept(stream).await, TcpStream::connect(("127.0.0.1", broker_port)).await)
            else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}

fn test_alert(container_id: &str) -> Alert {
    Alert {
        time: "2026-12-06T12:00:00.000000000Z".into(),
        rule: RULE.into(),
        priority: "warning".into(),
        output: "Sensitive file opened for reading (file=/etc/shadow)".into(),
        output_fields: Default::default(),
        tags: vec![],
        source: "syscall".into(),
        hostname: "node-1".into(),
        container_id: container_id.into(),
        container_name: "web".into(),
        image: "nginx:1.27".into(),
        pod: String::new(),
        namespace: String::new(),
        sigma: None,
    }
}

/// Delivers one alert through the Kafka output with `k`; returns its (sent, failed) once one of
/// them counted it.
async fn deliver_one(k: KafkaConfig, alert: &Alert) -> (u64, u64) {
    let d = Dispatcher::new(AlertsConfig { stdout: false, rate: 0.0, kafka: Some(k), ..AlertsConfig::default() })
        .expect("dispatcher");
    d.submit(alert);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (sent, failed, _) = common::alerts::counts(&d, "kafka");
        if sent + failed > 0 || Instant::now() > deadline {
            return (sent, failed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn kafka_over_tls_verifies_the_broker() {
    if !tansu_available("kafka_over_tls_verifies_the_broker") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = common::tls::TestCa::new(dir.path(), "kafka");
    let leaf = ca.leaf(dir.path(), "broker", false);
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let tls_port = listener.local_addr().expect("address").port();
    let broker = Broker::start_advertising(free_port(), tls_port);
    rt.spawn(terminate_tls(listener, common::tls::server_config(&leaf), broker.port));
    let tls_address = format!("127.0.0.1:{tls_port}");
    let trusted = KafkaConfig {
        tls: true,
        tls_ca_file: Some(ca.cert_path.clone()),
        ..KafkaConfig::new(vec![tls_address.clone()], TOPIC)
    };
    let alert = test_alert("tls0c0ffee01");
    assert_eq!(rt.block_on(deliver_one(trusted, &alert)), (1, 0), "delivered over TLS with the private CA");
    let consumer_tls = ClientTls::load(Some(&ca.cert_path)).expect("CA").rustls_config();
    let (records, _) = rt.block_on(read_records(&tls_address, Some(consumer_tls)));
    let record = records.iter().find(|r| r.key == alert.container_id).expect("the record over TLS");
    assert_eq!(record.value["output"], alert.output.as_str());
    // The system store does not know the test CA: the handshake fails, the alert counts failed.
    let untrusted = KafkaConfig {
        tls: true,
        delivery_timeout: Duration::from_millis(500),
        ..KafkaConfig::new(vec![tls_address], TOPIC)
    };
    assert_eq!(rt.block_on(deliver_one(untrusted, &test_alert("tls0c0ffee02"))), (0, 1));
}
