//! The buildspec, typed: every key of versions 0.1 and 0.2 that a build reads
//! (docs/codebuild.md "The buildspec").

/// `version`: 0.1 runs each command in its own shell; 0.2 carries the shell's state over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1,
    V0_2,
}

/// The four phases a buildspec may declare, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [PhaseName; 4] = [PhaseName::Install, PhaseName::PreBuild, PhaseName::Build, PhaseName::PostBuild];

    /// The key in the buildspec (`pre_build`).
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    /// The phase type CodeBuild reports (`PRE_BUILD`).
    pub fn phase_type(self) -> &'static str {
        match self {
            PhaseName::Install => "INSTALL",
            PhaseName::PreBuild => "PRE_BUILD",
            PhaseName::Build => "BUILD",
            PhaseName::PostBuild => "POST_BUILD",
        }
    }

    pub fn from_key(key: &str) -> Option<PhaseName> {
        PhaseName::ALL.into_iter().find(|p| p.key() == key)
    }

    pub fn next(self) -> Option<PhaseName> {
        match self {
            PhaseName::Install => Some(PhaseName::PreBuild),
            PhaseName::PreBuild => Some(PhaseName::Build),
            PhaseName::Build => Some(PhaseName::PostBuild),
            PhaseName::PostBuild => None,
        }
    }
}

/// `phases.<phase>.on-failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// End the build (after this phase's `finally`).
    Abort,
    /// Go on to the next phase; the build still ends FAILED.
    Continue,
    /// Run the phase again, up to `count` more times, when its failure matches `pattern`.
    Retry { count: u32, pattern: Option<String> },
}

/// One phase's commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phase {
    pub run_as: Option<String>,
    pub on_failure: Option<OnFailure>,
    /// `runtime-versions` (install only): runtime → version.
    pub runtime_versions: Vec<(String, String)>,
    pub commands: Vec<String>,
    pub finally: Vec<String>,
}

/// `env` (0.2) or `environment_variables` (0.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    /// `env.shell`: `bash` or `/bin/sh` on Linux.
    pub shell: Option<String>,
    /// Plaintext variables, taken literally, in declaration order.
    pub variables: Vec<(String, String)>,
    /// Variable → Parameter Store parameter name.
    pub parameter_store: Vec<(String, String)>,
    /// Variable → `secret-id[:json-key[:version-stage[:version-id]]]`.
    pub secrets_manager: Vec<(String, String)>,
    pub exported_variables: Vec<String>,
    pub git_credential_helper: bool,
}

/// `artifacts`, or one entry of `artifacts.secondary-artifacts`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArtifactSpec {
    pub files: Vec<String>,
    pub name: Option<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub exclude_paths: Vec<String>,
    pub enable_symlinks: bool,
    pub s3_prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Artifacts {
    pub primary: ArtifactSpec,
    /// Artifact identifier → its files, in declaration order.
    pub secondary: Vec<(String, ArtifactSpec)>,
}

/// `reports.<group>.file-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    JunitXml,
    NunitXml,
    Nunit3Xml,
    TestngXml,
    VisualStudioTrx,
    CucumberJson,
    CloverXml,
    CoberturaXml,
    JacocoXml,
    SimpleCov,
}

impl ReportFormat {
    pub const NAMES: [(&'static str, ReportFormat); 10] = [
        ("JUNITXML", ReportFormat::JunitXml),
        ("NUNITXML", ReportFormat::NunitXml),
        ("NUNIT3XML", ReportFormat::Nunit3Xml),
        ("TESTNGXML", ReportFormat::TestngXml),
        ("VISUALSTUDIOTRX", ReportFormat::VisualStudioTrx),
        ("CUCUMBERJSON", ReportFormat::CucumberJson),
        ("CLOVERXML", ReportFormat::CloverXml),
        ("COBERTURAXML", ReportFormat::CoberturaXml),
        ("JACOCOXML", ReportFormat::JacocoXml),
        ("SIMPLECOV", ReportFormat::SimpleCov),
    ];

    pub fn is_coverage(self) -> bool {
        matches!(
            self,
            ReportFormat::CloverXml | ReportFormat::CoberturaXml | ReportFormat::JacocoXml | ReportFormat::SimpleCov
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportGroup {
    pub name: String,
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub format: ReportFormat,
}

/// `cache.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    Restore,
    Save,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cache {
    pub paths: Vec<String>,
    pub key: Option<String>,
    pub fallback_keys: Vec<String>,
    /// Both when absent.
    pub action: Option<CacheAction>,
}

/// A parsed buildspec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    pub version: Version,
    pub run_as: Option<String>,
    pub env: Env,
    /// Declared phases, by name; an absent phase runs nothing and succeeds.
    pub phases: Vec<(PhaseName, Phase)>,
    pub reports: Vec<ReportGroup>,
    pub artifacts: Option<Artifacts>,
    pub cache: Option<Cache>,
    /// `proxy` was given (it has no effect outside CodeBuild's network).
    pub has_proxy: bool,
    /// `batch` was given (it applies only to batch builds).
    pub has_batch: bool,
    /// `eb_codebuild_settings` was given (Elastic Beanstalk's, read by `eb`, not by builds).
    pub has_beanstalk_settings: bool,
    /// Keys of a section CodeBuild does not know, which it warns of and passes over (`Found
    /// possible syntax errors in buildspec: …`), one line per section.
    pub unidentified: Vec<String>,
}

impl Buildspec {
    /// A buildspec of one `build` phase running `commands` (the Commands action).
    pub fn single_phase(commands: Vec<String>) -> Buildspec {
        Buildspec {
            version: Version::V0_2,
            run_as: None,
            env: Env::default(),
            phases: vec![(PhaseName::Build, Phase { commands, ..Phase::default() })],
            reports: Vec::new(),
            artifacts: None,
            cache: None,
            has_proxy: false,
            has_batch: false,
            has_beanstalk_settings: false,
            unidentified: Vec::new(),
        }
    }

    pub fn phase(&self, name: PhaseName) -> Option<&Phase> {
        self.phases.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
    }
}
