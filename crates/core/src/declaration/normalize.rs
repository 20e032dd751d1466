//! The declaration as CodePipeline answers it (docs/reference/codepipeline.md §8): defaults
//! written out, and secret configuration values masked. CreatePipeline, GetPipeline and
//! UpdatePipeline answer this form, and a `****` sent back in an update keeps the stored
//! secret, so that a declaration read and written back changes nothing.

use super::model::{ActionDeclaration, ActionTypeId, PipelineDeclaration};

/// What CodePipeline shows in place of a secret configuration value.
pub const SECRET_MASK: &str = "****";

/// The defaults CodePipeline fills in: each action's `runOrder` (1), `inputArtifacts` and
/// `outputArtifacts` (empty) and `configuration` (empty); the pipeline's `pipelineType` (V1
/// unless it names V2 or uses a V2-only feature) and `executionMode` (SUPERSEDED).
pub fn normalized(mut declaration: PipelineDeclaration) -> PipelineDeclaration {
    for stage in &mut declaration.stages {
        for action in &mut stage.actions {
            action.run_order.get_or_insert(1);
            action.input_artifacts.get_or_insert_with(Vec::new);
            action.output_artifacts.get_or_insert_with(Vec::new);
            action.configuration.get_or_insert_with(Default::default);
        }
    }
    declaration.pipeline_type = Some(declaration.effective_type());
    declaration.execution_mode = Some(declaration.effective_mode());
    declaration
}

/// The declaration as GetPipeline shows it in `region` (the pipeline's own): every action
/// without a region of its own carries that one, Source actions included, as `get-pipeline`
/// prints it.
pub fn with_home_region(mut declaration: PipelineDeclaration, region: &str) -> PipelineDeclaration {
    for action in declaration.stages.iter_mut().flat_map(|s| s.actions.iter_mut()) {
        action.region.get_or_insert_with(|| region.to_string());
    }
    declaration
}

/// The declaration as it is stored: an action in the pipeline's own `region` names none, as if
/// it had never been written. What GetPipeline answered and a client writes back stores the
/// same declaration as before (no new version), and only cross-region actions carry one.
pub fn without_home_region(mut declaration: PipelineDeclaration, region: &str) -> PipelineDeclaration {
    for action in declaration.stages.iter_mut().flat_map(|s| s.actions.iter_mut()) {
        if action.region.as_deref() == Some(region) {
            action.region = None;
        }
    }
    declaration
}

/// Which configuration keys of an action type hold secrets: the catalogue's, and for custom
/// action types the properties declared `secret`.
pub trait SecretKeys {
    fn is_secret(&self, action_type: &ActionTypeId, key: &str) -> bool;
}

impl<F: Fn(&ActionTypeId, &str) -> bool> SecretKeys for F {
    fn is_secret(&self, action_type: &ActionTypeId, key: &str) -> bool {
        self(action_type, key)
    }
}

/// Every secret configuration value replaced by [`SECRET_MASK`].
pub fn masked(mut declaration: PipelineDeclaration, secrets: &impl SecretKeys) -> PipelineDeclaration {
    for action in declaration.stages.iter_mut().flat_map(|s| s.actions.iter_mut()) {
        let type_id = action.action_type_id.clone();
        for (key, value) in action.configuration.iter_mut().flatten() {
            if secrets.is_secret(&type_id, key) {
                *value = SECRET_MASK.to_string();
            }
        }
    }
    declaration
}

/// A `****` given for a secret value, with no stored value to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path}: the value is the mask {SECRET_MASK}, and the stored pipeline has no value to keep for it; give the secret itself"
)]
pub struct MaskWithoutSecret {
    pub path: String,
}

/// The action of `stored` an updated action stands for: same stage, same name, same type.
fn stored_action<'a>(
    stored: &'a PipelineDeclaration,
    stage: &str,
    action: &ActionDeclaration,
) -> Option<&'a ActionDeclaration> {
    stored
        .stages
        .iter()
        .find(|s| s.name == stage)?
        .actions
        .iter()
        .find(|a| a.name == action.name && a.action_type_id == action.action_type_id)
}

/// Puts the stored secret back wherever `update` sends [`SECRET_MASK`] for a secret key: what
/// a client read with GetPipeline and writes back keeps its secrets. A mask with nothing stored
/// behind it is refused, naming the field.
pub fn with_kept_secrets(
    mut update: PipelineDeclaration,
    stored: Option<&PipelineDeclaration>,
    secrets: &impl SecretKeys,
) -> Result<PipelineDeclaration, MaskWithoutSecret> {
    for (s, stage) in update.stages.iter_mut().enumerate() {
        for (a, action) in stage.actions.iter_mut().enumerate() {
            let previous = stored.and_then(|stored| stored_action(stored, &stage.name, action)).cloned();
            let type_id = action.action_type_id.clone();
            for (key, value) in action.configuration.iter_mut().flatten() {
                if value != SECRET_MASK || !secrets.is_secret(&type_id, key) {
                    continue;
                }
                let kept = previous.as_ref().and_then(|p| p.config(key)).filter(|v| *v != SECRET_MASK);
                match kept {
                    Some(kept) => *value = kept.to_string(),
                    None => {
                        return Err(MaskWithoutSecret {
                            path: format!("stages[{s}].actions[{a}].configuration.{key}"),
                        });
                    }
                }
            }
        }
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{ExecutionMode, Format, PipelineDocument, PipelineType};

    fn github_pipeline(token: &str, extra: &str) -> PipelineDeclaration {
        let text = format!(
            r#"{{"name": "p", "roleArn": "arn:aws:iam::123456789012:role/r", {extra}
              "artifactStore": {{"type": "S3", "location": "bucket"}},
              "stages": [
                {{"name": "Source", "actions": [{{"name": "Gh",
                  "actionTypeId": {{"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}},
                  "configuration": {{"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": "{token}"}},
                  "outputArtifacts": [{{"name": "Code"}}]}}]}},
                {{"name": "Approve", "actions": [{{"name": "Gate",
                  "actionTypeId": {{"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}}}]}}
              ]}}"#
        );
        PipelineDocument::parse(&text, Format::Json).unwrap().pipeline
    }

    fn oauth(type_id: &ActionTypeId, key: &str) -> bool {
        type_id.provider == "GitHub" && key == "OAuthToken"
    }

    #[test]
    fn defaults_are_written_out() {
        let declaration = normalized(github_pipeline("t", ""));
        let gate = &declaration.stages[1].actions[0];
        assert_eq!(gate.run_order, Some(1));
        assert_eq!(gate.input_artifacts, Some(vec![]));
        assert_eq!(gate.output_artifacts, Some(vec![]));
        assert_eq!(gate.configuration, Some(Default::default()));
        assert_eq!(declaration.pipeline_type, Some(PipelineType::V1), "a pipeline that names no type is V1");
        assert_eq!(declaration.execution_mode, Some(ExecutionMode::Superseded));
        assert_eq!(normalized(declaration.clone()), declaration, "normalising twice changes nothing");
    }

    #[test]
    fn answers_carry_the_home_region_on_every_action() {
        let mut declaration = github_pipeline("t", "");
        declaration.stages[1].actions[0].region = Some("eu-west-1".to_string());
        let shown = with_home_region(declaration, "us-east-1");
        let regions: Vec<Option<&str>> =
            shown.stages.iter().flat_map(|s| &s.actions).map(|a| a.region.as_deref()).collect();
        assert_eq!(regions, [Some("us-east-1"), Some("eu-west-1")], "a region of its own stays");
        let stored = without_home_region(shown, "us-east-1");
        let regions: Vec<Option<&str>> =
            stored.stages.iter().flat_map(|s| &s.actions).map(|a| a.region.as_deref()).collect();
        assert_eq!(regions, [None, Some("eu-west-1")], "only the cross-region action keeps one");
    }

    #[test]
    fn a_v2_pipeline_gets_its_type_and_mode() {
        let declaration = normalized(github_pipeline("t", r#""pipelineType": "V2","#));
        assert_eq!(declaration.pipeline_type, Some(PipelineType::V2));
        assert_eq!(declaration.execution_mode, Some(ExecutionMode::Superseded));
        let implied = normalized(github_pipeline("t", r#""executionMode": "QUEUED","#));
        assert_eq!(implied.pipeline_type, Some(PipelineType::V2), "QUEUED makes it V2");
    }

    #[test]
    fn secrets_are_masked_and_kept_on_update() {
        let stored = github_pipeline("ghp_real", "");
        let shown = masked(stored.clone(), &oauth);
        assert_eq!(shown.stages[0].actions[0].config("OAuthToken"), Some(SECRET_MASK));
        assert_eq!(shown.stages[0].actions[0].config("Owner"), Some("o"), "other values stay");
        let kept = with_kept_secrets(shown.clone(), Some(&stored), &oauth).unwrap();
        assert_eq!(kept.stages[0].actions[0].config("OAuthToken"), Some("ghp_real"));
        let replaced = with_kept_secrets(github_pipeline("ghp_new", ""), Some(&stored), &oauth).unwrap();
        assert_eq!(replaced.stages[0].actions[0].config("OAuthToken"), Some("ghp_new"), "a new secret replaces");
    }

    #[test]
    fn a_mask_with_nothing_behind_it_is_refused() {
        let error = with_kept_secrets(github_pipeline(SECRET_MASK, ""), None, &oauth).unwrap_err();
        assert_eq!(error.path, "stages[0].actions[0].configuration.OAuthToken");
        let mut renamed = github_pipeline(SECRET_MASK, "");
        renamed.stages[0].actions[0].name = "Other".to_string();
        assert!(with_kept_secrets(renamed, Some(&github_pipeline("x", "")), &oauth).is_err(), "another action");
    }
}
