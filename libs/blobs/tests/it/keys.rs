//! Tenant key rules: what a key may hold, and that no key of one tenant names another's object.

use crate::support::tenant;
use canopy_blobs::{BlobKey, BlobPrefix, KeyError};

#[test]
fn keys_that_would_escape_their_tenant_or_confuse_a_store_are_refused() {
    let acme = tenant("acme");
    let cases: &[(&[&str], KeyError)] = &[
        (&[], KeyError::NoSegments),
        (&["inputs", ".."], KeyError::DotSegment),
        (&["..", "globex", "inputs", "x"], KeyError::DotSegment),
        (&["inputs", "."], KeyError::DotSegment),
        (&["inputs", ""], KeyError::EmptySegment),
        (&["", "etc", "passwd"], KeyError::EmptySegment),
        (&["inputs", "a/b"], KeyError::SeparatorOrControl),
        (&["inputs", "/etc/passwd"], KeyError::SeparatorOrControl),
        (&["inputs", "a\0b"], KeyError::SeparatorOrControl),
        (&["inputs", "a\nb"], KeyError::SeparatorOrControl),
        (&["inputs", "a\\..\\b"], KeyError::RefusedCharacter('\\')),
        (&["inputs", "part#1"], KeyError::RefusedCharacter('#')),
        (&["inputs", "50%"], KeyError::RefusedCharacter('%')),
    ];
    for (segments, expected) in cases {
        assert_eq!(BlobKey::new(&acme, segments).unwrap_err(), *expected, "{segments:?}");
    }
    let long = "x".repeat(256);
    assert_eq!(BlobKey::new(&acme, &["inputs", long.as_str()]).unwrap_err(), KeyError::SegmentTooLong);
    let many: Vec<String> = (0..10).map(|_| "y".repeat(120)).collect();
    assert_eq!(BlobKey::new(&acme, &many).unwrap_err(), KeyError::KeyTooLong);

    // A workspace path is split on '/', each piece checked.
    assert_eq!(BlobKey::workspace_file(&acme, "env_1", "src/../../globex").unwrap_err(), KeyError::DotSegment);
    assert_eq!(BlobKey::workspace_file(&acme, "env_1", "/etc/passwd").unwrap_err(), KeyError::EmptySegment);
    assert_eq!(BlobKey::workspace_file(&acme, "env_1", "src//a.py").unwrap_err(), KeyError::EmptySegment);
    assert_eq!(
        BlobKey::workspace_file(&acme, "env_1", "src/pkg/main.py").unwrap().as_str(),
        "tenants/acme/workspaces/env_1/src/pkg/main.py"
    );
}

#[test]
fn a_whole_key_parses_only_inside_its_tenant() {
    let acme = tenant("acme");
    let globex_key = "tenants/globex/inputs/inp_1/data.csv";
    assert!(BlobKey::parse(globex_key).is_ok());
    assert_eq!(BlobKey::parse_in(&acme, globex_key).unwrap_err(), KeyError::OtherTenant);
    let refused = [
        ("/tenants/acme/inputs/x", KeyError::NotTenantScoped),
        ("/etc/passwd", KeyError::NotTenantScoped),
        ("inputs/x", KeyError::NotTenantScoped),
        ("tenants/ACME/inputs/x", KeyError::NotTenantScoped),
        ("tenants/acme/../globex/inputs/x", KeyError::DotSegment),
        ("tenants/acme/inputs/x/", KeyError::EmptySegment),
        ("tenants/acme//x", KeyError::EmptySegment),
        ("tenants/acme/inputs/a\0b", KeyError::SeparatorOrControl),
        ("tenants/acme", KeyError::NoSegments),
    ];
    for (full, expected) in refused {
        assert_eq!(BlobKey::parse_in(&acme, full).unwrap_err(), expected, "{full:?}");
    }
    let key = BlobKey::parse_in(&acme, "tenants/acme/jobs/job_1/artifacts/out.json").unwrap();
    assert_eq!(key, BlobKey::job_artifact(&acme, "job_1", "out.json").unwrap());
    assert_eq!(key.tenant(), &acme);

    // A prefix is a tenant's too, and segment-checked like a key.
    assert_eq!(BlobPrefix::tenant(&acme).as_str(), "tenants/acme");
    assert_eq!(BlobPrefix::new(&acme, &[".."]).unwrap_err(), KeyError::DotSegment);
}
