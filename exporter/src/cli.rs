//! Command-line flags. Values are validated here so a bad flag fails before anything loads.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    alerts::{
        AlertmanagerConfig, AlertsConfig, AlertsError, FileConfig, KafkaConfig, KafkaSasl, KafkaSaslMechanism,
        SyslogConfig, WebhookConfig,
    },
    baseline::{
        cli::{parse_priority, BaselineCommand},
        profile::Windows,
        Config as BaselineConfig,
    },
    kernel::Hook,
    metrics::SyscallLabel,
    response::{cli::RespondCommand, policy::Policy},
    rules::{cli::RulesCommand, names::Resolution, Priority},
    server::{web::ClientAuth, Limits, WebConfig, WebConfigError},
};

#[derive(Debug, Parser)]
#[command(
    name = "exporter",
    version,
    about = "tracewarden: per-container syscall and security-rule metrics from eBPF, for Prometheus",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, list and test rules files without loading any kernel program.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Talk to a running exporter's response API (e.g. release a frozen container).
    Respond {
        #[command(subcommand)]
        command: RespondCommand,
    },
    /// Review and steer the behaviour baseline of a running exporter; export a profile as rules.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Address to serve /metrics on: `:PORT` (all interfaces) or `HOST:PORT`.
    #[arg(long = "web.listen-address", default_value = ":9862", value_parser = parse_listen_address)]
    pub listen_address: SocketAddr,

    /// TLS and basic auth for /metrics: a Prometheus exporter-toolkit web config (tls_server_config, basic_auth_users).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Directory of Falco-syntax rules files (*.yaml, *.yml).
    #[arg(long, value_name = "DIR")]
    pub rules_dir: Option<PathBuf>,

    /// Drop a container's series this long after its cgroup disappears (e.g. 30s, 5m, 1h; at least 1s).
    #[arg(long, default_value = "5m", value_parser = parse_container_ttl)]
    pub container_ttl: Duration,

    /// `name` labels syscall counters by syscall; `none` sums them per container.
    #[arg(long, value_enum, default_value_t = SyscallLabel::Name)]
    pub syscall_label: SyscallLabel,

    /// Most cgroups counted separately at once; beyond it they share one overflow series.
    #[arg(long, default_value_t = exporter_ebpf::DEFAULT_MAX_SLOTS, value_parser = clap::value_parser!(u32).range(2..=65536))]
    pub max_cgroups: u32,

    /// Events a second each cgroup may send to the rule evaluator (also its burst); beyond it
    /// its events are counted in tracewarden_events_throttled_total instead, so one flooding
    /// container cannot fill the event ring for the others. At most half the ring; 0: unlimited.
    #[arg(long = "events.cgroup-budget", default_value_t = crate::kernel::throttle::DEFAULT_EVENT_BUDGET,
          value_parser = clap::value_parser!(u64).range(0..=crate::kernel::throttle::MAX_EVENT_BUDGET))]
    pub events_cgroup_budget: u64,

    /// bpffs directory where the kernel's counters are pinned, so a restarted exporter continues
    /// its counts and rule hits (same version and --max-cgroups); '' pins nothing.
    #[arg(long = "bpf.pin-dir", value_name = "DIR", default_value = crate::kernel::pin::DEFAULT_PIN_DIR,
          value_parser = parse_pin_dir)]
    pub bpf_pin_dir: PathBuf,

    /// Mount point of the cgroup v2 hierarchy (default: detected; /sys/fs/cgroup/unified on hybrid hosts).
    #[arg(long, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,

    /// Hook for the counting program: tp-btf (BTF tracepoint) or raw-tp (raw tracepoint, needs no BTF).
    #[arg(long, value_enum, default_value_t = Hook::TpBtf)]
    pub hook: Hook,

    /// Kernel BTF used to load tp-btf programs.
    #[arg(long, value_name = "FILE", default_value = crate::kernel::DEFAULT_BTF_PATH)]
    pub btf_path: PathBuf,

    /// Also write alerts as JSON lines to this file (rotated at 100 MiB, 5 kept). Alerts always go to stdout.
    #[arg(long = "alerts-file", value_name = "FILE")]
    pub alerts_file: Option<PathBuf>,

    /// Push alerts to Alertmanager's v2 API at this base URL, e.g. http://alertmanager:9093.
    #[arg(long = "alertmanager.url", value_name = "URL")]
    pub alertmanager_url: Option<String>,

    /// Send alerts as RFC 5424 syslog to udp://HOST:PORT or tcp://HOST:PORT.
    #[arg(long = "syslog.address", value_name = "ADDR")]
    pub syslog_address: Option<String>,

    /// POST each alert's JSON to this URL.
    #[arg(long = "webhook.url", value_name = "URL")]
    pub webhook_url: Option<String>,

    /// PEM CA certificates that https webhook and Alertmanager URLs and TLS Kafka brokers must chain to (instead of the system store).
    #[arg(long = "alerts.tls-ca-file", value_name = "FILE")]
    pub alerts_tls_ca_file: Option<PathBuf>,

    /// Produce each alert as a Kafka record (value: its JSON, key: its container id) to these bootstrap brokers.
    #[arg(long = "kafka.brokers", value_name = "HOST:PORT,...", value_delimiter = ',')]
    pub kafka_brokers: Vec<String>,

    /// The Kafka topic alerts go to (it must exist).
    #[arg(long = "kafka.topic", value_name = "TOPIC", default_value = "tracewarden-alerts")]
    pub kafka_topic: String,

    /// Talk TLS to the Kafka brokers (verified against --alerts.tls-ca-file or the system store).
    #[arg(long = "kafka.tls")]
    pub kafka_tls: bool,

    /// SASL mechanism for the Kafka brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long = "kafka.sasl.mechanism", value_name = "MECHANISM", requires_all = ["kafka_sasl_username", "kafka_sasl_password_file"])]
    pub kafka_sasl_mechanism: Option<String>,

    /// SASL user name for the Kafka brokers.
    #[arg(long = "kafka.sasl.username", value_name = "USER", requires = "kafka_sasl_mechanism")]
    pub kafka_sasl_username: Option<String>,

    /// File whose first line is the SASL password for the Kafka brokers.
    #[arg(long = "kafka.sasl.password-file", value_name = "FILE", requires = "kafka_sasl_mechanism")]
    pub kafka_sasl_password_file: Option<PathBuf>,

    /// How long an alert is retried before the Kafka output gives up on it (counted failed).
    #[arg(long = "kafka.delivery-timeout", default_value = "2m", value_parser = parse_timeout)]
    pub kafka_delivery_timeout: Duration,

    /// Alerts per second per (rule, container) once the burst is spent; 0 sends every alert.
    #[arg(long = "alerts.rate", default_value_t = 1.0)]
    pub alerts_rate: f64,

    /// Alerts one (rule, container) may send at once before the rate applies.
    #[arg(long = "alerts.burst", default_value_t = 10)]
    pub alerts_burst: u32,

    /// Write every evaluated event as a JSON line, replayable with `exporter rules test --events`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Log level.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// How the domain names rules compare fd.sip.name (and kin) with are resolved: system
    /// (hosts file then DNS, refreshed every minute, as Falco), hosts (the hosts file only) or off.
    #[arg(long = "names.resolve", value_enum, default_value_t = Resolution::System)]
    pub names_resolve: Resolution,

    /// Most HTTP connections open at once (lowered if RLIMIT_NOFILE is short); past it the
    /// oldest connection without a request in flight is closed to make room.
    #[arg(long = "web.max-connections", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub web_max_connections: u32,

    /// Time a client has for the TLS handshake and for each request's headers, counted from
    /// connecting or from handing over the previous response: it also closes kept-alive
    /// connections idle this long and clients that do not read their response.
    #[arg(long = "web.read-header-timeout", default_value = "10s", value_parser = parse_timeout)]
    pub web_read_header_timeout: Duration,

    /// Response policy (YAML): which alerts POSTed to /api/v1/respond may freeze, kill or log
    /// which containers, dry run, cool-down and rate limit. Without it the response API is off.
    #[arg(long = "response.config", value_name = "FILE")]
    pub response_config: Option<PathBuf>,

    /// Serve the response API although --web.config.file sets neither basic auth nor required
    /// client certificates (anyone who reaches the port could then freeze containers).
    #[arg(long = "response.allow-insecure")]
    pub response_allow_insecure: bool,

    /// The hosts file `--names.resolve hosts` reads (re-read at every refresh).
    #[arg(long = "names.hosts-file", value_name = "FILE", default_value = crate::rules::names::HOSTS_FILE)]
    pub names_hosts_file: PathBuf,

    /// Learn each container image's behaviour and alert on drift; profiles are kept here, one
    /// JSON file per image. Off without it. Needs --rules-dir (an empty directory will do).
    #[arg(long = "baseline.dir", value_name = "DIR")]
    pub baseline_dir: Option<PathBuf>,

    /// A profile learns at most this long, then enforces.
    #[arg(long = "baseline.learn", default_value = "24h", value_parser = parse_timeout)]
    pub baseline_learn: Duration,

    /// ... or until it has seen nothing new for this long.
    #[arg(long = "baseline.stable", default_value = "1h", value_parser = parse_timeout)]
    pub baseline_stable: Duration,

    /// Files opened for reading are learned under these path prefixes (comma-separated; none: reads are not learned).
    #[arg(long = "baseline.read-prefixes", value_name = "PREFIXES", value_delimiter = ',', default_value = "/etc/")]
    pub baseline_read_prefixes: Vec<String>,

    /// Priority of "Baseline deviation: <kind>" alerts (a Falco priority name).
    #[arg(long = "baseline.priority", default_value = "warning", value_parser = parse_priority)]
    pub baseline_priority: Priority,
}

impl RunArgs {
    /// `--bpf.pin-dir`, None when it is ''.
    pub fn pin_dir(&self) -> Option<PathBuf> {
        (!self.bpf_pin_dir.as_os_str().is_empty()).then(|| self.bpf_pin_dir.clone())
    }

    /// The alert outputs the flags ask for, checked (a bad URL or address fails here, before
    /// anything is loaded).
    pub fn alerts_config(&self) -> Result<AlertsConfig, AlertsError> {
        let config = AlertsConfig {
            rate: self.alerts_rate,
            burst: self.alerts_burst,
            file: self.alerts_file.as_ref().map(FileConfig::new),
            syslog: self.syslog_address.as_deref().map(SyslogConfig::from_address).transpose()?,
            webhook: self
                .webhook_url
                .as_ref()
                .map(|url| WebhookConfig { tls_ca_file: self.alerts_tls_ca_file.clone(), ..WebhookConfig::new(url) }),
            alertmanager: self.alertmanager_url.as_ref().map(|url| AlertmanagerConfig {
                tls_ca_file: self.alerts_tls_ca_file.clone(),
                ..AlertmanagerConfig::new(url)
            }),
            kafka: self.kafka_config()?,
            ..AlertsConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The Kafka output, if `--kafka.brokers` names any.
    fn kafka_config(&self) -> Result<Option<KafkaConfig>, AlertsError> {
        if self.kafka_brokers.is_empty() {
            return Ok(None);
        }
        let sasl = match (&self.kafka_sasl_mechanism, &self.kafka_sasl_username, &self.kafka_sasl_password_file) {
            (Some(mechanism), Some(username), Some(password_file)) => Some(KafkaSasl {
                mechanism: KafkaSaslMechanism::from_name(mechanism)?,
                username: username.clone(),
                password_file: password_file.clone(),
            }),
            _ => None,
        };
        Ok(Some(KafkaConfig {
            tls: self.kafka_tls,
            tls_ca_file: self.alerts_tls_ca_file.clone(),
            sasl,
            delivery_timeout: self.kafka_delivery_timeout,
            ..KafkaConfig::new(self.kafka_brokers.clone(), &self.kafka_topic)
        }))
    }

    /// `--baseline.*`, when `--baseline.dir` turns the baseline on.
    pub fn baseline_config(&self) -> Option<BaselineConfig> {
        Some(BaselineConfig {
            dir: self.baseline_dir.clone()?,
            windows: Windows { learn_secs: self.baseline_learn.as_secs(), stable_secs: self.baseline_stable.as_secs() },
            read_prefixes: self.baseline_read_prefixes.iter().filter(|p| !p.is_empty()).cloned().collect(),
            priority: self.baseline_priority,
        })
    }

    /// `--web.config.file`, read and checked (certificates, keys, hashes); plain HTTP without it.
    pub fn web_config(&self) -> Result<WebConfig, WebConfigError> {
        self.web_config_file.as_deref().map(WebConfig::load).transpose().map(Option::unwrap_or_default)
    }

    /// `--response.config`, read and checked, when given. Refused without authentication on the
    /// web server (`web`) unless `--response.allow-insecure`.
    pub fn response_policy(&self, web: &WebConfig) -> anyhow::Result<Option<Policy>> {
        let Some(path) = &self.response_config else { return Ok(None) };
        let policy = Policy::load(path)?;
        let authenticated = web.basic_auth.is_some() || web.client_auth == Some(ClientAuth::RequireAndVerifyClientCert);
        if !authenticated && !self.response_allow_insecure {
            anyhow::bail!(
                "--response.config: the response API can freeze and kill containers, so it needs authentication: set basic_auth_users or client_auth_type: RequireAndVerifyClientCert in --web.config.file (or pass --response.allow-insecure)"
            );
        }
        Ok(Some(policy))
    }

    /// The HTTP server's limits as the flags ask for them (before [`crate::server::Limits::within_fd_budget`]).
    pub fn web_limits(&self) -> Limits {
        Limits {
            max_connections: usize::try_from(self.web_max_connections).unwrap_or(usize::MAX),
            read_header_timeout: self.web_read_header_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The tracing filter: this level, except that the Kafka client's own connection chatter
    /// (a warning per refused connect while a broker is down) shows only at debug and trace;
    /// the Kafka output logs its failures itself.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn,rskafka=error",
            LogLevel::Info => "info,rskafka=error",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `:9862` -> 0.0.0.0:9862 (the Prometheus exporters' convention), `127.0.0.1:9862`, `[::1]:9862`.
pub fn parse_listen_address(value: &str) -> Result<SocketAddr, String> {
    let with_host = if value.starts_with(':') { format!("0.0.0.0{value}") } else { value.to_owned() };
    with_host.parse().map_err(|_| format!("'{value}' is not an address: use :PORT, HOST:PORT or [V6]:PORT"))
}

/// `--bpf.pin-dir`: a directory, or '' for none (clap's own path parser refuses '').
fn parse_pin_dir(value: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(value))
}

/// A number with one unit of ms, s, m or h, e.g. `90s` or `5m`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let bad = || format!("'{value}' is not a duration: use a number and a unit, e.g. 30s, 5m, 1h");
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(seconds))
}

/// Shortest `--container-ttl`: the containers are refreshed (and the gone ones expired) once a
/// second (`app::REFRESH_INTERVAL`), so a container gone sooner could never be scraped.
pub const MIN_CONTAINER_TTL: Duration = Duration::from_secs(1);

/// A [`parse_duration`] of at least [`MIN_CONTAINER_TTL`].
pub fn parse_container_ttl(value: &str) -> Result<Duration, String> {
    match parse_duration(value)? {
        ttl if ttl < MIN_CONTAINER_TTL => Err(format!(
            "'{value}' is below 1s: containers are refreshed every second, so one gone sooner could never be scraped"
        )),
        ttl => Ok(ttl),
    }
}

/// A [`parse_duration`] above zero: a timeout of nothing would close every connection at once.
pub fn parse_timeout(value: &str) -> Result<Duration, String> {
    match parse_duration(value)? {
        Duration::ZERO => Err(format!("'{value}' is not a timeout: it must be above zero")),
        timeout => Ok(timeout),
    }
}

/// clap's own messages span several lines; keep --help/--version as they are and turn real
/// usage errors into the one-line form every other error has.
pub fn report_usage_error(err: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return std::process::ExitCode::SUCCESS;
    }
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let mut message = first.trim_start_matches("error: ").to_owned();
    // "the following required arguments were not provided:" lists them on the lines below.
    if message.ends_with(':') {
        let listed: Vec<&str> = rendered.lines().skip(1).take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
        message = format!("{message} {}", listed.join(", "));
    }
    let choices = rendered.lines().find_map(|l| l.trim().strip_prefix("[possible values: ")?.strip_suffix(']'));
    match choices {
        Some(choices) => eprintln!("exporter: error: {message}; one of: {choices} (see exporter --help)"),
        None => eprintln!("exporter: error: {message} (see exporter --help)"),
    }
    std::process::ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_dir_defaults_to_bpffs_and_empty_pins_nothing() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["exporter"], args].concat()).unwrap().run;
        assert_eq!(parse(&[]).pin_dir(), Some(PathBuf::from("/sys/fs/bpf/tracewarden")));
        assert_eq!(parse(&["--bpf.pin-dir", ""]).pin_dir(), None);
        assert_eq!(parse(&["--bpf.pin-dir", "/sys/fs/bpf/x"]).pin_dir(), Some(PathBuf::from("/sys/fs/bpf/x")));
        assert_eq!(parse(&[]).events_cgroup_budget, 2048);
        assert!(Cli::try_parse_from(["exporter", "--events.cgroup-budget", "2760"]).is_err(), "over half the ring");
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(parse_listen_address(":9862").unwrap(), "0.0.0.0:9862".parse().unwrap());
        assert_eq!(parse_listen_address("127.0.0.1:1").unwrap(), "127.0.0.1:1".parse().unwrap());
        assert_eq!(parse_listen_address("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
        assert!(parse_listen_address("localhost").unwrap_err().contains("HOST:PORT"));
        assert!(parse_listen_address(":99999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "5", "m", "5 m", "5d", "-1s", "99999999999999999999h"] {
            assert!(parse_duration(bad).unwrap_err().contains("not a duration"), "{bad}");
        }
        assert_eq!(parse_timeout("10s").unwrap(), Duration::from_secs(10));
        assert!(parse_timeout("0s").unwrap_err().contains("above zero"));
        assert!(parse_timeout("0ms").unwrap_err().contains("above zero"));
        assert_eq!(parse_container_ttl("1s").unwrap(), Duration::from_secs(1));
        assert!(parse_container_ttl("999ms").unwrap_err().contains("below 1s"));
        assert_eq!(MIN_CONTAINER_TTL, crate::app::REFRESH_INTERVAL);
    }
}
