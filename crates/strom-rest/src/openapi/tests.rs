//! The checked-in document is the generated one, and every documented operation is served.

use super::{document, to_text, Answer};
use crate::api::operations;
use crate::test_server::{http_call, Server};
use std::collections::BTreeSet;
use std::io::{Read, Write};

const CHECKED_IN: &str = include_str!("../../openapi.json");

#[test]
fn the_checked_in_document_is_the_generated_one() {
    let generated = to_text(&document(&operations()));
    if std::env::var_os("STROM_WRITE_OPENAPI").is_some_and(|v| v == "1") {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        std::fs::write(path, &generated).unwrap();
        return;
    }
    assert!(
        generated == CHECKED_IN,
        "crates/strom-rest/openapi.json is out of date: rewrite it with \
         STROM_WRITE_OPENAPI=1 cargo nextest run --workspace -E 'test(/^openapi::/)'"
    );
}

#[test]
fn the_document_names_every_operation_once_with_flinks_schemas() {
    let ops = operations();
    // 62 operations when the document moved from a Python script to the routes
    assert!(ops.len() >= 62, "{}", ops.len());
    let mut seen = BTreeSet::new();
    for op in &ops {
        assert!(
            seen.insert((op.method, op.path.clone())),
            "{} {} twice",
            op.method,
            op.path
        );
        assert!(!op.doc.summary.is_empty(), "{} {}", op.method, op.path);
        if let Answer::Flink(f) = &op.doc.answer {
            let schema: serde_json::Value = serde_json::from_str(f.text)
                .unwrap_or_else(|e| panic!("{} {}: {e}", op.method, op.path));
            assert!(schema["type"].is_string(), "{} {}", op.method, op.path);
        }
    }
    let doc = document(&ops);
    assert_eq!(doc["openapi"], "3.0.3");
    // path parameters as Flink names them, ids as 32 hex digits
    let job = &doc["paths"]["/jobs/{jobid}"]["get"]["parameters"][0];
    assert_eq!(job["name"], "jobid");
    assert_eq!(job["schema"]["pattern"], "^[0-9a-fA-F]{32}$");
    let tm = &doc["paths"]["/taskmanagers/{taskmanagerid}/log"]["get"];
    assert_eq!(tm["parameters"][0]["name"], "taskmanagerid");
    assert!(tm["responses"]["503"].is_object(), "{tm}");
    // a mutating call needs the token; a body may be too large
    let sql = &doc["paths"]["/sql"]["post"];
    for code in ["202", "401", "413", "415"] {
        assert!(sql["responses"][code].is_object(), "{code}: {sql}");
    }
    assert_eq!(sql["requestBody"]["required"], true);
}

/// The status and `Allow` header of `method path` without a body.
fn allow(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, BTreeSet<String>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let methods = out
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("allow").then_some(v)
        })
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty() && m != "head")
        .collect();
    (status, methods)
}

#[test]
fn every_documented_path_is_served_with_exactly_its_documented_methods() {
    let s = Server::start(1, &[]);
    let ops = operations();
    let paths: BTreeSet<&str> = ops.iter().map(|o| o.path.as_str()).collect();
    for path in paths {
        let documented: BTreeSet<String> = ops
            .iter()
            .filter(|o| o.path == path)
            .map(|o| o.method.to_string())
            .collect();
        let concrete: Vec<String> = path
            .split('/')
            .map(|seg| match seg {
                "{jobid}" | "{vertexid}" | "{triggerid}" => "0".repeat(32),
                "{checkpointid}" | "{subtaskindex}" | "{attempt}" => "0".into(),
                s if s.starts_with('{') => "x".into(),
                s => s.into(),
            })
            .collect();
        let concrete = concrete.join("/");
        // PUT is no operation of the API: 405, and Allow lists the path's methods
        for base in ["", "/v1"] {
            let (status, methods) = allow(s.addr, "PUT", &format!("{base}{concrete}"));
            assert_eq!(status, 405, "PUT {base}{concrete}");
            assert_eq!(methods, documented, "{base}{path}");
        }
    }
    // and an undocumented path is no route
    let (status, v) = http_call(s.addr, "GET", "/jobs/overview/more", "", "");
    assert_eq!(status, 404, "{v}");
}

/// The schema of a JSON value as Flink answered it (how `openapi/flink/*.json` were made): field
/// names and JSON types, a double (a number, or NaN or an infinity as a string) as `Double`.
fn infer(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    match v {
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => super::double(),
        Value::Number(_) => json!({"type": "integer", "format": "int64"}),
        Value::String(s) if ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()) => {
            super::double()
        }
        Value::String(_) => json!({"type": "string"}),
        Value::Null => json!({"nullable": true}),
        Value::Array(a) => json!({"type": "array", "items": a.first().map_or(json!({}), infer)}),
        Value::Object(m) => json!({"type": "object",
            "properties": m.iter().map(|(k, v)| (k.clone(), infer(v))).collect::<serde_json::Map<_, _>>()}),
    }
}

/// Flink 2.3.0's captured answers, when this checkout has them (`STROM_SHARED_DIR`, else
/// `shared/` beside the repository).
fn flink_reference() -> Option<std::path::PathBuf> {
    let shared = std::env::var_os("STROM_SHARED_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        std::path::PathBuf::from,
    );
    let dir = shared.join("reference/flink-rest");
    dir.is_dir().then_some(dir)
}

#[test]
fn flinks_schemas_are_inferred_from_flinks_answers() {
    // every file in openapi/flink/ is used
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/flink");
    let used: BTreeSet<&str> = operations()
        .iter()
        .filter_map(|o| match o.doc.answer {
            Answer::Flink(f) => Some(f.name),
            _ => None,
        })
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    let used_names: BTreeSet<String> = used.iter().map(|n| n.to_string()).collect();
    assert_eq!(files, used_names, "schemas in {dir:?} no route uses");
    let Some(reference) = flink_reference() else {
        eprintln!("no Flink reference answers here: the schemas are taken as checked in");
        return;
    };
    let write = std::env::var_os("STROM_WRITE_OPENAPI").is_some_and(|v| v == "1");
    for op in operations() {
        let Answer::Flink(f) = op.doc.answer else {
            continue;
        };
        let answer = std::fs::read_to_string(reference.join(format!("{}.json", f.name)))
            .unwrap_or_else(|e| panic!("Flink's answer {}: {e}", f.name));
        let inferred = to_text(&infer(&serde_json::from_str(&answer).unwrap()));
        if write {
            std::fs::write(dir.join(format!("{}.json", f.name)), &inferred).unwrap();
        } else {
            assert!(
                inferred == f.text,
                "openapi/flink/{}.json is not what Flink's answer gives (STROM_WRITE_OPENAPI=1 rewrites it)",
                f.name
            );
        }
    }
}
