//! A test PKI made with the `openssl` command (Debian package `openssl`): a CA that may only
//! sign certificates, and a server certificate it signed for `127.0.0.1` and `localhost`, valid
//! two days. For tests of TLS upstreams and listeners.

use std::path::{Path, PathBuf};

/// PEM files under the directory given to [`ca_and_server`].
pub struct TestPki {
    /// The CA's certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

/// Makes `dir` (if missing), then the CA (its subject `ca_cn`) and the server's certificate.
pub fn ca_and_server(dir: &Path, ca_cn: &str) -> TestPki {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the `openssl` command (Debian package `openssl`) makes the test's certificates");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let subject = format!("/CN={ca_cn}");
    openssl(
        &[
            &["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", subject.as_str()],
            &ec[..],
            &["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    openssl(&[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    TestPki { ca: dir.join("ca.pem"), cert: dir.join("server.crt"), key: dir.join("server.key") }
}
