//! Rule engine benchmark (`cargo bench -p exporter --bench rules`):
//! - evaluation of the default rules (`rules/`) over a generated mixed syscall stream, one core;
//!   target >= 1M events/s;
//! - evaluation of SigmaHQ's Linux rules (`../shared/data/sigma-linux`, every file of the three
//!   categories a syscall sensor serves) over the same stream; target >= 1M events/s;
//! - load + compile of a generated 500-rule file; target < 100 ms.
//!
//! Medians over several rounds, timed by the thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`):
//! "on one core" means CPU time, which other load on the machine does not inflate as it does
//! wall time.

use exporter::rules::{Engine, Event, MatchMode};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

mod support;

const EVENTS: usize = 200_000;
const ROUNDS: usize = 9;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// A stream shaped like a busy node: mostly file opens and uninteresting syscalls, some execs
/// and connects, a few privileged calls, about 1% attacks.
fn stream() -> Vec<Event> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let procs = ["nginx", "java", "python3", "node", "bash", "sh", "cat", "curl", "postgres", "redis-server"];
    let files = [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/etc/ld.so.cache",
        "/proc/self/status",
        "/var/log/nginx/access.log",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/passwd",
        "/tmp/upload-1234",
        "/app/config.yaml",
        "/sys/fs/cgroup/cpu.max",
        "/etc/shadow",
        "/host/etc/shadow",
    ];
    let flags = ["O_RDONLY", "O_RDONLY|O_CLOEXEC", "O_WRONLY|O_CREAT|O_TRUNC", "O_RDWR"];
    let boring = ["read", "write", "close", "mmap", "futex", "epoll_wait", "recvfrom", "sendto", "fstat", "lseek"];
    let mut out = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let roll = r.next() % 1000;
        let in_container = !r.next().is_multiple_of(3);
        let pname = r.pick(&procs);
        let mut tty = 0;
        let (kind, json) = match roll {
            0..=399 => {
                let f = r.pick(&files);
                let fl = r.pick(&flags);
                (
                    "openat",
                    format!(
                        r#""args":{{"dirfd":-100,"name":"{f}","flags":"{fl}"}},"fd":{{"num":5,"type":"file","name":"{f}"}}"#
                    ),
                )
            }
            400..=749 => (r.pick(&boring), r#""args":{"fd":5}"#.to_owned()),
            750..=869 => {
                if r.next().is_multiple_of(10) {
                    tty = 34816;
                }
                ("execve", r#""args":{"filename":"/usr/bin/x"}"#.to_owned())
            }
            870..=969 => {
                let ports = ["443", "80", "5432", "6379", "4444", "3333", "53"];
                let p = if r.next().is_multiple_of(20) { r.pick(&ports) } else { r.pick(&ports[..4]) };
                (
                    "connect",
                    format!(
                        r#""args":{{"fd":7}},"fd":{{"num":7,"type":"ipv4","l4proto":"tcp","lip":"10.0.0.2","lport":40000,"rip":"203.0.113.{}","rport":{p}}}"#,
                        i % 250
                    ),
                )
            }
            _ => {
                let t =
                    r.pick(&["setuid", "ptrace", "mount", "setns", "unshare", "fchmodat", "symlinkat", "finit_module"]);
                (
                    t,
                    r#""args":{"uid":1000,"request":0,"target":"/tmp/x"},"fd":{"num":3,"type":"file","name":"/tmp/x"}"#
                        .to_owned(),
                )
            }
        };
        let container = if in_container {
            r#","container":{"id":"3ad7b2c1e0f4","name":"web","image":"nginx:1.25","pod":"web-0","namespace":"shop"}"#
        } else {
            ""
        };
        let line = format!(
            r#"{{"num":{},"time":{},"type":"{kind}","res":0,{json},"proc":{{"pid":{},"name":"{pname}","exepath":"/usr/bin/{pname}","args":["-x","y"],"tty":{tty},"ancestors":[{{"pid":1,"name":"containerd-shim"}}]}},"user":{{"uid":{}}}{container}}}"#,
            i + 1,
            1_764_000_000_000_000_000u64 + i as u64,
            1000 + i % 50,
            if r.next().is_multiple_of(4) { 0 } else { 1000 },
        );
        out.push(Event::from_json(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    out
}

/// An engine of every SigmaHQ Linux rule file a syscall sensor serves, with the number of
/// files read; `None` when the corpus is not there.
fn sigma_engine() -> Option<(Engine, usize)> {
    let mut files = Vec::new();
    for path in support::sigma::sigma_rule_files() {
        let text = std::fs::read_to_string(&path).ok()?;
        files.push((path.display().to_string(), text));
    }
    if files.is_empty() {
        return None;
    }
    let sources: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Some((Engine::from_sources(&sources), files.len()))
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn eval_rate(engine: &Engine, events: &[Event]) -> (f64, usize) {
    let mut hits = Vec::with_capacity(16);
    let mut times = Vec::new();
    let mut matched = 0;
    for _ in 0..ROUNDS {
        matched = 0;
        let t = thread_cpu();
        for ev in events {
            hits.clear();
            matched += engine.evaluate(black_box(ev), &mut hits);
        }
        times.push(thread_cpu() - t);
        black_box(&hits);
    }
    (events.len() as f64 / median(times).as_secs_f64(), matched)
}

/// A 500-rule file in the style of Falco's: lists, macros, exceptions.
fn big_rules_file() -> String {
    let mut s = String::from(
        "- list: shells\n  items: [sh, bash, zsh, dash, ksh]\n- list: sensitive\n  items: [/etc/shadow, /etc/sudoers, /etc/gshadow]\n- macro: container\n  condition: container.id != host\n- macro: spawned\n  condition: evt.type in (execve, execveat) and evt.dir = <\n- macro: open_read\n  condition: evt.type in (open, openat) and evt.is_open_read = true\n",
    );
    for i in 0..500 {
        let cond = match i % 5 {
            0 => format!("spawned and container and proc.name in (shells, tool{i}) and proc.args contains \"-{i}\""),
            1 => format!("open_read and (fd.name in (sensitive) or fd.name startswith /srv/{i}/) and not proc.name in (app{i}, sshd)"),
            2 => format!("evt.type = connect and fd.rport in ({}, {}) and fd.sip != 10.0.0.{}", 1000 + i, 2000 + i, i % 250),
            3 => format!("spawned and proc.cmdline regex \"^curl .*-o /tmp/{i}[a-z]+\" and user.uid != 0"),
            _ => format!("evt.type in (chmod, fchmodat) and fd.name glob \"/opt/{i}/*.conf\" and proc.aname[2] = init{i}"),
        };
        s.push_str(&format!(
            "- rule: generated rule {i}\n  desc: generated {i}\n  condition: {cond}\n  output: rule {i} %proc.name %fd.name %container.id\n  priority: {}\n  tags: [generated, T{:04}]\n  exceptions:\n    - name: known\n      fields: [proc.pname, fd.name]\n      comps: [=, startswith]\n      values:\n        - [parent{i}, /var/lib/{i}]\n",
            ["INFO", "WARNING", "ERROR", "NOTICE", "CRITICAL"][i % 5],
            1000 + i
        ));
    }
    s
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut engine = Engine::load_dir(&root.join("../rules"));
    if engine.has_errors() {
        for d in &engine.report.diagnostics {
            eprintln!("{d}");
        }
        std::process::exit(1);
    }
    let events = stream();
    engine.mode = MatchMode::First;
    let (first_rate, first_matched) = eval_rate(&engine, &events);
    engine.mode = MatchMode::All;
    let (all_rate, all_matched) = eval_rate(&engine, &events);

    let sigma = sigma_engine().map(|(mut sigma, files)| {
        sigma.mode = MatchMode::First;
        let (rate, matched) = eval_rate(&sigma, &events);
        (files, sigma.rules().len(), sigma.report.unsupported.len(), rate, matched)
    });

    let text = big_rules_file();
    let dir = std::env::temp_dir().join(format!("tracewarden-rules-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("generated.yaml"), &text).unwrap();
    let mut times = Vec::new();
    let mut loaded = 0;
    for _ in 0..ROUNDS {
        let t = thread_cpu();
        let e = Engine::load_dir(black_box(&dir));
        times.push(thread_cpu() - t);
        assert!(!e.has_errors(), "{:?}", e.report.diagnostics.first());
        loaded = e.rules().len();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let load = median(times);

    let yes = |b: bool| if b { "yes" } else { "NO" };
    println!(
        "rules benchmark: {} default rules, {} events ({} rounds, median), {} rules in the generated file",
        engine.rules().len(),
        events.len(),
        ROUNDS,
        loaded
    );
    println!("{:<52} {:>16} {:>12} {:>5}", "benchmark", "result", "target", "met");
    println!(
        "{:<52} {:>12.2} M/s {:>12} {:>5}",
        format!("evaluate default rules, first match ({first_matched} alerts)"),
        first_rate / 1e6,
        ">= 1 M/s",
        yes(first_rate >= 1e6)
    );
    println!(
        "{:<52} {:>12.2} M/s {:>12} {:>5}",
        format!("evaluate default rules, all matches ({all_matched} alerts)"),
        all_rate / 1e6,
        ">= 1 M/s",
        yes(all_rate >= 1e6)
    );
    match sigma {
        Some((files, loaded, unsupported, rate, matched)) => println!(
            "{:<52} {:>12.2} M/s {:>12} {:>5}",
            format!(
                "evaluate Sigma Linux: {files} files, {loaded} loaded, {unsupported} unsupported ({matched} alerts)"
            ),
            rate / 1e6,
            ">= 1 M/s",
            yes(rate >= 1e6)
        ),
        None => {
            println!("SigmaHQ's rules not found under {}: their evaluation is left out", support::sigma::SIGMA_RULES)
        }
    }
    println!(
        "{:<52} {:>13.1} ms {:>12} {:>5}",
        format!("load + compile {}-rule file ({} KiB)", loaded, text.len() / 1024),
        load.as_secs_f64() * 1e3,
        "< 100 ms",
        yes(load < Duration::from_millis(100))
    );
}
