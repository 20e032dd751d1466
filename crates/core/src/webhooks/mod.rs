//! Webhook deliveries of repository hosts, decided without I/O (docs/sources.md):
//!
//! * [`signature`]: is the delivery from the host that holds the secret?
//! * [`payload`]: the push or pull request it describes, as one typed [`payload::RepositoryEvent`];
//! * [`plan`]: which pipelines it starts (V2 triggers, or the source action's repository and
//!   branch), with the reasons of those it does not;
//! * [`definition`]: the webhooks of PutWebhook (GitHub version 1), their authentication and
//!   JSONPath filters ([`json_path`], [`cidr`]).

pub mod cidr;
pub mod definition;
pub mod json_path;
pub mod payload;
pub mod plan;
pub mod signature;

use serde::{Deserialize, Serialize};

/// The repository hosts whose deliveries Pipewright reads. GitHub Enterprise Server sends
/// GitHub's deliveries, GitLab self-managed GitLab's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GitHost {
    GitHub,
    Bitbucket,
    GitLab,
}

impl GitHost {
    /// The host a `/webhooks/<segment>` path names.
    pub fn from_segment(segment: &str) -> Option<GitHost> {
        match segment {
            "github" => Some(GitHost::GitHub),
            "bitbucket" => Some(GitHost::Bitbucket),
            "gitlab" => Some(GitHost::GitLab),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GitHost::GitHub => "github",
            GitHost::Bitbucket => "bitbucket",
            GitHost::GitLab => "gitlab",
        }
    }

    /// The connection `ProviderType` of this host's cloud service.
    pub fn provider_type(self) -> &'static str {
        match self {
            GitHost::GitHub => "GitHub",
            GitHost::Bitbucket => "Bitbucket",
            GitHost::GitLab => "GitLab",
        }
    }
}

/// A header's value, by name in any case.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}
