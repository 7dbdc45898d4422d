//! The HTTP outputs: a generic webhook (one POST of the alert JSON per alert) and Alertmanager's
//! v2 API (`POST /api/v2/alerts` with a JSON array, batched). The HTTP itself is
//! [`crate::server::client`]; this module decides what to send and when to try again.

use super::config::{
    alertmanager_endpoint, check_webhook_header, client_tls, parse_http_url, AlertmanagerConfig, Backoff, WebhookConfig,
};
use super::dispatcher::{next_batch, Counters, Delivery, ErrorLog};
use super::AlertsError;
use crate::rules::output::render_time;
use crate::server::client::{HttpClient, HttpUrl, PostError};
use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Why one attempt failed, and whether trying again can help.
#[derive(Debug)]
struct AttemptError {
    msg: String,
    retryable: bool,
}

/// One POST of `body` as JSON; a 2xx is success. Connection errors, timeouts, 429 and 5xx are
/// worth another attempt; anything else (other 4xx, a request that cannot be built) is not.
async fn post_once(
    client: &HttpClient,
    url: &HttpUrl,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<(), AttemptError> {
    match client.post(url, headers, "application/json", body).await {
        Ok(resp) if resp.is_success() => Ok(()),
        Ok(resp) => {
            let retryable = (500..600).contains(&resp.status) || resp.status == 429;
            // The body only matters for the log line of the failure.
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).trim().to_owned();
            Err(AttemptError { msg: format!("HTTP {}: {text}", resp.status_line()), retryable })
        }
        Err(e) => {
            let retryable = match e {
                PostError::Timeout(_) | PostError::Connection(_) => true,
                PostError::Other(_) => false,
            };
            Err(AttemptError { msg: e.to_string(), retryable })
        }
    }
}

/// POSTs `body` with retries; the last error if it was not delivered.
async fn post_with_retries(
    what: &str,
    client: &HttpClient,
    url: &HttpUrl,
    headers: &[(String, String)],
    body: Bytes,
    retries: u32,
    backoff: Backoff,
) -> Result<(), String> {
    let mut attempt = 0;
    loop {
        match post_once(client, url, headers, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.retryable && attempt < retries => {
                tracing::debug!(output = what, uri = %url, error = %e.msg, attempt, "POST failed, retrying");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(format!("POST {url}: {} (after {} attempts)", e.msg, attempt + 1)),
        }
    }
}

/// The configured headers, each checked to be sendable.
pub(crate) fn webhook_headers(cfg: &WebhookConfig) -> Result<Vec<(String, String)>, AlertsError> {
    for (k, v) in &cfg.headers {
        check_webhook_header(k, v)?;
    }
    Ok(cfg.headers.clone())
}

/// A worker whose settings cannot work: they were validated by AlertsConfig::validate before it
/// started, so this is a bug, reported once, with every alert counted failed rather than the
/// task panicking.
async fn fail_all(
    output: &str,
    e: &(dyn std::fmt::Display + Sync),
    mut rx: mpsc::Receiver<Delivery>,
    counters: &Counters,
) {
    tracing::error!(output, error = %e, "alert output disabled");
    while rx.recv().await.is_some() {
        counters.failed();
    }
}

/// The webhook worker: one POST per alert, body = the alert JSON line.
pub(crate) async fn run_webhook(cfg: WebhookConfig, mut rx: mpsc::Receiver<Delivery>, counters: Arc<Counters>) {
    let tls = client_tls("webhook", cfg.tls_ca_file.as_deref());
    let (uri, headers, tls) = match (parse_http_url("webhook", &cfg.url), webhook_headers(&cfg), tls) {
        (Ok(u), Ok(h), Ok(t)) => (u, h, t),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return fail_all("webhook", &e, rx, &counters).await,
    };
    let client = HttpClient::new(cfg.timeout, &tls);
    let mut log = ErrorLog::default();
    while let Some(d) = rx.recv().await {
        let body = Bytes::copy_from_slice(d.json.as_bytes());
        let res = post_with_retries("webhook", &client, &uri, &headers, body, cfg.retries, cfg.backoff).await;
        log.delivered("webhook", &counters, res);
    }
}

/// Alertmanager `severity` label of a Falco priority, matching the shipped routes:
/// emergency/alert/critical -> `page`, error/warning -> `ticket`, anything else -> `info`.
pub fn severity_for_priority(priority: &str) -> &'static str {
    match priority {
        "emergency" | "alert" | "critical" => "page",
        "error" | "warning" => "ticket",
        _ => "info",
    }
}

/// One element of the `POST /api/v2/alerts` array (`postableAlert`).
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<String>,
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// The JSON array Alertmanager gets for `alerts`, sent at `now_ns` (ns since the epoch).
///
/// Labels: `alertname` (config), `severity`, `rule`, `priority`, `container_id`,
/// `container_name`, `image`, `pod`, `namespace`, `hostname`, plus `extra_labels` (alert labels
/// win); empty values are left out (Alertmanager treats an empty label as absent anyway).
/// Annotations: `summary` = the rendered output, `description` = the output with rule,
/// priority, container and host spelled out, `suppressed` when the token bucket held back
/// alerts before this one. `startsAt` = the alert's time, `endsAt` = `now + resolve_after`.
pub fn alertmanager_body(cfg: &AlertmanagerConfig, alerts: &[Delivery], now_ns: u64) -> String {
    let mut ends_at = String::new();
    render_time(now_ns.saturating_add(cfg.resolve_after.as_nanos() as u64), &mut ends_at);
    let mut now = String::new();
    render_time(now_ns, &mut now);
    let items: Vec<PostableAlert> = alerts
        .iter()
        .map(|d| {
            let a = &d.alert;
            let mut labels: BTreeMap<String, String> = cfg.extra_labels.iter().cloned().collect();
            let own = [
                ("alertname", cfg.alertname.as_str()),
                ("severity", severity_for_priority(&a.priority)),
                ("hostname", &a.hostname),
            ];
            for (k, v) in own.into_iter().chain(super::identity_labels(a)) {
                labels.insert(k.to_owned(), v.to_owned());
            }
            labels.retain(|_, v| !v.is_empty());
            let mut annotations = BTreeMap::new();
            annotations.insert("summary".to_owned(), a.output.clone());
            annotations.insert(
                "description".to_owned(),
                format!("{} rule \"{}\" matched {}: {}", a.priority, a.rule, super::where_text(a), a.output),
            );
            if d.suppressed > 0 {
                annotations.insert("suppressed".to_owned(), d.suppressed.to_string());
            }
            // The event time is when it happened; if the node's clock put it after "now", use
            // now so the alert is not born already resolved or in the future.
            let starts_at = if a.time.is_empty() || a.time > now { now.clone() } else { a.time.clone() };
            PostableAlert {
                labels,
                annotations,
                starts_at,
                ends_at: ends_at.clone(),
                generator_url: cfg.generator_url.clone(),
            }
        })
        .collect();
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned())
}

/// The Alertmanager worker: takes what is queued (at most `max_batch`), POSTs it at once, so an
/// alert waits only for the POST before it.
pub(crate) async fn run_alertmanager(
    cfg: AlertmanagerConfig,
    mut rx: mpsc::Receiver<Delivery>,
    counters: Arc<Counters>,
) {
    let (uri, tls) = match (alertmanager_endpoint(&cfg.url), client_tls("alertmanager", cfg.tls_ca_file.as_deref())) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return fail_all("alertmanager", &e, rx, &counters).await,
    };
    let client = HttpClient::new(cfg.timeout, &tls);
    let mut log = ErrorLog::default();
    let mut batch = Vec::with_capacity(cfg.max_batch);
    while next_batch(&mut rx, &mut batch, cfg.max_batch).await {
        let body = Bytes::from(alertmanager_body(&cfg, &batch, now_ns()));
        let res = post_with_retries("alertmanager", &client, &uri, &[], body, cfg.retries, cfg.backoff).await;
        match &res {
            Ok(()) => log.ok("alertmanager"),
            Err(e) => log.error("alertmanager", e),
        }
        for _ in batch.drain(..) {
            if res.is_ok() {
                counters.sent();
            } else {
                counters.failed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Alert;

    fn delivery(priority: &str, container: &str, suppressed: u64) -> Delivery {
        let alert = Alert {
            time: "2026-11-28T21:00:01.000000000Z".into(),
            rule: "Read sensitive file".into(),
            priority: priority.into(),
            output: "Sensitive file opened (file=/etc/shadow)".into(),
            output_fields: BTreeMap::new(),
            tags: vec![],
            source: "syscall".into(),
            hostname: "node-1".into(),
            container_id: container.into(),
            container_name: if container == "host" { "host".into() } else { "web".into() },
            image: if container == "host" { String::new() } else { "nginx:1.25".into() },
            pod: String::new(),
            namespace: String::new(),
            sigma: None,
        };
        Delivery::new(alert, suppressed)
    }

    #[test]
    fn severity_mapping() {
        for (p, s) in [
            ("emergency", "page"),
            ("alert", "page"),
            ("critical", "page"),
            ("error", "ticket"),
            ("warning", "ticket"),
            ("notice", "info"),
            ("informational", "info"),
            ("debug", "info"),
            ("whatever", "info"),
        ] {
            assert_eq!(severity_for_priority(p), s, "{p}");
        }
    }

    #[test]
    fn alertmanager_json_shape() {
        let mut cfg = AlertmanagerConfig::new("http://am:9093");
        cfg.extra_labels = vec![("instance".into(), "node-1:9862".into()), ("rule".into(), "overridden".into())];
        cfg.generator_url = Some("http://node-1:9862/metrics".into());
        let now = 1_795_900_000_000_000_000;
        let body = alertmanager_body(&cfg, &[delivery("critical", "3ad7", 0), delivery("notice", "host", 7)], now);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 2);
        let a = &arr[0];
        let labels = a["labels"].as_object().unwrap();
        assert_eq!(labels["alertname"], "TracewardenRuleMatch");
        assert_eq!(labels["severity"], "page");
        assert_eq!(labels["rule"], "Read sensitive file", "alert labels win over extra labels");
        assert_eq!(labels["instance"], "node-1:9862");
        assert_eq!(labels["container_id"], "3ad7");
        assert_eq!(labels["container_name"], "web");
        assert_eq!(labels["image"], "nginx:1.25");
        assert!(!labels.contains_key("pod"), "empty labels are left out");
        assert_eq!(a["annotations"]["summary"], "Sensitive file opened (file=/etc/shadow)");
        let d = a["annotations"]["description"].as_str().unwrap();
        assert!(d.contains("critical rule \"Read sensitive file\" matched in container web (id 3ad7"), "{d}");
        assert!(a["annotations"].get("suppressed").is_none());
        assert_eq!(a["startsAt"], "2026-11-28T21:00:01.000000000Z");
        let mut want_end = String::new();
        render_time(now + 300_000_000_000, &mut want_end);
        assert_eq!(a["endsAt"], want_end.as_str());
        assert_eq!(a["generatorURL"], "http://node-1:9862/metrics");
        let b = &arr[1];
        assert_eq!(b["labels"]["severity"], "info");
        assert_eq!(b["annotations"]["suppressed"], "7");
        assert_eq!(
            b["annotations"]["description"],
            "notice rule \"Read sensitive file\" matched on host node-1, outside any container: Sensitive file opened (file=/etc/shadow)"
        );
        // The /metrics convention for host processes: container_id="host", no container_name.
        assert_eq!(b["labels"]["container_id"], "host");
        assert!(b["labels"].get("container_name").is_none(), "{}", b["labels"]);
        assert_eq!(
            d,
            "critical rule \"Read sensitive file\" matched in container web (id 3ad7, image nginx:1.25) on node-1: Sensitive file opened (file=/etc/shadow)"
        );
        cfg.generator_url = None;
        let body = alertmanager_body(&cfg, &[delivery("warning", "c", 0)], now);
        assert!(!body.contains("generatorURL"));
        assert!(body.contains(r#""severity":"ticket""#));
    }

    #[test]
    fn future_event_time_starts_now() {
        let cfg = AlertmanagerConfig::new("http://am:9093");
        let mut d = delivery("critical", "c", 0);
        Arc::make_mut(&mut d.alert).time = "2099-01-01T00:00:00.000000000Z".into();
        let v: serde_json::Value = serde_json::from_str(&alertmanager_body(&cfg, &[d], 0)).unwrap();
        assert_eq!(v[0]["startsAt"], "1970-01-01T00:00:00.000000000Z");
    }
}
