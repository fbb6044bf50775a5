//! A real Ray head on loopback for tests (`ray start --head`), from `CANOPY_RAY`
//! (scripts/lib/python-tools.sh `canopy_ensure_ray`): ports and a `--temp-dir` of its own,
//! `RAY_USAGE_STATS_ENABLED=0`, a clean environment. A watchdog that outlives the test binary
//! stops it when the binary exits: it kills only the processes that inherited this head's
//! marker variable. Without `CANOPY_RAY` the tests that need a head fail, unless
//! `CANOPY_SKIP_RAY_TESTS=1` (then [`start`] answers `None`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A running head: where its dashboard (the Jobs REST API) answers, and its temp dir.
pub struct RayHead {
    pub dashboard_url: String,
    pub temp: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub fn start() -> Option<RayHead> {
    let Some(ray) = std::env::var_os("CANOPY_RAY").map(PathBuf::from) else {
        if std::env::var("CANOPY_SKIP_RAY_TESTS").as_deref() == Ok("1") {
            println!("SKIPPED: Ray tests (CANOPY_SKIP_RAY_TESTS=1)");
            return None;
        }
        panic!(
            "CANOPY_RAY is not set: run `. scripts/lib/python-tools.sh && canopy_ensure_ray` (scripts/test.sh does), \
             or set CANOPY_SKIP_RAY_TESTS=1 to skip the Ray tests"
        );
    };
    // Short: Ray's socket paths under it must fit in 107 bytes.
    let temp = PathBuf::from(format!("/tmp/crt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).expect("ray temp dir");
    // Nine distinct ports: each held until all are picked (one picked after another was
    // released could be that one again, and Ray refuses two components on one port).
    let ports: Vec<u16> = {
        let held: Vec<std::net::TcpListener> =
            (0..9).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
        held.iter().map(|l| l.local_addr().expect("bound").port()).collect()
    };
    let mut next_port = ports.into_iter();
    let mut free_port = move || next_port.next().expect("nine ports");
    let dashboard_port = free_port();
    let venv_bin = ray.parent().expect("ray's bin dir").to_path_buf();
    let mut command = std::process::Command::new(&ray);
    command
        .args([
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            "--include-dashboard=true",
        ])
        .arg(format!("--dashboard-port={dashboard_port}"))
        .arg(format!("--port={}", free_port()))
        .arg(format!("--ray-client-server-port={}", free_port()))
        .arg(format!("--node-manager-port={}", free_port()))
        .arg(format!("--object-manager-port={}", free_port()))
        .arg(format!("--dashboard-agent-listen-port={}", free_port()))
        .arg(format!("--dashboard-agent-grpc-port={}", free_port()))
        .arg(format!("--runtime-env-agent-port={}", free_port()))
        .arg(format!("--metrics-export-port={}", free_port()))
        .arg(format!("--temp-dir={}", temp.display()))
        .args(["--num-cpus=4", "--disable-usage-stats", "--object-store-memory=100000000"])
        .env_clear()
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", venv_bin.display()))
        .env("HOME", &temp)
        .env("LANG", "C.UTF-8")
        .env("RAY_USAGE_STATS_ENABLED", "0");
    // Every process of this head inherits the marker; the watchdog outlives this binary and
    // kills the processes carrying it (Ray renames some, so their command lines say nothing).
    let marker = format!("CANOPY_RAY_TEST_HEAD={}", temp.display());
    command.env("CANOPY_RAY_TEST_HEAD", &temp);
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         for round in 1 2 3; do for p in /proc/[0-9]*; do \
           grep -aqs '{marker}' $p/environ && kill -9 ${{p#/proc/}} 2>/dev/null; done; sleep 1; done; \
         rm -rf '{temp}'",
        pid = std::process::id(),
        temp = temp.display()
    );
    // `setsid` forks the watchdog into a session of its own and exits at once: waiting on
    // it reaps it, while the watchdog outlives this process.
    std::process::Command::new("setsid")
        .arg("--fork")
        .args(["sh", "-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("ray watchdog");
    let started = Instant::now();
    let output = command.output().expect("run `ray start`");
    assert!(
        output.status.success(),
        "`ray start` failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let dashboard_url = format!("http://127.0.0.1:{dashboard_port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ready = probe::http_ok(&format!("{dashboard_url}/api/jobs/"));
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the Ray dashboard did not answer within 90 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    println!("FIGURE ray head: `ray start` to a ready Jobs API in {:?}", started.elapsed());
    Some(RayHead { dashboard_url, temp })
}

/// Whether `url` answers 200: a plain HTTP/1.0 probe, usable outside any runtime.
mod probe {
    pub fn http_ok(url: &str) -> bool {
        use std::io::{Read, Write};
        let Some(rest) = url.strip_prefix("http://") else { return false };
        let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        let Ok(mut stream) = std::net::TcpStream::connect(host) else { return false };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
    }
}
