//! Reading any file that holds a pipeline: a CodePipeline declaration (JSON/YAML, bare or
//! `get-pipeline` output), a CloudFormation/SAM template, a CDK cloud assembly (`cdk.out`
//! or its `manifest.json`), or `terraform show -json` output. This module does the I/O;
//! `pipewright_core::import` decides what the text means.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use pipewright_core::declaration::{Format, ParseError, PipelineDeclaration, PipelineDocument};
use pipewright_core::import::stand_ins::StandIn;
use pipewright_core::import::{self, FileKind, ImportError, ImportedPipeline, Options};
use pipewright_core::validate::{Context, Report};

use crate::commands::run::parse_pair;

/// How to import a template: which pipeline, its parameters, and values for what cannot be
/// known offline.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ImportArgs {
    /// With a template that declares several pipelines: the logical id of the one to use
    /// (`Stack/LogicalId` in a CDK app).
    #[arg(long, value_name = "LOGICAL_ID")]
    pub resource: Option<String>,
    /// A template parameter's value. Repeatable.
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub parameters: Vec<(String, String)>,
    /// Template parameters from a file: CloudFormation's
    /// `[{"ParameterKey": …, "ParameterValue": …}]` list or a `{"Parameters": {…}}`
    /// configuration file.
    #[arg(long, value_name = "FILE")]
    pub parameters_file: Option<PathBuf>,
    /// A value for what cannot be known offline: an `Fn::ImportValue` export name, a
    /// `{{resolve:…}}` reference, an SSM-typed parameter, `LogicalId` or
    /// `LogicalId.Attribute` of a resource, or `AWS::AccountId`. Repeatable.
    #[arg(long = "value", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub values: Vec<(String, String)>,
    /// `AWS::StackName`, and the prefix of generated names (default: the file's name).
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
}

/// One pipeline a file holds.
pub struct Candidate {
    /// `LogicalId` (or `Stack/LogicalId` in a CDK app); `None` for a declaration file.
    pub label: Option<String>,
    pub declaration: PipelineDeclaration,
    /// For validation: the pipeline's region when known.
    pub context: Context,
    /// For a template: everything the import found.
    pub imported: Option<ImportedPipeline>,
    /// For a template: the values the import chose (placeholders, a stack name taken from the
    /// file's name), whose failures are warnings (`import::stand_ins`).
    pub stand_ins: Vec<StandIn>,
    /// The pipeline's tags: a template's, or a CreatePipeline input file's.
    pub tags: Vec<import::mapping::Tag>,
}

impl Candidate {
    /// The declaration's report, where an error only the import's stand-ins cause is a warning.
    pub fn validate(&self) -> Report {
        self.excused().report
    }

    /// The report, and the rules that only the import's stand-ins break, each with (the index
    /// of) its stand-in: `validate` warns about those, but a run, whose engine takes only a
    /// valid declaration, needs real values for them.
    /// An error at a field that a parameter left at an empty `Default` fills names that
    /// parameter.
    pub fn excused(&self) -> import::stand_ins::Excused {
        let mut excused = import::stand_ins::validate(&self.declaration, &self.context, &self.stand_ins);
        if let Some(imported) = &self.imported {
            import::empty_defaults::name_in(&mut excused.report.errors, &imported.logical_id, &imported.empty_defaults);
        }
        excused
    }

    pub fn warnings(&self) -> &[String] {
        self.imported.as_ref().map_or(&[], |i| i.warnings.as_slice())
    }
}

/// Why a file gave no pipeline.
pub enum LoadError {
    /// It could not be read.
    Unreadable(String),
    /// A declaration file that does not parse (syntax or shape).
    Unparsable(ParseError),
    /// A file of another kind, or a template that cannot be imported as asked: one
    /// sentence. `usage` is true when the person must change what they give (exit 2).
    Refused { message: String, usage: bool },
}

impl LoadError {
    fn import(file: &str, error: ImportError) -> LoadError {
        let usage = matches!(error, ImportError::NotAPipeline(_) | ImportError::Parameter(_) | ImportError::Choose(_));
        let message = match &error {
            ImportError::NotAPipeline(_) | ImportError::Parameter(_) | ImportError::Choose(_) => error.to_string(),
            ImportError::Syntax { line, column, message } => format!("{file}:{line}:{column}: {message}"),
            _ => format!("{file}: {error}"),
        };
        LoadError::Refused { message, usage }
    }

    pub fn message(&self, file: &str) -> String {
        match self {
            LoadError::Unreadable(message) => message.clone(),
            LoadError::Unparsable(error) => {
                let position = error.line.zip(error.column).map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
                let path = error.path.as_deref().map(|p| format!("{p}: ")).unwrap_or_default();
                format!("{file}{position}: {path}{}", error.message)
            }
            LoadError::Refused { message, .. } => message.clone(),
        }
    }
}

/// The import options for `file` from the command line.
fn options(file: &str, args: &ImportArgs, region: Option<&str>) -> Result<Options, LoadError> {
    let mut parameters = BTreeMap::new();
    if let Some(path) = &args.parameters_file {
        parameters = parameters_file(path)?;
    }
    parameters.extend(args.parameters.iter().cloned());
    let stem = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.split('.').next().unwrap_or(n).to_string())
        .filter(|n| !n.is_empty() && *n != "-")
        .unwrap_or_else(|| "stack".to_string());
    let values: BTreeMap<String, String> = args.values.iter().cloned().collect();
    Ok(Options {
        stack_name: args.stack_name.clone().unwrap_or(stem),
        region: region.map(str::to_string).unwrap_or_else(|| import::DEFAULT_REGION.to_string()),
        account: values.get("AWS::AccountId").cloned().unwrap_or_else(|| import::DEFAULT_ACCOUNT.to_string()),
        parameters,
        values,
        origin: file.to_string(),
    })
}

/// `[{"ParameterKey","ParameterValue"}]`, `{"Parameters": {…}}` or a plain `{name: value}`.
fn parameters_file(path: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::Refused { message: format!("--parameters-file {shown}: {e}"), usage: true })?;
    let bad = |why: &str| LoadError::Refused { message: format!("--parameters-file {shown}: {why}"), usage: true };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let text_of = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let mut out = BTreeMap::new();
    match &value {
        serde_json::Value::Array(items) => {
            for item in items {
                let key = item.get("ParameterKey").and_then(|k| k.as_str()).ok_or_else(|| {
                    bad("each entry needs a \"ParameterKey\" (CloudFormation's [{\"ParameterKey\", \"ParameterValue\"}] list)")
                })?;
                let value =
                    item.get("ParameterValue").ok_or_else(|| bad(&format!("{key} has no \"ParameterValue\"")))?;
                out.insert(key.to_string(), text_of(value));
            }
        }
        serde_json::Value::Object(map) => {
            let parameters = map.get("Parameters").and_then(|p| p.as_object()).unwrap_or(map);
            for (key, value) in parameters {
                out.insert(key.clone(), text_of(value));
            }
        }
        _ => {
            return Err(bad(
                "expected a [{\"ParameterKey\", \"ParameterValue\"}] list or a {\"Parameters\": {…}} object",
            ));
        }
    }
    Ok(out)
}

/// Every pipeline `file` holds (`-` reads standard input).
pub fn load(file: &str, args: &ImportArgs, region: Option<&str>) -> Result<Vec<Candidate>, LoadError> {
    let path = Path::new(file);
    if file != "-" && path.is_dir() {
        if path.join("manifest.json").is_file() {
            return cdk(file, path, args, region);
        }
        return Err(LoadError::Unreadable(format!(
            "cannot read {file}: it is a directory (a CDK app's cdk.out has a manifest.json; this one has none)"
        )));
    }
    let text = read_text(file)?;
    let name = (file != "-").then_some(file);
    let kind = import::detect(name, &text);
    if let Some(sentence) = kind.refusal(file) {
        return Err(LoadError::Refused { message: sentence, usage: true });
    }
    match kind {
        FileKind::CloudFormation => {
            let options = options(file, args, region)?;
            let pipelines = import::import_template(&text, args.resource.as_deref(), &options)
                .map_err(|e| LoadError::import(file, e))?;
            let context = Context { home_region: region.map(str::to_string) };
            // A stack name taken from the file's name is the import's choice, not the template's.
            let stack_name = args.stack_name.is_none().then_some(options.stack_name.as_str());
            Ok(pipelines.into_iter().map(|p| imported(p.logical_id.clone(), p, context.clone(), stack_name)).collect())
        }
        FileKind::CdkManifest => cdk(file, path.parent().unwrap_or(Path::new(".")), args, region),
        FileKind::TerraformJson => {
            let pipelines = import::terraform::import(&text, file).map_err(|e| LoadError::import(file, e))?;
            let chosen: Vec<ImportedPipeline> = match &args.resource {
                Some(wanted) => {
                    pipelines.into_iter().filter(|p| &p.logical_id == wanted || p.declaration.name == *wanted).collect()
                }
                None => pipelines,
            };
            if chosen.is_empty() {
                return Err(LoadError::Refused {
                    message: format!(
                        "{file} is Terraform JSON without an aws_codepipeline resource{}",
                        match &args.resource {
                            Some(wanted) => format!(" matching --resource {wanted}"),
                            None => String::new(),
                        }
                    ),
                    usage: true,
                });
            }
            let context = Context { home_region: region.map(str::to_string) };
            Ok(chosen.into_iter().map(|p| imported(p.logical_id.clone(), p, context.clone(), None)).collect())
        }
        _ => match PipelineDocument::parse(&text, Format::detect(name, &text)) {
            Ok(document) => {
                let home_region = document
                    .metadata
                    .as_ref()
                    .and_then(|m| m.region())
                    .map(str::to_string)
                    .or_else(|| region.map(str::to_string));
                Ok(vec![Candidate {
                    label: None,
                    declaration: document.pipeline,
                    context: Context { home_region },
                    imported: None,
                    stand_ins: Vec::new(),
                    tags: document
                        .tags
                        .into_iter()
                        .map(|tag| import::mapping::Tag { key: tag.key, value: tag.value })
                        .collect(),
                }])
            }
            Err(error) => Err(LoadError::Unparsable(error)),
        },
    }
}

/// The candidate of an imported pipeline; `stack_name` when the import took it from the file's
/// name.
fn imported(label: String, pipeline: ImportedPipeline, context: Context, stack_name: Option<&str>) -> Candidate {
    let mut stand_ins = StandIn::of_placeholders(&pipeline.placeholders);
    stand_ins.extend(stack_name.map(StandIn::of_stack_name));
    Candidate {
        label: Some(label),
        declaration: pipeline.declaration.clone(),
        context,
        tags: pipeline.tags.clone(),
        imported: Some(pipeline),
        stand_ins,
    }
}

fn read_text(file: &str) -> Result<String, LoadError> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| LoadError::Unreadable(format!("cannot read standard input: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| LoadError::Unreadable(format!("cannot read {file}: {e}")))
}

/// A CDK cloud assembly: the stacks `manifest.json` lists (and nested assemblies'), each
/// template imported under its stack name and environment; stacks without a pipeline are
/// passed over, and so are templates the assembly lacks or that do not parse and name no
/// pipeline (a `cdk.out` committed in part), with a warning.
fn cdk(file: &str, dir: &Path, args: &ImportArgs, region: Option<&str>) -> Result<Vec<Candidate>, LoadError> {
    let base = options(file, args, region)?;
    let mut walk = AssemblyWalk::default();
    walk.read(file, dir, args, region, &base, 0)?;
    if let Some(unknown) = base.parameters.keys().find(|name| !walk.declared_parameters.contains(*name)) {
        return Err(LoadError::Refused {
            message: format!("--parameter {unknown}: no stack of the CDK app {file} declares that parameter"),
            usage: true,
        });
    }
    if walk.found.is_empty() {
        let passed_over = if walk.passed_over.is_empty() {
            String::new()
        } else {
            format!("; passed over: {}", walk.passed_over.join("; "))
        };
        return Err(LoadError::Refused {
            message: format!(
                "{file}: no stack of this CDK app declares an AWS::CodePipeline::Pipeline{} (its stacks: {}{passed_over})",
                args.resource.as_deref().map(|r| format!(" named {r}")).unwrap_or_default(),
                if walk.stacks.is_empty() { "none".to_string() } else { walk.stacks.join(", ") }
            ),
            usage: true,
        });
    }
    for candidate in &mut walk.found {
        if let Some(imported) = &mut candidate.imported {
            imported.warnings.extend(walk.passed_over.iter().map(|why| format!("passed over {why}")));
        }
    }
    Ok(walk.found)
}

/// What reading a cloud assembly and its nested ones gathers.
#[derive(Default)]
struct AssemblyWalk {
    found: Vec<Candidate>,
    stacks: Vec<String>,
    declared_parameters: std::collections::BTreeSet<String>,
    /// Stacks whose template could not be read as one: `stack (path): why`.
    passed_over: Vec<String>,
}

impl AssemblyWalk {
    fn read(
        &mut self,
        file: &str,
        dir: &Path,
        args: &ImportArgs,
        region: Option<&str>,
        base: &Options,
        depth: usize,
    ) -> Result<(), LoadError> {
        if depth > 4 {
            return Ok(());
        }
        let manifest_path = dir.join("manifest.json");
        let manifest = match std::fs::read_to_string(&manifest_path) {
            Ok(manifest) => manifest,
            // A stage's nested assembly committed without its files holds no pipeline of
            // CDK Pipelines' (the pipeline is in the top assembly).
            Err(e) if depth > 0 && e.kind() == std::io::ErrorKind::NotFound => {
                self.passed_over.push(format!("the nested assembly {}: it has no manifest.json", dir.display()));
                return Ok(());
            }
            Err(e) => return Err(LoadError::Unreadable(format!("cannot read {}: {e}", manifest_path.display()))),
        };
        let assembly = import::cdk::read_manifest(&manifest).map_err(|e| LoadError::import(file, e))?;
        for stack in &assembly.stacks {
            self.stacks.push(stack.stack_name.clone());
            let template_path = dir.join(&stack.template_file);
            let shown = template_path.display().to_string();
            // `--resource Stack/Id` names the stack whose template must be there.
            let named = args.resource.as_deref().and_then(|r| r.split_once('/')).map(|(s, _)| s);
            let required = named == Some(stack.stack_name.as_str());
            let text = match std::fs::read_to_string(&template_path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                    self.passed_over.push(format!("stack {} ({shown}): its template is missing", stack.stack_name));
                    continue;
                }
                Err(e) => return Err(LoadError::Unreadable(format!("cannot read {shown}: {e}"))),
            };
            let root = match import::read_template(&text) {
                Ok(root) => root,
                // A template that does not parse is passed over only when it cannot be the
                // pipeline's: its text names no pipeline type.
                Err(e) if !required && !text.contains(import::template::PIPELINE_TYPE) => {
                    self.passed_over.push(format!("stack {} ({shown}): {e}", stack.stack_name));
                    continue;
                }
                Err(e) => return Err(LoadError::import(&shown, e)),
            };
            let template = import::template::Template::from_node(&root).map_err(|e| LoadError::import(&shown, e))?;
            if template.of_type(import::template::PIPELINE_TYPE).next().is_none() {
                continue;
            }
            self.declared_parameters.extend(template.parameters.keys().cloned());
            let resource = match args.resource.as_deref() {
                Some(wanted) => match wanted.split_once('/') {
                    Some((stack_name, logical)) if stack_name == stack.stack_name => Some(logical),
                    Some(_) => continue,
                    None if template.resources.contains_key(wanted) => Some(wanted),
                    None => continue,
                },
                None => None,
            };
            let mut options = base.clone();
            options.stack_name = stack.stack_name.clone();
            options.origin = shown.clone();
            options.parameters.retain(|name, _| template.parameters.contains_key(name));
            if region.is_none()
                && let Some(stack_region) = &stack.region
            {
                options.region = stack_region.clone();
            }
            if !base.values.contains_key("AWS::AccountId")
                && let Some(account) = &stack.account
            {
                options.account = account.clone();
            }
            let pipelines =
                import::import_template(&text, resource, &options).map_err(|e| LoadError::import(&shown, e))?;
            let home_region = region.map(str::to_string).or_else(|| stack.region.clone());
            for mut pipeline in pipelines {
                if assembly.missing > 0 {
                    pipeline.warnings.push(format!(
                        "the CDK app has {} unfinished context lookups (manifest.json \"missing\"); run `cdk synth` with credentials before deploying it",
                        assembly.missing
                    ));
                }
                let label = format!("{}/{}", stack.stack_name, pipeline.logical_id);
                self.found.push(imported(label, pipeline, Context { home_region: home_region.clone() }, None));
            }
        }
        for nested in &assembly.nested {
            self.read(file, &dir.join(nested), args, region, base, depth + 1)?;
        }
        Ok(())
    }
}

/// The one pipeline a command works on: the only one, or the one `--resource` names. With
/// several and a terminal, the person chooses; otherwise the error names them.
pub fn choose(file: &str, mut candidates: Vec<Candidate>, interactive: bool) -> Result<Candidate, String> {
    if candidates.len() == 1 {
        return Ok(candidates.remove(0));
    }
    let labels: Vec<String> = candidates.iter().map(|c| c.label.clone().unwrap_or_default()).collect();
    if interactive {
        eprintln!("{file} declares {} pipelines:", labels.len());
        for (i, label) in labels.iter().enumerate() {
            eprintln!("  {}. {label}", i + 1);
        }
        eprint!("Which one (1-{})? ", labels.len());
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_ok()
            && let Ok(n) = answer.trim().parse::<usize>()
            && (1..=labels.len()).contains(&n)
        {
            return Ok(candidates.remove(n - 1));
        }
    }
    Err(format!(
        "{file} declares {} pipelines ({}); choose one with --resource {}",
        labels.len(),
        labels.join(", "),
        labels.first().cloned().unwrap_or_default()
    ))
}

/// The pipeline a `run` (here or through `--endpoint`) or an `export` works on: chosen,
/// valid, and — for `run` — with a value for every placeholder that flows into what a local
/// run executes or reads. On a terminal the person is asked for those values; otherwise the
/// error names each one and where the template uses it. Import warnings go to stderr.
pub fn prepare(
    file: &str,
    args: &ImportArgs,
    region: Option<&str>,
    interactive: bool,
    needs_run_inputs: bool,
) -> anyhow::Result<Candidate> {
    use crate::failure::usage;
    let mut args = args.clone();
    let mut asked = false;
    loop {
        // Whatever keeps a file from giving a pipeline is bad input: exit 2, as an invalid
        // declaration is.
        let candidates = load(file, &args, region).map_err(|error| usage(error.message(file)))?;
        let candidate = choose(file, candidates, interactive).map_err(usage)?;
        let excused = candidate.excused();
        let report = &excused.report;
        if !report.is_valid() {
            let place = candidate.label.as_ref().map_or_else(|| file.to_string(), |l| format!("{file} ({l})"));
            let lines: Vec<String> = report.errors.iter().map(|e| format!("{place}: {e}")).collect();
            return Err(usage(format!("{place} is not a valid pipeline:\n{}", lines.join("\n"))));
        }
        let mut needed: Vec<import::Placeholder> = match &candidate.imported {
            Some(imported) if needs_run_inputs => {
                imported.unresolved().filter(|p| p.needed_for_local_run()).cloned().collect()
            }
            _ => Vec::new(),
        };
        if !needs_run_inputs {
            // An export of what only a stand-in breaks is written, but AWS refuses it as it is.
            for (index, issue) in &excused.broken {
                let stand_in = &candidate.stand_ins[*index];
                eprintln!(
                    "pipewright: warning: {issue} (the value holds {}); CreatePipeline refuses it until a real value is given",
                    stand_in.what
                );
            }
        } else {
            // What only a stand-in breaks is a warning to `validate`, but the engine runs only a
            // valid declaration: the run needs those values too.
            for (index, issue) in &excused.broken {
                let stand_in = &candidate.stand_ins[*index];
                match &stand_in.placeholder {
                    Some(placeholder) => needed.push(placeholder.clone()),
                    None => {
                        return Err(usage(format!(
                            "{file}: a local run needs a stack name of your own: the one taken from the file's name (\"{}\") makes {issue}; give one with --stack-name NAME",
                            stand_in.value
                        )));
                    }
                }
            }
        }
        // One question per name (an account's values in several mappings share one).
        let mut asked_for = std::collections::HashSet::new();
        needed.retain(|p| asked_for.insert((p.kind, p.name.clone())));
        if needed.is_empty() {
            for warning in candidate.warnings() {
                eprintln!("pipewright: warning: {warning}");
            }
            return Ok(candidate);
        }
        if !interactive || asked {
            let lines: Vec<String> = needed
                .iter()
                .map(|p| {
                    format!(
                        "  {} {} (used at {}); give it with {} {}=VALUE",
                        p.kind.describe(),
                        p.name,
                        p.used_at.join(", "),
                        p.kind.flag(),
                        p.name
                    )
                })
                .collect();
            return Err(usage(format!(
                "{file}: a local run needs values the template does not give:\n{}",
                lines.join("\n")
            )));
        }
        for placeholder in &needed {
            // One write, so that nothing the terminal echoes lands inside the question.
            let question = format!(
                "{} {} (used at {}): ",
                placeholder.kind.describe(),
                placeholder.name,
                placeholder.used_at.join(", ")
            );
            {
                use std::io::Write as _;
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(question.as_bytes());
                let _ = err.flush();
            }
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).map_err(|e| usage(format!("cannot read the answer: {e}")))?;
            let answer = answer.trim_end_matches(['\n', '\r']).to_string();
            if placeholder.kind == import::PlaceholderKind::Parameter {
                args.parameters.push((placeholder.name.clone(), answer));
            } else {
                args.values.push((placeholder.name.clone(), answer));
            }
        }
        if args.resource.is_none() {
            args.resource = candidate.label.as_ref().map(|l| l.rsplit('/').next().unwrap_or(l).to_string());
        }
        asked = true;
    }
}
