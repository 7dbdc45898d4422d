//! `exporter rules ...` subcommands.

use super::diag::{Diagnostic, Severity};
use super::engine::{Engine, MatchMode};
use super::event::Event;
use super::kernel::KernelPredicate;
use super::lint::lint;
use serde::Serialize;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate and lint a rules directory: exit 1 on errors, 0 with only warnings.
    Check {
        /// Directory of rules files (*.yaml, *.yml: Falco rules or Sigma rules), loaded in name order.
        #[arg(long, value_name = "DIR")]
        rules_dir: PathBuf,
    },
    /// List the rules: name, priority, tags, event types and source file:line.
    List {
        #[arg(long, value_name = "DIR", default_value = "rules")]
        rules_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Replay recorded events (one JSON Event a line) and print each alert as a JSON line.
    Test {
        #[arg(long, value_name = "DIR")]
        rules_dir: PathBuf,
        #[arg(long, value_name = "FILE.jsonl")]
        events: PathBuf,
        /// Host name put in alerts (default: this machine's).
        #[arg(long)]
        hostname: Option<String>,
        /// Report every matching rule, not only the first (Falco's default is the first).
        #[arg(long)]
        all_matches: bool,
    },
}

pub fn run(command: RulesCommand) -> ExitCode {
    match command {
        RulesCommand::Check { rules_dir } => check(&rules_dir),
        RulesCommand::List { rules_dir, output } => list(&rules_dir, output),
        RulesCommand::Test { rules_dir, events, hostname, all_matches } => {
            test(&rules_dir, &events, hostname, all_matches)
        }
    }
}

fn print_diag(d: &Diagnostic) {
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    eprintln!("exporter: {level}: {d}");
}

/// Loads, printing errors; `None` if there were any.
fn load(dir: &Path, show_warnings: bool) -> Option<Engine> {
    let engine = Engine::load_dir(dir);
    for d in &engine.report.diagnostics {
        if d.severity == Severity::Error || show_warnings {
            print_diag(d);
        }
    }
    if engine.has_errors() {
        None
    } else {
        Some(engine)
    }
}

fn check(dir: &Path) -> ExitCode {
    let engine = Engine::load_dir(dir);
    let mut all: Vec<Diagnostic> = engine.report.diagnostics.clone();
    all.extend(lint(&engine));
    for d in &all {
        print_diag(d);
    }
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all.len() - errors;
    let enabled = engine.rules().iter().filter(|r| r.enabled).count();
    println!(
        "{}: {} rules loaded ({} enabled, {} skipped for unknown fields), {} errors, {} warnings",
        dir.display(),
        engine.rules().len(),
        enabled,
        engine.report.skipped_unknown.len(),
        errors,
        warnings
    );
    if !engine.report.unsupported.is_empty() {
        let counts: Vec<String> = engine.unsupported_by_reason().iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("{} rules unsupported on syscall events: {}", engine.report.unsupported.len(), counts.join(", "));
    }
    if let Some(v) = &engine.report.required_engine_version {
        println!("required_engine_version: {v}");
    }
    for (n, v) in &engine.report.required_plugins {
        println!("required plugin: {n} {v} (plugins are not loaded by this engine)");
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Serialize)]
struct ListedRule<'a> {
    name: &'a str,
    priority: &'a str,
    enabled: bool,
    tags: &'a [String],
    /// `null`: every event type.
    event_types: &'a Option<Vec<String>>,
    source: String,
    /// The rule language: `falco` or `sigma`.
    format: &'a str,
    kernel_predicates: &'a [KernelPredicate],
    /// The whole condition is the kernel predicates: the kernel can count it alone.
    kernel_complete: bool,
}

fn list(dir: &Path, format: OutputFormat) -> ExitCode {
    let Some(engine) = load(dir, false) else { return ExitCode::FAILURE };
    let rows: Vec<ListedRule> = engine
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let k = engine.kernel_filter(i);
            ListedRule {
                name: &r.name,
                priority: r.priority.as_str(),
                enabled: r.enabled,
                tags: &r.tags,
                event_types: &k.event_types,
                source: format!("{}:{}", r.file, r.pos.line),
                format: r.format,
                kernel_predicates: &k.predicates,
                kernel_complete: k.complete,
            }
        })
        .collect();
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let res = match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut w, &rows).map_err(std::io::Error::other).and_then(|_| writeln!(w))
        }
        OutputFormat::Text => {
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    [
                        if r.enabled { r.name.to_owned() } else { format!("{} (disabled)", r.name) },
                        r.priority.to_owned(),
                        r.event_types.as_ref().map(|t| t.join(",")).unwrap_or_else(|| "*".into()),
                        if r.tags.is_empty() { "-".into() } else { r.tags.join(",") },
                        r.source.clone(),
                    ]
                })
                .collect();
            write_table(&mut w, ["NAME", "PRIORITY", "EVENT TYPES", "TAGS", "SOURCE"], &table)
        }
    };
    match res.and_then(|_| w.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exporter: error: writing output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_table(w: &mut impl Write, header: [&str; 5], rows: &[[String; 5]]) -> std::io::Result<()> {
    let mut widths = header.map(str::len);
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |w: &mut dyn Write, cells: [&str; 5]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(w, header)?;
    for r in rows {
        line(w, [&r[0], &r[1], &r[2], &r[3], &r[4]])?;
    }
    Ok(())
}

fn test(dir: &Path, events: &Path, hostname: Option<String>, all: bool) -> ExitCode {
    let Some(mut engine) = load(dir, false) else { return ExitCode::FAILURE };
    if let Some(h) = hostname {
        engine.hostname = h;
    }
    engine.mode = if all { MatchMode::All } else { MatchMode::First };
    let file = match std::fs::File::open(events) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("exporter: error: {}: cannot open events file: {e}", events.display());
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let (mut n_events, mut n_alerts, mut bad) = (0usize, 0usize, 0usize);
    let mut hits = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("exporter: error: {}:{}: cannot read: {e}", events.display(), i + 1);
                return ExitCode::FAILURE;
            }
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
            continue;
        }
        let ev = match Event::from_json(t) {
            Ok(mut e) => {
                if e.num == 0 {
                    e.num = i as u64 + 1;
                }
                e
            }
            Err(e) => {
                eprintln!("exporter: error: {}:{}:{}: bad event: {e}", events.display(), i + 1, e.column());
                bad += 1;
                continue;
            }
        };
        n_events += 1;
        hits.clear();
        engine.evaluate(&ev, &mut hits);
        for &r in &hits {
            n_alerts += 1;
            let alert = engine.alert(r as usize, &ev);
            let res = serde_json::to_writer(&mut w, &alert).map_err(std::io::Error::other).and_then(|_| writeln!(w));
            if let Err(e) = res {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
                eprintln!("exporter: error: writing output: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _ = w.flush();
    eprintln!("exporter: {n_events} events, {n_alerts} alerts, {bad} bad lines");
    if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
