//! Deliveries of GitHub, Bitbucket and GitLab read into one typed change: a branch push, a
//! tag push or a pull request, with the commit to run (docs/sources.md, "What a delivery
//! says"). Pure: the bytes and the event name in, [`RepositoryEvent`]s out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{GitHost, header};
use crate::declaration::PullRequestEvent;

/// A push, or a pull request that opened, changed or closed, at one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryEvent {
    pub host: GitHost,
    /// `owner/repo`; GitLab's path with its namespace (`group/subgroup/project`).
    pub repository: String,
    /// The commit an execution runs: the pushed head, or the pull request's head.
    pub commit_id: String,
    pub change: Change,
    /// The head commit's message and author date, when the payload has them.
    pub commit_message: Option<String>,
    pub author_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Change {
    /// A push to a branch. `files` are the changed paths when the payload lists all of them.
    #[serde(rename_all = "camelCase")]
    Branch { name: String, files: Option<Vec<String>> },
    /// A tag pushed.
    #[serde(rename_all = "camelCase")]
    Tag { name: String },
    #[serde(rename_all = "camelCase")]
    PullRequest {
        event: PullRequestEvent,
        number: u64,
        title: String,
        source_branch: String,
        destination_branch: String,
    },
}

impl RepositoryEvent {
    /// A few words for logs and `webhook replay`.
    pub fn describe(&self) -> String {
        let commit = crate::text::head(&self.commit_id, 12);
        match &self.change {
            Change::Branch { name, .. } => format!("push of {commit} to branch {name} of {}", self.repository),
            Change::Tag { name } => format!("tag {name} ({commit}) pushed to {}", self.repository),
            Change::PullRequest { event, number, source_branch, destination_branch, .. } => format!(
                "pull request #{number} {} ({source_branch} -> {destination_branch}, {commit}) at {}",
                event.as_str(),
                self.repository
            ),
        }
    }

    /// What identifies this change among the others of one delivery.
    pub fn key(&self) -> String {
        match &self.change {
            Change::Branch { name, .. } => format!("branch/{name}/{}", self.commit_id),
            Change::Tag { name } => format!("tag/{name}/{}", self.commit_id),
            Change::PullRequest { event, number, .. } => format!("pr/{number}/{}/{}", event.as_str(), self.commit_id),
        }
    }
}

/// The most changed paths a change carries; beyond, its files count as unknown.
pub const MAX_FILES: usize = 1000;

/// What a delivery holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// A digest of the body for hosts that sign it, else the host's id (either the same when
    /// the host redelivers).
    pub id: String,
    /// The changes to run; none for a ping, a deletion or an event that runs nothing.
    pub events: Vec<RepositoryEvent>,
    /// Why nothing runs, when `events` is empty.
    pub ignored: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("{0} is missing or not a string")]
    Missing(String),
    #[error("the delivery names no event ({0} header)")]
    NoEvent(&'static str),
}

/// The header naming the event of a delivery.
pub fn event_header(host: GitHost) -> &'static str {
    match host {
        GitHost::GitHub => "X-GitHub-Event",
        GitHost::Bitbucket => "X-Event-Key",
        GitHost::GitLab => "X-Gitlab-Event",
    }
}

/// The host's own delivery id, when the delivery carries one.
pub fn delivery_id(host: GitHost, headers: &[(String, String)]) -> Option<String> {
    let names: &[&str] = match host {
        GitHost::GitHub => &["X-GitHub-Delivery"],
        GitHost::Bitbucket => &["X-Request-UUID"],
        GitHost::GitLab => &["Idempotency-Key", "X-Gitlab-Event-UUID"],
    };
    names.iter().find_map(|name| header(headers, name)).map(str::trim).filter(|v| !v.is_empty()).map(String::from)
}

/// Reads a delivery as its headers and body arrived. A host that signs the body (GitHub,
/// Bitbucket) has its deliveries known by a digest of the body, not by the delivery-id
/// header, which the signature does not cover: a captured delivery sent again with a new id
/// is the same delivery, and starts nothing new (a redelivery sends the same body). GitLab
/// signs nothing (its token is the secret itself, and a captured one allows any body), so its
/// own id, where it sends one, tells deliveries apart.
pub fn read(host: GitHost, headers: &[(String, String)], body: &[u8]) -> Result<Delivery, PayloadError> {
    let name = event_header(host);
    let event = header(headers, name).ok_or(PayloadError::NoEvent(name))?;
    let digest = || body_digest(body);
    let id = match host {
        GitHost::GitLab => delivery_id(host, headers).unwrap_or_else(digest),
        GitHost::GitHub | GitHost::Bitbucket => digest(),
    };
    parse(host, event, body, id)
}

/// What a delivery whose body is signed is known by: the hex SHA-256 of the body.
pub fn body_digest(body: &[u8]) -> String {
    hex::encode(sha256(body))
}

fn sha256(body: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(body).into()
}

/// Reads a body as the event `event` (the host's own name: `push`, `repo:push`, `Push Hook`,
/// or the generic `push` and `pull_request` for every host).
pub fn parse(host: GitHost, event: &str, body: &[u8], id: String) -> Result<Delivery, PayloadError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let outcome = match host {
        GitHost::GitHub => github(event, &json),
        GitHost::Bitbucket => bitbucket(event, &json),
        GitHost::GitLab => gitlab(event, &json),
    }?;
    Ok(match outcome {
        Ok(events) if events.is_empty() => {
            Delivery { id, events, ignored: Some("the delivery holds no branch or tag that was pushed".into()) }
        }
        Ok(events) => Delivery { id, events, ignored: None },
        Err(ignored) => Delivery { id, events: Vec::new(), ignored: Some(ignored) },
    })
}

/// Events, or why the delivery runs nothing.
type Outcome = Result<Vec<RepositoryEvent>, String>;

fn text<'a>(json: &'a Value, path: &[&str]) -> Result<&'a str, PayloadError> {
    let mut value = json;
    for part in path {
        value = &value[*part];
    }
    value.as_str().filter(|v| !v.is_empty()).ok_or_else(|| PayloadError::Missing(path.join(".")))
}

fn optional(json: &Value, path: &[&str]) -> Option<String> {
    text(json, path).ok().map(String::from)
}

fn number(json: &Value, path: &[&str]) -> Result<u64, PayloadError> {
    let mut value = json;
    for part in path {
        value = &value[*part];
    }
    value.as_u64().ok_or_else(|| PayloadError::Missing(path.join(".")))
}

fn is_zero_commit(commit: &str) -> bool {
    !commit.is_empty() && commit.bytes().all(|b| b == b'0')
}

/// The paths commits added, modified or removed (GitHub's and GitLab's push payloads), or
/// None when the payload may not list every commit.
fn changed_files(commits: &Value, complete: bool) -> Option<Vec<String>> {
    let commits = commits.as_array().filter(|c| !c.is_empty() && complete)?;
    let mut files: Vec<String> = commits
        .iter()
        .flat_map(|commit| {
            ["added", "modified", "removed"].map(|list| commit[list].as_array().cloned().unwrap_or_default())
        })
        .flatten()
        .filter_map(|path| path.as_str().map(String::from))
        .collect();
    files.sort();
    files.dedup();
    // A change this large travels without its list; unknown files pass file-path filters.
    (files.len() <= MAX_FILES).then_some(files)
}

/// `refs/heads/x` or `refs/tags/x`, or the reason such a ref runs nothing.
fn reference(full: &str, files: Option<Vec<String>>) -> Result<Change, String> {
    if let Some(name) = full.strip_prefix("refs/heads/") {
        Ok(Change::Branch { name: name.to_string(), files })
    } else if let Some(name) = full.strip_prefix("refs/tags/") {
        Ok(Change::Tag { name: name.to_string() })
    } else {
        Err(format!("{full} is neither a branch nor a tag"))
    }
}

fn github(event: &str, json: &Value) -> Result<Outcome, PayloadError> {
    match event {
        "ping" => Ok(Err("a ping: the webhook is set up".to_string())),
        "push" => {
            let after = text(json, &["after"])?;
            if json["deleted"].as_bool() == Some(true) || is_zero_commit(after) {
                return Ok(Err("a deleted branch or tag runs nothing".to_string()));
            }
            // GitHub lists at most 2048 commits of a push.
            let commits = &json["commits"];
            let complete = commits.as_array().is_some_and(|c| c.len() < 2048);
            let change = match reference(text(json, &["ref"])?, changed_files(commits, complete)) {
                Ok(change) => change,
                Err(reason) => return Ok(Err(reason)),
            };
            Ok(Ok(vec![RepositoryEvent {
                host: GitHost::GitHub,
                repository: text(json, &["repository", "full_name"])?.to_string(),
                commit_id: after.to_string(),
                change,
                commit_message: optional(json, &["head_commit", "message"]),
                author_date: optional(json, &["head_commit", "timestamp"]),
            }]))
        }
        "pull_request" => {
            let event = match text(json, &["action"])? {
                "opened" | "reopened" => PullRequestEvent::Open,
                "synchronize" => PullRequestEvent::Updated,
                "closed" => PullRequestEvent::Closed,
                other => return Ok(Err(format!("pull request action {other:?} runs nothing"))),
            };
            let pr = &json["pull_request"];
            Ok(Ok(vec![RepositoryEvent {
                host: GitHost::GitHub,
                repository: text(json, &["repository", "full_name"])?.to_string(),
                commit_id: text(pr, &["head", "sha"])?.to_string(),
                change: Change::PullRequest {
                    event,
                    number: number(json, &["number"]).or_else(|_| number(pr, &["number"]))?,
                    title: optional(pr, &["title"]).unwrap_or_default(),
                    source_branch: text(pr, &["head", "ref"])?.to_string(),
                    destination_branch: text(pr, &["base", "ref"])?.to_string(),
                },
                commit_message: None,
                author_date: None,
            }]))
        }
        other => Ok(Err(format!("GitHub event {other:?} runs nothing (push and pull_request do)"))),
    }
}

fn bitbucket(event: &str, json: &Value) -> Result<Outcome, PayloadError> {
    let repository = || text(json, &["repository", "full_name"]).map(String::from);
    match event {
        "repo:push" | "push" => {
            let repository = repository()?;
            let mut events = Vec::new();
            for change in json["push"]["changes"].as_array().into_iter().flatten() {
                let new = &change["new"];
                // A deleted branch or tag has no new head.
                if new.is_null() {
                    continue;
                }
                let name = text(new, &["name"])?.to_string();
                let change = match text(new, &["type"])? {
                    "branch" | "named_branch" => Change::Branch { name, files: None },
                    "tag" | "annotated_tag" => Change::Tag { name },
                    _ => continue,
                };
                events.push(RepositoryEvent {
                    host: GitHost::Bitbucket,
                    repository: repository.clone(),
                    commit_id: text(new, &["target", "hash"])?.to_string(),
                    change,
                    commit_message: optional(new, &["target", "message"]),
                    author_date: optional(new, &["target", "date"]),
                });
            }
            Ok(Ok(events))
        }
        "pullrequest:created"
        | "pullrequest:updated"
        | "pullrequest:fulfilled"
        | "pullrequest:rejected"
        | "pull_request" => {
            let pr = &json["pullrequest"];
            let event = match event {
                "pullrequest:created" => PullRequestEvent::Open,
                "pullrequest:updated" => PullRequestEvent::Updated,
                "pull_request" if text(pr, &["state"]) == Ok("OPEN") => PullRequestEvent::Open,
                _ => PullRequestEvent::Closed,
            };
            Ok(Ok(vec![RepositoryEvent {
                host: GitHost::Bitbucket,
                repository: repository()?,
                commit_id: text(pr, &["source", "commit", "hash"])?.to_string(),
                change: Change::PullRequest {
                    event,
                    number: number(pr, &["id"])?,
                    title: optional(pr, &["title"]).unwrap_or_default(),
                    source_branch: text(pr, &["source", "branch", "name"])?.to_string(),
                    destination_branch: text(pr, &["destination", "branch", "name"])?.to_string(),
                },
                commit_message: None,
                author_date: None,
            }]))
        }
        other => Ok(Err(format!("Bitbucket event {other:?} runs nothing (repo:push and pullrequest:* do)"))),
    }
}

fn gitlab(event: &str, json: &Value) -> Result<Outcome, PayloadError> {
    let kind = json["object_kind"].as_str().unwrap_or(match event {
        "Push Hook" | "push" => "push",
        "Tag Push Hook" => "tag_push",
        "Merge Request Hook" | "pull_request" => "merge_request",
        _ => "",
    });
    let repository = || text(json, &["project", "path_with_namespace"]).map(String::from);
    match kind {
        "push" | "tag_push" => {
            let after = text(json, &["after"])?;
            if is_zero_commit(after) {
                return Ok(Err("a deleted branch or tag runs nothing".to_string()));
            }
            let commits = &json["commits"];
            // GitLab lists at most 20 commits of a push; total_commits_count says how many.
            let listed = commits.as_array().map_or(0, Vec::len) as u64;
            let complete = json["total_commits_count"].as_u64().is_none_or(|total| total <= listed);
            let change = match reference(text(json, &["ref"])?, changed_files(commits, complete)) {
                Ok(change) => change,
                Err(reason) => return Ok(Err(reason)),
            };
            let commit_id = optional(json, &["checkout_sha"]).unwrap_or_else(|| after.to_string());
            let head = commits.as_array().and_then(|c| c.iter().find(|c| c["id"].as_str() == Some(commit_id.as_str())));
            Ok(Ok(vec![RepositoryEvent {
                host: GitHost::GitLab,
                repository: repository()?,
                commit_id,
                change,
                commit_message: head.and_then(|c| optional(c, &["message"])),
                author_date: head.and_then(|c| optional(c, &["timestamp"])),
            }]))
        }
        "merge_request" => {
            let attributes = &json["object_attributes"];
            let event = match text(attributes, &["action"])? {
                "open" | "reopen" => PullRequestEvent::Open,
                // An update without `oldrev` changed the description or labels, not the code.
                "update" if attributes.get("oldrev").is_some_and(|v| !v.is_null()) => PullRequestEvent::Updated,
                "close" | "merge" => PullRequestEvent::Closed,
                other => return Ok(Err(format!("merge request action {other:?} changes no code and runs nothing"))),
            };
            Ok(Ok(vec![RepositoryEvent {
                host: GitHost::GitLab,
                repository: repository()?,
                commit_id: text(attributes, &["last_commit", "id"])?.to_string(),
                change: Change::PullRequest {
                    event,
                    number: number(attributes, &["iid"])?,
                    title: optional(attributes, &["title"]).unwrap_or_default(),
                    source_branch: text(attributes, &["source_branch"])?.to_string(),
                    destination_branch: text(attributes, &["target_branch"])?.to_string(),
                },
                commit_message: optional(attributes, &["last_commit", "message"]),
                author_date: optional(attributes, &["last_commit", "timestamp"]),
            }]))
        }
        other => Ok(Err(format!("GitLab event {other:?} runs nothing (push, tag_push and merge_request do)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(host: GitHost, event: &str, body: Value) -> Vec<RepositoryEvent> {
        parse(host, event, body.to_string().as_bytes(), "d1".into()).unwrap().events
    }

    fn ignored(host: GitHost, event: &str, body: Value) -> String {
        let delivery = parse(host, event, body.to_string().as_bytes(), "d1".into()).unwrap();
        assert!(delivery.events.is_empty());
        delivery.ignored.unwrap()
    }

    #[test]
    fn github_push_names_branch_commit_and_changed_files() {
        let body = json!({"ref": "refs/heads/main", "after": "a1b2", "deleted": false,
            "repository": {"full_name": "octo/app"},
            "head_commit": {"id": "a1b2", "message": "Fix it", "timestamp": "2026-01-02T03:04:05+01:00"},
            "commits": [{"added": ["src/a.rs"], "modified": ["README.md"], "removed": []},
                        {"added": [], "modified": ["src/a.rs"], "removed": ["old.txt"]}]});
        let found = events(GitHost::GitHub, "push", body);
        assert_eq!(found.len(), 1);
        let event = &found[0];
        assert_eq!(event.repository, "octo/app");
        assert_eq!(event.commit_id, "a1b2");
        assert_eq!(
            event.change,
            Change::Branch {
                name: "main".into(),
                files: Some(vec!["README.md".into(), "old.txt".into(), "src/a.rs".into()])
            }
        );
        assert_eq!(event.commit_message.as_deref(), Some("Fix it"));
    }

    #[test]
    fn github_tags_deletions_pings_and_pull_requests() {
        let tag = events(
            GitHost::GitHub,
            "push",
            json!({"ref": "refs/tags/v1.2", "after": "c0ffee", "repository": {"full_name": "o/r"}, "commits": []}),
        );
        assert_eq!(tag[0].change, Change::Tag { name: "v1.2".into() });
        let deleted = json!({"ref": "refs/heads/x", "after": "0000000000000000000000000000000000000000",
            "deleted": true, "repository": {"full_name": "o/r"}});
        assert!(ignored(GitHost::GitHub, "push", deleted).contains("deleted"));
        assert!(ignored(GitHost::GitHub, "ping", json!({"zen": "hi"})).contains("ping"));
        let pr = |action: &str| {
            json!({"action": action, "number": 7, "repository": {"full_name": "o/r"},
                "pull_request": {"title": "Add X", "head": {"ref": "feature/x", "sha": "f00d"}, "base": {"ref": "main"}}})
        };
        let opened = events(GitHost::GitHub, "pull_request", pr("opened"));
        assert_eq!(
            opened[0].change,
            Change::PullRequest {
                event: PullRequestEvent::Open,
                number: 7,
                title: "Add X".into(),
                source_branch: "feature/x".into(),
                destination_branch: "main".into()
            }
        );
        assert_eq!(opened[0].commit_id, "f00d");
        let kinds = |action: &str| match &events(GitHost::GitHub, "pull_request", pr(action))[0].change {
            Change::PullRequest { event, .. } => event.clone(),
            _ => unreachable!(),
        };
        assert_eq!(kinds("synchronize"), PullRequestEvent::Updated);
        assert_eq!(kinds("reopened"), PullRequestEvent::Open);
        assert_eq!(kinds("closed"), PullRequestEvent::Closed);
        assert!(ignored(GitHost::GitHub, "pull_request", pr("labeled")).contains("labeled"));
        assert!(matches!(
            parse(GitHost::GitHub, "push", br#"{"ref": "refs/heads/x"}"#, "d".into()),
            Err(PayloadError::Missing(path)) if path == "after"
        ));
        assert!(matches!(parse(GitHost::GitHub, "push", b"not json", "d".into()), Err(PayloadError::NotJson(_))));
    }

    #[test]
    fn bitbucket_push_holds_one_event_per_change() {
        let body = json!({"repository": {"full_name": "team/site"}, "push": {"changes": [
            {"new": {"type": "branch", "name": "main", "target": {"hash": "aaa", "message": "m", "date": "2026-01-01T00:00:00+00:00"}}},
            {"new": {"type": "tag", "name": "v2", "target": {"hash": "bbb"}}},
            {"new": null, "old": {"type": "branch", "name": "gone"}}
        ]}});
        let found = events(GitHost::Bitbucket, "repo:push", body);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].change, Change::Branch { name: "main".into(), files: None });
        assert_eq!(found[0].commit_message.as_deref(), Some("m"));
        assert_eq!(found[1].change, Change::Tag { name: "v2".into() });
        assert_eq!(found[1].repository, "team/site");
    }

    #[test]
    fn bitbucket_pull_requests() {
        let body = json!({"repository": {"full_name": "team/site"}, "pullrequest": {"id": 3, "title": "T", "state": "OPEN",
            "source": {"branch": {"name": "fix"}, "commit": {"hash": "abc123"}}, "destination": {"branch": {"name": "main"}}}});
        for (key, expected) in [
            ("pullrequest:created", PullRequestEvent::Open),
            ("pullrequest:updated", PullRequestEvent::Updated),
            ("pullrequest:fulfilled", PullRequestEvent::Closed),
            ("pullrequest:rejected", PullRequestEvent::Closed),
            ("pull_request", PullRequestEvent::Open),
        ] {
            let found = events(GitHost::Bitbucket, key, body.clone());
            assert!(
                matches!(&found[0].change, Change::PullRequest { event, number: 3, .. } if *event == expected),
                "{key}"
            );
        }
        assert!(ignored(GitHost::Bitbucket, "repo:fork", body).contains("repo:fork"));
    }

    #[test]
    fn gitlab_pushes_and_merge_requests() {
        let push = json!({"object_kind": "push", "ref": "refs/heads/main", "after": "fff", "checkout_sha": "fff",
            "project": {"path_with_namespace": "group/sub/app"}, "total_commits_count": 1,
            "commits": [{"id": "fff", "message": "msg", "timestamp": "2026-01-01T00:00:00Z", "added": ["docs/a.md"], "modified": [], "removed": []}]});
        let found = events(GitHost::GitLab, "Push Hook", push.clone());
        assert_eq!(found[0].repository, "group/sub/app");
        assert_eq!(found[0].change, Change::Branch { name: "main".into(), files: Some(vec!["docs/a.md".into()]) });
        assert_eq!(found[0].commit_message.as_deref(), Some("msg"));
        let mut truncated = push.clone();
        truncated["total_commits_count"] = json!(40);
        assert_eq!(
            events(GitHost::GitLab, "Push Hook", truncated)[0].change,
            Change::Branch { name: "main".into(), files: None }
        );
        let tag = json!({"object_kind": "tag_push", "ref": "refs/tags/v3", "after": "ddd", "project": {"path_with_namespace": "g/a"}, "commits": []});
        assert_eq!(events(GitHost::GitLab, "Tag Push Hook", tag)[0].change, Change::Tag { name: "v3".into() });
        let mr = |action: &str, oldrev: Value| {
            json!({"object_kind": "merge_request", "project": {"path_with_namespace": "g/a"},
                "object_attributes": {"iid": 12, "title": "MR", "action": action, "oldrev": oldrev,
                    "source_branch": "topic", "target_branch": "main", "last_commit": {"id": "eee", "message": "m2"}}})
        };
        let found = events(GitHost::GitLab, "Merge Request Hook", mr("open", Value::Null));
        assert!(matches!(&found[0].change, Change::PullRequest { event: PullRequestEvent::Open, number: 12, .. }));
        assert_eq!(found[0].commit_id, "eee");
        let updated = events(GitHost::GitLab, "Merge Request Hook", mr("update", json!("ccc")));
        assert!(matches!(&updated[0].change, Change::PullRequest { event: PullRequestEvent::Updated, .. }));
        assert!(ignored(GitHost::GitLab, "Merge Request Hook", mr("update", Value::Null)).contains("changes no code"));
        let merged = events(GitHost::GitLab, "Merge Request Hook", mr("merge", Value::Null));
        assert!(matches!(&merged[0].change, Change::PullRequest { event: PullRequestEvent::Closed, .. }));
    }

    #[test]
    fn a_delivery_is_known_by_its_body_not_by_the_id_header() {
        let with_id = |id: &str| {
            vec![("X-GitHub-Event".to_string(), "ping".to_string()), ("x-github-delivery".to_string(), id.to_string())]
        };
        let bare = vec![("X-GitHub-Event".to_string(), "ping".to_string())];
        let first = read(GitHost::GitHub, &bare, b"{}").unwrap().id;
        assert_eq!(first, read(GitHost::GitHub, &bare, b"{}").unwrap().id);
        // The header is not signed: a new id on a captured body is the same delivery.
        assert_eq!(read(GitHost::GitHub, &with_id("g-1"), b"{}").unwrap().id, first);
        assert_eq!(read(GitHost::GitHub, &with_id("g-2"), b"{}").unwrap().id, first);
        // GitLab signs nothing: its own id tells two deliveries of one body apart.
        let gitlab = |id: &str| {
            vec![
                ("X-Gitlab-Event".to_string(), "System Hook".to_string()),
                ("X-Gitlab-Event-UUID".to_string(), id.to_string()),
            ]
        };
        assert_eq!(read(GitHost::GitLab, &gitlab("gl-1"), b"{}").unwrap().id, "gl-1");
        assert_ne!(first, read(GitHost::GitHub, &bare, b"{ }").unwrap().id);
        assert_eq!(read(GitHost::GitHub, &[], b"{}"), Err(PayloadError::NoEvent("X-GitHub-Event")));
    }
}
