//! The HTTP APIs of the repository hosts a connection (or a GitHub version 1 action) reads:
//! which request fetches a commit's details or its archive, and what the answers mean
//! (docs/sources.md, "Fetching a commit on AWS"). Pure: requests are data, answers are
//! parsed here, the transport is elsewhere.
//!
//! | host | API base (default) | commit | archive of a commit |
//! |---|---|---|---|
//! | GitHub, GitHub Enterprise Server | `https://api.github.com` (`https://HOST/api/v3`) | `GET /repos/{o}/{r}/commits/{ref}` | `GET /repos/{o}/{r}/zipball/{sha}` (a redirect) |
//! | Bitbucket Cloud | `https://api.bitbucket.org/2.0` | `GET /repositories/{w}/{r}/commit/{ref}` | `GET {web}/{w}/{r}/get/{sha}.zip` |
//! | GitLab, GitLab self-managed | `https://gitlab.com/api/v4` | `GET /projects/{id}/repository/commits/{ref}` | `GET /projects/{id}/repository/archive.zip?sha={sha}` |
//!
//! Every archive holds the files under one top directory, which the artifact drops.

use serde_json::Value;

/// A connection's `ProviderType`, as CodeConnections names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    GitHub,
    GitHubEnterpriseServer,
    Bitbucket,
    GitLab,
    GitLabSelfManaged,
}

impl HostKind {
    pub fn parse(provider_type: &str) -> Result<HostKind, String> {
        match provider_type {
            "GitHub" => Ok(HostKind::GitHub),
            "GitHubEnterpriseServer" => Ok(HostKind::GitHubEnterpriseServer),
            "Bitbucket" => Ok(HostKind::Bitbucket),
            "GitLab" => Ok(HostKind::GitLab),
            "GitLabSelfManaged" => Ok(HostKind::GitLabSelfManaged),
            other => Err(format!(
                "providerType {other:?} is not one of GitHub, GitHubEnterpriseServer, Bitbucket, GitLab, GitLabSelfManaged"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HostKind::GitHub => "GitHub",
            HostKind::GitHubEnterpriseServer => "GitHubEnterpriseServer",
            HostKind::Bitbucket => "Bitbucket",
            HostKind::GitLab => "GitLab",
            HostKind::GitLabSelfManaged => "GitLabSelfManaged",
        }
    }

    fn default_base(self) -> Option<&'static str> {
        match self {
            HostKind::GitHub => Some("https://api.github.com"),
            HostKind::Bitbucket => Some("https://api.bitbucket.org/2.0"),
            HostKind::GitLab => Some("https://gitlab.com/api/v4"),
            HostKind::GitHubEnterpriseServer | HostKind::GitLabSelfManaged => None,
        }
    }
}

/// A request to send: a URL and its headers (the token among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// A commit as the host describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    pub message: String,
    pub author_date: String,
    pub committer_date: String,
}

/// One host's API, with the token that reads the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostApi {
    pub kind: HostKind,
    /// The API's base URL, without a trailing `/`.
    pub base_url: String,
    /// The web site's base URL (Bitbucket's archives and every host's clone URLs).
    pub web_url: String,
    token: String,
}

/// Keeps what a URL path segment may hold as it is; encodes the rest (`/` included).
pub fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A URL path of segments: each [`encode_segment`]ed, its `/` kept (a repository's
/// `owner/name`, an S3 key).
pub fn encode_path(path: &str) -> String {
    path.split('/').map(encode_segment).collect::<Vec<_>>().join("/")
}

impl HostApi {
    /// The API of `kind` at `base_url` (the host's own when omitted; GitHub Enterprise Server
    /// and GitLab self-managed need one), reading with `token`. `web_url` defaults to the API's
    /// base without its API path.
    pub fn new(kind: HostKind, base_url: Option<&str>, web_url: Option<&str>, token: &str) -> Result<HostApi, String> {
        let base = base_url
            .filter(|b| !b.is_empty())
            .or(kind.default_base())
            .ok_or_else(|| {
                format!("a {} connection needs a baseUrl (its API, e.g. https://git.example.com/api/v3)", kind.name())
            })?
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("baseUrl {base:?} is not an http(s) URL"));
        }
        let web = match web_url.filter(|w| !w.is_empty()) {
            Some(web) => web.trim_end_matches('/').to_string(),
            None => match kind {
                HostKind::GitHub if base == "https://api.github.com" => "https://github.com".to_string(),
                HostKind::Bitbucket if base == "https://api.bitbucket.org/2.0" => "https://bitbucket.org".to_string(),
                _ => ["/api/v3", "/api/v4", "/2.0"]
                    .iter()
                    .find_map(|suffix| base.strip_suffix(suffix))
                    .unwrap_or(&base)
                    .to_string(),
            },
        };
        Ok(HostApi { kind, base_url: base, web_url: web, token: token.to_string() })
    }

    fn is_github(&self) -> bool {
        matches!(self.kind, HostKind::GitHub | HostKind::GitHubEnterpriseServer)
    }

    fn is_gitlab(&self) -> bool {
        matches!(self.kind, HostKind::GitLab | HostKind::GitLabSelfManaged)
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![("User-Agent".to_string(), "pipewright".to_string())];
        if self.is_github() {
            headers.push(("Accept".to_string(), "application/vnd.github+json".to_string()));
        }
        if self.token.is_empty() {
            return headers;
        }
        let authorization = if self.is_gitlab() {
            ("PRIVATE-TOKEN".to_string(), self.token.clone())
        } else if self.kind == HostKind::Bitbucket && self.token.contains(':') {
            // `user:app-password`: basic authentication.
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(&self.token);
            ("Authorization".to_string(), format!("Basic {encoded}"))
        } else {
            ("Authorization".to_string(), format!("Bearer {}", self.token))
        };
        headers.push(authorization);
        headers
    }

    fn get(&self, url: String) -> HttpRequest {
        HttpRequest { method: "GET", url, headers: self.headers(), body: None }
    }

    fn gitlab_project(&self, repository: &str) -> String {
        format!("{}/projects/{}", self.base_url, encode_segment(repository))
    }

    /// The commit `reference` (a commit id or a branch) names.
    pub fn commit_request(&self, repository: &str, reference: &str) -> HttpRequest {
        let reference = encode_segment(reference);
        self.get(if self.is_github() {
            format!("{}/repos/{}/commits/{reference}", self.base_url, encode_path(repository))
        } else if self.is_gitlab() {
            format!("{}/repository/commits/{reference}", self.gitlab_project(repository))
        } else {
            format!("{}/repositories/{}/commit/{reference}", self.base_url, encode_path(repository))
        })
    }

    /// The zip archive of `commit`.
    pub fn archive_request(&self, repository: &str, commit: &str) -> HttpRequest {
        let commit = encode_segment(commit);
        self.get(if self.is_github() {
            format!("{}/repos/{}/zipball/{commit}", self.base_url, encode_path(repository))
        } else if self.is_gitlab() {
            format!("{}/repository/archive.zip?sha={commit}", self.gitlab_project(repository))
        } else {
            format!("{}/{}/get/{commit}.zip", self.web_url, encode_path(repository))
        })
    }

    /// What `git clone` takes (a CODEBUILD_CLONE_REF artifact names it).
    pub fn clone_url(&self, repository: &str) -> String {
        format!("{}/{repository}.git", self.web_url)
    }

    /// A person's link to the commit.
    pub fn commit_url(&self, repository: &str, commit: &str) -> String {
        match self.kind {
            HostKind::Bitbucket => format!("{}/{repository}/commits/{commit}", self.web_url),
            HostKind::GitLab | HostKind::GitLabSelfManaged => {
                format!("{}/{repository}/-/commit/{commit}", self.web_url)
            }
            _ => format!("{}/{repository}/commit/{commit}", self.web_url),
        }
    }

    /// Reads the host's description of a commit.
    pub fn parse_commit(&self, json: &Value) -> Result<CommitInfo, String> {
        let text = |value: &Value| value.as_str().map(String::from);
        let (id, message, author, committer) = if self.is_github() {
            let commit = &json["commit"];
            (
                text(&json["sha"]),
                text(&commit["message"]),
                text(&commit["author"]["date"]),
                text(&commit["committer"]["date"]),
            )
        } else if self.is_gitlab() {
            (text(&json["id"]), text(&json["message"]), text(&json["authored_date"]), text(&json["committed_date"]))
        } else {
            (text(&json["hash"]), text(&json["message"]), text(&json["date"]), text(&json["date"]))
        };
        let id = id.filter(|id| !id.is_empty()).ok_or_else(|| "the host's answer names no commit id".to_string())?;
        let author_date = author.unwrap_or_default();
        Ok(CommitInfo {
            id,
            message: message.unwrap_or_default().lines().next().unwrap_or_default().to_string(),
            committer_date: committer.unwrap_or_else(|| author_date.clone()),
            author_date,
        })
    }

    /// GitHub: the repository's webhooks (RegisterWebhookWithThirdParty).
    pub fn hooks_request(&self, repository: &str) -> HttpRequest {
        self.get(format!("{}/repos/{}/hooks", self.base_url, encode_path(repository)))
    }

    /// GitHub: create a push webhook delivering to `url`, signed with `secret`.
    pub fn create_hook_request(&self, repository: &str, url: &str, secret: Option<&str>) -> HttpRequest {
        let mut config = serde_json::json!({ "url": url, "content_type": "json", "insecure_ssl": "0" });
        if let Some(secret) = secret {
            config["secret"] = Value::String(secret.to_string());
        }
        let body = serde_json::json!({ "name": "web", "active": true, "events": ["push"], "config": config });
        HttpRequest { method: "POST", body: Some(body.to_string()), ..self.hooks_request(repository) }
    }

    /// GitHub: the id of the webhook that delivers to `url`, in a listing of hooks.
    pub fn hook_delivering_to(listing: &Value, url: &str) -> Option<u64> {
        listing.as_array()?.iter().find(|hook| hook["config"]["url"].as_str() == Some(url))?["id"].as_u64()
    }

    /// GitHub: delete webhook `id`.
    pub fn delete_hook_request(&self, repository: &str, id: u64) -> HttpRequest {
        let listing = self.hooks_request(repository);
        HttpRequest { method: "DELETE", url: format!("{}/{id}", listing.url), ..listing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
        request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn github_and_enterprise_server() {
        let cloud = HostApi::new(HostKind::GitHub, None, None, "ghp_x").unwrap();
        let archive = cloud.archive_request("octo/app", "abc");
        assert_eq!(archive.url, "https://api.github.com/repos/octo/app/zipball/abc");
        assert_eq!(header(&archive, "Authorization"), Some("Bearer ghp_x"));
        assert_eq!(header(&archive, "User-Agent"), Some("pipewright"));
        assert_eq!(
            cloud.commit_request("octo/app", "release/1").url,
            "https://api.github.com/repos/octo/app/commits/release%2F1"
        );
        assert_eq!(cloud.clone_url("octo/app"), "https://github.com/octo/app.git");
        let server =
            HostApi::new(HostKind::GitHubEnterpriseServer, Some("https://git.corp/api/v3/"), None, "t").unwrap();
        assert_eq!(server.archive_request("o/r", "c").url, "https://git.corp/api/v3/repos/o/r/zipball/c");
        assert_eq!(server.clone_url("o/r"), "https://git.corp/o/r.git");
        assert!(HostApi::new(HostKind::GitHubEnterpriseServer, None, None, "t").unwrap_err().contains("baseUrl"));
        let commit = cloud
            .parse_commit(
                &json!({"sha": "abc", "commit": {"message": "Fix\n\nbody", "author": {"date": "2026-01-01T00:00:00Z"},
                "committer": {"date": "2026-01-02T00:00:00Z"}}}),
            )
            .unwrap();
        assert_eq!((commit.id.as_str(), commit.message.as_str()), ("abc", "Fix"));
        assert_eq!(commit.committer_date, "2026-01-02T00:00:00Z");
    }

    #[test]
    fn bitbucket_and_gitlab() {
        let bitbucket = HostApi::new(HostKind::Bitbucket, None, None, "user:app-pass").unwrap();
        let archive = bitbucket.archive_request("team/site", "abc");
        assert_eq!(archive.url, "https://bitbucket.org/team/site/get/abc.zip");
        assert_eq!(header(&archive, "Authorization"), Some("Basic dXNlcjphcHAtcGFzcw=="));
        assert_eq!(
            bitbucket.commit_request("team/site", "main").url,
            "https://api.bitbucket.org/2.0/repositories/team/site/commit/main"
        );
        let local = HostApi::new(HostKind::Bitbucket, Some("http://127.0.0.1:9/2.0"), None, "tok").unwrap();
        assert_eq!(local.archive_request("t/s", "c").url, "http://127.0.0.1:9/t/s/get/c.zip");
        assert_eq!(header(&local.archive_request("t/s", "c"), "Authorization"), Some("Bearer tok"));
        assert_eq!(
            bitbucket.parse_commit(&json!({"hash": "h", "message": "m", "date": "d"})).unwrap().author_date,
            "d"
        );

        let gitlab = HostApi::new(HostKind::GitLab, None, None, "glpat").unwrap();
        let archive = gitlab.archive_request("group/sub/app", "abc");
        assert_eq!(archive.url, "https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/repository/archive.zip?sha=abc");
        assert_eq!(header(&archive, "PRIVATE-TOKEN"), Some("glpat"));
        assert_eq!(gitlab.clone_url("group/sub/app"), "https://gitlab.com/group/sub/app.git");
        let commit = gitlab
            .parse_commit(&json!({"id": "i", "message": "m", "authored_date": "a", "committed_date": "c"}))
            .unwrap();
        assert_eq!((commit.author_date.as_str(), commit.committer_date.as_str()), ("a", "c"));
        assert!(gitlab.parse_commit(&json!({})).is_err());
        assert!(HostKind::parse("CodeCommit").is_err());
    }

    #[test]
    fn github_hooks() {
        let api = HostApi::new(HostKind::GitHub, None, None, "t").unwrap();
        let create = api.create_hook_request("o/r", "https://hooks.example/x", Some("s"));
        assert_eq!((create.method, create.url.as_str()), ("POST", "https://api.github.com/repos/o/r/hooks"));
        let body: Value = serde_json::from_str(create.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["config"]["secret"], "s");
        let listing = json!([{"id": 1, "config": {"url": "https://other"}}, {"id": 7, "config": {"url": "https://hooks.example/x"}}]);
        assert_eq!(HostApi::hook_delivering_to(&listing, "https://hooks.example/x"), Some(7));
        assert_eq!(api.delete_hook_request("o/r", 7).url, "https://api.github.com/repos/o/r/hooks/7");
    }
}
