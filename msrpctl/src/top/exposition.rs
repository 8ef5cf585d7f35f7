//! The Prometheus text exposition format (0.0.4), as the daemon's `/metrics`
//! writes it for `Accept: text/plain`: samples by name and labels, which is all
//! `top` reads. `# HELP` and `# TYPE` lines are skipped; a histogram is its
//! `_bucket`, `_sum` and `_count` samples.

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (a counter's carries its `_total`).
    pub name: String,
    /// The labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

impl Sample {
    /// The value of `label`, if the sample has it.
    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(name, _)| name == label)
            .map(|(_, value)| value.as_str())
    }
}

/// Every sample of one scrape, in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses a whole scrape.
    ///
    /// # Errors
    ///
    /// The first line that is not a comment, blank or a sample, with its number:
    /// a page that is not Prometheus text is better refused than half read.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut samples = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line).ok_or_else(|| {
                let shown: String = line.chars().take(80).collect();
                format!("line {} is not a Prometheus sample: {shown:?}", index + 1)
            })?;
            samples.push(sample);
        }
        Ok(Self { samples })
    }

    /// The samples named `name`, in the order written.
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |sample| sample.name == name)
    }

    /// The first sample named `name` that has every label of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples(name)
            .find(|sample| {
                labels
                    .iter()
                    .all(|(label, value)| sample.label(label) == Some(*value))
            })
            .map(|sample| sample.value)
    }

    /// The sum of the samples named `name` whose labels pass `keep`; `None`
    /// when there is no such sample.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&Sample) -> bool) -> Option<f64> {
        self.samples(name)
            .filter(|sample| keep(sample))
            .map(|sample| sample.value)
            .reduce(|a, b| a + b)
    }

    /// The sum of every sample named `name` (all label values).
    pub fn sum(&self, name: &str) -> Option<f64> {
        self.sum_where(name, |_| true)
    }

    /// A histogram's cumulative buckets `(le, count)`, by increasing bound, the
    /// `+Inf` bucket last.
    pub fn buckets(&self, histogram: &str) -> Vec<(f64, f64)> {
        let name = format!("{histogram}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .samples(&name)
            .filter_map(|sample| Some((parse_value(sample.label("le")?)?, sample.value)))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// One sample line, or `None` if it is malformed.
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    // The value, then an optional timestamp that `top` does not need.
    let value = parse_value(rest.split_ascii_whitespace().next()?)?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels after `{`, up to and including `}`; returns them and the rest of
/// the line. Values are quoted, with `\\`, `\"` and `\n` escaped.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after) = text.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (at, '"') => break at,
                (_, other) => value.push(other),
            }
        };
        labels.push((name.trim().to_owned(), value));
        // `end` is the closing quote's offset in `after` less the opening one.
        text = after.get(end + 2..)?.trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// A sample value or `le` bound: a float, or `+Inf`, `-Inf`, `NaN`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "\
# HELP msrp_switch_sessions Open sessions, by kind.
# TYPE msrp_switch_sessions gauge
msrp_switch_sessions{kind=\"one_to_one\"} 3
msrp_switch_sessions{kind=\"group\"} 1
msrp_switch_frames_received_total{method=\"SEND\"} 120
msrp_switch_frames_received_total{method=\"response\"} 80
msrp_switch_forward_latency_seconds_bucket{le=\"0.001\"} 4
msrp_switch_forward_latency_seconds_bucket{le=\"+Inf\"} 6
msrp_switch_forward_latency_seconds_bucket{le=\"1e-5\"} 1
msrp_switch_forward_latency_seconds_sum 0.25
odd{a=\"x\\\"y, }\",b=\"\\\\\"} 1.5e3 1700000000000
process_cpu_seconds_total 0.75
";

    #[test]
    fn samples_are_found_by_name_and_labels() {
        let scrape = Exposition::parse(SCRAPE).unwrap();
        assert_eq!(
            scrape.value("msrp_switch_sessions", &[("kind", "group")]),
            Some(1.0)
        );
        assert_eq!(scrape.sum("msrp_switch_sessions"), Some(4.0));
        assert_eq!(
            scrape.sum_where("msrp_switch_frames_received_total", |s| {
                s.label("method") == Some("SEND")
            }),
            Some(120.0)
        );
        assert_eq!(scrape.value("process_cpu_seconds_total", &[]), Some(0.75));
        assert_eq!(scrape.sum("absent"), None);
        // Escapes in label values, a timestamp after the value.
        assert_eq!(
            scrape.value("odd", &[("a", "x\"y, }"), ("b", "\\")]),
            Some(1500.0)
        );
    }

    #[test]
    fn buckets_come_sorted_with_inf_last() {
        let scrape = Exposition::parse(SCRAPE).unwrap();
        assert_eq!(
            scrape.buckets("msrp_switch_forward_latency_seconds"),
            [(1e-5, 1.0), (0.001, 4.0), (f64::INFINITY, 6.0)]
        );
    }

    #[test]
    fn a_page_that_is_not_prometheus_text_is_refused() {
        let err = Exposition::parse("# fine\n<html>\n").unwrap_err();
        assert_eq!(err, "line 2 is not a Prometheus sample: \"<html>\"");
        assert!(Exposition::parse("x{a=\"unterminated} 1").is_err());
        assert!(Exposition::parse("x 1 2\ny{} 3").is_ok());
    }
}
