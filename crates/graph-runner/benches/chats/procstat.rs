//! CPU time and memory of the processes involved, from `/proc` (Linux only).

use crate::stack::Stack;

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU seconds (user + system) of each process at one moment.
pub struct Usage {
    rows: Vec<(String, f64)>,
}

impl Usage {
    /// Reads the graph-runner, the gateway, this process (the simulators) and the Redis and PostgreSQL servers.
    pub fn of(stack: &Stack) -> Self {
        let mut rows = vec![
            ("graph-runner".to_owned(), cpu_secs(stack.runner.pid())),
            ("telegram-gateway".to_owned(), cpu_secs(stack.gateway.pid())),
            ("bench+simulators".to_owned(), cpu_secs(std::process::id())),
        ];
        for (name, comm) in [("redis", "redis-server"), ("postgres", "postgres")] {
            let total = pids_named(comm).into_iter().map(cpu_secs).sum();
            rows.push((name.to_owned(), total));
        }
        Self { rows }
    }

    /// The CPU spent since `before`.
    pub fn since(&self, before: &Usage) -> Usage {
        let rows = self
            .rows
            .iter()
            .zip(&before.rows)
            .map(|((name, now), (_, then))| (name.clone(), now - then))
            .collect();
        Usage { rows }
    }

    /// Prints one line.
    pub fn print(&self) {
        let parts: Vec<String> = self
            .rows
            .iter()
            .map(|(name, secs)| format!("{name} {secs:.2}"))
            .collect();
        println!("    CPU seconds: {}", parts.join(", "));
    }
}

/// Prints the peak resident set (`VmHWM`) of each process.
pub fn print_memory(stack: &Stack) {
    for (name, pid) in [
        ("graph-runner", stack.runner.pid()),
        ("telegram-gateway", stack.gateway.pid()),
        ("bench+simulators", std::process::id()),
    ] {
        println!(
            "peak RSS {name:<17} {:>8} kB (now {} kB)",
            status_kb(pid, "VmHWM:"),
            status_kb(pid, "VmRSS:")
        );
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`, which may contain spaces: state is field 3, utime 14, stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(u, s)| (u + s) / TICKS)
}

fn pids_named(comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}
