//! What this state directory last planned or deployed to each stack, so that a plan can show
//! the diff (docs/providers.md §12): `<root>/<region>/<stack>.json`, and
//! `<stack>.changeset.<name>.json` for a change set planned but not yet executed.

use std::path::PathBuf;

use pipewright_core::deploy::cloudformation::ActionMode;
use pipewright_core::deploy::plan::Remembered;

use super::inputs::CloudFormationInputs;

#[derive(Debug, Clone)]
pub struct Memory {
    root: PathBuf,
}

fn safe(part: &str) -> String {
    part.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

impl Memory {
    pub fn new(root: impl Into<PathBuf>) -> Memory {
        Memory { root: root.into() }
    }

    fn path(&self, region: &str, stack: &str, change_set: Option<&str>) -> PathBuf {
        let name = match change_set {
            Some(change_set) => format!("{}.changeset.{}.json", safe(stack), safe(change_set)),
            None => format!("{}.json", safe(stack)),
        };
        self.root.join(safe(region)).join(name)
    }

    pub fn get(&self, region: &str, stack: &str, change_set: Option<&str>) -> Option<Remembered> {
        let text = std::fs::read_to_string(self.path(region, stack, change_set)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A plan that cannot be remembered only loses the next diff: the caller says so and goes on.
    pub fn put(
        &self,
        region: &str,
        stack: &str,
        change_set: Option<&str>,
        remembered: &Remembered,
    ) -> Result<(), String> {
        let path = self.path(region, stack, change_set);
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(remembered).unwrap_or_default()))
            .map_err(|e| format!("cannot remember the template in {}: {e}", path.display()))
    }

    pub fn forget(&self, region: &str, stack: &str, change_set: Option<&str>) {
        let _ = std::fs::remove_file(self.path(region, stack, change_set));
    }

    /// Records what a CloudFormation action did to its stack (`how`: planned or deployed):
    /// a stack's template, a change set's until it is executed, nothing once deleted.
    pub fn record(
        &self,
        region: &str,
        cfn: &CloudFormationInputs,
        execution_id: &str,
        how: &str,
    ) -> Result<(), String> {
        let remembered = |template: &str| Remembered {
            how: how.to_string(),
            execution_id: execution_id.to_string(),
            template: template.to_string(),
            parameters: cfn.parameters.clone(),
        };
        let change_set = cfn.change_set.as_deref();
        match (cfn.mode, &cfn.template) {
            (ActionMode::CreateUpdate | ActionMode::ReplaceOnFailure, Some(template)) => {
                self.put(region, &cfn.stack, None, &remembered(&template.text))
            }
            (ActionMode::ChangeSetReplace, Some(template)) => {
                self.put(region, &cfn.stack, change_set, &remembered(&template.text))
            }
            (ActionMode::ChangeSetExecute, _) => match self.get(region, &cfn.stack, change_set) {
                Some(mut executed) => {
                    self.forget(region, &cfn.stack, change_set);
                    executed.how = how.to_string();
                    executed.execution_id = execution_id.to_string();
                    self.put(region, &cfn.stack, None, &executed)
                }
                None => Ok(()),
            },
            (ActionMode::DeleteOnly, _) => {
                self.forget(region, &cfn.stack, None);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_and_change_sets_are_remembered_apart() {
        let root = tempfile::tempdir().unwrap();
        let memory = Memory::new(root.path());
        let remembered = Remembered {
            how: "planned".into(),
            execution_id: "e".into(),
            template: "Resources: {}".into(),
            parameters: Default::default(),
        };
        memory.put("eu-west-1", "app/../x", None, &remembered).unwrap();
        assert_eq!(memory.get("eu-west-1", "app/../x", None), Some(remembered.clone()));
        assert_eq!(memory.get("eu-west-1", "app/../x", Some("cs")), None);
        assert!(root.path().join("eu-west-1").join("app____x.json").exists());
        memory.forget("eu-west-1", "app/../x", None);
        assert_eq!(memory.get("eu-west-1", "app/../x", None), None);
    }
}
