//! What the policy needs to know about a tenant besides the principal: its groups' current specs,
//! because a client allowed a group is allowed that group's members as they are now.

use canopy_domain::group::GroupSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The current groups of the tenant a decision is about. Only clients' decisions read it, and
/// only the groups their allow list names ([`AllowList::groups`](crate::AllowList)), so a caller
/// may fill just those.
#[derive(Debug, Clone, Default)]
pub struct TenantView {
    groups: BTreeMap<String, Arc<GroupSpec>>,
}

impl TenantView {
    pub fn new() -> Self {
        Self::default()
    }

    /// A view of these groups; specs may be shared (`Arc`, as in the edge's cache) or owned.
    pub fn from_groups<N: Into<String>, S: Into<Arc<GroupSpec>>>(groups: impl IntoIterator<Item = (N, S)>) -> Self {
        TenantView { groups: groups.into_iter().map(|(name, spec)| (name.into(), spec.into())).collect() }
    }

    pub fn with_group(mut self, name: impl Into<String>, spec: impl Into<Arc<GroupSpec>>) -> Self {
        self.groups.insert(name.into(), spec.into());
        self
    }

    pub fn group(&self, name: &str) -> Option<&GroupSpec> {
        self.groups.get(name).map(|spec| &**spec)
    }
}
