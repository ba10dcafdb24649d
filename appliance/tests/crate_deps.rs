//! The crate graph enforces the architecture's invariants: Arrow and
//! Parquet only in the sink, rustls, hickory and hyper only in the probes, anyhow
//! only in binaries, plotters only in the report, tokio never in the
//! datapath. Read from `cargo metadata`, so a dependency added anywhere else
//! fails this test.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Which workspace packages may name a dependency whose name starts with
/// a prefix as a normal (non-dev) dependency.
const RULES: &[(&str, &[&str])] = &[
    ("arrow", &["tapscope-sink", "tapscope-bench"]),
    ("parquet", &["tapscope-sink", "tapscope-bench"]),
    ("rustls", &["tapscope-probe"]),
    ("tokio-rustls", &["tapscope-probe"]),
    ("hickory", &["tapscope-probe"]),
    ("x509-parser", &["tapscope-probe"]),
    ("hyper", &["tapscope-probe"]),
    ("http-body", &["tapscope-probe"]),
    // Captures are read by datapath's own reader; pcap-parser is only the
    // benchmark's yardstick (bench/src/bin/pcap_reader_bench.rs).
    ("pcap-parser", &["tapscope-bench"]),
    ("anyhow", &["tapscope", "tapscope-bench"]),
    ("clap", &["tapscope", "tapscope-bench"]),
    ("tracing-subscriber", &["tapscope"]),
    ("tokio", &["tapscope", "tapscope-probe", "tapscope-control"]),
    // The lab's WebDriver client; never on the packet or control path.
    ("ureq", &["tapscope-lab"]),
    // Charts are drawn by the report crate only; it reads the tables
    // through the sink (`sink::read`), so it has no Arrow of its own.
    ("plotters", &["tapscope-report"]),
];

/// Every normal dependency of every workspace package in `metadata` that
/// breaks a rule: (package, dependency).
fn violations(metadata: &Value) -> Vec<(String, String)> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut bad = Vec::new();
    for pkg in metadata["packages"].as_array().expect("packages") {
        let id = pkg["id"].as_str().unwrap_or_default();
        if !members.contains(&id) {
            continue;
        }
        let name = pkg["name"].as_str().unwrap_or_default();
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            if dep["kind"].as_str().is_some_and(|k| k == "dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap_or_default();
            for (prefix, allowed) in RULES {
                if rule_matches(prefix, dep_name) && !allowed.contains(&name) {
                    bad.push((name.to_string(), dep_name.to_string()));
                }
            }
        }
    }
    bad
}

/// `arrow` covers `arrow-array` and friends; `tokio` does not cover
/// `tokio-rustls` (that has its own rule).
fn rule_matches(prefix: &str, dep: &str) -> bool {
    if prefix == "tokio" {
        return dep == "tokio";
    }
    dep == prefix || dep.starts_with(&format!("{prefix}-"))
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
}

#[test]
fn only_the_allowed_crates_depend_on_guarded_libraries() {
    let md = metadata();
    let bad = violations(&md);
    assert!(
        bad.is_empty(),
        "dependencies that break ARCHITECTURE.md's crate rules (package, dependency): {bad:?}"
    );
    // The rules are about real packages: each allowed crate exists.
    let names: Vec<&str> = md["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for (_, allowed) in RULES {
        for a in *allowed {
            assert!(
                names.contains(a),
                "rule names {a}, which is not in the workspace"
            );
        }
    }
}

#[test]
fn datapath_has_no_runtime_or_file_format_dependency() {
    let md = metadata();
    let datapath = md["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "datapath")
        .expect("datapath package");
    let deps: BTreeMap<&str, &str> = datapath["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap(),
                d["kind"].as_str().unwrap_or("normal"),
            )
        })
        .collect();
    for forbidden in ["tokio", "arrow", "parquet", "anyhow", "serde_json"] {
        assert!(
            deps.get(forbidden).is_none_or(|k| *k == "dev"),
            "datapath depends on {forbidden}"
        );
    }
}

#[test]
fn the_guard_catches_a_dependency_added_elsewhere() {
    // The workspace's own metadata with parquet added to the classifier
    // and anyhow to the sink: both must be reported.
    let mut md = metadata();
    for pkg in md["packages"].as_array_mut().unwrap() {
        let extra = match pkg["name"].as_str() {
            Some("tapscope-classify") => "parquet",
            Some("tapscope-sink") => "anyhow",
            _ => continue,
        };
        pkg["dependencies"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "name": extra, "kind": null }));
    }
    let bad = violations(&md);
    assert!(bad.contains(&("tapscope-classify".into(), "parquet".into())));
    assert!(bad.contains(&("tapscope-sink".into(), "anyhow".into())));
    assert_eq!(bad.len(), 2, "{bad:?}");
}
