//! The HTTP clients of upstream connections (Streamable HTTP through rmcp, legacy SSE through
//! `sse.rs`): TLS by rustls, trusting the platform's root certificates (rustls-platform-verifier;
//! on Linux the system's bundle, e.g. Debian's `ca-certificates`) plus the CA certificates of
//! `worker.upstream_ca_file`. Built once per worker and shared by every connection.

use std::path::Path;

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 10;

/// The clients upstream connections use; cheap to clone (clones share the connection pools).
#[derive(Clone)]
pub struct UpstreamHttp {
    streamable: reqwest::Client,
    sse: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM bundle of certificates: {reason}")]
    NotPem { path: String, reason: String },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("the certificates of {path} cannot be used: {reason}")]
    BadCertificate { path: String, reason: String },
}

impl UpstreamHttp {
    /// Clients that trust the platform's roots and, with `ca_file`, the certificates of that
    /// PEM bundle too.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, HttpSetupError> {
        let Some(path) = ca_file else { return Ok(Self::default()) };
        let name = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| HttpSetupError::Read { path: name.clone(), source })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| HttpSetupError::NotPem { path: name.clone(), reason: chain(&e) })?;
        if roots.is_empty() {
            return Err(HttpSetupError::NoCertificate { path: name });
        }
        // A certificate that is no valid X.509 is found here, when the clients are built.
        let build = |redirect| {
            client(redirect, &roots).map_err(|reason| HttpSetupError::BadCertificate { path: name.clone(), reason })
        };
        Ok(Self { streamable: build(streamable_redirects)?, sse: build(sse_redirects)? })
    }

    /// The client for Streamable HTTP upstreams (handed to rmcp's transport).
    pub fn streamable(&self) -> reqwest::Client {
        self.streamable.clone()
    }

    /// The client for legacy SSE upstreams.
    pub fn sse(&self) -> &reqwest::Client {
        &self.sse
    }
}

impl Default for UpstreamHttp {
    /// Clients that trust the platform's roots only.
    fn default() -> Self {
        let build = |redirect| client(redirect, &[]).expect("an HTTP client with no extra roots builds");
        Self { streamable: build(streamable_redirects), sse: build(sse_redirects) }
    }
}

/// A client trusting the platform's roots plus `extra`. A system with no root certificates at
/// all (a bare container image) still gets a client, trusting `extra` only: http:// and stdio
/// upstreams keep working, and https:// ones fail with an unknown-issuer error.
fn client(
    redirect: fn() -> reqwest::redirect::Policy,
    extra: &[reqwest::Certificate],
) -> Result<reqwest::Client, String> {
    // Like rmcp's own default client: no idle connections kept (rmcp saw ~40 ms stalls on
    // reused connections whose previous response was not read to the end).
    let builder = || reqwest::Client::builder().pool_max_idle_per_host(0).redirect(redirect());
    let platform = match builder().tls_certs_merge(extra.iter().cloned()).build() {
        Ok(client) => return Ok(client),
        Err(e) => chain(&e),
    };
    let only_extra = builder().tls_certs_only(extra.iter().cloned()).build().map_err(|e| chain(&e))?;
    tracing::warn!(
        error = %platform,
        "the platform's root certificates cannot be used: https upstreams are trusted only through \
         worker.upstream_ca_file (CANOPY_UPSTREAM_CA_FILE); install the system's CA bundle (Debian: \
         ca-certificates) to trust the public ones"
    );
    Ok(only_extra)
}

/// Streamable HTTP, as rmcp's default client: only 307 and 308 (which keep the POST's body) on
/// the same origin (the registration's credentials go with every request).
fn streamable_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            reqwest::StatusCode::TEMPORARY_REDIRECT | reqwest::StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        match keeps_body && same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            true => attempt.follow(),
            false => attempt.stop(),
        }
    })
}

/// Legacy SSE: the stream's GET follows any redirect on the stream's origin, like the endpoint
/// it names (the credentials go with them).
fn sse_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        match same_origin && attempt.previous().len() < MAX_REDIRECTS {
            true => attempt.follow(),
            false => attempt.stop(),
        }
    })
}

/// Why an rmcp client could not start. rmcp does not link the HTTP client's error as the source
/// of its own, so its text would end at "error sending request for url (...)": for Streamable
/// HTTP, the reqwest error is dug out and told with its causes ("...: invalid peer
/// certificate: UnknownIssuer").
pub(crate) fn initialize_error(error: &rmcp::service::ClientInitializeError) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    if let rmcp::service::ClientInitializeError::TransportError { error: transport, context } = error {
        if let Some(StreamableHttpError::Client(cause)) =
            transport.error.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            return format!("{}, when {context}", chain(cause));
        }
    }
    chain(error)
}

/// An error with its sources ("error sending request: ...: invalid peer certificate: UnknownIssuer").
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        // Some errors repeat their source's text in their own.
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("canopy-http-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn ca_files_that_cannot_be_used_are_errors_naming_the_file() {
        let missing = std::env::temp_dir().join("canopy-http-no-such-file.pem");
        let error = UpstreamHttp::new(Some(&missing)).err().unwrap();
        assert!(matches!(error, HttpSetupError::Read { .. }), "{error}");
        assert!(error.to_string().contains("canopy-http-no-such-file.pem"), "{error}");

        let empty = write("empty.pem", "no certificates here\n");
        let error = UpstreamHttp::new(Some(&empty)).err().unwrap();
        assert!(matches!(error, HttpSetupError::NoCertificate { .. }), "{error}");

        let garbled = write("garbled.pem", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let error = UpstreamHttp::new(Some(&garbled)).err().unwrap();
        assert!(matches!(error, HttpSetupError::NotPem { .. }), "{error}");

        // Valid base64, but no X.509 certificate inside.
        let bogus = write("bogus.pem", "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n");
        let error = UpstreamHttp::new(Some(&bogus)).err().unwrap();
        assert!(matches!(error, HttpSetupError::BadCertificate { .. }), "{error}");
        for path in [empty, garbled, bogus] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn without_a_ca_file_the_platform_roots_are_used() {
        assert!(UpstreamHttp::new(None).is_ok());
    }
}
