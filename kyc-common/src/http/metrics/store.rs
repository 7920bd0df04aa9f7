//! A service's metric families and their series, registered with `prometheus-client` as one
//! collector, which renders them in either exposition format: the library writes both texts (names,
//! `_total`, `_bucket`/`_sum`/`_count`, escaping, `# EOF`), nothing here formats a sample.
//!
//! Families are kept by name (rendered in name order), series in the order they were first seen.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// A series' labels, in order: names are static, values may be computed once (a route, a code).
pub type Labels = Vec<(&'static str, Cow<'static, str>)>;

/// The exposition format of a rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    help: String,
    series: Vec<(Labels, Series)>,
}

#[derive(Debug)]
struct Families {
    buckets: Vec<f64>,
    by_name: RwLock<BTreeMap<&'static str, Family>>,
}

/// The families and the registry that renders them.
#[derive(Debug)]
pub struct Store {
    families: Arc<Families>,
    registry: Registry,
}

impl Store {
    /// An empty store whose histograms all use `buckets`.
    pub fn new(buckets: &[f64]) -> Self {
        let families = Arc::new(Families {
            buckets: buckets.to_vec(),
            by_name: RwLock::new(BTreeMap::new()),
        });
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Arc::clone(&families)));
        Store { families, registry }
    }

    /// Sets the help text of `name` (creating the family).
    pub fn describe(&self, name: &'static str, kind: Kind, help: &str) {
        let mut by_name = self.families.write();
        let family = by_name.entry(name).or_insert_with(|| Family::new(kind));
        family.help = help.to_owned();
    }

    /// The counter `name{labels}`, registered the first time.
    pub fn counter(&self, name: &'static str, labels: Labels) -> Counter {
        match self.series(name, Kind::Counter, labels, || {
            Series::Counter(Counter::default())
        }) {
            Series::Counter(c) => c,
            // A name described as another kind: a detached handle (counted, never rendered).
            _ => Counter::default(),
        }
    }

    /// The gauge `name{labels}`, registered the first time.
    pub fn gauge(&self, name: &'static str, labels: Labels) -> Gauge {
        match self.series(
            name,
            Kind::Gauge,
            labels,
            || Series::Gauge(Gauge::default()),
        ) {
            Series::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    /// The histogram `name{labels}` (the store's buckets), registered the first time.
    pub fn histogram(&self, name: &'static str, labels: Labels) -> Histogram {
        let buckets = self.families.buckets.clone();
        match self.series(name, Kind::Histogram, labels, || {
            Series::Histogram(Histogram::new(buckets))
        }) {
            Series::Histogram(h) => h,
            _ => Histogram::new(self.families.buckets.iter().copied()),
        }
    }

    /// A handle on the series (a clone sharing its value), made by `make` if it is new.
    fn series(
        &self,
        name: &'static str,
        kind: Kind,
        labels: Labels,
        make: impl FnOnce() -> Series,
    ) -> Series {
        let mut by_name = self.families.write();
        let family = by_name.entry(name).or_insert_with(|| Family::new(kind));
        if family.kind != kind {
            return make();
        }
        let at = match family.series.iter().position(|(l, _)| *l == labels) {
            Some(at) => at,
            None => {
                family.series.push((labels, make()));
                family.series.len() - 1
            }
        };
        match &family.series[at].1 {
            Series::Counter(c) => Series::Counter(c.clone()),
            Series::Gauge(g) => Series::Gauge(g.clone()),
            Series::Histogram(h) => Series::Histogram(h.clone()),
        }
    }

    /// Every family in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut text = String::new();
        // Writing to a `String` cannot fail; an encoder error would only truncate the text.
        let _ = match format {
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)
            }
        };
        text
    }
}

impl Family {
    fn new(kind: Kind) -> Self {
        Family {
            kind,
            help: String::new(),
            series: Vec::new(),
        }
    }
}

impl Families {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<&'static str, Family>> {
        self.by_name.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let by_name = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        for (name, family) in by_name.iter().filter(|(_, f)| !f.series.is_empty()) {
            let (name, metric_type) = match family.kind {
                // The library adds `_total` to a counter's samples (and, in 0.0.4, to its name).
                Kind::Counter => (
                    name.strip_suffix("_total").unwrap_or(name),
                    MetricType::Counter,
                ),
                Kind::Gauge => (*name, MetricType::Gauge),
                Kind::Histogram => (*name, MetricType::Histogram),
            };
            let mut metric = encoder.encode_descriptor(name, &family.help, None, metric_type)?;
            for (labels, series) in &family.series {
                let sample = metric.encode_family(labels)?;
                match series {
                    Series::Counter(c) => c.encode(sample)?,
                    Series::Gauge(g) => g.encode(sample)?,
                    Series::Histogram(h) => h.encode(sample)?,
                }
            }
        }
        Ok(())
    }
}
