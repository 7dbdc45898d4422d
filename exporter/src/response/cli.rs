//! `exporter respond ...`: asks a running exporter's response API (the runbook's release step).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use base64::Engine as _;

use crate::server::client::{ClientTls, HttpClient, HttpUrl};

#[derive(Debug, clap::Subcommand)]
pub enum RespondCommand {
    /// Thaw a container the responder froze: `DELETE /api/v1/respond/CONTAINER` on the exporter.
    Release {
        /// The container id as alerts carry it (`container_id`: 12-hex short id or runc name).
        container: String,
        /// The exporter's base URL.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9862")]
        url: String,
        /// Basic auth user (one of --web.config.file's basic_auth_users).
        #[arg(long, value_name = "USER", requires = "password_file")]
        user: Option<String>,
        /// File holding that user's password (its first line).
        #[arg(long, value_name = "FILE", requires = "user")]
        password_file: Option<PathBuf>,
        /// PEM CA the exporter's https certificate must chain to (default: the system store).
        #[arg(long, value_name = "FILE")]
        tls_ca_file: Option<PathBuf>,
    },
}

pub fn run(command: RespondCommand) -> ExitCode {
    let RespondCommand::Release { container, url, user, password_file, tls_ca_file } = command;
    match release(&container, &url, user.zip(password_file), tls_ca_file) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exporter: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn release(
    container: &str,
    base: &str,
    credentials: Option<(String, PathBuf)>,
    tls_ca_file: Option<PathBuf>,
) -> Result<String, String> {
    if container.is_empty() || container.contains(['/', '?', '#', '%']) {
        return Err(format!("'{container}' is not a container id"));
    }
    let url = HttpUrl::parse("exporter", &format!("{}/api/v1/respond/{container}", base.trim_end_matches('/')))?;
    let mut headers = Vec::new();
    if let Some((user, file)) = credentials {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("--password-file {}: {e}", file.display()))?;
        let password = text.lines().next().unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("Authorization".to_owned(), format!("Basic {token}")));
    }
    let tls = ClientTls::load(tls_ca_file.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let response = runtime.block_on(async {
        HttpClient::new(Duration::from_secs(10), &tls).delete(&url, &headers).await.map_err(|e| format!("{url}: {e}"))
    })?;
    let body = String::from_utf8_lossy(&response.body);
    let reason = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| Some(v["decisions"][0]["reason"].as_str()?.to_owned()))
        .unwrap_or_else(|| body.trim().to_owned());
    if response.is_success() {
        Ok(format!("released {container}: {reason}"))
    } else {
        Err(format!("release of {container} refused: {}: {reason}", response.status_line()))
    }
}
