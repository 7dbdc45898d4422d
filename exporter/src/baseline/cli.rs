//! `exporter baseline ...`: `list`, `show`, `reset` and `freeze` ask the running exporter
//! through its control API (with the same TLS and basic auth as /metrics); `export` reads a
//! profile file and prints it as a Falco rules file.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;

use super::{export, profile::Profile, store, Summary};
use crate::{
    rules::Priority,
    server::{
        client::{ClientTls, HttpClient, HttpMethod, HttpUrl},
        percent_encode,
    },
};

/// Where the running exporter is, and how to get in.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The running exporter's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9862")]
    url: String,
    /// PEM CA certificates the exporter's certificate must chain to (https; default: the system store).
    #[arg(long = "tls-ca-file", value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    /// Basic auth user (the web config's basic_auth_users).
    #[arg(long, requires = "password_file")]
    user: Option<String>,
    /// File holding the basic auth password (its first line).
    #[arg(long = "password-file", value_name = "FILE", requires = "user")]
    password_file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum BaselineCommand {
    /// Every profile: image, state, items learned per kind, deviations.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// One profile, as its file holds it (JSON).
    Show {
        image: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Forget what IMAGE learned and learn again from now.
    Reset {
        image: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// End IMAGE's learning now: enforce what it learned.
    Freeze {
        image: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Print IMAGE's profile as a Falco rules file that allows exactly the learned set.
    Export {
        /// The profile key (digest or reference) or the image reference.
        image: String,
        #[arg(long = "baseline.dir", value_name = "DIR")]
        dir: PathBuf,
        /// Priority of the exported rules.
        #[arg(long, default_value = "warning", value_parser = parse_priority)]
        priority: Priority,
    },
}

pub fn run(command: BaselineCommand) -> ExitCode {
    let result = match command {
        BaselineCommand::List { connection } => ask(&connection, HttpMethod::Get, "profiles", None).and_then(|body| {
            let list: Vec<Summary> = serde_json::from_str(&body).context("the exporter's answer")?;
            print_list(&list);
            Ok(())
        }),
        BaselineCommand::Show { image, connection } => {
            ask(&connection, HttpMethod::Get, "profile", Some(&image)).map(|body| print!("{body}"))
        }
        BaselineCommand::Reset { image, connection } => {
            ask(&connection, HttpMethod::Post, "reset", Some(&image)).and_then(|body| print_state(&body))
        }
        BaselineCommand::Freeze { image, connection } => {
            ask(&connection, HttpMethod::Post, "freeze", Some(&image)).and_then(|body| print_state(&body))
        }
        BaselineCommand::Export { image, dir, priority } => {
            find_profile(&dir, &image).map(|p| print!("{}", export::rules_file(&p, priority.as_str())))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exporter baseline: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A Falco priority name (`warning`, `critical`, ...).
pub fn parse_priority(value: &str) -> Result<Priority, String> {
    Priority::parse(value).ok_or_else(|| {
        format!(
            "'{value}' is not a priority: emergency, alert, critical, error, warning, notice, informational or debug"
        )
    })
}

fn print_list(list: &[Summary]) {
    println!(
        "{:<50} {:<10} {:>5} {:>5} {:>5} {:>7} {:>6} {:>7} {:>10}",
        "IMAGE", "STATE", "EXEC", "WRITE", "READ", "CONNECT", "LISTEN", "SYSCALL", "DEVIATIONS"
    );
    for s in list {
        let n = |k: super::Kind| s.learned.get(&k).copied().unwrap_or(0);
        use super::Kind as K;
        println!(
            "{:<50} {:<10} {:>5} {:>5} {:>5} {:>7} {:>6} {:>7} {:>10}",
            s.image,
            s.state,
            n(K::Exec),
            n(K::Write),
            n(K::Read),
            n(K::Connect),
            n(K::Listen),
            n(K::Syscall),
            s.deviations
        );
    }
}

fn print_state(body: &str) -> anyhow::Result<()> {
    let profile: Profile = serde_json::from_str(body).context("the exporter's answer")?;
    println!("{}: {}", profile.image, profile.state.as_str());
    Ok(())
}

/// The profile of `image` in `dir`: by its file name, else the one whose reference it is.
fn find_profile(dir: &Path, image: &str) -> anyhow::Result<Profile> {
    let path = dir.join(store::file_name(image));
    if path.exists() {
        return store::load(&path);
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("--baseline.dir {}", dir.display()))?;
    let mut candidates: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    candidates.sort();
    candidates
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| store::load(p).ok())
        .find(|p| p.reference == image)
        .with_context(|| format!("no profile of image '{image}' in {}", dir.display()))
}

/// Sends one request to the control API; the body of a 2xx answer, else its error.
fn ask(connection: &Connection, method: HttpMethod, route: &str, image: Option<&str>) -> anyhow::Result<String> {
    let base = connection.url.trim_end_matches('/');
    let query = image.map(|i| format!("?image={}", percent_encode(i))).unwrap_or_default();
    let url = HttpUrl::parse("--url", &format!("{base}/api/v1/baseline/{route}{query}")).map_err(anyhow::Error::msg)?;
    let tls = ClientTls::load(connection.tls_ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let mut headers = Vec::new();
    if let (Some(user), Some(file)) = (&connection.user, &connection.password_file) {
        let text = std::fs::read_to_string(file).with_context(|| format!("--password-file {}", file.display()))?;
        let password = text.lines().next().unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("Authorization".to_owned(), format!("Basic {token}")));
    }
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let response = runtime.block_on(async {
        let client = HttpClient::new(Duration::from_secs(10), &tls);
        client.send(method, &url, &headers, "application/json", Bytes::new()).await
    });
    let response = response.map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    if !response.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.trim().to_owned());
        anyhow::bail!("{url}: {}: {message}", response.status_line());
    }
    Ok(body)
}
