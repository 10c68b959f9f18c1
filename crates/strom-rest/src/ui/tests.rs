//! The embedded UI: every file under `ui/` is embedded, every asset index.html and the modules
//! reference is served, content types follow the file names, and the routes answer over HTTP.

use super::{find, routes, ASSETS};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

/// Files of the UI on disk (without the browser test and its node_modules), relative to `ui/`.
fn files_on_disk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        let rel = format!("{prefix}{name}");
        if e.file_type().unwrap().is_dir() {
            if rel != "test" {
                files_on_disk(&e.path(), &format!("{rel}/"), out);
            }
        } else {
            out.insert(rel);
        }
    }
}

/// The values of `attr="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        let after = &rest[i + needle.len()..];
        let end = after.find('"').expect("a closing quote");
        out.push(&after[..end]);
        rest = &after[end..];
    }
    out
}

/// The relative module paths `from './x.js'` and `import './x.js'` of a JavaScript module.
fn imports(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in js.lines() {
        let line = line.trim();
        if !line.starts_with("import ") {
            continue;
        }
        let q = line.rfind(['\'', '"']).expect("a quoted module path");
        let open = line[..q].rfind(['\'', '"']).expect("an opening quote");
        out.push(line[open + 1..q].to_string());
    }
    out
}

#[test]
fn every_ui_file_is_embedded() {
    let mut disk = BTreeSet::new();
    files_on_disk(&ui_dir(), "", &mut disk);
    let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
    assert_eq!(
        disk, embedded,
        "ui/ and ui.rs's ASSETS differ: add new files to ASSETS"
    );
    for a in ASSETS {
        assert_eq!(
            std::fs::read(ui_dir().join(a.path)).unwrap(),
            a.body,
            "{} is stale",
            a.path
        );
    }
}

#[test]
fn every_asset_index_html_references_is_embedded() {
    let html = std::str::from_utf8(find("index.html").unwrap().body).unwrap();
    let mut refs: Vec<&str> = attribute_values(html, "src");
    refs.extend(attribute_values(html, "href"));
    let local: Vec<&str> = refs.into_iter().filter(|r| !r.starts_with('#')).collect();
    // the stylesheet, the icon, dagre and the app module at least
    assert!(local.len() >= 4, "{local:?}");
    for r in &local {
        let path = r
            .strip_prefix("/ui/")
            .unwrap_or_else(|| panic!("index.html references {r}, which is not under /ui/"));
        assert!(
            find(path).is_some(),
            "index.html references {r}, not embedded"
        );
    }
    assert!(local.contains(&"/ui/vendor/dagre.min.js"));
    assert!(local.contains(&"/ui/js/app.js"));
}

#[test]
fn every_module_import_is_embedded() {
    let mut checked = 0;
    for a in ASSETS.iter().filter(|a| a.path.starts_with("js/")) {
        let js = std::str::from_utf8(a.body).unwrap();
        for m in imports(js) {
            let name = m
                .strip_prefix("./")
                .unwrap_or_else(|| panic!("{} imports {m}: use a ./ path", a.path));
            assert!(
                find(&format!("js/{name}")).is_some(),
                "{} imports {m}, which is not embedded",
                a.path
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} imports found");
}

#[test]
fn content_types_follow_file_names() {
    for a in ASSETS {
        let ext = a.path.rsplit('.').next().unwrap();
        let want = match ext {
            "html" => "text/html",
            "css" => "text/css",
            "js" => "text/javascript",
            "svg" => "image/svg+xml",
            "LICENSE" => "text/plain",
            other => panic!("{}: no content type known for .{other}", a.path),
        };
        assert!(
            a.content_type.starts_with(want),
            "{}: {}",
            a.path,
            a.content_type
        );
    }
}

#[test]
fn the_vendored_dagre_is_the_npm_release_with_its_license() {
    let js = std::str::from_utf8(find("vendor/dagre.min.js").unwrap().body).unwrap();
    assert!(
        js.starts_with("\"use strict\";var dagre="),
        "not dagre's IIFE build"
    );
    let license = std::str::from_utf8(find("vendor/dagre.LICENSE").unwrap().body).unwrap();
    assert!(license.contains("Copyright (c) 2012-2014 Chris Pettitt"));
    assert!(license.contains("Permission is hereby granted, free of charge"));
}

/// (status, content type, body) of a GET against the UI routes.
fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ct = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, ct, out[split + 4..].to_vec())
}

#[test]
fn routes_serve_the_assets_over_http() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let _ = axum::serve(listener, routes::<()>()).await;
        })
    });
    let on_disk = |p: &str| std::fs::read(ui_dir().join(p)).unwrap();
    let (status, ct, body) = get(addr, "/");
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert_eq!(body, on_disk("index.html"));
    let (status, ct, body) = get(addr, "/ui/js/dag.js");
    assert_eq!(
        (status, ct.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    assert_eq!(body, on_disk("js/dag.js"));
    let (status, ct, body) = get(addr, "/ui/vendor/dagre.min.js");
    assert_eq!(
        (status, ct.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    assert_eq!(body, on_disk("vendor/dagre.min.js"));
    let (status, ct, body) = get(addr, "/ui/style.css");
    assert_eq!((status, ct.as_str()), (200, "text/css; charset=utf-8"));
    assert_eq!(body, on_disk("style.css"));
    for missing in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/test/ui.test.mjs"] {
        let (status, ct, body) = get(addr, missing);
        assert_eq!(status, 404, "{missing}");
        assert!(ct.starts_with("application/json"), "{missing}: {ct}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["errors"][0].as_str().unwrap().contains("Unable to load"),
            "{v}"
        );
    }
}
