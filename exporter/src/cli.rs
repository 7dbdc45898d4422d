//! Command-line flags. Values are validated here so a bad flag fails before anything loads.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    alerts::{AlertmanagerConfig, AlertsConfig, AlertsError, FileConfig, SyslogConfig, WebhookConfig},
    kernel::Hook,
    metrics::SyscallLabel,
    rules::{cli::RulesCommand, names::Resolution},
    server::{Limits, WebConfig, WebConfigError},
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

    /// PEM CA certificates that https webhook and Alertmanager URLs must chain to (instead of the system store).
    #[arg(long = "alerts.tls-ca-file", value_name = "FILE")]
    pub alerts_tls_ca_file: Option<PathBuf>,

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

    /// The hosts file `--names.resolve hosts` reads (re-read at every refresh).
    #[arg(long = "names.hosts-file", value_name = "FILE", default_value = crate::rules::names::HOSTS_FILE)]
    pub names_hosts_file: PathBuf,
}

impl RunArgs {
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
            ..AlertsConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// `--web.config.file`, read and checked (certificates, keys, hashes); plain HTTP without it.
    pub fn web_config(&self) -> Result<WebConfig, WebConfigError> {
        self.web_config_file.as_deref().map(WebConfig::load).transpose().map(Option::unwrap_or_default)
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
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
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
    let message = first.trim_start_matches("error: ");
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
