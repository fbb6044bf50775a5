//! Config deserialisation and validation errors (nothing gets installed by these).

use canopy_telemetry::{init, LogFormat, TelemetryConfig, TelemetryError};

#[test]
fn config_deserialises_with_defaults() {
    let cfg: TelemetryConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg, TelemetryConfig::default());
    assert_eq!(cfg.log_filter, "info");
    assert_eq!(cfg.log_format, LogFormat::Human);
    assert!(cfg.prometheus);
    assert!(cfg.otlp_endpoint.is_none());

    let cfg: TelemetryConfig = serde_json::from_str(
        r#"{"service_name":"api","log_format":"json","log_filter":"debug",
            "otlp_endpoint":"http://127.0.0.1:4318","prometheus":false}"#,
    )
    .unwrap();
    assert_eq!(cfg.service_name, "api");
    assert_eq!(cfg.log_format, LogFormat::Json);
    assert_eq!(cfg.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
    assert!(!cfg.prometheus);
    assert!(serde_json::from_str::<TelemetryConfig>(r#"{"log_format":"Json"}"#).is_err());
}

#[test]
fn invalid_settings_are_named_in_errors() {
    let err =
        init(&TelemetryConfig { otlp_endpoint: Some("xyz".to_owned()), ..TelemetryConfig::default() }).unwrap_err();
    assert!(matches!(err, TelemetryError::InvalidOtlpEndpoint { .. }));
    assert!(err.to_string().starts_with("invalid otlp_endpoint 'xyz': "), "{err}");

    let err = init(&TelemetryConfig { service_name: String::new(), ..TelemetryConfig::default() }).unwrap_err();
    assert!(err.to_string().starts_with("invalid service_name"), "{err}");

    if std::env::var_os("RUST_LOG").is_none() {
        let err =
            init(&TelemetryConfig { log_filter: "info,canopy=notalevel".to_owned(), ..TelemetryConfig::default() })
                .unwrap_err();
        assert!(err.to_string().starts_with("invalid log_filter 'info,canopy=notalevel': "), "{err}");
    }
    assert!(canopy_telemetry::prometheus_handle().is_none(), "failed init installs nothing");
}
