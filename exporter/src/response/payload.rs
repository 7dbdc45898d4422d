//! Alertmanager's webhook payload (version 4), the part the responder reads.

use std::collections::HashMap;

#[derive(Debug, serde::Deserialize)]
struct Payload {
    alerts: Vec<WebhookAlert>,
}

/// One alert of a notification.
#[derive(Debug, serde::Deserialize)]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
}

impl WebhookAlert {
    pub fn firing(&self) -> bool {
        self.status == "firing"
    }

    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// The tracewarden rule it is about (its `rule` label), else its alert name.
    pub fn rule(&self) -> &str {
        match self.label("rule") {
            "" => self.label("alertname"),
            rule => rule,
        }
    }
}

/// The alerts of a webhook body; the error says what is wrong with it, in one line.
pub fn parse(body: &[u8]) -> Result<Vec<WebhookAlert>, String> {
    serde_json::from_slice::<Payload>(body)
        .map(|p| p.alerts)
        .map_err(|e| format!("not an Alertmanager webhook payload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_alertmanager_v4_payloads() {
        let body = br#"{"version":"4","status":"firing","receiver":"r","groupLabels":{},"alerts":[
            {"status":"firing","labels":{"alertname":"TracewardenRuleViolation","rule":"Read sensitive file untrusted","container_id":"abc"},"annotations":{},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"f"},
            {"status":"resolved","labels":{"alertname":"X"}}]}"#;
        let alerts = parse(body).unwrap();
        assert_eq!(alerts.len(), 2);
        assert!(alerts[0].firing() && !alerts[1].firing());
        assert_eq!((alerts[0].rule(), alerts[0].label("container_id")), ("Read sensitive file untrusted", "abc"));
        assert_eq!((alerts[1].rule(), alerts[1].label("container_id")), ("X", ""));
    }

    #[test]
    fn malformed_bodies_are_refused_with_the_cause() {
        for body in [&b"not json"[..], b"{}", br#"{"alerts":{}}"#, br#"{"alerts":[{"labels":{}}]}"#] {
            let err = parse(body).unwrap_err();
            assert!(err.starts_with("not an Alertmanager webhook payload: "), "{err}");
        }
    }
}
