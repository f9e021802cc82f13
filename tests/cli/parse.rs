//! `scrub837 parse`: the loop tree with positions.

use crate::util::{data, run, s, sample, stdout};

fn tree(path: &std::path::Path) -> serde_json::Value {
    let out = run(&["parse", s(path)]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Depth-first list of (loop path, segment id, segment number, offset).
fn walk(node: &serde_json::Value, path: &str, out: &mut Vec<(String, String, u64, u64, bool)>) {
    let here = match node["type"].as_str() {
        Some("loop") => format!("{path}/{}", node["id"].as_str().unwrap()),
        _ => path.to_string(),
    };
    if node["type"] == "segment" {
        out.push((
            here.clone(),
            node["id"].as_str().unwrap().to_string(),
            node["segment"].as_u64().unwrap(),
            node["offset"].as_u64().unwrap(),
            node["unplaced"] == true,
        ));
    }
    for c in node["children"].as_array().into_iter().flatten() {
        walk(c, &here, out);
    }
}

#[test]
fn json_tree_places_every_segment_with_its_position() {
    let path = sample("837p-dependent-patient.edi");
    let v = tree(&path);
    assert_eq!(v["schema_version"], 1);
    assert!(v["findings"].as_array().unwrap().is_empty());
    let mut segs = Vec::new();
    walk(&v, "", &mut segs);
    let text = std::fs::read_to_string(&path).unwrap();
    // Every segment appears once, numbered 1.. in order, at its offset.
    let count = text.matches('~').count();
    assert_eq!(segs.len(), count);
    for (i, (_, id, n, off, unplaced)) in segs.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1);
        assert!(
            text[*off as usize..].starts_with(&format!("{id}*")),
            "{id} at {off}"
        );
        assert!(!unplaced);
    }
    // The dependent's claim sits in 2000C, the subscriber's own in 2000B.
    let clm: Vec<&String> = segs.iter().filter(|s| s.1 == "CLM").map(|s| &s.0).collect();
    assert!(
        clm.iter().any(|p| p.ends_with("/2000A/2000B/2300")),
        "{clm:?}"
    );
    assert!(
        clm.iter().any(|p| p.ends_with("/2000A/2000B/2000C/2300")),
        "{clm:?}"
    );
    let nm1_qc = segs
        .iter()
        .find(|s| s.1 == "NM1" && s.0.ends_with("2010CA"));
    assert!(nm1_qc.is_some());
}

#[test]
fn unplaced_segments_are_marked_and_findings_listed() {
    let v = tree(&data("segment-out-of-place.edi"));
    let mut segs = Vec::new();
    walk(&v, "", &mut segs);
    let zzz = segs.iter().find(|s| s.1 == "ZZZ").expect("ZZZ printed");
    assert!(zzz.4);
    assert_eq!(v["findings"][0]["rule"], "segment-out-of-place");
    assert_eq!(v["findings"][0]["segment"], zzz.2);
    assert_eq!(
        run(&["parse", s(&data("segment-out-of-place.edi"))])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn envelopes_nest_interchange_group_transaction() {
    let v = tree(&sample("837-two-groups.edi"));
    let ic = &v["children"][0];
    assert_eq!(ic["type"], "interchange");
    let groups: Vec<&serde_json::Value> = ic["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "group")
        .collect();
    assert_eq!(groups.len(), 2);
    let forms: Vec<&str> = groups
        .iter()
        .map(|g| g["children"][1]["form"].as_str().unwrap())
        .collect();
    assert_eq!(forms, ["837P", "837I"]);
    let last = ic["children"].as_array().unwrap().last().unwrap();
    assert_eq!(last["id"], "IEA");
    // ISA16 is not split into components.
    assert!(ic["children"][0]["elements"][15].is_string());
}

#[test]
fn text_tree_is_indented_by_loop() {
    let out = run(&["parse", "--format", "text", s(&sample("837i-clean.edi"))]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("interchange\n  ISA*"));
    let clm = text
        .lines()
        .find(|l| l.trim_start().starts_with("CLM*"))
        .unwrap();
    let loop_2300 = text
        .lines()
        .find(|l| l.trim_start().starts_with("loop 2300"))
        .unwrap();
    let indent = |l: &str| l.len() - l.trim_start().len();
    assert_eq!(indent(clm), indent(loop_2300) + 2);
    assert!(clm.contains("[segment "));
}

#[test]
fn not_x12_exits_2() {
    let out = run(&["parse", s(&data("not-x12.txt"))]);
    assert_eq!(out.status.code(), Some(2));
}
