//! One build, from INSTALL to FINALIZING, on this machine: the phases in CodeBuild's order
//! and rules, the exported variables frozen at the end of POST_BUILD, the reports read, the
//! cache kept, and UPLOAD_ARTIFACTS writing each output artifact. DOWNLOAD_SOURCE (inputs,
//! buildspec, secrets) is the caller's: the CodeBuild and Commands actions differ there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use pipewright_core::action_details::{PhaseDetail, ReportDetail};
use pipewright_core::engine::ArtifactLocation;
use pipewright_core::ports::ArtifactStore;
use pipewright_core::unpacked::Unpacked;

use super::cache::{self, CacheRoot, Chosen};
use super::console::Console;
use super::environment::exported_values;
use super::model::{ArtifactSpec, Buildspec, CacheAction, OnFailure, PhaseName};
use super::outputs;
use super::phases::{Step, next_step};
use super::reports::{self, Counts};
use super::runner::{FailedCommand, Narration, PhaseStatus, Runner};
use super::select;
use super::shell_state::ShellState;

/// An output artifact to write in UPLOAD_ARTIFACTS.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub location: ArtifactLocation,
    pub spec: ArtifactSpec,
    /// An output that selects no file is written empty instead of failing (a Commands
    /// output artifact without `files`).
    pub allow_empty: bool,
}

/// The overall status, as CodeBuild's `buildStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Succeeded => "SUCCEEDED",
            BuildStatus::Failed => "FAILED",
            BuildStatus::TimedOut => "TIMED_OUT",
            BuildStatus::Stopped => "STOPPED",
        }
    }
}

/// Where one build's cache comes from and goes (see `Build::cache_slot`).
struct CacheSlot {
    /// The directory to restore from, and whether to copy (leaving it as it is) or move.
    restore: Option<(PathBuf, bool)>,
    save: PathBuf,
    /// A key's cache: never updated once saved.
    keyed: bool,
}

fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// The first thing that went wrong: CodeBuild's failing phase and its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    pub phase: &'static str,
    pub code: String,
    pub message: String,
    pub command: Option<FailedCommand>,
}

impl BuildFailure {
    /// `Build terminated with state: FAILED. Phase: BUILD, Code: …, Message: …`, the
    /// message a failed CodeBuild action shows in CodePipeline.
    pub fn describe(&self, status: BuildStatus) -> String {
        format!(
            "Build terminated with state: {}. Phase: {}, Code: {}, Message: {}",
            status.as_str(),
            self.phase,
            self.code,
            self.message
        )
    }
}

#[derive(Debug, Clone)]
pub struct BuildResult {
    pub status: BuildStatus,
    pub phases: Vec<PhaseDetail>,
    pub failure: Option<BuildFailure>,
    /// The exported variables (`env.exported-variables`, or the Commands action's
    /// `outputVariables`) at the end of POST_BUILD.
    pub exported: BTreeMap<String, String>,
    pub reports: Vec<ReportDetail>,
}

/// Everything a build needs.
pub struct Build<'a, A> {
    pub spec: &'a Buildspec,
    pub narration: Narration,
    pub shell: PathBuf,
    /// `$CODEBUILD_SRC_DIR`: where commands start and patterns are relative to.
    pub src_dir: PathBuf,
    /// A directory of the build's own for scripts and zips, created when one goes in.
    pub scratch: PathBuf,
    pub environment: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
    pub outputs: Vec<Output>,
    /// The inputs as unpacked: an output that is one of them unchanged is stored as it.
    pub inputs: Vec<Unpacked>,
    pub artifacts: &'a A,
    /// The project's cache directory, when `cache.paths` are kept.
    pub cache_dir: Option<PathBuf>,
    pub exported_names: Vec<String>,
    /// Variables that must not be exported (the project's secrets).
    pub secret_names: BTreeSet<String>,
}

/// The phase whose last command is the last any path of the build can run, when nothing reads
/// the shell state after it: that command need not dump its state (docs/codebuild.md, "Shell
/// semantics"), which saves a fork-heavy `set`/`export -p` dump per action. The state is read
/// after the last command by exported variables, report groups and a variable in an output's
/// `base-directory`; another phase with commands, a `finally` block or a retried phase may run
/// a command after it.
pub fn last_undumped_phase(spec: &Buildspec, exported_names: &[String], outputs: &[Output]) -> Option<PhaseName> {
    let reads_final_state = !exported_names.is_empty()
        || !spec.reports.is_empty()
        || outputs.iter().any(|o| o.spec.base_directory.as_deref().is_some_and(|b| b.contains('$')));
    if reads_final_state {
        return None;
    }
    let mut with_commands = spec.phases.iter().filter(|(_, p)| !p.commands.is_empty() || !p.finally.is_empty());
    let (name, phase) = with_commands.next()?;
    let alone = with_commands.next().is_none();
    let retried = matches!(phase.on_failure, Some(OnFailure::Retry { .. }));
    (alone && phase.finally.is_empty() && !retried).then_some(*name)
}

fn detail(phase: &str, status: &str, started: Instant, context: Option<&(String, String)>) -> PhaseDetail {
    PhaseDetail {
        phase_type: phase.to_string(),
        phase_status: status.to_string(),
        duration_millis: started.elapsed().as_millis() as u64,
        context: context.map(|(code, message)| format!("{code}: {message}")),
    }
}

impl<A: ArtifactStore> Build<'_, A> {
    /// Runs the build; `console` carries its log.
    pub async fn run(self, console: &Console, cancel: watch::Receiver<bool>) -> BuildResult {
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let initial = ShellState::new(self.environment.clone(), self.src_dir.clone());
        let mut runner = Runner::new(
            console,
            self.narration,
            self.spec.version,
            self.shell.clone(),
            self.scratch.clone(),
            initial,
            cancel,
            deadline,
        );
        runner.undumped_phase = last_undumped_phase(self.spec, &self.exported_names, &self.outputs);
        let mut result = BuildResult {
            status: BuildStatus::Succeeded,
            phases: Vec::new(),
            failure: None,
            exported: BTreeMap::new(),
            reports: Vec::new(),
        };
        let cache_roots = self.cache_roots();
        let cache_slot = cache_roots.as_ref().and_then(|_| self.cache_slot(console));
        if let (Some(CacheSlot { restore: Some((dir, copy)), .. }), Some(roots)) = (&cache_slot, &cache_roots)
            && self.spec.cache.as_ref().is_none_or(|c| c.action != Some(CacheAction::Save))
        {
            let restored = if *copy {
                cache::restore_copy(dir, &self.src_dir, roots)
            } else {
                cache::restore(dir, &self.src_dir, roots)
            };
            match restored {
                Ok(restored) if !restored.is_empty() => {
                    let names: Vec<String> = restored.iter().map(|p| p.display().to_string()).collect();
                    console.say(&format!("[pipewright] Restored the cache: {}", names.join(", ")));
                }
                Ok(_) => {}
                Err(e) => console.say(&format!("[pipewright] Warning: cannot restore the cache: {e}")),
            }
        }

        let mut step = Step::FIRST;
        let mut exported_frozen = false;
        while let Step::Phase(name) = step {
            let started = Instant::now();
            if self.narration == Narration::Build {
                console.say(&format!("[pipewright] Entering phase {}", name.phase_type()));
            }
            let phase = self.spec.phase(name);
            let end = runner.run_phase(name, phase).await;
            let record = detail(name.phase_type(), end.status.as_str(), started, end.context.as_ref());
            if self.narration == Narration::Build {
                console.say(&format!(
                    "[pipewright] Phase complete: {} State: {} ({:.1}s)",
                    name.phase_type(),
                    end.status.as_str(),
                    record.duration_millis as f64 / 1000.0
                ));
                if let Some((code, message)) = &end.context {
                    console.say(&format!("[pipewright] Phase context status code: {code} Message: {message}"));
                }
            }
            result.phases.push(record);
            match end.status {
                PhaseStatus::Succeeded => step = next_step(name, false, phase.and_then(|p| p.on_failure.as_ref())),
                PhaseStatus::Failed => {
                    runner.build_failed = true;
                    result.status = BuildStatus::Failed;
                    if result.failure.is_none()
                        && let Some((code, message)) = end.context
                    {
                        result.failure =
                            Some(BuildFailure { phase: name.phase_type(), code, message, command: end.command });
                    }
                    step = next_step(name, true, phase.and_then(|p| p.on_failure.as_ref()));
                }
                PhaseStatus::TimedOut | PhaseStatus::Stopped => {
                    result.status =
                        if end.status == PhaseStatus::TimedOut { BuildStatus::TimedOut } else { BuildStatus::Stopped };
                    let minutes = self.timeout.map_or(0, |t| t.as_secs().div_ceil(60));
                    result.failure = Some(BuildFailure {
                        phase: name.phase_type(),
                        code: end.status.as_str().to_string(),
                        message: if end.status == PhaseStatus::TimedOut {
                            format!("Build has timed out after {minutes} minute(s)")
                        } else {
                            "Build was stopped".to_string()
                        },
                        command: None,
                    });
                    runner.finish().await;
                    return result;
                }
            }
            if name == PhaseName::PostBuild || step == Step::Finalizing {
                self.freeze_exports(&runner, console, &mut result);
                exported_frozen = true;
            }
        }
        if !exported_frozen {
            self.freeze_exports(&runner, console, &mut result);
        }
        runner.finish().await;
        self.read_reports(&runner, console, &mut result);

        if step == Step::UploadArtifacts {
            let started = Instant::now();
            if self.narration == Narration::Build {
                console.say("[pipewright] Entering phase UPLOAD_ARTIFACTS");
            }
            let upload = self.upload(&runner, console).await;
            let context = upload.as_ref().err().map(|m| ("CLIENT_ERROR".to_string(), m.clone()));
            let status = if context.is_some() { "FAILED" } else { "SUCCEEDED" };
            result.phases.push(detail("UPLOAD_ARTIFACTS", status, started, context.as_ref()));
            if self.narration == Narration::Build {
                console.say(&format!("[pipewright] Phase complete: UPLOAD_ARTIFACTS State: {status}"));
            }
            if let Some((code, message)) = context {
                result.status = BuildStatus::Failed;
                if result.failure.is_none() {
                    result.failure = Some(BuildFailure { phase: "UPLOAD_ARTIFACTS", code, message, command: None });
                }
            }
            if let (Some(slot), Some(roots)) = (&cache_slot, &cache_roots)
                && self.spec.cache.as_ref().is_none_or(|c| c.action != Some(CacheAction::Restore))
            {
                match cache::save(&slot.save, &self.src_dir, roots, slot.keyed) {
                    Ok(saved) if !saved.is_empty() => {
                        let names: Vec<String> = saved.iter().map(|p| p.display().to_string()).collect();
                        console.say(&format!("[pipewright] Saved the cache: {}", names.join(", ")));
                        if slot.keyed
                            && let Err(e) = cache::mark_saved(&slot.save, now_millis())
                        {
                            console.say(&format!("[pipewright] Warning: cannot save the cache: {e}"));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => console.say(&format!("[pipewright] Warning: cannot save the cache: {e}")),
                }
            }
        }
        if self.narration == Narration::Build {
            console.say(&format!(
                "[pipewright] Phase complete: FINALIZING State: SUCCEEDED; build {}",
                result.status.as_str()
            ));
        }
        result
    }

    /// Where the cache is restored from and saved to (docs/codebuild.md "Cache"): the
    /// project's one cache, or with `cache.key` the key's, restored from the key's own or a
    /// fallback key's. None when the key cannot be evaluated (a warning: no cache is used).
    fn cache_slot(&self, console: &Console) -> Option<CacheSlot> {
        let project_dir = self.cache_dir.as_ref()?;
        let spec = self.spec.cache.as_ref()?;
        let restore_only = spec.action == Some(CacheAction::Restore);
        let Some(key_text) = &spec.key else {
            return Some(CacheSlot {
                restore: Some((project_dir.clone(), restore_only)),
                save: project_dir.clone(),
                keyed: false,
            });
        };
        let warn = |message: &str| console.say(&format!("[pipewright] Warning: {message}"));
        let evaluated = |text: &str| {
            cache::parse_key(text).and_then(|parts| {
                cache::evaluate(&parts, |name| self.environment.get(name).cloned(), |p| self.hash_files(p))
            })
        };
        let (key, save) =
            match evaluated(key_text).and_then(|key| cache::key_dir(project_dir, &key).map(|dir| (key, dir))) {
                Ok(evaluated) => evaluated,
                Err(e) => {
                    warn(&format!("{e}; the cache is not used"));
                    return None;
                }
            };
        if spec.fallback_keys.len() > cache::MAX_FALLBACK_KEYS {
            warn(&format!("cache.fallback-keys: only the first {} are used", cache::MAX_FALLBACK_KEYS));
        }
        let fallbacks: Vec<String> = spec
            .fallback_keys
            .iter()
            .filter_map(|text| evaluated(text).map_err(|e| warn(&format!("{e}; the fallback key is not used"))).ok())
            .collect();
        let restore = match cache::choose(&key, &fallbacks, &cache::saved_keys(project_dir)) {
            Some(Chosen::Exact(_)) => {
                console.say(&format!("[pipewright] Cache key {key}: restoring its cache"));
                Some((save.clone(), restore_only))
            }
            Some(Chosen::Fallback { fallback, key: found }) => {
                console.say(&format!(
                    "[pipewright] Cache key {key} has no cache; restoring {found} (fallback key {fallback})"
                ));
                cache::key_dir(project_dir, &found).ok().map(|dir| (dir, true))
            }
            None => {
                console.say(&format!("[pipewright] Cache key {key} has no cache"));
                None
            }
        };
        Some(CacheSlot { restore, save, keyed: true })
    }

    /// `$(codebuild-hash-files …)`: the files the patterns select under the source root.
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        let failed = |e: &dyn std::fmt::Display| format!("codebuild-hash-files {}: {e}", patterns.join(" "));
        let files = select::walk(&self.src_dir, false).map_err(|e| failed(&e))?;
        let selection = select::select(&files, patterns, &[], false).map_err(|e| failed(&e))?;
        let mut contents = Vec::new();
        for (path, _) in &selection.files {
            contents.push((path.as_str(), std::fs::read(self.src_dir.join(path)).map_err(|e| failed(&e))?));
        }
        Ok(cache::hash_files(contents.iter().map(|(path, bytes)| (*path, bytes.as_slice()))))
    }

    fn cache_roots(&self) -> Option<Vec<CacheRoot>> {
        let paths = &self.spec.cache.as_ref()?.paths;
        let roots = cache::roots(paths);
        roots.iter().any(|r| matches!(r, CacheRoot::Relative(_))).then_some(roots)
    }

    fn freeze_exports(&self, runner: &Runner<'_>, console: &Console, result: &mut BuildResult) {
        let (values, warnings) = exported_values(&self.exported_names, |n| runner.variable(n), &self.secret_names);
        if self.narration == Narration::Build {
            for warning in warnings {
                console.say(&format!("[pipewright] Warning: {warning}"));
            }
        }
        result.exported = values;
    }

    fn read_reports(&self, runner: &Runner<'_>, console: &Console, result: &mut BuildResult) {
        let variables = runner.variables();
        for group in &self.spec.reports {
            let lookup = |n: &str| variables.get(n).cloned();
            let mut counts = Counts::default();
            let mut found = 0;
            let bases =
                select::base_directories(&self.src_dir, group.base_directory.as_deref(), lookup).unwrap_or_default();
            for base in bases {
                let files = select::walk(&base, false).unwrap_or_default();
                let Ok(selection) = select::select(&files, &group.files, &[], false) else { continue };
                for (relative, _) in selection.files {
                    let path = base.join(&relative);
                    let parsed = std::fs::read_to_string(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|text| reports::count(group.format, &text));
                    match parsed {
                        Ok(file_counts) => {
                            counts.add(&file_counts);
                            found += 1;
                        }
                        Err(why) => console
                            .say(&format!("[pipewright] Warning: report {} cannot read {relative}: {why}", group.name)),
                    }
                }
            }
            if found == 0 {
                console.say(&format!(
                    "[pipewright] Warning: report {}: no report files found ({})",
                    group.name,
                    group.files.join(", ")
                ));
                continue;
            }
            let coverage = group.format.is_coverage();
            let report = ReportDetail {
                name: group.name.clone(),
                kind: if coverage { "CODE_COVERAGE" } else { "TEST" }.to_string(),
                total: counts.total(),
                passed: counts.passed,
                failed: counts.failed,
                skipped: counts.skipped,
                line_coverage: (coverage && counts.total_lines > 0)
                    .then(|| counts.covered_lines as f64 * 100.0 / counts.total_lines as f64),
            };
            console.say(&format!("[pipewright] Report {}", report.describe()));
            result.reports.push(report);
        }
    }

    async fn upload(&self, runner: &Runner<'_>, console: &Console) -> Result<(), String> {
        let variables = runner.variables();
        for output in &self.outputs {
            let lookup = |n: &str| variables.get(n).cloned();
            let chosen = outputs::choose(&self.src_dir, &output.spec, lookup)
                .map_err(|e| format!("cannot read the files of output artifact {}: {e}", output.name))?;
            for pattern in &chosen.unmatched {
                if !output.allow_empty && self.narration == Narration::Build {
                    console.say(&format!("[pipewright] Skipping invalid file path {pattern}"));
                }
            }
            for warning in &chosen.warnings {
                console.say(&format!("[pipewright] Warning: {warning}"));
            }
            if chosen.entries.is_empty() && !output.allow_empty {
                return Err(format!(
                    "no matching artifact paths found for output artifact {} ({})",
                    output.name,
                    output.spec.files.join(", ")
                ));
            }
            // Zipped straight into the store: no copy of the zip, and none in the workspace.
            self.artifacts
                .pack_files(&output.location, &chosen.entries, output.spec.enable_symlinks, &self.inputs)
                .await
                .map_err(|e| format!("cannot store output artifact {}: {e}", output.name))?;
        }
        Ok(())
    }
}

/// The absolute path of the shell `env.shell` names (`/bin/sh` by default), searched in
/// `path` (the host's PATH) when it is a bare name.
pub fn shell_path(requested: Option<&str>, default: &str, path: Option<&str>) -> Result<PathBuf, String> {
    let name = requested.unwrap_or(default);
    if matches!(name.to_ascii_lowercase().as_str(), "powershell.exe" | "cmd.exe" | "pwsh" | "powershell") {
        return Err(format!("env.shell: {name} is a Windows shell; builds on this machine run a POSIX shell"));
    }
    let candidate = Path::new(name);
    if candidate.is_absolute() {
        return if candidate.exists() {
            Ok(candidate.to_path_buf())
        } else {
            Err(format!("env.shell: {name} does not exist on this machine"))
        };
    }
    for dir in path.unwrap_or("/usr/bin:/bin").split(':').filter(|d| !d.is_empty()) {
        let full = Path::new(dir).join(name);
        if full.is_file() {
            return Ok(full);
        }
    }
    Err(format!("env.shell: {name} is not installed on this machine (not found in PATH)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_is_found_or_named_in_the_error() {
        assert_eq!(shell_path(None, "/bin/sh", None).unwrap(), PathBuf::from("/bin/sh"));
        assert!(shell_path(Some("sh"), "/bin/sh", Some("/nonexistent:/bin")).unwrap().ends_with("sh"));
        assert!(shell_path(Some("zzsh"), "/bin/sh", Some("/bin")).unwrap_err().contains("zzsh is not installed"));
        assert!(shell_path(Some("powershell.exe"), "/bin/sh", None).unwrap_err().contains("Windows"));
    }

    fn spec(text: &str) -> Buildspec {
        crate::buildspec::parse::parse(text).unwrap()
    }

    fn output(base_directory: Option<&str>) -> Output {
        Output {
            name: "Out".into(),
            location: ArtifactLocation { bucket: "b".into(), key: "k".into() },
            spec: ArtifactSpec {
                files: vec!["**/*".into()],
                base_directory: base_directory.map(String::from),
                ..ArtifactSpec::default()
            },
            allow_empty: false,
        }
    }

    #[test]
    fn only_a_command_nothing_runs_or_reads_after_skips_its_state_dump() {
        let one_phase = spec("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n      - make test\n");
        assert_eq!(last_undumped_phase(&one_phase, &[], &[output(None)]), Some(PhaseName::Build));
        assert_eq!(last_undumped_phase(&one_phase, &[], &[output(Some("dist"))]), Some(PhaseName::Build));
        // What reads the state after the last command.
        assert_eq!(last_undumped_phase(&one_phase, &["VERSION".into()], &[]), None);
        assert_eq!(last_undumped_phase(&one_phase, &[], &[output(Some("$OUT"))]), None);
        let reports = spec(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - make\nreports:\n  unit:\n    files:\n      - r.xml\n",
        );
        assert_eq!(last_undumped_phase(&reports, &[], &[]), None);
        // What may run a command after it.
        let two_phases = spec(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n  post_build:\n    commands:\n      - echo done\n",
        );
        assert_eq!(last_undumped_phase(&two_phases, &[], &[]), None);
        let finally =
            spec("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n    finally:\n      - echo done\n");
        assert_eq!(last_undumped_phase(&finally, &[], &[]), None);
        let retried = spec("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2\n    commands:\n      - make\n");
        assert_eq!(last_undumped_phase(&retried, &[], &[]), None);
    }

    #[test]
    fn failures_read_as_codepipeline_shows_them() {
        let failure = BuildFailure {
            phase: "BUILD",
            code: "COMMAND_EXECUTION_ERROR".into(),
            message: "Error while executing command: make. Reason: exit status 2".into(),
            command: None,
        };
        assert_eq!(
            failure.describe(BuildStatus::Failed),
            "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Message: Error while executing command: make. Reason: exit status 2"
        );
    }
}
