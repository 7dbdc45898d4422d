use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Instant,
};

use anyhow::Context as _;
use clap::Parser;
use exporter::{
    alerts::{Dispatcher, Recorder},
    app::{loops, reload, Collector, ResolvedContainers, Shared},
    baseline::{self, Baseline},
    cli::{Cli, Command, RunArgs},
    container::{detect_cgroup2_root, runtime::RuntimeSources, state_watch, ContainerResolver},
    detect::{self, decode::Decoder, process::ProcessTable, Detector},
    kernel::{watched::WatchedInodes, Probe, ProbeConfig, Workload},
    metrics::{Exposition, RuleMatches},
    privileges,
    response::Responder,
    server,
    syscalls::{Arch, SyscallNames},
};
use tokio::io::{unix::AsyncFd, Interest};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return exporter::cli::report_usage_error(err),
    };
    match cli.command {
        Some(Command::Rules { command }) => exporter::rules::cli::run(command),
        Some(Command::Respond { command }) => exporter::response::cli::run(command),
        Some(Command::Baseline { command }) => exporter::baseline::cli::run(command),
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
    exporter::app::limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(args.log_level.as_filter()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Taken before the files are read: a change from then until the reload loop watches them
    // (the kernel programs load in between) differs from it, and is reloaded.
    let loaded_fingerprint = args.rules_dir.as_deref().map(reload::fingerprint);
    let engine = args.rules_dir.as_deref().map(reload::load_rules).transpose()?;
    let baseline = match (args.baseline_config(), &engine) {
        (Some(config), Some(_)) => Some(Baseline::open(config)?),
        (Some(_), None) => anyhow::bail!("--baseline.dir needs --rules-dir (the baseline learns from the detector's events; an empty directory will do)"),
        (None, _) => None,
    };
    let alerts_config = args.alerts_config().context("alert outputs")?;
    let web = args.web_config()?;
    let policy = args.response_policy(&web)?;
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
        event_budget: args.events_cgroup_budget,
        pin_dir: args.pin_dir(),
    })?;
    let names = SyscallNames::new(Arch::host());
    let new_cgroups = probe.take_new_cgroups().context("new-cgroup notices already taken")?;
    let events = probe.take_events().context("kernel events already taken")?;
    let long_paths = probe.take_long_paths().context("kernel long paths already taken")?;
    let sources = RuntimeSources::default();
    let resolver = ContainerResolver::new(cgroup_root.clone(), sources.clone(), args.container_ttl);
    let remembered = resolver.remembered();
    let exposition = Exposition::new(args.syscall_label, names.clone(), args.hook.name());
    let (watched, matches) = (Arc::new(WatchedInodes::default()), Arc::new(RuleMatches::default()));
    // The lifecycle programs attach before /proc is walked: a process forked meanwhile is in one or both.
    let lifecycle = engine.as_ref().map(|_| probe.attach_lifecycle()).transpose()?;
    let mut collector = Collector::new(probe, resolver, exposition, watched.clone(), matches.clone());
    let detector = match (engine, lifecycle) {
        (Some(engine), Some(lifecycle)) => {
            let mut processes = ProcessTable::system();
            let seeded = processes.seed_from_proc().context("reading /proc")?;
            if let Some(config) = args.baseline_config() {
                collector.set_extra_filters(baseline::kernel_filters(&config.read_prefixes));
            }
            let wanted = collector.interest(&engine, &names);
            let kernel_rules = reload::install(&collector.programs(), &wanted, |interest| {
                Ok(collector.apply_rules(&engine, &names, interest)?)
            })?;
            tracing::info!(processes = seeded, "detection started");
            let decoder = Decoder::new(Arch::host());
            let mut detector = Detector::new(engine, kernel_rules, decoder, names.clone(), processes, watched, matches);
            detector.set_lifecycle(lifecycle);
            Some(detector)
        }
        _ => None,
    };
    privileges::drop_to_kept().context("dropping capabilities")?;
    if let Err(e) = state_watch::spawn(sources, cgroup_root, remembered) {
        tracing::warn!(error = %e, "runtime state roots not watched: containers that exit at once may go unnamed");
    }
    // Counted now that the kernel programs, maps and rules are open.
    let limits = args.web_limits().within_fd_budget()?;
    // Its thread starts only now: the rules loaded above may already want names resolved.
    exporter::rules::names::set_resolution(args.names_resolve, &args.names_hosts_file);

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
        let collector = Arc::new(Mutex::new(collector));
        let responder = policy.map(|policy| {
            tracing::info!(policies = policy.rules.len(), dry_run = policy.dry_run, "response API on");
            Arc::new(Responder::new(policy, Box::new(ResolvedContainers(collector.clone()))))
        });
        let baseline = baseline.map(|b| Arc::new(Mutex::new(b)));
        let mut shared =
            Shared { collector, detector: None, alerts: None, responder: responder.clone(), baseline: baseline.clone() };
        if let Some(mut detector) = detector {
            if let Some(baseline) = &baseline {
                detector.set_baseline(baseline.clone());
            }
            if let Some(dir) = &args.rules_dir {
                detector.set_rule_files(reload::file_digests(dir));
            }
            if let Some(path) = &args.record {
                let recorder =
                    Recorder::create(path, RECORD_QUEUE).with_context(|| format!("--record {}", path.display()))?;
                detector.record_to(recorder);
            }
            shared.detector = Some(Arc::new(Mutex::new(detector)));
            shared.alerts = Some(Arc::new(Dispatcher::new(alerts_config).context("starting the alert outputs")?));
        }
        let shared = Arc::new(shared);
        if let (Some(detector), Some(alerts)) = (shared.detector.clone(), shared.alerts.clone()) {
            let for_detection = shared.clone();
            let containers_of = move |cgroups: &[u64]| match for_detection.collector.lock() {
                Ok(mut c) => c.containers_of(cgroups, Instant::now()),
                Err(_) => Vec::new(),
            };
            std::thread::Builder::new()
                .name("detection".into())
                .spawn(move || detect::run(events, long_paths, detector, alerts, containers_of))
                .context("starting the detection thread")?;
        }
        tracing::info!(address = %args.listen_address, hook = args.hook.name(), max_cgroups = args.max_cgroups, ?web, ?limits, "serving /metrics");
        tokio::spawn(loops::refresh_loop(shared.clone()));
        if let (Some(dir), Some(loaded), true) = (args.rules_dir.clone(), loaded_fingerprint, shared.detector.is_some()) {
            tokio::spawn(loops::reload_loop(shared.clone(), dir, loaded, names.clone()));
        }
        tokio::spawn(loops::new_cgroup_loop(shared.clone(), new_cgroups));
        if let Some(baseline) = baseline {
            tokio::spawn(exporter::app::baseline::baseline_loop(shared.clone(), baseline, names.clone()));
        }
        tokio::select! {
            () = server::serve(listener, shared, responder.map(|r| r as Arc<dyn server::ResponseApi>), web, limits) => {}
            () = loops::shutdown_signal() => tracing::info!("shutting down"),
        }
        Ok(())
    })
}

/// Events a `--record` file may fall behind by before it drops (and counts) them.
const RECORD_QUEUE: usize = 16 * 1024;
