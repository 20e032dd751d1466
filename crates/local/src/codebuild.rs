//! The CodeBuild action on this machine: the shared interpreter
//! ([`pipewright_providers::codebuild`]) with what one state directory adds — the projects
//! of the run, `--secret` values, AWS (with `--aws`) and the environment for secrets, a build number per
//! project, and `cache.paths` kept per project under `<state>/codebuild/<project>/cache`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use pipewright_core::action_details::ActionDetails;
use pipewright_core::engine::Dispatch;
use pipewright_providers::buildspec::environment::LocalSecrets;
use pipewright_providers::codebuild::{self, BuildSession};
use pipewright_providers::{ActionOutput, Outcome};

use crate::providers::ProviderContext;

/// The account local ARNs carry.
const LOCAL_ACCOUNT: &str = "000000000000";

/// Claims the project's next build number: one file per build under `builds/`, created
/// exclusively, so two builds of one project never share a number.
pub fn next_build_number(project_dir: &Path, build_id: &str) -> u64 {
    let builds = project_dir.join("builds");
    if fs::create_dir_all(&builds).is_err() {
        return 1;
    }
    let highest = fs::read_dir(&builds)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    for number in highest + 1..highest + 1000 {
        match fs::OpenOptions::new().write(true).create_new(true).open(builds.join(number.to_string())) {
            Ok(mut file) => {
                use std::io::Write;
                let _ = file.write_all(build_id.as_bytes());
                return number;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(_) => return number,
        }
    }
    highest + 1
}

/// Runs a CodeBuild action's build here.
pub async fn run(
    dispatch: &Dispatch,
    context: &ProviderContext,
    output: Arc<dyn ActionOutput>,
    scratch: std::path::PathBuf,
    log: std::path::PathBuf,
    cancel: watch::Receiver<bool>,
) -> (Outcome, Option<ActionDetails>) {
    let project = dispatch.configuration.get("ProjectName").cloned().unwrap_or_default();
    let project_dir = context.codebuild_root.join(sanitize(&project));
    let number = next_build_number(&project_dir, &format!("{project}:{}", dispatch.action_execution_id));
    let secrets = LocalSecrets {
        given: context.secrets.clone(),
        aws: context.aws_secrets.clone(),
        environment: std::env::vars().collect(),
    };
    let reporter = context.reporter.clone();
    let warned = context.warned_host_tools.clone();
    let warn_once = move |message: &str| {
        if !warned.swap(true, Ordering::SeqCst) {
            reporter.info(&format!("warning: {message}"));
        }
    };
    let session = BuildSession {
        artifacts: &context.artifacts,
        output,
        scratch,
        log: Some(log),
        projects: &context.build_projects,
        secrets: &secrets,
        host_environment: std::env::vars().collect(),
        cache_root: Some(context.codebuild_root.clone()),
        build_number: number,
        account: LOCAL_ACCOUNT.to_string(),
        warn_once: &warn_once,
        user: current_user(),
    };
    codebuild::run(dispatch, session, cancel).await
}

/// The name of the user the builds run as: the process's effective user, not `$USER`, which
/// any environment may set (cron, systemd and `env -i` leave it out). Looked up once: the
/// lookup may block (NSS, LDAP) and the answer does not change.
fn current_user() -> Option<String> {
    static USER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    USER.get_or_init(|| match nix::unistd::User::from_uid(nix::unistd::geteuid()) {
        Ok(Some(user)) => Some(user.name),
        _ => std::env::var("USER").ok().or_else(|| std::env::var("LOGNAME").ok()),
    })
    .clone()
}

/// A project name as one path component.
fn sanitize(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if cleaned.is_empty() { "_".to_string() } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_numbers_count_up_per_project() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_build_number(&dir.path().join("a"), "a:1"), 1);
        assert_eq!(next_build_number(&dir.path().join("a"), "a:2"), 2);
        assert_eq!(next_build_number(&dir.path().join("b"), "b:1"), 1);
        assert_eq!(fs::read_to_string(dir.path().join("a/builds/2")).unwrap(), "a:2");
        assert_eq!(sanitize("../x y"), "___x_y");
    }
}
