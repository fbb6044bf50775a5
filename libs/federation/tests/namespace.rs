//! Announce and browse in a network namespace of the test's own (never on the host's
//! interfaces): the test thread leaves the host's network (`unshare(CLONE_NEWNET)`, so it
//! needs root, which the project's test machines have; without it the test fails saying so),
//! brings its loopback up with multicast, and the mDNS daemons it starts (their threads are
//! made by this thread, so they are in the namespace too) talk over it.

use canopy_federation::{Announcement, Event, Mdns};
use std::time::Duration;

fn into_private_network() {
    // SAFETY: unshare only changes this thread's network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "this test needs its own network namespace (unshare(CLONE_NEWNET): {}); run it as root",
        std::io::Error::last_os_error()
    );
    let up = std::process::Command::new("ip").args(["link", "set", "lo", "up", "multicast", "on"]).status();
    assert!(matches!(up, Ok(s) if s.success()), "`ip link set lo up multicast on` failed: {up:?}");
}

#[test]
fn an_announced_instance_is_discovered_with_its_txt_keys() {
    // A thread of its own: the namespace stays with it.
    std::thread::spawn(|| {
        into_private_network();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let announcer = Mdns::start(&["lo".into()]).unwrap();
            let browser = Mdns::start(&["lo".into()]).unwrap();
            let browse = browser.browse().unwrap();
            let announcement = Announcement {
                instance: "gpu.server one".into(),
                endpoint: "http://127.0.0.1:8080/servers/python/mcp".into(),
                tls: false,
                note: "GPU server for ML".into(),
                port: 8080,
            };
            let fullname = announcer.announce(&announcement).unwrap();
            let found = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    if let Some(Event::Resolved(d)) = browse.next().await {
                        if d.fullname == fullname {
                            return d;
                        }
                    }
                }
            })
            .await
            .expect("discovered within 20 s");
            assert_eq!(found.instance, "gpu.server one");
            assert_eq!(found.endpoint, announcement.endpoint);
            assert_eq!(found.note, "GPU server for ML");
            assert!(!found.tls);
            announcer.shutdown();
            let removed = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    if let Some(Event::Removed(name)) = browse.next().await {
                        return name;
                    }
                }
            })
            .await
            .expect("goodbye heard");
            assert_eq!(removed, fullname);
            browser.shutdown();
        });
    })
    .join()
    .unwrap();
}
