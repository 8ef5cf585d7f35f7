//! `deploy/kubernetes/`: the manifests against the Kubernetes API schemas
//! with `kubernetes-validate` (PyPI; offline, strict: an unknown field is an
//! error), the ServiceMonitor (a CRD, which it has no schema for) against
//! the Service it selects, the kustomization against the directory, and the
//! ConfigMap's TOML read by the daemon.

use std::collections::BTreeSet;
use std::process::Command;

use msrp_test_support::TempDir;

use super::{BIN, read, repo, run, skipped, succeed, tool};

/// The manifests with a schema in `kubernetes-validate`, and the resource
/// each holds.
const CORE: [(&str, &str); 5] = [
    ("namespace.yaml", "namespace/msrp-switch"),
    ("configmap.yaml", "configmap/msrp-switch-config"),
    ("daemonset.yaml", "daemonset/msrp-switch"),
    ("service.yaml", "service/msrp-switch"),
    (
        "poddisruptionbudget.yaml",
        "poddisruptionbudget/msrp-switch",
    ),
];

/// The oldest Kubernetes the manifests are meant for, and the newest the
/// validator knows.
const VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

fn manifest(name: &str) -> String {
    read(&format!("deploy/kubernetes/{name}"))
}

/// The values of every `key: value` line of a YAML text, in order (quotes
/// removed): enough for the flat facts the checks below compare.
fn values<'a>(yaml: &'a str, key: &str) -> Vec<&'a str> {
    yaml.lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches("- ");
            let value = line.strip_prefix(key)?.strip_prefix(':')?.trim();
            Some(value.trim_matches('"'))
        })
        .collect()
}

/// The ConfigMap's `msrp-switch.toml`: its block scalar, unindented.
fn configmap_toml() -> String {
    let configmap = manifest("configmap.yaml");
    let (_, block) = configmap
        .split_once("  msrp-switch.toml: |\n")
        .expect("data.msrp-switch.toml is a block scalar");
    block
        .lines()
        .take_while(|line| line.starts_with("    ") || line.is_empty())
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect()
}

#[test]
fn the_manifests_pass_the_kubernetes_schemas() {
    let Some(validate) = tool("kubernetes-validate") else {
        skipped(
            "Kubernetes schemas",
            "kubernetes-validate is not installed (pip install kubernetes-validate; \
             .ci/run does)",
        );
        return;
    };
    let dir = repo().join("deploy/kubernetes");
    for version in VERSIONS {
        let output = run(Command::new(&validate)
            .current_dir(&dir)
            .args(["--strict", "--kubernetes-version", version])
            .args(CORE.map(|(file, _)| file)));
        let said = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "Kubernetes {version}:\n{said}");
        for (file, resource) in CORE {
            let passed = format!("{file} passed for resource {resource} against version");
            assert!(said.contains(&passed), "{passed:?} in\n{said}");
        }
    }
    skipped(
        "the ServiceMonitor's schema",
        "a CRD of the Prometheus Operator, not in kubernetes-validate; \
         the_service_monitor_and_kustomization_fit checks it against the Service",
    );

    // The validator is strict, not a no-op: a misspelt field fails.
    let broken = TempDir::new("deploy-kubernetes-broken");
    let daemonset = manifest("daemonset.yaml").replacen("hostNetwork:", "hostNetwrk:", 1);
    let file = broken.file("daemonset.yaml", &daemonset);
    let output = run(Command::new(&validate).args(["--strict", &file]));
    assert!(!output.status.success(), "a misspelt field passed");
    assert!(String::from_utf8_lossy(&output.stdout).contains("'hostNetwrk' was unexpected"));
}

#[test]
fn the_service_monitor_and_kustomization_fit() {
    // The kustomization takes every manifest of the directory.
    let kustomization = manifest("kustomization.yaml");
    let listed: BTreeSet<String> = kustomization
        .lines()
        .skip_while(|line| *line != "resources:")
        .skip(1)
        .take_while(|line| line.starts_with("  ") || line.trim().is_empty())
        .filter_map(|line| line.trim().strip_prefix("- "))
        .map(str::to_owned)
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);

    // One label ties them: the DaemonSet's pods carry it, the Service, the
    // PodDisruptionBudget and the ServiceMonitor select on it.
    let daemonset = manifest("daemonset.yaml");
    let service = manifest("service.yaml");
    let monitor = manifest("servicemonitor.yaml");
    for text in [
        &daemonset,
        &service,
        &monitor,
        &manifest("poddisruptionbudget.yaml"),
    ] {
        assert!(values(text, "app.kubernetes.io/name").contains(&"msrp-switch"));
    }
    // The ServiceMonitor scrapes the Service's port named metrics, which is
    // the container's metrics port; the control port is the container's too.
    assert_eq!(values(&monitor, "apiVersion"), ["monitoring.coreos.com/v1"]);
    assert_eq!(values(&monitor, "kind"), ["ServiceMonitor"]);
    assert_eq!(values(&monitor, "port"), ["metrics"]);
    assert_eq!(values(&monitor, "path"), ["/metrics"]);
    assert_eq!(values(&service, "name")[1..], ["control", "metrics"]);
    assert_eq!(values(&service, "targetPort"), ["control", "metrics"]);
    assert_eq!(values(&service, "clusterIP"), ["None"]);
    let container_ports = values(&daemonset, "name");
    for port in ["msrp", "msrps", "control", "metrics"] {
        assert!(container_ports.contains(&port), "container port {port}");
    }

    // The node's network and address, the probes, the drain.
    assert_eq!(values(&daemonset, "hostNetwork"), ["true"]);
    assert_eq!(values(&daemonset, "dnsPolicy"), ["ClusterFirstWithHostNet"]);
    assert_eq!(values(&daemonset, "fieldPath"), ["status.hostIP"]);
    assert!(
        daemonset.contains("- name: MSRP_SWITCH_ADVERTISE_HOST\n              value: $(HOST_IP)\n")
    );
    assert_eq!(values(&daemonset, "path"), ["/readyz", "/healthz"]);
    assert_eq!(values(&daemonset, "port"), ["metrics", "metrics"]);
    // The preStop hook runs the image's msrpctl.
    assert!(daemonset.contains("command: [\"/usr/local/bin/msrpctl\", \"drain\"]"));
    assert!(read("deploy/Containerfile").contains("msrpctl /usr/local/bin/"));
    let grace: f64 = values(&daemonset, "terminationGracePeriodSeconds")[0]
        .parse()
        .unwrap();
    let toml = configmap_toml();
    let drain: f64 = toml
        .lines()
        .find_map(|line| line.strip_prefix("drain_seconds = "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(grace > drain + 5.0, "grace {grace} s, drain {drain} s");
    // The spill directory is the emptyDir, and its quota fits in it.
    assert!(toml.contains("large_message_dir = \"/var/lib/msrp-switch\"\n"));
    assert!(values(&daemonset, "mountPath").contains(&"/var/lib/msrp-switch"));
    let quota: u64 = toml
        .lines()
        .find_map(|line| line.strip_prefix("large_message_disk_bytes = "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(values(&daemonset, "sizeLimit"), ["16Gi"]);
    assert!(quota < 16 << 30, "{quota}");
}

#[test]
fn the_configmap_settings_are_read_by_the_daemon() {
    let dir = TempDir::new("deploy-kubernetes-config");
    let config = dir.file("msrp-switch.toml", &configmap_toml());
    let daemonset = manifest("daemonset.yaml");
    // The file, with the DaemonSet's environment over it (the spill
    // directory is the pod's; here a directory of the test's).
    let spill = dir.path().to_str().unwrap();
    let effective = succeed(
        Command::new(BIN)
            .args(["--config", &config, "--print-config"])
            .env("MSRP_SWITCH_ADVERTISE_HOST", "192.0.2.7")
            .env("MSRP_SWITCH_LARGE_MESSAGE_DIR", spill),
    );
    for line in [
        "listen = \"0.0.0.0:2855\"".to_owned(),
        "control_listen = \"0.0.0.0:50051\"".to_owned(),
        "metrics_listen = \"0.0.0.0:9464\"".to_owned(),
        "advertise_host = \"192.0.2.7\"".to_owned(),
        "max_connections = 120000".to_owned(),
        "shards = 2".to_owned(),
        "pin_cores = false".to_owned(),
        format!("large_message_dir = \"{spill}\""),
    ] {
        assert!(
            effective.lines().any(|l| l == line),
            "{line} in\n{effective}"
        );
    }
    // The container ports are the listeners' ports.
    for port in ["2855", "2856", "50051", "9464"] {
        assert!(
            values(&daemonset, "containerPort").contains(&port),
            "{port}"
        );
        assert!(effective.contains(&format!(":{port}\"")), "{port}");
    }
}
