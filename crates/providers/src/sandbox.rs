//! What user code may see of the process that runs it, when that process is the orchestrator.
//!
//! Locally, a Commands action runs as the person who started `pipewright run` and gets their
//! whole environment, as a shell would. Inside invoke-action it must not: the Lambda role's
//! credentials are in the function's environment, and they can write the state table, read
//! the link key and put events on the bus (docs/security.md, "Credentials"). So on AWS the
//! commands start from [`sandboxed_environment`] and the function calls [`shield_process`]
//! before it runs any, so that a command cannot read the credentials back from
//! `/proc/<orchestrator>/environ` or attach to it.

use std::collections::BTreeMap;
use std::path::Path;

/// The variables of the orchestrator's environment a sandboxed command keeps: how to find
/// programs, the locale and time zone, and the region. Nothing that names or grants access
/// to the orchestrator's resources (credentials, the runtime API, table and bus names).
const KEPT: &[&str] = &["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "AWS_REGION", "AWS_DEFAULT_REGION"];

/// The environment a command starts from on AWS: the [`KEPT`] variables of `inherited`, with
/// `HOME` and `TMPDIR` inside the action's own `scratch` directory, which is removed after the
/// action, so that nothing a command writes there reaches the next job on a warm instance.
pub fn sandboxed_environment(
    inherited: impl IntoIterator<Item = (String, String)>,
    scratch: &Path,
) -> BTreeMap<String, String> {
    let mut environment: BTreeMap<String, String> =
        inherited.into_iter().filter(|(name, _)| KEPT.contains(&name.as_str())).collect();
    environment.entry("PATH".into()).or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
    environment.insert("HOME".into(), scratch.join("home").display().to_string());
    environment.insert("TMPDIR".into(), scratch.join("tmp").display().to_string());
    environment
}

/// The directories [`sandboxed_environment`] points `HOME` and `TMPDIR` at.
pub fn sandbox_directories(scratch: &Path) -> [std::path::PathBuf; 2] {
    [scratch.join("home"), scratch.join("tmp")]
}

/// Makes this process's memory and `/proc/<pid>/environ` unreadable to the commands it runs:
/// they share its user id, and without this they could read its credentials there (or
/// ptrace it). Only root keeps access, and Lambda runs functions as an unprivileged user.
pub fn shield_process() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_dumpable(false).map_err(std::io::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_orchestrators_credentials_and_resources_stay_behind() {
        let inherited = pairs(&[
            ("AWS_ACCESS_KEY_ID", "AKIA..."),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.2/creds"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_PROFILE", "admin"),
            ("PIPEWRIGHT_TABLE", "pw-state"),
            ("PIPEWRIGHT_LINK_KEY_SECRET", "arn:aws:secretsmanager:..."),
            ("_HANDLER", "bootstrap"),
            ("PATH", "/var/lang/bin:/usr/bin"),
            ("AWS_REGION", "eu-west-1"),
            ("LANG", "en_US.UTF-8"),
        ]);
        let environment = sandboxed_environment(inherited, Path::new("/tmp/pipewright/job"));
        let names: Vec<&str> = environment.keys().map(String::as_str).collect();
        assert_eq!(names, ["AWS_REGION", "HOME", "LANG", "PATH", "TMPDIR"]);
        assert_eq!(environment["PATH"], "/var/lang/bin:/usr/bin");
        assert_eq!(environment["HOME"], "/tmp/pipewright/job/home");
        assert_eq!(environment["TMPDIR"], "/tmp/pipewright/job/tmp");
    }

    #[test]
    fn a_path_is_always_given() {
        let environment = sandboxed_environment(Vec::new(), Path::new("/s"));
        assert_eq!(environment["PATH"], "/usr/local/bin:/usr/bin:/bin");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_shielded_process_is_not_dumpable() {
        shield_process().unwrap();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
