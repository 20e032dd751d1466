//! The rule providers of stage conditions (docs/conditions.md): what each is configured with,
//! as ListRuleTypes describes them and validation checks them.

/// A rule provider Pipewright runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleProvider {
    /// Compares a resolved variable with a value; decided by the engine.
    VariableCheck,
    /// Holds the stage until a cron window opens; decided by the engine against its `now`.
    DeploymentWindow,
    /// Shell commands, run like a Commands action.
    Commands,
    /// A Lambda function, invoked like a Lambda action.
    LambdaInvoke,
    /// A CloudWatch alarm's state; needs AWS.
    CloudWatchAlarm,
}

/// One configuration key of a rule type (botocore `RuleConfigurationProperty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleProperty {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
    /// `String`, `Number` or `Boolean`.
    pub kind: &'static str,
}

/// One rule type (botocore `RuleType`): category Rule, owner AWS, version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleTypeSpec {
    pub provider: RuleProvider,
    pub name: &'static str,
    pub properties: &'static [RuleProperty],
    pub min_inputs: u32,
    pub max_inputs: u32,
    /// Whether the rule declares `commands`.
    pub takes_commands: bool,
}

const fn property(name: &'static str, required: bool, kind: &'static str, description: &'static str) -> RuleProperty {
    RuleProperty { name, required, description, kind }
}

/// Every rule type, in ListRuleTypes' order.
pub const RULE_TYPES: &[RuleTypeSpec] = &[
    RuleTypeSpec {
        provider: RuleProvider::CloudWatchAlarm,
        name: "CloudWatchAlarm",
        properties: &[
            property("AlarmName", true, "String", "The name of the CloudWatch alarm to watch"),
            property("AlarmStates", false, "String", "Alarm states that fail the rule, comma-separated (ALARM)"),
            property("WaitTime", false, "Number", "Minutes to wait for the alarm to leave those states"),
        ],
        min_inputs: 0,
        max_inputs: 0,
        takes_commands: false,
    },
    RuleTypeSpec {
        provider: RuleProvider::Commands,
        name: "Commands",
        properties: &[],
        min_inputs: 0,
        max_inputs: 5,
        takes_commands: true,
    },
    RuleTypeSpec {
        provider: RuleProvider::DeploymentWindow,
        name: "DeploymentWindow",
        properties: &[
            property("Cron", true, "String", "When deployments are allowed: a six- or seven-field cron expression"),
            property("TimeZone", false, "String", "The IANA time zone of the cron expression (UTC)"),
        ],
        min_inputs: 0,
        max_inputs: 0,
        takes_commands: false,
    },
    RuleTypeSpec {
        provider: RuleProvider::LambdaInvoke,
        name: "LambdaInvoke",
        properties: &[
            property("FunctionName", true, "String", "The Lambda function to invoke"),
            property("UserParameters", false, "String", "Input handed to the function"),
        ],
        min_inputs: 0,
        max_inputs: 5,
        takes_commands: false,
    },
    RuleTypeSpec {
        provider: RuleProvider::VariableCheck,
        name: "VariableCheck",
        properties: &[
            property("Variable", true, "String", "The variable to check, as a #{Namespace.Name} reference"),
            property("Value", true, "String", "The value to compare it with"),
            property("Operator", true, "String", "EQ, NE, CONTAINS or MATCHES"),
        ],
        min_inputs: 0,
        max_inputs: 0,
        takes_commands: false,
    },
];

/// The VariableCheck operators.
pub const VARIABLE_CHECK_OPERATORS: &[&str] = &["EQ", "NE", "CONTAINS", "MATCHES"];

impl RuleProvider {
    /// The provider a `ruleTypeId.provider` names, if Pipewright knows it.
    pub fn of(provider: &str) -> Option<RuleProvider> {
        RULE_TYPES.iter().find(|t| t.name == provider).map(|t| t.provider)
    }

    pub fn spec(self) -> &'static RuleTypeSpec {
        // Every provider has its row; the fallback is never taken.
        RULE_TYPES.iter().find(|t| t.provider == self).unwrap_or(&RULE_TYPES[0])
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The action provider that runs a rule's job: Commands rules run as Commands actions,
    /// LambdaInvoke rules as Lambda actions. None for the rules the engine decides, and for
    /// CloudWatchAlarm, which reads an alarm instead.
    pub fn action_kind(self) -> Option<crate::providers::ProviderKind> {
        match self {
            RuleProvider::Commands => Some(crate::providers::ProviderKind::Commands),
            RuleProvider::LambdaInvoke => Some(crate::providers::ProviderKind::Lambda),
            _ => None,
        }
    }

    /// The provider kind that runs `dispatch`: its action's, or its rule's.
    pub fn kind_of(dispatch: &crate::engine::Dispatch) -> Option<crate::providers::ProviderKind> {
        match dispatch.condition {
            Some(_) => RuleProvider::of(&dispatch.action_type.provider).and_then(RuleProvider::action_kind),
            None => crate::providers::spec_of(&dispatch.action_type).map(|spec| spec.kind),
        }
    }

    /// Whether a provider outside the engine runs the rule (a job, like an action's).
    pub fn is_job(self) -> bool {
        matches!(self, RuleProvider::Commands | RuleProvider::LambdaInvoke | RuleProvider::CloudWatchAlarm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_one_row() {
        for provider in [
            RuleProvider::VariableCheck,
            RuleProvider::DeploymentWindow,
            RuleProvider::Commands,
            RuleProvider::LambdaInvoke,
            RuleProvider::CloudWatchAlarm,
        ] {
            assert_eq!(RULE_TYPES.iter().filter(|t| t.provider == provider).count(), 1);
            assert_eq!(RuleProvider::of(provider.name()), Some(provider));
        }
        assert_eq!(RuleProvider::of("Nope"), None);
    }
}
