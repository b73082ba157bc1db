//! `GET /api/openapi.json` documents every route under `/api/` that the router has, and
//! nothing it has not. The routes are read from the `.route("/api/…", get(…).post(…))` calls
//! in `console/src`, so a JSON route added without documentation fails here by name.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::PgPool;
use support::Harness;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path, file)` of every `.route("/api/…", …)` call under `dir`.
fn routed_api_operations(dir: &Path) -> Vec<(String, String, PathBuf)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read console/src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                for (method, route) in api_routes_in(&text) {
                    found.push((method, route, path.clone()));
                }
            }
        }
    }
    found
}

/// The API routes of one file: each `.route(` call whose first argument is a string literal
/// starting with `/api/`, with the methods its method router names (`ANY` when none is seen,
/// which fails the test with a request to name the methods plainly).
fn api_routes_in(text: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let call = balanced(rest);
        let args = call.trim_start();
        let Some(literal) = args.strip_prefix('"') else {
            continue;
        };
        let Some(end) = literal.find('"') else {
            continue;
        };
        let route = &literal[..end];
        if !route.starts_with("/api/") {
            continue;
        }
        let router = &literal[end + 1..];
        let mut methods: Vec<String> = METHODS
            .iter()
            .filter(|m| calls(router, m))
            .map(|m| m.to_uppercase())
            .collect();
        if methods.is_empty() {
            methods.push("ANY".to_owned());
        }
        for method in methods {
            routes.push((method, route.to_owned()));
        }
    }
    routes
}

/// The text up to the parenthesis that closes the one opened just before `text`.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

/// `router` calls `method(` as a whole word (`get(`, `.post(`, `routing::put(`).
fn calls(router: &str, method: &str) -> bool {
    let needle = format!("{method}(");
    router.match_indices(&needle).any(|(i, _)| {
        router[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// `(METHOD, path)` of every operation in the document.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn the_route_scanner_reads_method_routers() {
    let text = r#"
        .route("/api/a", get(x::a))
        .route(
            "/api/b/{id}",
            axum::routing::put(b::put).delete(b::delete),
        )
        .route("/pages", post(p))
        .route_layer(from_fn(gate))
        .route("/api/c", router_built_elsewhere)
    "#;
    let found = api_routes_in(text);
    assert_eq!(
        found,
        [
            ("GET", "/api/a"),
            ("PUT", "/api/b/{id}"),
            ("DELETE", "/api/b/{id}"),
            ("ANY", "/api/c"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_document_lists_every_api_route_the_router_has(pool: PgPool) {
    let h = Harness::start(pool).await;

    // Served without signing in, and the same document the code builds.
    let response = h
        .http
        .get(h.url("/api/openapi.json"))
        .send()
        .await
        .expect("openapi.json");
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.expect("JSON document");
    let built = serde_json::to_value(javari_console::openapi_document()).expect("serialise");
    assert_eq!(served, built);
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with('3')),
        "an OpenAPI 3 document: {}",
        served["openapi"]
    );
    let documented = documented_operations(&served);

    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let routed = routed_api_operations(&source);
    assert!(
        routed.len() >= 25,
        "the scan of {} found only {} API routes: is it still reading `.route(` calls?",
        source.display(),
        routed.len()
    );
    let missing: Vec<String> = routed
        .iter()
        .filter(|(method, path, _)| !documented.contains(&(method.clone(), path.clone())))
        .map(|(method, path, file)| {
            let file = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(file);
            if method == "ANY" {
                format!(
                    "{path} (in {}): name its methods in the `.route(` call (get(…), post(…)) so they can be checked",
                    file.display()
                )
            } else {
                format!("{method} {path} (routed in {})", file.display())
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document:\n  {}\n\
         Put `#[utoipa::path({{method}}, path = \"…\", …)]` on each handler and list it in \
         `paths(…)` of console/src/routes/openapi.rs.",
        missing.join("\n  ")
    );

    // And nothing documented that the router does not answer: every operation reaches a
    // handler (not the fallback's 404 nor a 405).
    let routed: BTreeSet<(String, String)> = routed.into_iter().map(|(m, p, _)| (m, p)).collect();
    for (method, path) in &documented {
        assert!(
            routed.contains(&(method.clone(), path.clone())),
            "{method} {path} is documented but no `.route(` call in console/src has it"
        );
        let concrete = path
            .replace("{id}", &uuid::Uuid::nil().to_string())
            .replace("{run}", &uuid::Uuid::nil().to_string());
        let response = h
            .http
            .request(method.parse().expect("method"), h.url(&concrete))
            .bearer_auth(&h.admin_token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(
            status, 405,
            "{method} {path}: the router refuses the method"
        );
        assert!(
            !body.contains("no such page or API route"),
            "{method} {path}: the router has no such route ({status} {body})"
        );
    }
}
