//! Domain names of addresses, for `fd.sip.name` and its kin. As in Falco, the names the rules
//! mention are resolved in the background and refreshed, and an address "has" a name when one
//! of the name's addresses is it; events never wait for a lookup. Until the exporter turns
//! resolution on ([`set_resolution`]), nothing is looked up and the fields have no value.

use std::{
    collections::{BTreeSet, HashMap},
    net::{IpAddr, ToSocketAddrs},
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex, OnceLock},
    time::Duration,
};

/// Where names are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Resolution {
    /// Nothing is resolved: the `*.name` fields have no value (`<NA>`).
    #[default]
    Off,
    /// Only the hosts file (`--names.hosts-file`, `/etc/hosts` by default): no network traffic.
    Hosts,
    /// The system resolver (hosts file, then DNS), as Falco does.
    System,
}

/// How often every name is looked up again (Falco's DNS manager refreshes on a timer too).
const REFRESH: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Registry {
    mode: Resolution,
    /// The hosts file of [`Resolution::Hosts`].
    hosts_file: PathBuf,
    wanted: BTreeSet<Arc<str>>,
    by_address: HashMap<IpAddr, Vec<Arc<str>>>,
    /// Wakes the refresher early (new names to look up); `None` until it runs.
    refresher: Option<mpsc::Sender<()>>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    // A panic in the refresher leaves a whole map behind: keep using it.
    registry().lock().unwrap_or_else(|e| e.into_inner())
}

/// The hosts file [`Resolution::Hosts`] reads unless told otherwise.
pub const HOSTS_FILE: &str = "/etc/hosts";

/// Turns resolution on (or off) for this process; `hosts_file` is what [`Resolution::Hosts`]
/// reads.
pub fn set_resolution(mode: Resolution, hosts_file: &Path) {
    let mut registry = lock();
    registry.mode = mode;
    registry.hosts_file = hosts_file.to_owned();
    drop(registry);
    start_refresher();
}

/// Asks for `names` to be resolved (a compiled condition mentions them).
pub fn watch<'a>(names: impl IntoIterator<Item = &'a str>) {
    let mut registry = lock();
    let mut added = false;
    for name in names {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() && !registry.wanted.contains(name.as_str()) {
            registry.wanted.insert(name.into());
            added = true;
        }
    }
    if let (true, Some(refresher)) = (added, &registry.refresher) {
        // A refresher that is gone is restarted below.
        if refresher.send(()).is_err() {
            registry.refresher = None;
        }
    }
    drop(registry);
    start_refresher();
}

/// The watched names that resolve to `address` (empty when none does yet).
pub fn names_of(address: IpAddr) -> Vec<Arc<str>> {
    lock().by_address.get(&address).cloned().unwrap_or_default()
}

fn start_refresher() {
    let mut registry = lock();
    if registry.refresher.is_some() || registry.mode == Resolution::Off || registry.wanted.is_empty() {
        return;
    }
    let (wake, woken) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("names".into()).spawn(move || loop {
        refresh_once();
        if let Err(mpsc::RecvTimeoutError::Disconnected) = woken.recv_timeout(REFRESH) {
            return;
        }
    });
    match spawned {
        Ok(_) => registry.refresher = Some(wake),
        Err(e) => tracing::warn!(error = %e, "cannot start name resolution: *.name fields stay <NA>"),
    }
}

/// Looks every watched name up once and replaces the address map.
fn refresh_once() {
    let (mode, hosts_file, names): (Resolution, PathBuf, Vec<Arc<str>>) = {
        let registry = lock();
        (registry.mode, registry.hosts_file.clone(), registry.wanted.iter().cloned().collect())
    };
    let hosts = match mode {
        Resolution::Hosts => std::fs::read_to_string(&hosts_file).unwrap_or_else(|e| {
            tracing::warn!(file = %hosts_file.display(), error = %e, "cannot read the hosts file: *.name fields stay <NA>");
            String::new()
        }),
        Resolution::Off | Resolution::System => String::new(),
    };
    let mut by_address: HashMap<IpAddr, Vec<Arc<str>>> = HashMap::new();
    for name in names {
        let addresses = match mode {
            Resolution::Off => Vec::new(),
            Resolution::Hosts => hosts_file_addresses(&hosts, &name),
            Resolution::System => {
                (name.as_ref(), 0).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default()
            }
        };
        for address in addresses {
            by_address.entry(address).or_default().push(name.clone());
        }
    }
    lock().by_address = by_address;
}

/// The addresses the hosts file gives `name` (case-insensitive, aliases included).
fn hosts_file_addresses(hosts: &str, name: &str) -> Vec<IpAddr> {
    hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let address: IpAddr = words.next()?.parse().ok()?;
            words.any(|w| w.eq_ignore_ascii_case(name)).then_some(address)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lines_give_addresses_of_names_and_aliases() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 commented\n::1 ip6-localhost ip6-loopback\n10.1.2.3 api.internal API  # x\n";
        assert_eq!(hosts_file_addresses(hosts, "localhost"), ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(hosts_file_addresses(hosts, "api"), ["10.1.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(hosts_file_addresses(hosts, "ip6-loopback"), ["::1".parse::<IpAddr>().unwrap()]);
        assert!(hosts_file_addresses(hosts, "commented").is_empty());
    }
}
