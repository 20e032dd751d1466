//! End-to-end tests of the template importer: text in, declarations out.

use super::*;

fn options() -> Options {
    Options { stack_name: "demo".into(), origin: "t.yaml".into(), ..Options::default() }
}

fn import(text: &str) -> Result<Vec<ImportedPipeline>, ImportError> {
    import_template(text, None, &options())
}

/// A template with one pipeline whose Build action's configuration is `config` (YAML flow).
fn with_config(preamble: &str, config: &str) -> String {
    format!(
        r#"{preamble}
Resources:
  ArtifactsBucket:
    Type: AWS::S3::Bucket
  PipelineRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub "${{AWS::StackName}}-pipeline"
  BuildProject:
    Type: AWS::CodeBuild::Project
    Properties:
      Source: {{Type: CODEPIPELINE}}
      Environment: {{Image: aws/codebuild/standard:7.0, ComputeType: BUILD_GENERAL1_SMALL, Type: LINUX_CONTAINER}}
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      RoleArn: !GetAtt PipelineRole.Arn
      ArtifactStore: {{Type: S3, Location: !Ref ArtifactsBucket}}
      Stages:
        - Name: Source
          Actions:
            - Name: Src
              ActionTypeId: {{Category: Source, Owner: AWS, Provider: S3, Version: 1}}
              Configuration: {{S3Bucket: !Ref ArtifactsBucket, S3ObjectKey: src.zip, PollForSourceChanges: false}}
              OutputArtifacts: [{{Name: Out}}]
        - Name: Build
          Actions:
            - Name: Build
              ActionTypeId: {{Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}}
              Configuration: {config}
              InputArtifacts: [{{Name: Out}}]
"#
    )
}

fn config_of(pipeline: &ImportedPipeline) -> &indexmap::IndexMap<String, String> {
    pipeline.declaration.stages[1].actions[0].configuration.as_ref().unwrap()
}

fn one(text: &str) -> ImportedPipeline {
    let mut pipelines = import(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pipelines.len(), 1);
    pipelines.remove(0)
}

#[test]
fn resources_get_deterministic_placeholders_of_the_right_shape() {
    let pipeline = one(&with_config("", "{ProjectName: !Ref BuildProject, Arn: !GetAtt BuildProject.Arn}"));
    let d = &pipeline.declaration;
    assert_eq!(d.name, "demo-Pipeline");
    assert_eq!(d.role_arn, "arn:aws:iam::123456789012:role/demo-pipeline");
    assert_eq!(d.artifact_store.as_ref().unwrap().location, "demo-artifactsbucket");
    assert_eq!(config_of(&pipeline)["ProjectName"], "demo-BuildProject");
    assert_eq!(config_of(&pipeline)["Arn"], "arn:aws:codebuild:us-east-1:123456789012:project/demo-BuildProject");
    assert_eq!(pipeline.projects[0].name, "demo-BuildProject");
    assert!(crate::validate::validate(d).errors.is_empty(), "{}", crate::validate::validate(d));
}

#[test]
fn sub_both_forms_escapes_and_shadowing() {
    let pipeline = one(&with_config(
        "Parameters:\n  Env: {Type: String, Default: prod}",
        r#"{ProjectName: !Sub "${Env}-${AWS::Region}-${!Literal}-${BuildProject.Arn}", B: !Sub ["${Env}/${X}", {X: !Ref Env, Env: shadowed}], C: !Sub "${ AWS::AccountId }"}"#,
    ));
    let config = config_of(&pipeline);
    assert_eq!(
        config["ProjectName"],
        "prod-us-east-1-${Literal}-arn:aws:codebuild:us-east-1:123456789012:project/demo-BuildProject"
    );
    assert_eq!(config["B"], "shadowed/prod");
    assert_eq!(config["C"], "123456789012");
}

#[test]
fn join_select_split_findinmap_base64_getazs() {
    let pipeline = one(&with_config(
        "Mappings:\n  Envs:\n    us-east-1: {Size: small}\nParameters:\n  Ids: {Type: CommaDelimitedList, Default: 'a, b,c'}",
        r#"{ProjectName: !Join ["-", [x, !Ref AWS::Region, !Select [1, !Ref Ids]]], S: !Select [2, !Split ["|", "a||c|"]], M: !FindInMap [Envs, !Ref AWS::Region, Size], E: !Base64 hi, Z: !Select [0, !GetAZs ""], L: !Join [",", !Ref Ids]}"#,
    ));
    let config = config_of(&pipeline);
    assert_eq!(config["ProjectName"], "x-us-east-1-b");
    assert_eq!(config["S"], "c");
    assert_eq!(config["M"], "small");
    assert_eq!(config["E"], "aGk=");
    assert_eq!(config["Z"], "us-east-1a");
    assert_eq!(config["L"], "a,b,c");
}

#[test]
fn if_with_novalue_drops_keys_and_whole_stages() {
    let text = with_config(
        "Parameters:\n  Prod: {Type: String, Default: 'no', AllowedValues: ['yes', 'no']}\nConditions:\n  IsProd: !Equals [!Ref Prod, 'yes']\n  NotProd: !Not [!Condition IsProd]\n  Both: !And [!Condition NotProd, !Or [!Condition IsProd, !Equals [1, '1']]]",
        "{ProjectName: p, Extra: !If [IsProd, x, !Ref AWS::NoValue], Both: !If [Both, yes, no]}",
    )
    .replacen(
        "\n        - Name: Build\n",
        "\n        - !If\n          - IsProd\n          - Name: Approve\n            Actions:\n              - Name: Gate\n                ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}\n          - !Ref AWS::NoValue\n        - Name: Build\n",
        1,
    );
    let pipeline = one(&text);
    assert_eq!(pipeline.declaration.stages.len(), 2);
    assert!(!config_of(&pipeline).contains_key("Extra"));
    assert_eq!(config_of(&pipeline)["Both"], "true");
    let mut options = options();
    options.parameters.insert("Prod".into(), "yes".into());
    let prod = import_template(&text, None, &options).unwrap().remove(0);
    assert_eq!(prod.declaration.stages.len(), 3);
    assert_eq!(prod.declaration.stages[1].name, "Approve");
    assert_eq!(prod.declaration.stages[2].actions[0].config("Extra"), Some("x"));
}

#[test]
fn untaken_branches_are_not_evaluated() {
    // The SAM-init pattern: the other branch refers to a resource that is not created.
    let text = with_config(
        "Parameters:\n  ConnectionArn: {Type: String, Default: ''}\nConditions:\n  CreateConnection: !Equals [!Ref ConnectionArn, '']",
        "{ProjectName: p, Connection: !If [CreateConnection, !Ref Connection, !Ref ConnectionArn]}",
    )
    .replace(
        "  Pipeline:\n",
        "  Connection:\n    Type: AWS::CodeStarConnections::Connection\n    Condition: CreateConnection\n    Properties: {ConnectionName: gh, ProviderType: GitHub}\n  Pipeline:\n",
    );
    let created = one(&text);
    assert!(
        config_of(&created)["Connection"]
            .starts_with("arn:aws:codestar-connections:us-east-1:123456789012:connection/")
    );
    let mut options = options();
    options
        .parameters
        .insert("ConnectionArn".into(), "arn:aws:codestar-connections:eu-west-1:111122223333:connection/x".into());
    let given = import_template(&text, None, &options).unwrap().remove(0);
    assert_eq!(
        given.declaration.stages[1].actions[0].config("Connection"),
        Some("arn:aws:codestar-connections:eu-west-1:111122223333:connection/x")
    );
}

#[test]
fn required_parameters_get_placeholders_that_satisfy_their_constraints() {
    let text = with_config(
        "Parameters:\n  GitHubRepo: {Type: String, AllowedPattern: '[A-Za-z0-9-]+/[A-Za-z0-9._-]+'}\n  Branch: {Type: String}\n  Stage: {Type: String, AllowedValues: [dev, prod]}\n  Unused: {Type: String}",
        "{ProjectName: p, Repo: !Ref GitHubRepo, Branch: !Ref Branch, Stage: !Ref Stage}",
    );
    let pipeline = one(&text);
    let config = config_of(&pipeline);
    assert_eq!(pattern::matches("[A-Za-z0-9-]+/[A-Za-z0-9._-]+", &config["Repo"]), Some(true), "{}", config["Repo"]);
    assert_eq!(config["Branch"], "main");
    assert_eq!(config["Stage"], "dev");
    let names: Vec<&str> = pipeline
        .placeholders
        .iter()
        .filter(|p| p.kind == PlaceholderKind::Parameter)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["GitHubRepo", "Branch", "Stage"]);
    let repo = pipeline.placeholders.iter().find(|p| p.name == "GitHubRepo").unwrap();
    assert_eq!(repo.used_at, ["Pipeline.Stages[1].Actions[0].Configuration.Repo"]);
    let warning = pipeline.warnings.iter().find(|w| w.starts_with("parameters without a value")).unwrap();
    assert!(warning.contains("Branch = main") && !warning.contains("Unused"), "{warning}");
}

#[test]
fn the_placeholder_account_serves_account_numbers_and_mappings_keyed_by_account() {
    let preamble = "Parameters:\n  ToolsAccount: {Type: Number}\n  Replicas: {Type: Number, MinValue: 2}\n  TinyAccount: {Type: Number, MaxValue: 9}\nMappings:\n  Accounts:\n    '111122223333': {Env: nprd}\n    '444455556666': {Env: prd}";
    let text = with_config(
        preamble,
        "{RoleArn: !Sub 'arn:aws:iam::${ToolsAccount}:role/deployer', Count: !Ref Replicas, Tiny: !Ref TinyAccount, Env: !FindInMap [Accounts, !Ref 'AWS::AccountId', Env]}",
    );
    let pipeline = one(&text);
    let config = config_of(&pipeline);
    assert_eq!(config["RoleArn"], "arn:aws:iam::123456789012:role/deployer");
    assert_eq!(config["Count"], "2");
    assert_eq!(config["Tiny"], "1", "an account beyond MaxValue is not given");
    // The mapping's first account stands in for the placeholder account, with a warning.
    assert_eq!(config["Env"], "nprd");
    assert!(
        pipeline.warnings.iter().any(|w| w.contains("Fn::FindInMap Accounts has no entry for the placeholder account 123456789012; the entry of account 111122223333 stands in (give yours with --value AWS::AccountId=…)")),
        "{:?}",
        pipeline.warnings
    );
    // Recorded, so that no deploy to AWS takes that account's value.
    let taken: Vec<(&str, PlaceholderKind)> = pipeline.unresolved().map(|p| (p.value.as_str(), p.kind)).collect();
    assert!(taken.contains(&("nprd", PlaceholderKind::AccountValue)), "{taken:?}");
    let json = serde_json::to_string(&pipeline.declaration).unwrap();
    let refused = placeholders::refuse(&pipeline.placeholders, &json).unwrap_err();
    assert!(refused.contains("value for the account AWS::AccountId (--value AWS::AccountId=…)"), "{refused}");
    let mut options = options();
    options.parameters.insert("ToolsAccount".into(), "111122223333".into());
    options.values.insert("AWS::AccountId".into(), "444455556666".into());
    assert_eq!(config_of(&import_template(&text, None, &options).unwrap()[0])["Env"], "prd");
    options.values.insert("AWS::AccountId".into(), "777788889999".into());
    let error = import_template(&text, None, &options).unwrap_err().to_string();
    assert!(error.contains("Mappings has no Accounts → 777788889999 → Env"), "{error}");
}

#[test]
fn an_export_named_after_a_parameter_without_a_value_says_which_comes_first() {
    let text = with_config(
        "Parameters:\n  SharedStack: {Type: String}",
        "{ProjectName: !ImportValue {'Fn::Sub': '${SharedStack}-BuildProject'}}",
    );
    let pipeline = one(&text);
    assert_eq!(config_of(&pipeline)["ProjectName"], "pipewright-placeholder-sharedstack-buildproject");
    let warning = pipeline.warnings.iter().find(|w| w.starts_with("import ")).unwrap();
    assert!(
        warning.ends_with(
            "its name holds the placeholder of parameter SharedStack: give that first with --parameter SharedStack=…)"
        ),
        "{warning}"
    );
}

#[test]
fn unknowable_values_take_a_value_or_a_marked_placeholder() {
    let text = with_config(
        "Parameters:\n  BootstrapVersion: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /cdk-bootstrap/hnb659fds/version}",
        "{ProjectName: !ImportValue shared-build-project, Token: '{{resolve:secretsmanager:github:SecretString:token}}', V: !Ref BootstrapVersion, Role: '{{resolve:ssm:/ci/DeployRoleArn:1}}', Account: 'arn:aws:iam::{{resolve:ssm:/accounts/prod:3}}:role/x'}",
    );
    let pipeline = one(&text);
    let config = config_of(&pipeline);
    assert_eq!(config["ProjectName"], "pipewright-placeholder-shared-build-project");
    assert_eq!(config["Token"], "pipewright-placeholder-token");
    // A dynamic reference is shaped by what it names: an SSM parameter without its version.
    assert_eq!(config["Role"], "arn:aws:iam::123456789012:role/pipewright-placeholder-ci-deployrolearn");
    assert_eq!(config["Account"], "arn:aws:iam::123456789012:role/x");
    let kinds: Vec<PlaceholderKind> = pipeline.unresolved().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            PlaceholderKind::ImportValue,
            PlaceholderKind::DynamicReference,
            PlaceholderKind::SsmParameter,
            PlaceholderKind::DynamicReference,
            PlaceholderKind::DynamicReference
        ]
    );
    assert!(pipeline.warnings.iter().any(|w| w.contains("import shared-build-project cannot be known offline")));
    let mut options = options();
    options.values.insert("shared-build-project".into(), "real-project".into());
    options.values.insert("{{resolve:secretsmanager:github:SecretString:token}}".into(), "s3cret".into());
    options.values.insert("BootstrapVersion".into(), "21".into());
    options.values.insert("{{resolve:ssm:/ci/DeployRoleArn:1}}".into(), "arn:aws:iam::111122223333:role/d".into());
    options.values.insert("resolve:ssm:/accounts/prod:3".into(), "111122223333".into());
    let given = import_template(&text, None, &options).unwrap().remove(0);
    assert_eq!(given.declaration.stages[1].actions[0].config("ProjectName"), Some("real-project"));
    assert_eq!(given.declaration.stages[1].actions[0].config("Token"), Some("s3cret"));
    assert_eq!(given.declaration.stages[1].actions[0].config("V"), Some("21"));
    assert_eq!(given.unresolved().count(), 0);
}

#[test]
fn configuration_as_a_json_string_and_typed_scalars() {
    let pipeline = one(&with_config("", r#"'{"ProjectName": "p", "BatchEnabled": true, "Count": 3}'"#));
    let config = config_of(&pipeline);
    assert_eq!(config["BatchEnabled"], "true");
    assert_eq!(config["Count"], "3");
}

#[test]
fn several_pipelines_and_resource_choice() {
    let text = with_config("", "{ProjectName: p}")
        .replace("  Pipeline:\n", "  Other:\n    Type: AWS::SNS::Topic\n  Pipeline:\n");
    let doubled = format!(
        "{text}{}",
        text.split("  Pipeline:\n")
            .nth(1)
            .map(|rest| format!("  Second:\n{rest}"))
            .unwrap()
            .replace("Resources:\n", "")
    );
    let both = import(&doubled).unwrap();
    assert_eq!(both.iter().map(|p| p.logical_id.as_str()).collect::<Vec<_>>(), ["Pipeline", "Second"]);
    let second = import_template(&doubled, Some("Second"), &options()).unwrap();
    assert_eq!(second[0].declaration.name, "demo-Second");
    let error = import_template(&doubled, Some("Nope"), &options()).unwrap_err();
    assert!(error.to_string().contains("its pipelines: Pipeline, Second"), "{error}");
}

#[test]
fn a_template_without_a_pipeline_says_so() {
    let error = import("Resources:\n  Bucket: {Type: AWS::S3::Bucket}\n").unwrap_err();
    assert!(matches!(error, ImportError::NotAPipeline(_)));
    assert!(error.to_string().contains("no AWS::CodePipeline::Pipeline resource"), "{error}");
}

#[test]
fn bad_input_gets_a_clear_error_fast() {
    let started = std::time::Instant::now();
    // A cycle through Fn::Sub: each name refers to the other.
    let cycle = with_config("", "{ProjectName: !Ref BuildProject}")
        .replace(
            "Source: {Type: CODEPIPELINE}",
            "Name: !Sub \"${ArtifactsBucket}-build\"\n      Source: {Type: CODEPIPELINE}",
        )
        .replace(
            "    Type: AWS::S3::Bucket\n",
            "    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"${BuildProject}-bucket\"\n",
        );
    let error = import(&cycle).unwrap_err();
    assert!(matches!(error, ImportError::Limit(_)), "{error}");
    assert!(error.to_string().contains("cycle"), "{error}");
    // An unknown parameter.
    let mut options = options();
    options.parameters.insert("Nope".into(), "x".into());
    let error = import_template(&with_config("", "{ProjectName: p}"), None, &options).unwrap_err();
    assert_eq!(error.to_string(), "the template has no parameter named Nope (its parameters: none)");
    // A value that breaks the parameter's pattern.
    let mut options = self::options();
    options.parameters.insert("Env".into(), "Prod!".into());
    let error = import_template(
        &with_config("Parameters:\n  Env: {Type: String, AllowedPattern: '[a-z]+'}", "{ProjectName: !Ref Env}"),
        None,
        &options,
    )
    .unwrap_err();
    assert!(error.to_string().contains("does not match the AllowedPattern"), "{error}");
    // A YAML bomb.
    let mut bomb = String::from("Resources:\n  A: &a [x, x, x, x, x, x, x, x]\n");
    for i in 0..20 {
        bomb.push_str(&format!("  B{i}: &b{i} [*a, *a, *a, *a, *a, *a, *a, *a]\n"));
    }
    let error = import(&bomb).unwrap_err();
    assert!(error.to_string().contains("anchors"), "{error}");
    // Deep nesting.
    let nested = with_config("", &format!("{{ProjectName: {}p{}}}", "[".repeat(150), "]".repeat(150)));
    assert!(import(&nested).is_err());
    // An unknown function and a Ref to nothing name the place.
    let error = import(&with_config("", "{ProjectName: !Frobnicate x}")).unwrap_err();
    assert!(
        error.to_string().starts_with("Pipeline.Stages[1].Actions[0].Configuration.ProjectName: Fn::Frobnicate"),
        "{error}"
    );
    let error = import(&with_config("", "{ProjectName: !Ref Missing}")).unwrap_err();
    assert!(error.to_string().contains("Ref Missing"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn exponential_growth_is_refused_within_a_second() {
    // Each level substitutes the level below twice: the template grows linearly, the value
    // doubles per level.
    let mut value = String::from("\"x\"");
    for _ in 0..28 {
        value = format!("{{\"Fn::Sub\": [\"${{A}}${{A}}\", {{\"A\": {value}}}]}}");
    }
    let started = std::time::Instant::now();
    let error = import(&with_config("", &format!("{{ProjectName: {value}}}"))).unwrap_err();
    assert!(matches!(error, ImportError::Limit(_)), "{error}");
    assert!(error.to_string().contains("grows beyond"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn a_long_delimiter_between_many_split_parts_is_refused_before_it_is_joined() {
    // 200,000 parts and a 1 KB delimiter would be 200 MB; the parts alone are steps past the
    // bound, and a join of fewer parts is sized before it is built.
    let commas = ",".repeat(200_000);
    let delimiter = "d".repeat(1024);
    let started = std::time::Instant::now();
    let split = import(&with_config("", &format!("{{ProjectName: !Join ['{delimiter}', !Split [',', '{commas}']]}}")));
    assert!(matches!(split, Err(ImportError::Limit(_))), "{split:?}");
    let commas = ",".repeat(5_000);
    let join = import(&with_config("", &format!("{{ProjectName: !Join ['{delimiter}', !Split [',', '{commas}']]}}")));
    let error = join.unwrap_err();
    assert!(error.to_string().contains("grows beyond"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn many_copies_of_a_large_mapped_value_are_refused_before_they_are_built() {
    // One 512 KiB entry, listed 4,000 times: 2 GiB of copies from a 100 KB template.
    let big = "x".repeat(512 * 1024);
    let items = "      - !FindInMap [Big, a, b]\n".repeat(4_000);
    let text = format!(
        "Mappings:\n  Big:\n    a:\n      b: {big}\nResources:\n  Pipeline:\n    Type: AWS::CodePipeline::Pipeline\n    Properties:\n      Tags:\n{items}"
    );
    let started = std::time::Instant::now();
    let error = import(&text).unwrap_err();
    assert!(matches!(error, ImportError::Limit(_)) && error.to_string().contains("grow beyond 64 MiB"), "{error}");
    // The same copies as the values of a map.
    let keys: String = (0..4_000).map(|i| format!("        K{i}: !FindInMap [Big, a, b]\n")).collect();
    let text = format!(
        "Mappings:\n  Big:\n    a:\n      b: {big}\nResources:\n  Pipeline:\n    Type: AWS::CodePipeline::Pipeline\n    Properties:\n      Junk:\n{keys}"
    );
    let error = import(&text).unwrap_err();
    assert!(matches!(error, ImportError::Limit(_)) && error.to_string().contains("grow beyond 64 MiB"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_placeholder_fits_its_length_bounds_in_characters_and_within_reason() {
    // `é` is two bytes: a cut by bytes would fall inside it. A MinLength of 10^18 pads to
    // what CloudFormation takes at most, not forever.
    let text = with_config(
        "Parameters:\n  P: {Type: String, AllowedPattern: 'é+', MaxLength: 1}\n  Q: {Type: String, MinLength: 1e18}",
        "{ProjectName: !Sub '${P}-${Q}'}",
    );
    let pipeline = one(&text);
    let p = pipeline.placeholders.iter().find(|p| p.name == "P").unwrap();
    assert_eq!(p.value.chars().count(), 1, "{}", p.value);
    let q = pipeline.placeholders.iter().find(|p| p.name == "Q").unwrap();
    assert_eq!(q.value.len(), 4096);
}

#[test]
fn json_templates_read_the_same() {
    let text = r#"{"Resources": {"P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {
        "RoleArn": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::111122223333:role/cdk-deploy"]]},
        "ArtifactStore": {"Type": "S3", "Location": "bucket-1"},
        "RestartExecutionOnUpdate": true,
        "Stages": [
          {"Name": "Source", "Actions": [{"Name": "S", "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"},
             "Configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip", "PollForSourceChanges": true}, "OutputArtifacts": [{"Name": "O"}], "RunOrder": 1}]},
          {"Name": "Deploy", "Actions": [{"Name": "D", "ActionTypeId": {"Category": "Deploy", "Owner": "AWS", "Provider": "ECS", "Version": "1"},
             "Configuration": {"ClusterName": "c", "ServiceName": "s", "DeploymentTimeout": 60}, "InputArtifacts": [{"Name": "O"}], "RunOrder": 1}]}
        ]}}}}"#;
    let pipeline = one(text);
    assert_eq!(pipeline.declaration.role_arn, "arn:aws:iam::111122223333:role/cdk-deploy");
    assert_eq!(pipeline.declaration.stages[1].actions[0].config("DeploymentTimeout"), Some("60"));
    assert_eq!(pipeline.declaration.stages[0].actions[0].config("PollForSourceChanges"), Some("true"));
    assert!(pipeline.restart_execution_on_update);
}

#[test]
fn pseudo_parameters_follow_the_region_and_stack() {
    let mut options = options();
    options.region = "cn-north-1".into();
    let text = with_config(
        "",
        "{ProjectName: !Ref AWS::Partition, U: !Ref AWS::URLSuffix, S: !Ref AWS::StackId, N: !Join [',', !Ref AWS::NotificationARNs]}",
    );
    let pipeline = import_template(&text, None, &options).unwrap().remove(0);
    let config = config_of(&pipeline);
    assert_eq!(config["ProjectName"], "aws-cn");
    assert_eq!(config["U"], "amazonaws.com.cn");
    assert!(
        config["S"].starts_with("arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/demo/"),
        "{}",
        config["S"]
    );
    assert_eq!(config["N"], "");
    assert_eq!(pipeline.declaration.role_arn, "arn:aws-cn:iam::123456789012:role/demo-pipeline");
}

#[test]
fn cidr_length_tojsonstring_and_getatt_forms() {
    let pipeline = one(&with_config(
        "Parameters:\n  Attr: {Type: String, Default: Arn}",
        r#"{ProjectName: !Select [1, !Cidr ["10.0.0.0/16", 3, 8]], L: !Length [a, b, c], J: !ToJsonString {a: [1, true]}, G: !GetAtt [PipelineRole, !Ref Attr], H: !GetAtt PipelineRole.Arn}"#,
    ));
    let config = config_of(&pipeline);
    assert_eq!(config["ProjectName"], "10.0.1.0/24");
    assert_eq!(config["L"], "3");
    assert_eq!(config["J"], r#"{"a":[1,true]}"#);
    assert_eq!(config["G"], config["H"]);
}

#[test]
fn other_stacks_and_includes_take_values_or_placeholders() {
    let text = with_config(
        "",
        "{ProjectName: !GetStackOutput {StackName: shared, OutputName: ProjectName}, I: !Transform {Name: 'AWS::Include', Parameters: {Location: 's3://bucket/snippet.yaml'}}, N: !GetAtt Nested.Outputs.Topic}",
    )
    .replace("  Pipeline:\n", "  Nested:\n    Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: https://example.com/t.yaml}\n  Pipeline:\n");
    let pipeline = one(&text);
    let names: Vec<(PlaceholderKind, &str)> = pipeline.unresolved().map(|p| (p.kind, p.name.as_str())).collect();
    assert_eq!(
        names,
        [
            (PlaceholderKind::StackOutput, "shared.ProjectName"),
            (PlaceholderKind::Include, "s3://bucket/snippet.yaml"),
            (PlaceholderKind::StackOutput, "Nested.Outputs.Topic"),
        ]
    );
    let mut options = options();
    options.values.insert("Nested.Outputs.Topic".into(), "arn:aws:sns:us-east-1:111122223333:t".into());
    options.values.insert("shared.ProjectName".into(), "shared-build".into());
    let given = import_template(&text, None, &options).unwrap().remove(0);
    assert_eq!(given.declaration.stages[1].actions[0].config("N"), Some("arn:aws:sns:us-east-1:111122223333:t"));
    assert_eq!(given.declaration.stages[1].actions[0].config("ProjectName"), Some("shared-build"));
}

#[test]
fn resource_values_can_be_given() {
    let mut options = options();
    options.values.insert("PipelineRole.Arn".into(), "arn:aws:iam::111122223333:role/real".into());
    options.values.insert("ArtifactsBucket".into(), "real-bucket".into());
    options.values.insert("AWS::AccountId".into(), "111122223333".into());
    let pipeline =
        import_template(&with_config("", "{ProjectName: !GetAtt BuildProject.Arn}"), None, &options).unwrap().remove(0);
    assert_eq!(pipeline.declaration.role_arn, "arn:aws:iam::111122223333:role/real");
    assert_eq!(pipeline.declaration.artifact_store.as_ref().unwrap().location, "real-bucket");
    assert_eq!(
        config_of(&pipeline)["ProjectName"],
        "arn:aws:codebuild:us-east-1:111122223333:project/demo-BuildProject"
    );
}

#[test]
fn conditional_pipelines_and_conditions_in_cycles() {
    let text = with_config(
        "Parameters:\n  On: {Type: String, Default: 'false'}\nConditions:\n  Enabled: !Equals [!Ref On, true]",
        "{ProjectName: p}",
    )
    .replace(
        "    Type: AWS::CodePipeline::Pipeline\n",
        "    Type: AWS::CodePipeline::Pipeline\n    Condition: Enabled\n",
    );
    let error = import(&text).unwrap_err();
    assert!(error.to_string().contains("no pipeline is created with these parameters (Pipeline"), "{error}");
    let looped =
        with_config("Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]", "{ProjectName: !If [A, x, y]}");
    let error = import(&looped).unwrap_err();
    assert!(error.to_string().contains("cycle: A → B → A"), "{error}");
}

#[test]
fn the_sam_init_shape_imports_for_main_and_feature_branches() {
    // The stages `sam pipeline init` adds or drops with If/NoValue, and its JSON
    // EnvironmentVariables under a !Sub block (with its trailing newline).
    let text = with_config(
        "Parameters:\n  FeatureGitBranch: {Type: String, Default: ''}\n  TestingRegion: {Type: String, Default: us-east-2}\nConditions:\n  IsMainBranchPipeline: !Equals [!Ref FeatureGitBranch, '']\n  IsFeatureBranchPipeline: !Not [Condition: IsMainBranchPipeline]",
        "{ProjectName: p, EnvironmentVariables: !Sub \"[{\\\"name\\\": \\\"ENV_REGION\\\", \\\"value\\\": \\\"${TestingRegion}\\\"}]\\n\"}",
    );
    let pipeline = one(&text);
    let variables = config_of(&pipeline)["EnvironmentVariables"].clone();
    assert_eq!(variables, "[{\"name\": \"ENV_REGION\", \"value\": \"us-east-2\"}]\n");
    assert!(crate::validate::validate(&pipeline.declaration).is_valid());
}

#[test]
fn placeholders_in_shared_resources_belong_to_the_pipeline() {
    let text = with_config("Parameters:\n  BucketPrefix: {Type: String}", "{ProjectName: p}").replace(
        "    Type: AWS::S3::Bucket\n",
        "    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"${BucketPrefix}-artifacts\"\n",
    );
    let pipeline = one(&text);
    let prefix = pipeline.placeholders.iter().find(|p| p.name == "BucketPrefix").unwrap();
    assert_eq!(prefix.used_at, ["ArtifactsBucket.BucketName"]);
    assert_eq!(
        pipeline.declaration.artifact_store.as_ref().unwrap().location,
        "pipewright-placeholder-bucketprefix-artifacts"
    );
    let json = serde_json::to_string(&pipeline.declaration).unwrap();
    let error = placeholders::refuse(&pipeline.placeholders, &json).unwrap_err();
    assert!(error.contains("parameter BucketPrefix"), "{error}");
}

#[test]
fn parameters_left_at_an_empty_default_are_known_with_their_uses() {
    let text = with_config(
        "Parameters:\n  Project: {Type: String, Default: ''}\n  Env: {Type: String, Default: \"\"}\n  Given: {Type: String, Default: ''}\n  Unused: {Type: String, Default: ''}\n  Named: {Type: String, Default: x}",
        "{ProjectName: !Ref Project, EnvironmentVariables: !Sub '[{\"name\":\"E\",\"value\":\"${Env}${Given}${Named}\"}]'}",
    );
    let mut options = options();
    options.parameters.insert("Given".into(), String::new());
    let pipeline = import_template(&text, None, &options).unwrap().remove(0);
    let found: Vec<(&str, &[String])> =
        pipeline.empty_defaults.iter().map(|e| (e.name.as_str(), e.used_at.as_slice())).collect();
    // An empty value given on the command line is the person's choice, not a default left.
    assert_eq!(
        found,
        [
            ("Project", &["Pipeline.Stages[1].Actions[0].Configuration.ProjectName".to_string()][..]),
            ("Env", &["Pipeline.Stages[1].Actions[0].Configuration.EnvironmentVariables".to_string()][..]),
        ]
    );
    assert!(pipeline.placeholders.iter().all(|p| p.name != "Project"));

    // A stage dropped by a condition moves the later ones up: uses are named where the
    // declaration has them.
    let text = with_config(
        "Parameters:\n  Project: {Type: String, Default: ''}\nConditions:\n  Never: !Equals [a, b]",
        "{ProjectName: !Ref Project}",
    )
    .replacen(
        "\n        - Name: Build\n",
        "\n        - Fn::If:\n            - Never\n            - {Name: Gone, Actions: []}\n            - Ref: AWS::NoValue\n        - Name: Build\n",
        1,
    );
    let pipeline = import_template(&text, None, &self::options()).unwrap().remove(0);
    assert_eq!(pipeline.declaration.stages[1].name, "Build");
    assert_eq!(pipeline.empty_defaults[0].used_at, ["Pipeline.Stages[1].Actions[0].Configuration.ProjectName"]);
}

/// `AWS::Include` (docs/import.md, "Intrinsic functions"): a snippet given with `--value` is
/// read as template text where it stands, alone or beside other keys; without it, what cannot
/// be mapped says which include to give.
#[test]
fn an_include_is_read_from_its_value_alone_or_beside_other_keys() {
    let text = r#"
Parameters:
  Branch: {Type: String, Default: main}
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/r
      ArtifactStore: {Type: S3, Location: my-bucket}
      Stages:
        - Name: Sources
          Actions:
            - Name: Website
              ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: '1'}
              Configuration:
                'Fn::Transform': {Name: 'AWS::Include', Parameters: {Location: 's3://b/source.json'}}
              OutputArtifacts: [{Name: sources}]
        - Name: Build
          'Fn::Transform': {Name: 'AWS::Include', Parameters: {Location: 's3://b/build.yaml'}}
"#;
    let mut options = options();
    let missing = import_template(text, None, &options).unwrap_err().to_string();
    assert!(missing.contains("Fn::Transform s3://b/build.yaml, which cannot be read offline"), "{missing}");
    assert!(missing.contains("--value 's3://b/build.yaml=<its YAML or JSON>'"), "{missing}");

    options.values.insert("s3://b/build.yaml".into(), "Actions: [".into());
    let broken = import_template(text, None, &options).unwrap_err().to_string();
    assert!(broken.contains("Pipeline.Stages[1].Fn::Transform: --value s3://b/build.yaml: line"), "{broken}");

    let build = "Name: Ignored\nActions:\n  - Name: B\n    ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: '1'}\n    Configuration: {ProjectName: !Sub 'build-${Branch}'}\n    InputArtifacts: [{Name: sources}]\n";
    options.values.insert("s3://b/build.yaml".into(), build.into());
    let unmapped = import_template(text, None, &options).unwrap_err().to_string();
    assert!(
        unmapped.starts_with("Pipeline.Stages[0].Actions[0].Configuration: is a string but not a JSON object"),
        "{unmapped}"
    );
    assert!(unmapped.contains("the placeholder for include s3://b/source.json"), "{unmapped}");
    assert!(unmapped.contains("give it with --value s3://b/source.json=…"), "{unmapped}");

    options
        .values
        .insert("s3://b/source.json".into(), r#"{"RepositoryName": "site", "BranchName": {"Ref": "Branch"}}"#.into());
    let pipeline = import_template(text, None, &options).unwrap().remove(0);
    let stages = &pipeline.declaration.stages;
    assert_eq!(stages[0].actions[0].configuration.as_ref().unwrap()["BranchName"], "main", "its intrinsics evaluated");
    assert_eq!(stages[1].name, "Build", "a key beside the include keeps its own value");
    assert_eq!(stages[1].actions[0].configuration.as_ref().unwrap()["ProjectName"], "build-main");
}

/// A pipeline's name is resolved twice (as its name, then with its properties): an item
/// `AWS::NoValue` drops from a list in it counts once.
#[test]
fn a_drop_in_a_name_resolved_twice_counts_once() {
    let text = with_config(
        "Parameters:\n  Project: {Type: String, Default: ''}\nConditions:\n  Never: !Equals [a, b]",
        "{ProjectName: p}",
    )
    .replacen(
        "    Properties:\n      RoleArn: !GetAtt PipelineRole.Arn",
        "    Properties:\n      Name: !Join ['-', [!If [Never, x, !Ref 'AWS::NoValue'], !Ref Project, orders]]\n      RoleArn: !GetAtt PipelineRole.Arn",
        1,
    );
    assert!(text.contains("Name: !Join"), "the template has its name");
    let pipeline = import_template(&text, None, &options()).unwrap().remove(0);
    assert_eq!(pipeline.declaration.name, "-orders");
    assert!(pipeline.empty_defaults[0].used_at.iter().all(|p| !p.contains("18446744073709551615")));
}
