//! The process-wide `metrics` recorder: a small fan-out that sends every `counter!`, `gauge!`
//! and `histogram!` to the Prometheus registry and, when OTLP is configured, to OpenTelemetry
//! instruments of the same name, with the metric's labels as attributes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::PrometheusRecorder;
use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;

/// Forwards to the Prometheus recorder and/or the OpenTelemetry bridge.
#[derive(Debug)]
pub(crate) struct FanoutRecorder {
    prometheus: Option<PrometheusRecorder>,
    otel: Option<OtelBridge>,
}

impl FanoutRecorder {
    pub(crate) fn new(prometheus: Option<PrometheusRecorder>, meter: Option<Meter>) -> Self {
        Self { prometheus, otel: meter.map(OtelBridge::new) }
    }
}

impl Recorder for FanoutRecorder {
    // Descriptions and units become Prometheus HELP lines; OpenTelemetry instruments are
    // created without them (they may be described after first use, and a later description
    // would conflict with the instrument already created).
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(p) = &self.prometheus {
            p.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(p) = &self.prometheus {
            p.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(p) = &self.prometheus {
            p.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let prom = || self.prometheus.as_ref().map(|p| p.register_counter(key, metadata));
        match &self.otel {
            None => prom().unwrap_or_else(Counter::noop),
            Some(otel) => Counter::from_arc(get_or_insert(&otel.counters, key, || BridgedCounter {
                prom: prom(),
                otel: otel.meter.u64_counter(key.name().to_owned()).build(),
                attrs: attributes(key),
                total: AtomicU64::new(0),
            })),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let prom = || self.prometheus.as_ref().map(|p| p.register_gauge(key, metadata));
        match &self.otel {
            None => prom().unwrap_or_else(Gauge::noop),
            Some(otel) => Gauge::from_arc(get_or_insert(&otel.gauges, key, || BridgedGauge {
                prom: prom(),
                otel: otel.meter.f64_gauge(key.name().to_owned()).build(),
                attrs: attributes(key),
                value: Mutex::new(0.0),
            })),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let prom = || self.prometheus.as_ref().map(|p| p.register_histogram(key, metadata));
        match &self.otel {
            None => prom().unwrap_or_else(Histogram::noop),
            Some(otel) => Histogram::from_arc(get_or_insert(&otel.histograms, key, || BridgedHistogram {
                prom: prom(),
                otel: otel.meter.f64_histogram(key.name().to_owned()).build(),
                attrs: attributes(key),
            })),
        }
    }
}

/// OpenTelemetry side of the fan-out. The `metrics` macros register on every call, so bridged
/// handles are cached per key (name + labels) to keep the hot path to one read lock.
#[derive(Debug)]
struct OtelBridge {
    meter: Meter,
    counters: Cache<BridgedCounter>,
    gauges: Cache<BridgedGauge>,
    histograms: Cache<BridgedHistogram>,
}

type Cache<T> = RwLock<HashMap<Key, Arc<T>>>;

impl OtelBridge {
    fn new(meter: Meter) -> Self {
        Self { meter, counters: RwLock::default(), gauges: RwLock::default(), histograms: RwLock::default() }
    }
}

fn get_or_insert<K: Eq + Hash + Clone, T>(
    cache: &RwLock<HashMap<K, Arc<T>>>,
    key: &K,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    if let Some(found) = cache.read().unwrap_or_else(PoisonError::into_inner).get(key) {
        return Arc::clone(found);
    }
    let mut cache = cache.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(cache.entry(key.clone()).or_insert_with(|| Arc::new(make())))
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels().map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned())).collect()
}

#[derive(Debug)]
struct BridgedCounter {
    prom: Option<Counter>,
    otel: opentelemetry::metrics::Counter<u64>,
    attrs: Vec<KeyValue>,
    /// Running total, so `absolute` can be turned into the increment an OTel counter needs.
    total: AtomicU64,
}

impl CounterFn for BridgedCounter {
    fn increment(&self, value: u64) {
        if let Some(p) = &self.prom {
            p.increment(value);
        }
        self.total.fetch_add(value, Ordering::Relaxed);
        self.otel.add(value, &self.attrs);
    }

    fn absolute(&self, value: u64) {
        if let Some(p) = &self.prom {
            p.absolute(value);
        }
        let previous = self.total.fetch_max(value, Ordering::Relaxed);
        if value > previous {
            self.otel.add(value - previous, &self.attrs);
        }
    }
}

#[derive(Debug)]
struct BridgedGauge {
    prom: Option<Gauge>,
    otel: opentelemetry::metrics::Gauge<f64>,
    attrs: Vec<KeyValue>,
    /// Current value (OTel gauges only record absolute values); the lock keeps concurrent
    /// updates from being recorded out of order.
    value: Mutex<f64>,
}

impl BridgedGauge {
    fn update(&self, f: impl FnOnce(f64) -> f64) {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        *value = f(*value);
        self.otel.record(*value, &self.attrs);
    }
}

impl GaugeFn for BridgedGauge {
    fn increment(&self, delta: f64) {
        if let Some(p) = &self.prom {
            p.increment(delta);
        }
        self.update(|v| v + delta);
    }

    fn decrement(&self, delta: f64) {
        if let Some(p) = &self.prom {
            p.decrement(delta);
        }
        self.update(|v| v - delta);
    }

    fn set(&self, value: f64) {
        if let Some(p) = &self.prom {
            p.set(value);
        }
        self.update(|_| value);
    }
}

#[derive(Debug)]
struct BridgedHistogram {
    prom: Option<Histogram>,
    otel: opentelemetry::metrics::Histogram<f64>,
    attrs: Vec<KeyValue>,
}

impl HistogramFn for BridgedHistogram {
    fn record(&self, value: f64) {
        if let Some(p) = &self.prom {
            p.record(value);
        }
        self.otel.record(value, &self.attrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    #[test]
    fn fans_out_to_prometheus_with_and_without_bridge() {
        for with_otel in [false, true] {
            let prom = PrometheusBuilder::new().build_recorder();
            let handle = prom.handle();
            let provider = SdkMeterProvider::builder().build();
            let meter = with_otel.then(|| provider.meter("test"));
            let recorder = FanoutRecorder::new(Some(prom), meter);
            metrics::with_local_recorder(&recorder, || {
                metrics::counter!("c_total", "k" => "v").increment(2);
                metrics::counter!("c_total", "k" => "v").increment(3);
                metrics::counter!("c_total", "k" => "v").absolute(10);
                metrics::gauge!("g").set(4.0);
                metrics::gauge!("g").decrement(1.5);
                metrics::histogram!("h").record(1.0);
            });
            let text = handle.render();
            assert!(text.contains("c_total{k=\"v\"} 10"), "{text}");
            assert!(text.contains("g 2.5"), "{text}");
            assert!(text.contains("h_count 1"), "{text}");
        }
    }
}
