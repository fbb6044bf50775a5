//! `metrics` macros end up in the Prometheus text, and a second `init` shares the registry.
//! (One test per file: the global subscriber and recorder are per process.)

use canopy_telemetry::{init, prometheus_handle, LogFormat, TelemetryConfig};

#[test]
fn counter_is_rendered_and_second_init_shares_the_registry() {
    assert!(prometheus_handle().is_none(), "nothing installed before init");

    let telemetry = init(&TelemetryConfig::default()).expect("init");
    metrics::counter!("canopy_test_total").increment(3);
    let text = telemetry.render_prometheus();
    assert!(text.lines().any(|l| l == "canopy_test_total 3"), "{text}");

    // A second init (another service in the same process) must not panic and must see the
    // same registry, even with a different config.
    let other = init(&TelemetryConfig {
        service_name: "canopy-other".to_owned(),
        log_format: LogFormat::Json,
        ..TelemetryConfig::default()
    })
    .expect("second init");
    metrics::counter!("canopy_test_total").increment(1);
    metrics::histogram!("canopy_test_duration_seconds", "op" => "x").record(0.02);
    for text in
        [telemetry.render_prometheus(), other.render_prometheus(), prometheus_handle().expect("handle").render()]
    {
        assert!(text.lines().any(|l| l == "canopy_test_total 4"), "{text}");
        // `_seconds` histograms get buckets (aggregatable), not summary quantiles.
        assert!(text.contains("canopy_test_duration_seconds_bucket{op=\"x\",le=\"0.025\"} 1"), "{text}");
    }
    tracing::info!("logging still works after a second init");

    other.shutdown();
    drop(telemetry);
    // The registry outlives the handles.
    assert!(prometheus_handle().unwrap().render().contains("canopy_test_total 4"));
}
