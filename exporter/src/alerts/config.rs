//! [`AlertsConfig`]: everything the alert path can be told, with defaults that work unchanged.

use super::AlertsError;
use crate::server::client::{validate_header, ClientTls, HttpUrl};
use std::path::PathBuf;
use std::time::Duration;

/// Queue length of an output unless its config says otherwise: about a minute of a heavy
/// flood after rate limiting, small enough (a few MiB of JSON) to never matter for memory.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// Exponential backoff between attempts: `initial`, doubled after each failure, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub initial: Duration,
    /// Upper bound of the wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// The whole alert path. `Default` is: stdout on, every other output off, 1 alert/s per
/// (rule, container) with a burst of 10.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertsConfig {
    /// `--alerts.rate`: tokens per second refilled in each (rule, container_id) bucket.
    /// `0` turns rate limiting off (every alert passes).
    pub rate: f64,
    /// `--alerts.burst`: bucket size, the alerts one (rule, container_id) may send at once.
    /// Must be >= 1 when `rate` > 0.
    pub burst: u32,
    /// One JSON line per alert on stdout (the default output of `exporter`).
    pub stdout: bool,
    /// Queue length of the stdout output.
    pub stdout_queue: usize,
    /// `--alerts-file`: JSON lines to a file with size rotation.
    pub file: Option<FileConfig>,
    /// `--syslog.address`: RFC 5424 syslog over UDP or TCP.
    pub syslog: Option<SyslogConfig>,
    /// `--webhook.url`: one HTTP POST of the alert JSON per alert.
    pub webhook: Option<WebhookConfig>,
    /// `--alertmanager.url`: direct push to Alertmanager's v2 API.
    pub alertmanager: Option<AlertmanagerConfig>,
    /// `--kafka.brokers`: one Kafka record per alert.
    pub kafka: Option<KafkaConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            rate: 1.0,
            burst: 10,
            stdout: true,
            stdout_queue: DEFAULT_QUEUE_CAPACITY,
            file: None,
            syslog: None,
            webhook: None,
            alertmanager: None,
            kafka: None,
        }
    }
}

/// JSON lines to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileConfig {
    /// The file; created (mode 0600 on creation) and appended to.
    pub path: PathBuf,
    /// Rotate before a line would take the file past this many bytes; `0`: never rotate.
    pub max_bytes: u64,
    /// Rotated files kept: `path.1` (newest) .. `path.N`; `0` truncates instead of keeping one.
    pub backups: u32,
    /// Queue length.
    pub queue: usize,
}

impl FileConfig {
    /// 100 MiB per file, 5 backups.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileConfig { path: path.into(), max_bytes: 100 << 20, backups: 5, queue: DEFAULT_QUEUE_CAPACITY }
    }
}

/// Syslog transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogTransport {
    /// RFC 5426: one message per datagram.
    Udp,
    /// RFC 6587 octet counting (`LEN SP MSG`) over one kept-open connection, reconnected with
    /// backoff.
    Tcp,
}

/// RFC 5424 syslog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogConfig {
    /// `host:port` of the receiver (resolved at each (re)connect).
    pub address: String,
    pub transport: SyslogTransport,
    /// Facility code 0..=23 (`local0` = 16, the default); see [`super::facility_from_name`].
    pub facility: u8,
    /// Add `[tracewarden@32473 rule=".." priority=".." container_id=".." ...]` structured data
    /// (32473 is the RFC 5612 documentation enterprise number; receivers treat it as opaque).
    pub structured_data: bool,
    /// Attempts after the first one for a message that could not be sent.
    pub retries: u32,
    pub backoff: Backoff,
    /// TCP: connect timeout, and how long one message may take to write (a receiver that
    /// stopped reading); then the connection is dropped and the attempt counts as failed.
    pub timeout: Duration,
    /// Queue length.
    pub queue: usize,
}

impl SyslogConfig {
    /// Parses `udp://host:port`, `tcp://host:port` or `host:port` (UDP), the `--syslog.address`
    /// forms, with the other settings at their defaults.
    pub fn from_address(address: &str) -> Result<Self, AlertsError> {
        let (transport, rest) = if let Some(r) = address.strip_prefix("udp://") {
            (SyslogTransport::Udp, r)
        } else if let Some(r) = address.strip_prefix("tcp://") {
            (SyslogTransport::Tcp, r)
        } else if address.contains("://") {
            return Err(AlertsError::Config(format!("syslog address {address:?}: scheme must be udp:// or tcp://")));
        } else {
            (SyslogTransport::Udp, address)
        };
        let cfg = SyslogConfig {
            address: rest.to_owned(),
            transport,
            facility: 16,
            structured_data: true,
            retries: 3,
            backoff: Backoff::default(),
            timeout: Duration::from_secs(5),
            queue: DEFAULT_QUEUE_CAPACITY,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), AlertsError> {
        if !is_host_port(&self.address) {
            return Err(AlertsError::Config(format!("syslog address {:?}: expected host:port", self.address)));
        }
        if self.facility > 23 {
            return Err(AlertsError::Config(format!("syslog facility {}: must be 0..=23", self.facility)));
        }
        check_queue("syslog", self.queue)
    }
}

/// Generic webhook: `POST url` with the alert JSON as body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `http(s)://host[:port]/path`.
    pub url: String,
    /// `--alerts.tls-ca-file`: trust only these CAs for https (default: the system store).
    pub tls_ca_file: Option<PathBuf>,
    /// Extra request headers, e.g. `("Authorization", "Bearer ...")`.
    pub headers: Vec<(String, String)>,
    /// Per attempt: connect, send and read the response.
    pub timeout: Duration,
    /// Attempts after the first for connection errors, timeouts, 429 and 5xx (other 4xx fail at
    /// once: repeating the same request cannot help).
    pub retries: u32,
    pub backoff: Backoff,
    /// Queue length.
    pub queue: usize,
}

impl WebhookConfig {
    /// 5 s timeout, 3 retries, default backoff.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            tls_ca_file: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Backoff::default(),
            queue: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// Direct push to Alertmanager (`POST <url>/api/v2/alerts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL, `http(s)://host:9093` (or with a path prefix).
    pub url: String,
    /// `--alerts.tls-ca-file`: trust only these CAs for https (default: the system store).
    pub tls_ca_file: Option<PathBuf>,
    /// Value of the `alertname` label (the rule goes in `rule`), so Alertmanager routes and
    /// inhibits these alerts as one family.
    pub alertname: String,
    /// Labels added to every alert (e.g. `instance`, `cluster`); alert labels win on conflict.
    pub extra_labels: Vec<(String, String)>,
    /// `endsAt` = time of sending + this: the alert resolves by itself unless it fires again.
    pub resolve_after: Duration,
    /// `generatorURL` of every alert, if set (e.g. this exporter's /metrics or a dashboard).
    pub generator_url: Option<String>,
    /// At most this many alerts per POST; a POST goes out as soon as one alert is queued.
    pub max_batch: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Backoff,
    /// Queue length.
    pub queue: usize,
}

impl AlertmanagerConfig {
    /// `alertname` `TracewardenRuleMatch`, 5 min resolve, batches of 64, 5 s timeout, 3 retries.
    pub fn new(url: impl Into<String>) -> Self {
        AlertmanagerConfig {
            url: url.into(),
            tls_ca_file: None,
            alertname: "TracewardenRuleMatch".into(),
            extra_labels: Vec::new(),
            resolve_after: Duration::from_secs(300),
            generator_url: None,
            max_batch: 64,
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Backoff::default(),
            queue: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// SASL mechanisms a Kafka broker may ask for (OAUTHBEARER needs a token source: left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaSaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl KafkaSaslMechanism {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (any case), the names Kafka's
    /// `sasl.mechanism` uses.
    pub fn from_name(name: &str) -> Result<Self, AlertsError> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(KafkaSaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(KafkaSaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(KafkaSaslMechanism::ScramSha512),
            _ => Err(AlertsError::Config(format!(
                "kafka SASL mechanism {name:?}: one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"
            ))),
        }
    }
}

/// SASL authentication to the brokers; the password is read from a file at start, so it is
/// neither on the command line nor in this (printable) config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSasl {
    pub mechanism: KafkaSaslMechanism,
    pub username: String,
    /// Its first line is the password (a trailing newline is not part of it).
    pub password_file: PathBuf,
}

impl KafkaSasl {
    /// The password: the file's first line. One line naming the file if it cannot be read or
    /// is empty.
    pub(crate) fn password(&self) -> Result<String, AlertsError> {
        let what = format!("kafka SASL password file {}", self.password_file.display());
        let text =
            std::fs::read_to_string(&self.password_file).map_err(|e| AlertsError::Config(format!("{what}: {e}")))?;
        match text.lines().next() {
            Some(line) if !line.is_empty() => Ok(line.to_owned()),
            _ => Err(AlertsError::Config(format!("{what}: empty"))),
        }
    }
}

/// Kafka: one record per alert, value = the alert JSON, key = its container id (so one
/// container's alerts stay in one partition, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` each; the cluster's metadata names the rest.
    pub brokers: Vec<String>,
    /// The topic. The output never creates it; a broker that auto-creates topics (Kafka's
    /// `auto.create.topics.enable`) does so at the first metadata request, as for any producer.
    pub topic: String,
    /// Talk TLS to the brokers, verified against `tls_ca_file` or the system store.
    pub tls: bool,
    /// `--alerts.tls-ca-file`: trust only these CAs (default: the system store).
    pub tls_ca_file: Option<PathBuf>,
    pub sasl: Option<KafkaSasl>,
    /// Per attempt: connect (with metadata) or one produce request and its acknowledgement.
    pub timeout: Duration,
    /// How long an alert is retried before it counts as failed, as the Java producer's
    /// `delivery.timeout.ms` (default 120 s); alerts behind it wait in the queue meanwhile.
    pub delivery_timeout: Duration,
    /// At most this many alerts per produce request (per partition).
    pub max_batch: usize,
    pub backoff: Backoff,
    /// Queue length.
    pub queue: usize,
}

impl KafkaConfig {
    /// 5 s per attempt, 2 min delivery timeout, batches of 64, retries 0.1 s to 1 s apart, no
    /// TLS or SASL.
    pub fn new(brokers: Vec<String>, topic: impl Into<String>) -> Self {
        KafkaConfig {
            brokers,
            topic: topic.into(),
            tls: false,
            tls_ca_file: None,
            sasl: None,
            timeout: Duration::from_secs(5),
            delivery_timeout: Duration::from_secs(120),
            max_batch: 64,
            // The Java producer's retry.backoff.ms and retry.backoff.max.ms: a broker that is
            // back is found within a second.
            backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) },
            queue: DEFAULT_QUEUE_CAPACITY,
        }
    }

    fn validate(&self) -> Result<(), AlertsError> {
        if self.brokers.is_empty() {
            return Err(AlertsError::Config("kafka brokers: at least one host:port".into()));
        }
        if let Some(b) = self.brokers.iter().find(|b| !is_host_port(b)) {
            return Err(AlertsError::Config(format!("kafka broker {b:?}: expected host:port")));
        }
        // Kafka's own rule for topic names.
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if self.topic.is_empty() || self.topic.len() > 249 || !self.topic.chars().all(legal) || self.topic == "." {
            return Err(AlertsError::Config(format!(
                "kafka topic {:?}: 1 to 249 characters of a-z, A-Z, 0-9, '.', '_', '-'",
                self.topic
            )));
        }
        if self.max_batch == 0 {
            return Err(AlertsError::Config("kafka batch size must be at least 1".into()));
        }
        if let Some(sasl) = &self.sasl {
            if sasl.username.is_empty() {
                return Err(AlertsError::Config("kafka SASL username must not be empty".into()));
            }
            sasl.password()?;
        }
        if self.tls {
            client_tls("kafka", self.tls_ca_file.as_deref())?;
        }
        check_queue("kafka", self.queue)
    }
}

/// `host:port` with a non-empty host and a port 1..=65535 (`[v6]:port` included).
fn is_host_port(address: &str) -> bool {
    match address.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}

fn check_queue(what: &str, n: usize) -> Result<(), AlertsError> {
    if n == 0 {
        return Err(AlertsError::Config(format!("{what} queue length must be at least 1")));
    }
    Ok(())
}

/// The https trust of an output: its CA file, or the system store.
pub(crate) fn client_tls(what: &str, ca_file: Option<&std::path::Path>) -> Result<ClientTls, AlertsError> {
    ClientTls::load(ca_file).map_err(|e| AlertsError::Config(format!("{what}: {e}")))
}

/// Checks that `url` is an absolute `http://` or `https://` URL and returns it parsed.
pub(crate) fn parse_http_url(what: &str, url: &str) -> Result<HttpUrl, AlertsError> {
    HttpUrl::parse(what, url).map_err(AlertsError::Config)
}

/// `<base>/api/v2/alerts`, keeping any path prefix of `base`.
pub(crate) fn alertmanager_endpoint(base: &str) -> Result<HttpUrl, AlertsError> {
    let base_uri = parse_http_url("alertmanager", base)?;
    if base_uri.query().is_some() {
        return Err(AlertsError::Config(format!("alertmanager URL {base:?}: must not have a query")));
    }
    let full = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
    parse_http_url("alertmanager", &full)
}

/// Checks that a webhook header can be sent: `webhook header name "..": ..` or
/// `webhook header ".." value: ..` if not.
pub(crate) fn check_webhook_header(name: &str, value: &str) -> Result<(), AlertsError> {
    validate_header(name, value).map_err(|e| AlertsError::Config(format!("webhook {e}")))
}

impl AlertsConfig {
    /// Checks every setting; [`super::Dispatcher::new`] calls it.
    pub fn validate(&self) -> Result<(), AlertsError> {
        if !self.rate.is_finite() || self.rate < 0.0 {
            return Err(AlertsError::Config(format!("alerts rate {}: must be a number >= 0", self.rate)));
        }
        if self.rate > 0.0 && self.burst == 0 {
            return Err(AlertsError::Config("alerts burst must be at least 1 when the rate is above 0".into()));
        }
        check_queue("stdout", self.stdout_queue)?;
        if let Some(f) = &self.file {
            if f.path.as_os_str().is_empty() {
                return Err(AlertsError::Config("alerts file path is empty".into()));
            }
            check_queue("file", f.queue)?;
        }
        if let Some(s) = &self.syslog {
            s.validate()?;
        }
        if let Some(w) = &self.webhook {
            parse_http_url("webhook", &w.url)?;
            for (k, v) in &w.headers {
                check_webhook_header(k, v)?;
            }
            check_queue("webhook", w.queue)?;
            if w.tls_ca_file.is_some() {
                client_tls("webhook", w.tls_ca_file.as_deref())?;
            }
        }
        if let Some(a) = &self.alertmanager {
            alertmanager_endpoint(&a.url)?;
            if a.alertname.is_empty() {
                return Err(AlertsError::Config("alertmanager alertname must not be empty".into()));
            }
            if a.max_batch == 0 {
                return Err(AlertsError::Config("alertmanager batch size must be at least 1".into()));
            }
            check_queue("alertmanager", a.queue)?;
            if a.tls_ca_file.is_some() {
                client_tls("alertmanager", a.tls_ca_file.as_deref())?;
            }
        }
        if let Some(k) = &self.kafka {
            k.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        let d: Vec<u128> = (0..6).map(|i| b.delay(i).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn syslog_address_forms() {
        let c = SyslogConfig::from_address("tcp://127.0.0.1:6514").unwrap();
        assert_eq!((c.transport, c.address.as_str()), (SyslogTransport::Tcp, "127.0.0.1:6514"));
        let c = SyslogConfig::from_address("logs.example:514").unwrap();
        assert_eq!((c.transport, c.address.as_str()), (SyslogTransport::Udp, "logs.example:514"));
        assert!(SyslogConfig::from_address("[::1]:514").is_ok());
        for bad in ["http://x:1", "nohost", ":514", "h:0", "h:99999"] {
            assert!(SyslogConfig::from_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation() {
        assert!(AlertsConfig::default().validate().is_ok());
        let bad = |f: &dyn Fn(&mut AlertsConfig)| {
            let mut c = AlertsConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(&|c| c.rate = -1.0).contains("rate"));
        assert!(bad(&|c| c.rate = f64::NAN).contains("rate"));
        assert!(bad(&|c| c.burst = 0).contains("burst"));
        assert!(bad(&|c| c.webhook = Some(WebhookConfig::new("x/y"))).contains("http(s)://"));
        assert!(bad(&|c| {
            let mut w = WebhookConfig::new("https://x/");
            w.tls_ca_file = Some("/nonexistent/ca.crt".into());
            c.webhook = Some(w);
        })
        .contains("webhook: TLS CA file /nonexistent/ca.crt: No such file"));
        assert!(bad(&|c| {
            let mut w = WebhookConfig::new("http://x/");
            w.headers.push(("Bad Name".into(), "v".into()));
            c.webhook = Some(w);
        })
        .contains("header"));
        assert!(bad(&|c| c.alertmanager = Some(AlertmanagerConfig::new("http://am:9093/?a=1"))).contains("query"));
        assert!(bad(&|c| c.stdout_queue = 0).contains("queue"));
        let mut c = AlertsConfig { rate: 0.0, burst: 0, ..AlertsConfig::default() };
        assert!(c.validate().is_ok(), "rate 0 switches limiting off, burst is then irrelevant");
        c.alertmanager = Some(AlertmanagerConfig::new("http://am:9093/prefix/"));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn kafka_validation() {
        let check = |k: KafkaConfig| AlertsConfig { kafka: Some(k), ..AlertsConfig::default() }.validate();
        let k = KafkaConfig::new(vec!["kafka-0:9092".into(), "[::1]:9093".into()], "tracewarden.alerts_v1");
        assert!(check(k.clone()).is_ok());
        let err = |f: &dyn Fn(&mut KafkaConfig)| {
            let mut c = k.clone();
            f(&mut c);
            check(c).unwrap_err().to_string()
        };
        assert!(err(&|c| c.brokers.clear()).contains("at least one"));
        assert!(err(&|c| c.brokers.push("kafka-1".into())).contains("\"kafka-1\": expected host:port"));
        assert!(err(&|c| c.topic = "a/b".into()).contains("kafka topic \"a/b\""));
        assert!(err(&|c| c.topic = "t".repeat(250)).contains("249"));
        assert!(err(&|c| c.max_batch = 0).contains("batch"));
        assert!(err(&|c| c.queue = 0).contains("queue"));
        let dir = tempfile::tempdir().unwrap();
        let password_file = dir.path().join("password");
        let sasl = KafkaSasl {
            mechanism: KafkaSaslMechanism::from_name("scram-sha-512").unwrap(),
            username: "tracewarden".into(),
            password_file: password_file.clone(),
        };
        let with_sasl = KafkaConfig { sasl: Some(sasl.clone()), ..k.clone() };
        assert!(check(with_sasl.clone()).unwrap_err().to_string().contains("password file"));
        std::fs::write(&password_file, "\n").unwrap();
        assert!(check(with_sasl.clone()).unwrap_err().to_string().contains("empty"));
        std::fs::write(&password_file, "s3cret\nignored\n").unwrap();
        assert!(check(with_sasl).is_ok());
        assert_eq!(sasl.password().unwrap(), "s3cret");
        assert!(KafkaSaslMechanism::from_name("GSSAPI").unwrap_err().to_string().contains("PLAIN"));
        let tls = KafkaConfig { tls: true, tls_ca_file: Some("/nonexistent/ca.pem".into()), ..k };
        assert!(check(tls).unwrap_err().to_string().contains("kafka: TLS CA file /nonexistent/ca.pem"));
    }

    #[test]
    fn alertmanager_endpoint_keeps_prefix() {
        assert_eq!(alertmanager_endpoint("http://am:9093").unwrap().to_string(), "http://am:9093/api/v2/alerts");
        assert_eq!(alertmanager_endpoint("http://am:9093/").unwrap().to_string(), "http://am:9093/api/v2/alerts");
        assert_eq!(
            alertmanager_endpoint("http://am/alertmanager/").unwrap().to_string(),
            "http://am/alertmanager/api/v2/alerts"
        );
    }
}
