//! CPU time of processes from `/proc`, to report what each process spends per call. The
//! servers the harness uses (nats-server, redis-server) are found by the port of the URL the
//! harness connects to, never by name: a second instance on the machine is not measured instead.

use std::collections::HashSet;

/// The pid of the local process that listens on the TCP port of `url` (`nats://127.0.0.1:4222`,
/// `redis://host:6379`); `None` when the host is not this machine, or no process of ours can be
/// seen listening there (another user's: its `/proc/PID/fd` cannot be read).
pub fn process_serving(url: &str) -> Option<u32> {
    let (host, port) = host_port(url)?;
    if !["127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"].contains(&host.as_str()) {
        return None;
    }
    process_listening_on(port)
}

/// `(host, port)` of `scheme://[user@]host:port[/...]`.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// The pid of the process holding a socket that listens on `port` (IPv4 or IPv6).
pub fn process_listening_on(port: u16) -> Option<u32> {
    let inodes: HashSet<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
        fds.flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|target| socket_inode(&target.to_string_lossy()))
            .any(|inode| inodes.contains(&inode))
            .then_some(pid)
    })
}

/// The inodes of the sockets of a `/proc/net/tcp{,6}` table that listen on `port`.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            let listening = *fields.get(3)? == LISTEN && local_port == port;
            listening.then(|| fields.get(9)?.parse().ok()).flatten()
        })
        .collect()
}

/// The inode of an fd's link target `socket:[INODE]`.
fn socket_inode(target: &str) -> Option<u64> {
    target.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_found_by_the_port_it_listens_on() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(process_serving(&format!("nats://127.0.0.1:{port}")), Some(std::process::id()));
        assert_eq!(process_serving(&format!("redis://user:pw@localhost:{port}/0")), Some(std::process::id()));
        // A connected (not listening) socket to it is not a listener.
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        drop(listener);
        assert_eq!(process_listening_on(port), None);
        assert_eq!(process_serving("nats://nats.example.com:4222"), None);
    }

    #[test]
    fn tables_and_links_are_read() {
        let table =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:108E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0\n\
            1: 0100007F:108E 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0\n";
        assert_eq!(listening_inodes(table, 4238), vec![4242]);
        assert_eq!(listening_inodes(table, 4222), Vec::<u64>::new());
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(host_port("nats://127.0.0.1:4222"), Some(("127.0.0.1".into(), 4222)));
    }
}
