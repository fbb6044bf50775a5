//! CPU time of processes from `/proc`, to report what each process spends per call.

/// The pid of a local process by its command name (`/proc/PID/comm`), e.g. `nats-server`.
pub fn process_named(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    })
}

/// User plus system CPU seconds of some processes together; `None` if any cannot be read.
pub fn seconds(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&pid| ticks(pid)).sum::<Option<u64>>().map(|t| t as f64 / ticks_per_sec())
}

fn ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After `(comm)`, which may contain spaces, utime and stime are the 12th and 13th fields.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// CPU µs per call spent by a set of processes between two readings.
pub struct Meter {
    pids: Vec<u32>,
    start: Option<f64>,
}

impl Meter {
    pub fn start(pids: Vec<u32>) -> Self {
        let start = if pids.is_empty() { None } else { seconds(&pids) };
        Self { pids, start }
    }

    /// NaN when unknown (no such process, or not local).
    pub fn per_call(&self, calls: usize) -> f64 {
        match (self.start, seconds(&self.pids)) {
            (Some(a), Some(b)) if calls > 0 => (b - a) * 1e6 / calls as f64,
            _ => f64::NAN,
        }
    }
}
