//! A fake repository host on loopback, for the connection sources on AWS: GitHub Enterprise
//! Server's API under `/api/v3` (a commit, and its zipball through a redirect to `/codeload`)
//! and Bitbucket's under `/2.0` (a commit), with its archives under `/bb` (the connection's
//! `webUrl`). Each answers only the token [`TOKEN`], and records every request it saw.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::common::zip;

pub const TOKEN: &str = "ghe-token";

/// Commit id → (message, files as (path, content)).
pub type Commits = BTreeMap<String, (String, Vec<(String, String)>)>;

/// The fake host: commits by id, `main` at `main`; every request it saw.
#[derive(Clone)]
pub struct FakeHost {
    pub commits: Arc<Commits>,
    pub main: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// Where the fake host listens.
pub struct Served {
    /// GitHub Enterprise Server's API base URL.
    pub github_api: String,
    /// Bitbucket's API base URL.
    pub bitbucket_api: String,
    /// Bitbucket's web site (its archives).
    pub bitbucket_web: String,
}

impl FakeHost {
    pub fn new(commits: Commits, main: &str) -> FakeHost {
        FakeHost { commits: Arc::new(commits), main: main.to_string(), requests: Arc::new(Mutex::new(Vec::new())) }
    }

    pub fn saw(&self, request: &str) -> bool {
        self.requests.lock().unwrap().iter().any(|r| r == request)
    }

    fn record(&self, request: String) {
        self.requests.lock().unwrap().push(request);
    }

    fn resolve(&self, reference: String) -> String {
        if reference == "main" { self.main.clone() } else { reference }
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, "Bad credentials").into_response()
}

fn json_answer(body: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn github_commit(
    State(host): State<FakeHost>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    host.record(format!("commit {owner}/{repo} {reference}"));
    if !authorized(&headers) {
        return refused();
    }
    let id = host.resolve(reference);
    match host.commits.get(&id) {
        Some((message, _)) => json_answer(json!({
            "sha": id,
            "commit": {"message": format!("{message}\n\nbody"), "author": {"date": "2026-11-30T10:00:00Z"},
                       "committer": {"date": "2026-11-30T10:05:00Z"}}
        })),
        None => (StatusCode::NOT_FOUND, "No commit found").into_response(),
    }
}

/// GitHub answers a zipball request with a redirect to its archive host.
async fn zipball(
    State(host): State<FakeHost>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    host.record(format!("zipball {owner}/{repo} {id}"));
    if !authorized(&headers) {
        return refused();
    }
    (StatusCode::FOUND, [(header::LOCATION, format!("/codeload/{owner}-{repo}-{id}.zip"))]).into_response()
}

/// The zip of commit `id`, its files under `top/`, as the hosts' archives are.
fn archive(host: &FakeHost, top: &str, id: &str) -> Response {
    let Some((_, files)) = host.commits.get(id) else { return StatusCode::NOT_FOUND.into_response() };
    let entries: Vec<(String, &str)> =
        files.iter().map(|(path, content)| (format!("{top}/{path}"), content.as_str())).collect();
    let borrowed: Vec<(&str, &str)> = entries.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    ([(header::CONTENT_TYPE, "application/zip")], zip(&borrowed)).into_response()
}

async fn codeload(State(host): State<FakeHost>, Path(name): Path<String>) -> Response {
    let Some((top, id)) = name.strip_suffix(".zip").and_then(|n| n.rsplit_once('-')) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    archive(&host, &format!("{top}-{id}"), id)
}

async fn bitbucket_commit(
    State(host): State<FakeHost>,
    Path((workspace, repo, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    host.record(format!("bitbucket commit {workspace}/{repo} {reference}"));
    if !authorized(&headers) {
        return refused();
    }
    let id = host.resolve(reference);
    match host.commits.get(&id) {
        Some((message, _)) => json_answer(json!({"hash": id, "message": message, "date": "2026-11-30T10:00:00+00:00"})),
        None => (StatusCode::NOT_FOUND, "Commit not found").into_response(),
    }
}

/// Bitbucket's `/{workspace}/{repo}/get/{commit}.zip`.
async fn bitbucket_archive(
    State(host): State<FakeHost>,
    Path((workspace, repo, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    host.record(format!("bitbucket archive {workspace}/{repo} {file}"));
    if !authorized(&headers) {
        return refused();
    }
    let Some(id) = file.strip_suffix(".zip") else { return StatusCode::NOT_FOUND.into_response() };
    archive(&host, &format!("{workspace}-{repo}-{}", &id[..id.len().min(12)]), id)
}

/// Serves the fake host on a free loopback port.
pub async fn serve(host: FakeHost) -> Served {
    let app = axum::Router::new()
        .route("/api/v3/repos/{owner}/{repo}/commits/{reference}", axum::routing::get(github_commit))
        .route("/api/v3/repos/{owner}/{repo}/zipball/{id}", axum::routing::get(zipball))
        .route("/codeload/{name}", axum::routing::get(codeload))
        .route("/2.0/repositories/{workspace}/{repo}/commit/{reference}", axum::routing::get(bitbucket_commit))
        .route("/bb/{workspace}/{repo}/get/{file}", axum::routing::get(bitbucket_archive))
        .with_state(host);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        github_api: format!("http://{address}/api/v3"),
        bitbucket_api: format!("http://{address}/2.0"),
        bitbucket_web: format!("http://{address}/bb"),
    }
}
