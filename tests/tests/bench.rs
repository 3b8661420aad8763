//! `chatly bench --quick` runs end to end and reports every figure with its baseline, and the
//! issue's targets where they apply. It asserts that the benchmark works, never how fast anything
//! is: a target's verdict is checked to be there, not to be met.

use std::process::Command;

use chatly_tests::netns::chatly_bin;
use serde_json::Value;

#[test]
fn the_quick_benchmark_reports_every_figure() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("bench.json");
    let status = Command::new(chatly_bin()?)
        .args(["bench", "--quick", "--out"])
        .arg(&out)
        .status()?;
    assert!(status.success(), "chatly bench exited with {status}");
    let report: Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    assert_eq!(report["quick"], true);
    let figures = report["figures"].as_array().expect("figures");
    let cases: Vec<&str> = figures.iter().filter_map(|f| f["case"].as_str()).collect();
    for expected in [
        "300 messages from 1 peer",
        "300 messages from 2 peers",
        "2 MiB from 1 holder",
        "2 MiB from 3 holders",
        "2 nodes, public room, p50",
        "10 nodes, encrypted group, p99",
        "public room, delivered to 3 nodes",
        "2 nodes, encrypted group, delivered to the other node",
        "2 nodes, encrypted group, 16 in flight, delivered to the other node",
        "encrypted group, accepted by one node",
        "6 nodes, encrypted group, delivered to 5 nodes",
        "history page at 5000, p99",
        "search at 5000, p99",
        "start-up to ready",
        "idle node, resident memory",
        "3-node mesh under load, CPU per node",
        "6-node mesh, time to converge",
        "6-node mesh, delivery p99",
        "20 WebSockets, 1000 posts/s offered by 20 accounts for 3 s: accepted",
        "20 WebSockets, 1000 posts/s offered by 20 accounts for 3 s: messages every socket received",
        "20 WebSockets, 1000 posts/s offered by 20 accounts for 3 s: memory growth after warm-up",
        "A to C through B under a flood, p99",
    ] {
        assert!(
            cases.contains(&expected),
            "no figure for {expected}: {cases:?}"
        );
    }
    // The targets are judged where a figure is measured at the target's size, and only
    // there: met or not, the verdict is in the report (a smaller store is not held to them).
    let figure = |case: &str| {
        figures
            .iter()
            .find(|f| f["case"] == case)
            .unwrap_or_else(|| panic!("no figure for {case}"))
    };
    for judged in [
        "2 nodes, public room, p50",
        "2 nodes, encrypted group, p99",
        "10 nodes, encrypted group, p99",
        "2 nodes, encrypted group, delivered to the other node",
        "start-up to ready",
        "idle node, resident memory",
    ] {
        let target = &figure(judged)["target"];
        assert!(
            target["what"].is_string() && target["met"].is_boolean(),
            "{judged}: {target}"
        );
    }
    for unjudged in [
        "history page at 5000, p99",
        "300 messages from 1 peer",
        "2 nodes, public room, delivered to the other node",
    ] {
        assert!(figure(unjudged)["target"].is_null(), "{unjudged}");
    }
    for figure in figures {
        let value = figure["value"].as_f64().expect("a value");
        assert!(value.is_finite() && value >= 0.0, "{figure}");
        if figure["baseline"].is_number() {
            assert!(
                figure["ratio"].as_f64().is_some_and(f64::is_finite),
                "{figure}"
            );
        }
    }
    Ok(())
}
