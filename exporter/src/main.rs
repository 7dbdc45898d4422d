use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use exporter::{
    alerts::{Dispatcher, Recorder},
    cli::{Cli, Command, RunArgs},
    collector::{Collector, REFRESH_INTERVAL},
    container::{detect_cgroup2_root, runtime::RuntimeSources, ContainerResolver},
    decode::Decoder,
    detect::{self, Detector},
    metrics::Exposition,
    privileges,
    probe::{LifecycleEvents, NewCgroups, Probe, ProbeConfig, SyscallEvents, Workload},
    process::ProcessTable,
    reload::{self, RulesStatus},
    rules::{Engine, Severity},
    server::{self, MetricsSource},
    syscalls::{Arch, SyscallNames},
    watched::WatchedInodes,
};
use tokio::io::{unix::AsyncFd, Interest};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return report_usage_error(err),
    };
    match cli.command {
        Some(Command::Rules { command }) => exporter::rules::cli::run(command),
        None => match run(cli.run) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("exporter: error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(args.log_level.as_filter()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let engine = args.rules_dir.as_deref().map(load_rules).transpose()?;
    let alerts_config = args.alerts_config().context("alert outputs")?;
    let web = args.web_config()?;
    let cgroup_root = args
        .cgroup_root
        .clone()
        .or_else(detect_cgroup2_root)
        .context("no cgroup v2 hierarchy found: mount cgroup2 (or pass --cgroup-root)")?;
    // Everything that needs privileges happens first, on this one thread; then the process
    // drops to the capabilities it keeps (see `privileges`) before any other thread exists.
    let listener = server::bind(args.listen_address)?;
    let mut probe = Probe::load(&ProbeConfig {
        max_slots: args.max_cgroups,
        btf_path: args.btf_path.clone(),
        hook: args.hook,
        workload: Workload::Count,
    })?;
    let names = SyscallNames::new(Arch::host());
    let new_cgroups = probe.take_new_cgroups().context("new-cgroup notices already taken")?;
    let events = probe.take_events().context("kernel events already taken")?;
    let resolver = ContainerResolver::new(cgroup_root, RuntimeSources::default(), args.container_ttl);
    let hook = args.hook.name();
    let exposition = Exposition::new(args.syscall_label, names.clone(), hook);
    let watched = Arc::new(WatchedInodes::default());
    let lifecycle = engine.as_ref().map(|_| probe.attach_lifecycle()).transpose()?;
    let mut collector = Collector::new(probe, resolver, exposition, watched.clone());
    let detection = match (engine, lifecycle) {
        (Some(engine), Some(lifecycle)) => {
            Some(prepare_detection(engine, &mut collector, events, lifecycle, &names, watched)?)
        }
        _ => None,
    };
    privileges::drop_to_kept().context("dropping capabilities")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // SAFETY: the descriptor belongs to the ring buffer map that `new_cgroups` owns, so it
        // stays open and the same for as long as the AsyncFd holds `new_cgroups`.
        let new_cgroups = unsafe { AsyncFd::register_with_interest(new_cgroups, Interest::READABLE) }
            .map_err(std::io::Error::from)
            .context("polling the new-cgroup ring buffer")?;
        let detection = match detection {
            Some((mut detector, events)) => {
                if let Some(dir) = &args.rules_dir {
                    detector.set_rule_files(reload::file_digests(dir));
                }
                if let Some(path) = &args.record {
                    let recorder =
                        Recorder::create(path, RECORD_QUEUE).with_context(|| format!("--record {}", path.display()))?;
                    detector.record_to(recorder);
                }
                let alerts = Arc::new(Dispatcher::new(alerts_config).context("starting the alert outputs")?);
                Some((Arc::new(Mutex::new(detector)), events, alerts))
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            collector: Mutex::new(collector),
            detector: detection.as_ref().map(|(detector, _, _)| detector.clone()),
            alerts: detection.as_ref().map(|(_, _, alerts)| alerts.clone()),
        });
        if let Some((detector, events, alerts)) = detection {
            let for_detection = shared.clone();
            let containers_of = move |cgroups: &[u64]| match for_detection.collector.lock() {
                Ok(mut c) => c.containers_of(cgroups, Instant::now()),
                Err(_) => Vec::new(),
            };
            std::thread::Builder::new()
                .name("detection".into())
                .spawn(move || detect::run(events, detector, alerts, containers_of))
                .context("starting the detection thread")?;
        }
        tracing::info!(address = %args.listen_address, hook, max_cgroups = args.max_cgroups, ?web, "serving /metrics");
        tokio::spawn(refresh_loop(shared.clone()));
        if let (Some(dir), true) = (args.rules_dir.clone(), shared.detector.is_some()) {
            tokio::spawn(reload_loop(shared.clone(), dir, names));
        }
        tokio::spawn(new_cgroup_loop(shared.clone(), new_cgroups));
        tokio::select! {
            () = server::serve(listener, shared, web) => {}
            () = shutdown_signal() => tracing::info!("shutting down"),
        }
        Ok(())
    })
}

/// glibc gives each thread that allocates its own arena (up to 8 per core) and keeps each
/// arena's high-water mark; scrapes run on rotating blocking threads, so without a cap the
/// resident size grows with the thread count rather than with the work. Two arenas suffice.
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only adjusts allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Sets up evaluation of `engine`'s rules: the kernel sends the syscalls they need (attaching
/// their exit tracepoints needs privileges, so this runs before the drop) and the process table
/// is seeded from /proc.
fn prepare_detection(
    engine: Engine,
    collector: &mut Collector,
    events: SyscallEvents,
    lifecycle: LifecycleEvents,
    names: &SyscallNames,
    watched: Arc<WatchedInodes>,
) -> anyhow::Result<(Detector, SyscallEvents)> {
    // `lifecycle` was attached before this walk of /proc: a process forked during the walk is in
    // one or both.
    let mut processes = ProcessTable::system();
    let seeded = processes.seed_from_proc().context("reading /proc")?;
    let (untraceable, kernel_rules) = collector.apply_rules(&engine, names)?;
    if !untraceable.is_empty() {
        tracing::warn!(syscalls = ?untraceable, "no exit tracepoint on this kernel: rules on these syscalls cannot match");
    }
    let decided = kernel_rules.bits.iter().flatten().count();
    tracing::info!(processes = seeded, kernel_filtered_rules = decided, "detection started");
    let mut detector =
        Detector::new(engine, kernel_rules, Decoder::new(Arch::host()), names.clone(), processes, watched);
    detector.set_lifecycle(lifecycle);
    Ok((detector, events))
}

/// Loads and checks the rules: warnings are logged, errors are printed one line each
/// (`file:line:col: rule 'name': cause`) and stop the start.
fn load_rules(dir: &std::path::Path) -> anyhow::Result<Engine> {
    std::fs::read_dir(dir).with_context(|| format!("cannot read rules directory {}", dir.display()))?;
    let engine = Engine::load_dir(dir);
    let mut errors = 0;
    for diagnostic in &engine.diagnostics {
        match diagnostic.severity {
            Severity::Error => {
                errors += 1;
                eprintln!("exporter: error: {diagnostic}");
            }
            Severity::Warning => tracing::warn!("{diagnostic}"),
        }
    }
    if errors > 0 {
        anyhow::bail!(
            "{errors} error(s) in the rules under {}: fix them (exporter rules check --rules-dir {0})",
            dir.display()
        );
    }
    let enabled = engine.rules().iter().filter(|r| r.enabled).count();
    tracing::info!(rules = enabled, dir = %dir.display(), "rules loaded");
    Ok(engine)
}

/// Events a `--record` file may fall behind by before it drops (and counts) them.
const RECORD_QUEUE: usize = 16 * 1024;

/// What the server, the timers and the detection thread share.
struct Shared {
    collector: Mutex<Collector>,
    detector: Option<Arc<Mutex<Detector>>>,
    alerts: Option<Arc<Dispatcher>>,
}

impl MetricsSource for Shared {
    fn render(&self) -> Result<String, String> {
        let (rules, detection) = match &self.detector {
            Some(detector) => {
                let detector = detector.lock().map_err(|_| "detector poisoned".to_owned())?;
                (detector.rules_status(), Some(detector.snapshot()))
            }
            None => (RulesStatus::default(), None),
        };
        // The collector is released before the detector is locked again (see reload_rules).
        let mut text = {
            let mut collector = self.collector.lock().map_err(|_| "collector poisoned".to_owned())?;
            collector
                .scrape(rules, detection.as_ref().map(|(matches, evaluated)| (matches.as_slice(), *evaluated)))
                .map_err(|e| e.to_string())?
        };
        if let Some(alerts) = &self.alerts {
            alerts.stats().write_prometheus(&mut text);
        }
        if let Some(detector) = &self.detector {
            let recorded = detector.lock().map_err(|_| "detector poisoned".to_owned())?.record_stats();
            if let Some(stats) = recorded {
                exporter::metrics::write_record_stats(&mut text, &stats);
            }
        }
        Ok(text)
    }
}

/// Names new cgroups while they exist and frees the kernel slots of vanished ones.
async fn refresh_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(REFRESH_INTERVAL);
    loop {
        tick.tick().await;
        let shared = shared.clone();
        let result = tokio::task::spawn_blocking(move || match shared.collector.lock() {
            Ok(mut c) => c.refresh(Instant::now()).map_err(|e| e.to_string()),
            Err(_) => Err("collector poisoned".to_owned()),
        })
        .await;
        if let Ok(Err(e)) | Err(e) = result.map_err(|e| e.to_string()) {
            tracing::warn!(error = %e, "refreshing containers failed");
        }
    }
}

/// Names each cgroup as soon as the kernel gives it a slot (a container may live for
/// milliseconds). While a runtime has not yet written a container's state, retries with a
/// backoff from 2 ms to 100 ms: the state usually appears within milliseconds.
async fn new_cgroup_loop(shared: Arc<Shared>, mut notices: AsyncFd<NewCgroups>) {
    const FIRST_RETRY: Duration = Duration::from_millis(2);
    const LAST_RETRY: Duration = Duration::from_millis(100);
    let mut retry = FIRST_RETRY;
    loop {
        let provisional = shared.collector.lock().map(|c| c.has_provisional()).unwrap_or(false);
        if !provisional {
            retry = FIRST_RETRY;
        }
        let ids = tokio::select! {
            ready = notices.readable_mut() => match ready {
                Ok(mut guard) => {
                    let ids = guard.get_inner_mut().drain();
                    guard.clear_ready();
                    ids
                }
                Err(e) => {
                    tracing::error!(error = %e, "polling new-cgroup notices failed; the periodic refresh still names cgroups");
                    return;
                }
            },
            () = tokio::time::sleep(retry), if provisional => {
                retry = (retry * 2).min(LAST_RETRY);
                Vec::new()
            }
        };
        let shared = shared.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            if let Ok(mut c) = shared.collector.lock() {
                c.resolve_new(ids, Instant::now());
            }
        })
        .await;
        if let Err(e) = resolved {
            tracing::warn!(error = %e, "resolving new cgroups failed");
        }
    }
}

/// Reloads the rules when their files change (checked every 500 ms) or on SIGHUP (always).
async fn reload_loop(shared: Arc<Shared>, dir: std::path::PathBuf, names: SyscallNames) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => Some(hangup),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: rules reload on file changes only");
            None
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last = reload::fingerprint(&dir);
    let names = Arc::new(names);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { hangup.as_mut()?.recv().await } => true,
        };
        let current = reload::fingerprint(&dir);
        if current == last && !forced {
            continue;
        }
        last = current;
        let (shared, dir, names) = (shared.clone(), dir.clone(), names.clone());
        if let Err(e) = tokio::task::spawn_blocking(move || reload_rules(&shared, &dir, &names)).await {
            tracing::error!(error = %e, "rules reload task failed");
        }
    }
}

/// Compiles the whole new rule set; on any error keeps the running one (each error logged with
/// file:line:col). On success the kernel is told the new syscalls first, then the engine swaps.
fn reload_rules(shared: &Shared, dir: &std::path::Path, names: &SyscallNames) {
    let Some(detector) = &shared.detector else { return };
    let engine = Engine::load_dir(dir);
    if engine.has_errors() {
        for diagnostic in engine.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
            tracing::error!("rules reload refused: {diagnostic}");
        }
        if let Ok(mut detector) = detector.lock() {
            detector.reload_failed();
        }
        return;
    }
    // The detector is held while the kernel switches, so the first events of the new
    // generation are read with its rule bits (lock order: detector, then collector).
    let Ok(mut detector) = detector.lock() else {
        tracing::error!("rules reload refused: detector poisoned");
        return;
    };
    let applied = shared
        .collector
        .lock()
        .map_err(|_| "collector poisoned".to_owned())
        .and_then(|mut c| c.apply_rules(&engine, names).map_err(|e| e.to_string()));
    match applied {
        Ok((untraceable, kernel_rules)) => {
            detector.replace_engine(engine, kernel_rules);
            detector.set_rule_files(reload::file_digests(dir));
            tracing::info!(rules = detector.rules_status().loaded, untraceable = ?untraceable, "rules reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "rules reload refused: the kernel did not take the new rules");
            detector.reload_failed();
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// clap's own messages span several lines; keep --help/--version as they are and turn real
/// usage errors into the one-line form every other error has.
fn report_usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let message = first.trim_start_matches("error: ");
    let choices = rendered.lines().find_map(|l| l.trim().strip_prefix("[possible values: ")?.strip_suffix(']'));
    match choices {
        Some(choices) => eprintln!("exporter: error: {message}; one of: {choices} (see exporter --help)"),
        None => eprintln!("exporter: error: {message} (see exporter --help)"),
    }
    ExitCode::from(2)
}
