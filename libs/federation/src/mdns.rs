//! mDNS itself: one `mdns-sd` daemon per process (its own thread and sockets on UDP 5353),
//! bound to the configured interfaces, announcing this instance and browsing for others.

use crate::{FederationError, SERVICE_TYPE};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use std::collections::HashMap;

/// What this instance announces.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub instance: String,
    /// The full URL of the MCP endpoint discoverers connect to.
    pub endpoint: String,
    pub tls: bool,
    pub note: String,
    /// The SRV record's port.
    pub port: u16,
}

/// An announced instance, as a browser resolved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// The service's full name (`instance._jumpboot-mcp._tcp.local.`).
    pub fullname: String,
    pub instance: String,
    pub endpoint: String,
    pub tls: bool,
    pub note: String,
}

/// What a browse hears.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An instance announced itself (again, or with changed records).
    Resolved(Discovered),
    /// An instance said goodbye, or its records expired (its full name).
    Removed(String),
}

/// The process's mDNS daemon.
pub struct Mdns {
    daemon: ServiceDaemon,
}

impl Mdns {
    /// Starts the daemon, bound to `interfaces` only (every interface when empty). A name that is
    /// no interface of this host is an error, not a daemon that silently hears nothing.
    pub fn start(interfaces: &[String]) -> Result<Mdns, FederationError> {
        if let Some(missing) = interfaces.iter().find(|name| !interface_exists(name)) {
            return Err(FederationError::NoInterface(missing.clone()));
        }
        let daemon = ServiceDaemon::new()?;
        if !interfaces.is_empty() {
            daemon.disable_interface(IfKind::All)?;
            let chosen: Vec<IfKind> = interfaces.iter().map(|name| IfKind::Name(name.clone())).collect();
            daemon.enable_interface(chosen)?;
        }
        Ok(Mdns { daemon })
    }

    /// Announces `a` until [`Mdns::shutdown`] (which says goodbye). Returns its full name.
    pub fn announce(&self, a: &Announcement) -> Result<String, FederationError> {
        let host = format!("{}.local.", crate::server_name(&crate::host_name()));
        let properties: HashMap<String, String> = [
            ("endpoint".to_string(), a.endpoint.clone()),
            ("tls".to_string(), a.tls.to_string()),
            ("note".to_string(), a.note.clone()),
        ]
        .into();
        let info = ServiceInfo::new(SERVICE_TYPE, &a.instance, &host, "", a.port, properties)?.enable_addr_auto();
        self.daemon.register(info)?;
        // As browsers see it: the instance's label as it is, not escaped.
        Ok(format!("{}.{SERVICE_TYPE}", a.instance))
    }

    /// Starts browsing for announced instances.
    pub fn browse(&self) -> Result<Browse, FederationError> {
        Ok(Browse { events: self.daemon.browse(SERVICE_TYPE)? })
    }

    /// Says goodbye for what was announced and stops the daemon's thread.
    pub fn shutdown(self) {
        if let Ok(status) = self.daemon.shutdown() {
            let _ = status.recv_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// A running browse.
pub struct Browse {
    events: mdns_sd::Receiver<ServiceEvent>,
}

impl Browse {
    /// The next thing heard; `None` once the daemon stopped.
    pub async fn next(&self) -> Option<Event> {
        loop {
            match self.events.recv_async().await.ok()? {
                ServiceEvent::ServiceResolved(service) => {
                    if let Some(found) = discovered(&service) {
                        return Some(Event::Resolved(found));
                    }
                }
                ServiceEvent::ServiceRemoved(_, fullname) => return Some(Event::Removed(fullname)),
                _ => {}
            }
        }
    }
}

fn discovered(service: &mdns_sd::ResolvedService) -> Option<Discovered> {
    let instance = instance_of(&service.fullname)?;
    let txt = |key: &str| service.get_property_val_str(key).map(str::to_string);
    let tls = txt("tls").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = match txt("endpoint").filter(|e| !e.is_empty()) {
        Some(endpoint) => endpoint,
        // Jumpboot's own fallback: the service's address and port, path /mcp.
        None => {
            let scheme = if tls { "https" } else { "http" };
            let addresses = service.get_addresses_v4();
            let address = addresses.iter().next()?;
            format!("{scheme}://{address}:{}/mcp", service.port)
        }
    };
    crate::valid_endpoint(&endpoint).then(|| Discovered {
        fullname: service.fullname.clone(),
        instance,
        endpoint,
        tls,
        note: txt("note").unwrap_or_default(),
    })
}

/// The instance name of a full name as a browse reports it, the instance's label as sent
/// (`gpu.server._jumpboot-mcp._tcp.local.` → `gpu.server`).
pub(crate) fn instance_of(fullname: &str) -> Option<String> {
    let instance = fullname.strip_suffix(SERVICE_TYPE)?.strip_suffix('.')?;
    (!instance.is_empty()).then(|| instance.to_string())
}

fn interface_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".." && {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_unescaped_from_full_names() {
        assert_eq!(instance_of("gpu-server._jumpboot-mcp._tcp.local.").as_deref(), Some("gpu-server"));
        assert_eq!(instance_of("gpu.box 1._jumpboot-mcp._tcp.local.").as_deref(), Some("gpu.box 1"));
        assert_eq!(instance_of("x._http._tcp.local."), None);
        assert_eq!(instance_of("._jumpboot-mcp._tcp.local."), None);
    }

    #[test]
    fn unknown_interfaces_are_refused() {
        let err = Mdns::start(&["no-such-if0".into()]).err().expect("refused");
        assert!(err.to_string().contains("no-such-if0"), "{err}");
        assert!(!interface_exists("../etc"));
    }
}
