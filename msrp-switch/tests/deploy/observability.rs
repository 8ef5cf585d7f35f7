//! `deploy/prometheus/` and `deploy/grafana/`: the alert rules through
//! promtool (`check rules`, `test rules` on `alerts_test.yml`, `check
//! config`), and every metric the rules and the dashboard's queries name
//! found in a real scrape of the daemon, so neither can drift from what the
//! daemon exports.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use super::{exported_metrics, msrp_switch_names, read, repo, run, skipped, succeed, tool};

/// Series Prometheus makes itself rather than scrapes.
const SYNTHETIC: [&str; 1] = ["up"];

#[test]
fn promtool_checks_and_tests_the_alert_rules() {
    let Some(promtool) = tool("promtool") else {
        skipped(
            "promtool",
            "promtool is not installed (apt-get install -y prometheus; .ci/run does)",
        );
        return;
    };
    let dir = repo().join("deploy/prometheus");
    let checked =
        succeed(
            Command::new(&promtool)
                .current_dir(&dir)
                .args(["check", "rules", "alerts.yml"]),
        );
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = succeed(Command::new(&promtool).current_dir(&dir).args([
        "test",
        "rules",
        "alerts_test.yml",
    ]));
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a unit test.
    let rules = read("deploy/prometheus/alerts.yml");
    let alerts: BTreeSet<&str> = rule_names(&rules, "- alert: ");
    let test_file = read("deploy/prometheus/alerts_test.yml");
    let tested: BTreeSet<&str> = rule_names(&test_file, "alertname: ");
    assert_eq!(alerts, tested);

    // The scrape configs (and the rule files they load).
    let config = succeed(Command::new(&promtool).current_dir(&dir).args([
        "check",
        "config",
        "prometheus.yml",
    ]));
    assert!(config.contains("SUCCESS"), "{config}");
    let kubernetes = run(Command::new(&promtool).current_dir(&dir).args([
        "check",
        "config",
        "prometheus-kubernetes.yml",
    ]));
    let said = String::from_utf8_lossy(&kubernetes.stdout).into_owned()
        + &String::from_utf8_lossy(&kubernetes.stderr);
    if said.contains("field kubernetes_sd_configs not found") {
        skipped(
            "promtool check config prometheus-kubernetes.yml",
            "this promtool is built without Kubernetes service discovery (Debian's is)",
        );
    } else {
        assert!(kubernetes.status.success(), "{said}");
    }
}

/// The names after `key` on each line of `text` that has it.
fn rule_names<'a>(text: &'a str, key: &str) -> BTreeSet<&'a str> {
    text.lines()
        .filter_map(|line| Some(line.split_once(key)?.1.trim()))
        .collect()
}

/// The metric names a PromQL expression selects: its identifiers, less
/// function names (followed by `(`), keywords, and what label matchers
/// `{…}`, ranges `[…]`, grouping lists `by (…)` and strings hold.
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    // Operators, and aggregations written before their grouping
    // (`sum by (x) (…)`).
    const KEYWORDS: [&str; 23] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening bracket to its match.
    let skip = |mut i: usize, open: char, close: char| {
        let mut depth = 0;
        while i < chars.len() {
            if chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            } else if chars[i] == open {
                depth += 1;
            } else if chars[i] == close {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip(i, '{', '}');
        } else if c == '[' {
            i = skip(i, '[', ']');
        } else if c == '"' {
            i = skip(i, '"', '"');
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) && call {
                i = skip(next, '(', ')');
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every query of the dashboard: each panel's targets (rows' panels too)
/// and the template variables', with the panel's title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn panels(list: &Value, out: &mut Vec<(String, String)>) {
        for panel in list.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push((title.clone(), target["expr"].as_str().unwrap().to_owned()));
            }
            panels(&panel["panels"], out);
        }
    }
    let mut queries = Vec::new();
    panels(&dashboard["panels"], &mut queries);
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map_or(query, |(selector, _)| selector);
            queries.push((format!("${}", variable["name"]), inner.to_owned()));
        }
    }
    queries
}

#[test]
fn promql_names_are_the_selected_series() {
    let names = promql_metrics(
        "sum by (method) (rate(msrp_switch_frames_received_total{job=\"msrp-switch\", \
         instance=~\"$instance\"}[$__rate_interval])) / on(instance) group_left up > 0.5e3",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["msrp_switch_frames_received_total", "up"]
    );
}

#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_name_is_exported() {
    let exported = exported_metrics().await;

    // alerts.yml and its tests' input series: the switch's own metrics,
    // msrp_switch_* and process_* (the others, up, probe_success and
    // kube_pod_status_ready, come from Prometheus, the blackbox exporter and
    // kube-state-metrics).
    let rules = read("deploy/prometheus/alerts.yml");
    let text = rules.clone() + &read("deploy/prometheus/alerts_test.yml");
    let mut used = msrp_switch_names(&text, "msrp_switch_");
    used.extend(msrp_switch_names(&text, "process_"));
    assert!(used.len() >= 10, "{used:?}");
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "alerts name metrics the daemon does not export: {missing:?}"
    );
    for family in [
        "msrp_switch_transaction_timeouts_total",
        "msrp_switch_slow_consumer_drops_total",
        "msrp_switch_queue_bytes",
        "msrp_switch_tls_handshake_failures_total",
        "msrp_switch_connections",
        "msrp_switch_connections_refused_total",
        "msrp_switch_large_message_failures_total",
    ] {
        assert!(rules.contains(family), "no alert on {family}");
    }

    // Every metric every panel queries.
    let dashboard: Value = serde_json::from_str(&read("deploy/grafana/msrp-switch.json")).unwrap();
    let queries = dashboard_queries(&dashboard);
    let mut queried = BTreeSet::new();
    for (panel, expr) in &queries {
        let names = promql_metrics(expr);
        assert!(!names.is_empty(), "{panel}: no metric in {expr}");
        for name in names {
            assert!(
                exported.contains(&name) || SYNTHETIC.contains(&name.as_str()),
                "panel {panel:?} queries {name}, which the daemon does not export ({expr})"
            );
            queried.insert(name);
        }
    }
    // What the dashboard is for: throughput, latency, deliveries, sessions
    // by kind, queues, errors by status, connections, TLS.
    for family in [
        "msrp_switch_forward_latency_seconds_bucket",
        "msrp_switch_response_latency_seconds_bucket",
        "msrp_switch_frames_received_total",
        "msrp_switch_frames_sent_total",
        "msrp_switch_received_bytes_total",
        "msrp_switch_sent_bytes_total",
        "msrp_switch_large_message_deliveries_total",
        "msrp_switch_sessions",
        "msrp_switch_participants",
        "msrp_switch_queue_bytes",
        "msrp_switch_responses_sent_total",
        "msrp_switch_connections",
        "msrp_switch_tls_handshakes_total",
        "msrp_switch_tls_handshake_failures_total",
    ] {
        assert!(queried.contains(family), "no panel queries {family}");
    }
    // Panels sit on the 24-column grid without overlapping.
    let mut cells = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let grid = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| grid[k].as_u64().unwrap());
        assert!(x + w <= 24, "{}", panel["title"]);
        for cell in (x..x + w).flat_map(|cx| (y..y + h).map(move |cy| (cx, cy))) {
            assert!(
                cells.insert(cell),
                "{} overlaps another panel",
                panel["title"]
            );
        }
    }
}
