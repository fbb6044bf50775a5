//! Call records on their way to the LOGS stream (`canopy_bus::calls::record`): every record
//! queued reaches its tenant's subject exactly once, records queued together leave together
//! (fewer messages than records), and `records_sent` returns once they have all left.

use canopy_bus::Bus;
use canopy_mcp::call::{CallRecord, CallRecords};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

fn record(tenant: &str, n: usize) -> CallRecord {
    CallRecord {
        call_id: format!("{tenant}-{n}"),
        tenant: tenant.to_string(),
        server: "fx".into(),
        method: "tools/call".into(),
        target: "echo".into(),
        principal: "p".into(),
        outcome: CallRecord::OK.into(),
        error_code: None,
        is_error: false,
        arguments_sha256: None,
        latency_us: 1,
        at: "2026-12-07T00:00:00Z".into(),
    }
}

#[tokio::test]
async fn queued_records_reach_their_tenants_subjects_once_and_together() {
    let bus = Bus::connect(&canopy_testkit::nats_url(), &canopy_testkit::unique("t"), "test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    let mut seen = bus.client.subscribe(bus.subjects.log("toolcalls", "*")).await.unwrap();
    bus.client.flush().await.unwrap();

    // A lone record leaves as it is (what processes before batching sent, too).
    canopy_bus::calls::record(&bus, record("alpha", 0));
    canopy_bus::calls::records_sent(&bus).await;
    let first = tokio::time::timeout(Duration::from_secs(5), seen.next()).await.unwrap().unwrap();
    let lone: CallRecord = serde_json::from_slice(&first.payload).expect("a lone record is one object");
    assert_eq!((lone.call_id.as_str(), first.subject.as_str().ends_with(".alpha")), ("alpha-0", true));

    // 600 records of two tenants queued at once.
    for n in 1..=300 {
        canopy_bus::calls::record(&bus, record("alpha", n));
        canopy_bus::calls::record(&bus, record("beta", n));
    }
    canopy_bus::calls::records_sent(&bus).await;
    let mut by_tenant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut messages = 0;
    while by_tenant.values().map(Vec::len).sum::<usize>() < 600 {
        let message = tokio::time::timeout(Duration::from_secs(5), seen.next()).await.unwrap().unwrap();
        messages += 1;
        let records: CallRecords = serde_json::from_slice(&message.payload).unwrap();
        for r in records.into_vec() {
            assert!(
                message.subject.as_str().ends_with(&format!(".{}", r.tenant)),
                "{} on {}",
                r.call_id,
                message.subject
            );
            by_tenant.entry(r.tenant.clone()).or_default().push(r.call_id);
        }
    }
    for (tenant, ids) in &by_tenant {
        let expected: Vec<String> = (1..=300).map(|n| format!("{tenant}-{n}")).collect();
        assert_eq!(ids, &expected, "each record once, in order");
    }
    assert!(messages < 600 / 10, "records queued together leave together: {messages} messages for 600 records");
    assert!(tokio::time::timeout(Duration::from_millis(300), seen.next()).await.is_err(), "nothing more");
}
