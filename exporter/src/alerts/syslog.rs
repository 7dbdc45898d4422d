//! RFC 5424 syslog messages, RFC 6587 octet-counting framing, and the UDP/TCP sender.

use super::config::{SyslogConfig, SyslogTransport};
use super::dispatcher::{Counters, Delivery, ErrorLog};
use crate::rules::Alert;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// RFC 5424 APP-NAME.
pub const APP_NAME: &str = "tracewarden";
/// SD-ID of the optional structured data (32473: RFC 5612's documentation enterprise number).
pub const SD_ID: &str = "tracewarden@32473";

/// Syslog severity (0 emergency .. 7 debug) of a lower-case Falco priority name; unknown names
/// map to notice (5), the middle of the scale, so they are neither lost nor paged.
pub fn severity_from_priority(priority: &str) -> u8 {
    match priority {
        "emergency" => 0,
        "alert" => 1,
        "critical" => 2,
        "error" => 3,
        "warning" => 4,
        "notice" => 5,
        "informational" | "info" => 6,
        "debug" => 7,
        _ => 5,
    }
}

/// PRI = facility * 8 + severity.
pub fn syslog_pri(facility: u8, priority: &str) -> u16 {
    u16::from(facility.min(23)) * 8 + u16::from(severity_from_priority(priority))
}

/// Facility code of a name (`kern`, `user`, ..., `local0`..`local7`) or a number 0..=23.
pub fn facility_from_name(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    let n = name.trim().to_ascii_lowercase();
    if let Ok(v) = n.parse::<u8>() {
        return (v <= 23).then_some(v);
    }
    NAMES.iter().position(|x| *x == n).map(|i| i as u8)
}

/// Appends `s` as PRINTUSASCII (33..=126), at most `max` characters, others replaced by `_`;
/// NILVALUE `-` when nothing is left.
fn push_header_field(out: &mut String, s: &str, max: usize) {
    let start = out.len();
    for c in s.chars().take(max) {
        out.push(if c.is_ascii_graphic() { c } else { '_' });
    }
    if out.len() == start {
        out.push('-');
    }
}

/// RFC 5424 TIMESTAMP from the alert's RFC 3339 time: fraction cut to the 6 digits the grammar
/// allows (TIME-SECFRAC = "." 1*6DIGIT); NILVALUE if the time is not RFC 3339.
fn push_timestamp(out: &mut String, t: &str) {
    let b = t.as_bytes();
    let shape = b.len() >= 20
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        out.push('-');
        return;
    }
    let rest = &t[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone.bytes().enumerate().all(|(i, c)| i == 0 || i == 3 || c.is_ascii_digit()));
    if !zone_ok || (rest.starts_with('.') && frac.is_empty()) {
        out.push('-');
        return;
    }
    out.push_str(&t[..19]);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac[..frac.len().min(6)]);
    }
    out.push_str(zone);
}

/// PARAM-VALUE escaping: `"`, `\` and `]` get a backslash.
fn push_param_value(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One RFC 5424 message (without framing):
/// `<PRI>1 TIMESTAMP HOSTNAME tracewarden PROCID MSGID [SD] MSG` where MSGID is the rule name
/// sanitised (spaces -> `_`, at most 32 characters), STRUCTURED-DATA is `-` or
/// `[tracewarden@32473 rule=".." priority=".." container_id=".." container_name=".." image=".."
/// pod=".." namespace=".."]` (empty values left out), and MSG is `json` (UTF-8, no BOM).
pub fn rfc5424(alert: &Alert, json: &str, facility: u8, procid: u32, structured_data: bool) -> String {
    let mut out = String::with_capacity(json.len() + 256);
    let _ = write!(out, "<{}>1 ", syslog_pri(facility, &alert.priority));
    push_timestamp(&mut out, &alert.time);
    out.push(' ');
    push_header_field(&mut out, &alert.hostname, 255);
    out.push(' ');
    out.push_str(APP_NAME);
    let _ = write!(out, " {procid} ");
    push_header_field(&mut out, &alert.rule, 32);
    out.push(' ');
    if structured_data {
        out.push('[');
        out.push_str(SD_ID);
        for (k, v) in super::identity_labels(alert) {
            if !v.is_empty() {
                let _ = write!(out, " {k}=\"");
                push_param_value(&mut out, v);
                out.push('"');
            }
        }
        out.push(']');
    } else {
        out.push('-');
    }
    out.push(' ');
    out.push_str(json);
    out
}

/// RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN the message's length in bytes.
pub fn frame_octet_counting(msg: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(msg.len() + 8);
    v.extend_from_slice(msg.len().to_string().as_bytes());
    v.push(b' ');
    v.extend_from_slice(msg.as_bytes());
    v
}

enum Conn {
    None,
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// The syslog worker: one message per alert, retried with backoff, reconnecting as needed.
pub(crate) async fn run(cfg: SyslogConfig, mut rx: mpsc::Receiver<Delivery>, counters: Arc<Counters>) {
    let procid = std::process::id();
    let mut conn = Conn::None;
    let mut log = ErrorLog::default();
    while let Some(d) = rx.recv().await {
        let msg = rfc5424(&d.alert, &d.json, cfg.facility, procid, cfg.structured_data);
        let bytes = match cfg.transport {
            SyslogTransport::Udp => msg.into_bytes(),
            SyslogTransport::Tcp => frame_octet_counting(&msg),
        };
        let mut attempt = 0u32;
        loop {
            match send(&cfg, &mut conn, &bytes).await {
                Ok(()) => {
                    counters.sent();
                    log.ok("syslog");
                    break;
                }
                Err(e) => {
                    // UDP: ECONNREFUSED is the ICMP port-unreachable of an earlier datagram,
                    // so the receiver is down and this message would be lost too; a retry on
                    // any socket would "succeed" without reaching anyone. Count it failed.
                    let udp_refused =
                        cfg.transport == SyslogTransport::Udp && e.kind() == std::io::ErrorKind::ConnectionRefused;
                    if !udp_refused {
                        // Start the next attempt on a fresh connection.
                        conn = Conn::None;
                    }
                    if udp_refused || attempt >= cfg.retries {
                        log.error("syslog", &format_args!("{}: {e}", cfg.address));
                        counters.failed();
                        break;
                    }
                    tracing::debug!(address = %cfg.address, error = %e, attempt, "syslog: send failed, retrying");
                    tokio::time::sleep(cfg.backoff.delay(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

async fn send(cfg: &SyslogConfig, conn: &mut Conn, bytes: &[u8]) -> std::io::Result<()> {
    if let Conn::Tcp(s) = conn {
        // A receiver that closed the connection is only noticed by writing into it, and the
        // first write after the close still "succeeds" into the void. Reading first tells:
        // EOF (or an error) means the peer is gone, so reconnect before sending.
        let mut probe = [0u8; 64];
        match s.try_read(&mut probe) {
            Ok(0) => *conn = Conn::None,
            Ok(_) => {} // a receiver has nothing to say; ignore chatter
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => *conn = Conn::None,
        }
    }
    if matches!(conn, Conn::None) {
        *conn = connect(cfg).await?;
    }
    match conn {
        Conn::Udp(s) => {
            let n = s.send(bytes).await?;
            if n != bytes.len() {
                return Err(std::io::Error::other(format!("datagram truncated to {n} of {} bytes", bytes.len())));
            }
            Ok(())
        }
        // A receiver that stopped reading fills the socket buffer: give up after the timeout
        // rather than hold the queue forever.
        Conn::Tcp(s) => tokio::time::timeout(cfg.timeout, s.write_all(bytes))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))?,
        Conn::None => Err(std::io::Error::other("not connected")),
    }
}

async fn connect(cfg: &SyslogConfig) -> std::io::Result<Conn> {
    let addr = tokio::net::lookup_host(&cfg.address)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{} resolves to no address", cfg.address)))?;
    match cfg.transport {
        SyslogTransport::Udp => {
            let local: std::net::SocketAddr =
                if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
            let s = UdpSocket::bind(local).await?;
            // Connected, so an ICMP port-unreachable comes back as an error on a later send
            // and shows up in `failed` instead of vanishing.
            s.connect(addr).await?;
            Ok(Conn::Udp(s))
        }
        SyslogTransport::Tcp => {
            let s = tokio::time::timeout(cfg.timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
            s.set_nodelay(true)?;
            tracing::debug!(%addr, "syslog: connected");
            Ok(Conn::Tcp(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn alert() -> Alert {
        Alert {
            time: "2026-11-28T21:00:01.123456789Z".into(),
            rule: "Terminal shell in container".into(),
            priority: "critical".into(),
            output: "A shell was spawned (user=root)".into(),
            output_fields: BTreeMap::new(),
            tags: vec!["mitre_execution".into()],
            source: "syscall".into(),
            hostname: "node-1".into(),
            container_id: "3ad7b2c1e0f4".into(),
            container_name: "web".into(),
            image: "nginx:1.25".into(),
            pod: "web-0".into(),
            namespace: "shop".into(),
            sigma: None,
        }
    }

    /// RFC 5424 section 6 grammar, as a regex over the header, plus field limits.
    fn check_grammar(m: &str) -> regex::Captures<'_> {
        let re = regex::Regex::new(
            r#"^<(?P<pri>[0-9]{1,3})>(?P<ver>[1-9][0-9]{0,2}) (?P<ts>-|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})) (?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) (?P<sd>-|(\[[^ =\]"]{1,32}( [^ =\]"]{1,32}="([^"\\\]]|\\["\\\]])*")*\])+)( (?P<msg>.*))?$"#,
        )
        .unwrap();
        let c = re.captures(m).unwrap_or_else(|| panic!("not RFC 5424: {m}"));
        assert!(c["pri"].parse::<u16>().unwrap() <= 191);
        c
    }

    #[test]
    fn pri_mapping() {
        let names = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"];
        for (sev, n) in names.iter().enumerate() {
            assert_eq!(severity_from_priority(n) as usize, sev);
            assert_eq!(syslog_pri(16, n) as usize, 128 + sev, "local0");
            assert_eq!(syslog_pri(0, n) as usize, sev, "kern");
        }
        assert_eq!(severity_from_priority("info"), 6);
        assert_eq!(severity_from_priority("bogus"), 5);
        assert_eq!(syslog_pri(23, "debug"), 191, "the largest PRI");
        assert_eq!(syslog_pri(1, "warning"), 12);
        assert_eq!(facility_from_name("local0"), Some(16));
        assert_eq!(facility_from_name("LOCAL7"), Some(23));
        assert_eq!(facility_from_name("authpriv"), Some(10));
        assert_eq!(facility_from_name("4"), Some(4));
        assert_eq!(facility_from_name("24"), None);
        assert_eq!(facility_from_name("nope"), None);
    }

    #[test]
    fn message_follows_the_grammar() {
        let a = alert();
        let json = serde_json::to_string(&a).unwrap();
        let m = rfc5424(&a, &json, 16, 4242, true);
        let c = check_grammar(&m);
        assert_eq!(&c["pri"], "130", "local0 (16*8) + critical (2)");
        assert_eq!(&c["ver"], "1");
        assert_eq!(&c["ts"], "2026-11-28T21:00:01.123456Z", "fraction cut to 6 digits");
        assert_eq!(&c["host"], "node-1");
        assert_eq!(&c["app"], "tracewarden");
        assert_eq!(&c["procid"], "4242");
        assert_eq!(&c["msgid"], "Terminal_shell_in_container");
        assert_eq!(
            &c["sd"],
            r#"[tracewarden@32473 rule="Terminal shell in container" priority="critical" container_id="3ad7b2c1e0f4" container_name="web" image="nginx:1.25" pod="web-0" namespace="shop"]"#
        );
        let back: serde_json::Value = serde_json::from_str(&c["msg"]).unwrap();
        assert_eq!(back["rule"], "Terminal shell in container");
        assert!(
            m.starts_with("<130>1 2026-11-28T21:00:01.123456Z node-1 tracewarden 4242 Terminal_shell_in_container [")
        );
    }

    #[test]
    fn nilvalues_sanitising_and_escaping() {
        let mut a = alert();
        a.hostname = String::new();
        a.time = "yesterday".into();
        a.rule = "A very long rule name with \"quotes\", ünïcode and more than 32 chars".into();
        a.image = String::new();
        a.container_name = r#"we"ird\na]me"#.into();
        let m = rfc5424(&a, "{}", 4, 1, true);
        let c = check_grammar(&m);
        assert_eq!(&c["ts"], "-");
        assert_eq!(&c["host"], "-");
        assert_eq!(c["msgid"].len(), 32);
        assert_eq!(&c["msgid"], "A_very_long_rule_name_with_\"quot");
        assert!(c["sd"].contains(r#"container_name="we\"ird\\na\]me""#), "{}", &c["sd"]);
        assert!(!c["sd"].contains("image="), "empty values are left out");
        let m = rfc5424(&a, "{}", 4, 1, false);
        assert_eq!(&check_grammar(&m)["sd"], "-");
        a.rule = String::new();
        assert_eq!(&check_grammar(&rfc5424(&a, "{}", 4, 1, false))["msgid"], "-");
    }

    #[test]
    fn timestamps() {
        let ts = |t: &str| {
            let mut s = String::new();
            push_timestamp(&mut s, t);
            s
        };
        assert_eq!(ts("2026-11-28T21:00:01Z"), "2026-11-28T21:00:01Z");
        assert_eq!(ts("2026-11-28T21:00:01.5+02:00"), "2026-11-28T21:00:01.5+02:00");
        assert_eq!(ts("2026-11-28T21:00:01.000000000Z"), "2026-11-28T21:00:01.000000Z");
        for bad in
            ["", "2026-11-28 21:00:01Z", "2026-11-28T21:00:01", "2026-11-28T21:00:01.Z", "2026-11-28T21:00:01+0200"]
        {
            assert_eq!(ts(bad), "-", "{bad:?}");
        }
    }

    #[test]
    fn octet_counting_framing() {
        assert_eq!(frame_octet_counting("<13>1 - - - - - - hi"), b"20 <13>1 - - - - - - hi");
        // The length counts bytes, not characters.
        let f = frame_octet_counting("é");
        assert_eq!(f, "2 é".as_bytes());
        // Frames concatenate and split back by their lengths alone.
        let mut stream = frame_octet_counting("a b");
        stream.extend(frame_octet_counting("12345678901"));
        assert_eq!(stream, b"3 a b11 12345678901");
    }
}
