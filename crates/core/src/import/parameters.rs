//! Template parameter values (docs/import.md, "Parameters"): `--parameter` first, then the
//! `Default`; a parameter with neither gets a placeholder of its type that satisfies its
//! `AllowedValues`/`AllowedPattern` where it can. SSM-typed parameters name a Parameter Store
//! parameter, resolved only at deploy time: their value comes from `--value`, else a
//! placeholder.

use indexmap::IndexMap;

use super::placeholders::{self, Account, PlaceholderKind};
use super::template::{ParameterSpec, Template};
use super::{ImportError, Options};

/// What `Ref` of a parameter gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// A parameter's value, and the placeholder kind when it is one.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterValue {
    pub value: Value,
    pub placeholder: Option<PlaceholderKind>,
    /// The text the placeholder stands for (for lists, the joined text).
    pub text: String,
    /// Nobody gave it and its `Default` is the empty string.
    pub empty_default: bool,
}

/// Every declared parameter's value. Refuses `--parameter`s the template does not declare
/// and given values that break the parameter's constraints, as CloudFormation does.
pub fn resolve(
    template: &Template,
    options: &Options,
    at: Account<'_>,
) -> Result<IndexMap<String, ParameterValue>, ImportError> {
    let unknown: Vec<&String> =
        options.parameters.keys().filter(|name| !template.parameters.contains_key(*name)).collect();
    if !unknown.is_empty() {
        let declared: Vec<&str> = template.parameters.keys().map(String::as_str).collect();
        let declared = if declared.is_empty() { "none".to_string() } else { declared.join(", ") };
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(ImportError::Parameter(format!(
            "the template has no parameter named {} (its parameters: {declared})",
            names.join(", ")
        )));
    }
    let mut values = IndexMap::new();
    for (name, spec) in &template.parameters {
        let given = options.parameters.get(name);
        if let Some(value) = given {
            check(name, spec, value)?;
        }
        let declared = given.cloned().or_else(|| spec.default.clone());
        let empty_default = given.is_none() && declared.as_deref() == Some("");
        let (text, placeholder) = if let Some(inner) = spec.ssm_inner() {
            // The declared value is the Parameter Store name; the value itself is unknown here.
            let ssm_name = declared.clone().unwrap_or_default();
            match options.values.get(name).or_else(|| options.values.get(&ssm_name)) {
                Some(value) => (value.clone(), None),
                None => (placeholders::for_type(inner, name, at), Some(PlaceholderKind::SsmParameter)),
            }
        } else {
            match declared {
                Some(value) => (value, None),
                None => (placeholder(name, spec, at), Some(PlaceholderKind::Parameter)),
            }
        };
        let value = if spec.is_list() {
            Value::List(text.split(',').map(|item| item.trim().to_string()).collect())
        } else {
            Value::Text(text.clone())
        };
        values.insert(name.clone(), ParameterValue { value, placeholder, text, empty_default });
    }
    Ok(values)
}

/// A deterministic value for a parameter nobody gave, satisfying its constraints where it can.
fn placeholder(name: &str, spec: &ParameterSpec, at: Account<'_>) -> String {
    if let Some(first) = spec.allowed_values.first() {
        return first.clone();
    }
    if spec.is_number() {
        // An account id typed as a Number (`arn:aws:iam::${ToolsAccount}:role/…`) is the
        // placeholder account, which every ARN takes, when the bounds allow it.
        let lower = name.to_ascii_lowercase();
        let named_for_account = ["account", "accountid", "accountnumber"].iter().any(|end| lower.ends_with(end));
        let within = |account: &f64| {
            spec.min_value.is_none_or(|min| *account >= min) && spec.max_value.is_none_or(|max| *account <= max)
        };
        if named_for_account && at.account.parse::<f64>().ok().is_some_and(|account| within(&account)) {
            return at.account.to_string();
        }
        let value = spec.min_value.unwrap_or(1.0).max(spec.min_value.unwrap_or(f64::MIN));
        return if value.fract() == 0.0 { format!("{}", value as i64) } else { value.to_string() };
    }
    let shaped = placeholders::for_type(&spec.type_name, name, at);
    let shaped = fit_length(shaped, spec);
    match &spec.allowed_pattern {
        Some(pattern) if super::pattern::matches(pattern, &shaped) == Some(false) => {
            super::pattern::example(pattern).map(|example| fit_length(example, spec)).unwrap_or(shaped)
        }
        _ => shaped,
    }
}

/// The longest value CloudFormation takes for a parameter: a placeholder is never padded
/// past it, whatever `MinLength` says.
const MAX_PARAMETER_VALUE: usize = 4096;

/// `value` cut to `MaxLength` characters and padded to `MinLength`, as `check` counts them.
fn fit_length(mut value: String, spec: &ParameterSpec) -> String {
    if let Some(max) = spec.max_length
        && let Some((cut, _)) = value.char_indices().nth(max)
    {
        value.truncate(cut);
    }
    if let Some(min) = spec.min_length {
        let short = min.min(MAX_PARAMETER_VALUE).saturating_sub(value.chars().count());
        value.extend(std::iter::repeat_n('0', short));
    }
    value
}

/// CloudFormation's checks on a given value.
fn check(name: &str, spec: &ParameterSpec, value: &str) -> Result<(), ImportError> {
    let refuse = |why: String| Err(ImportError::Parameter(format!("--parameter {name}: {why}")));
    let items: Vec<&str> = if spec.is_list() { value.split(',').map(str::trim).collect() } else { vec![value] };
    for item in items {
        if !spec.allowed_values.is_empty() && !spec.allowed_values.iter().any(|allowed| allowed == item) {
            return refuse(format!("\"{item}\" is not one of the allowed values ({})", spec.allowed_values.join(", ")));
        }
        if let Some(pattern) = &spec.allowed_pattern
            && super::pattern::matches(pattern, item) == Some(false)
        {
            return refuse(format!("\"{item}\" does not match the AllowedPattern {pattern}"));
        }
        if (spec.is_number() || spec.type_name == "List<Number>") && item.parse::<f64>().is_err() {
            return refuse(format!("\"{item}\" is not a number"));
        }
    }
    if spec.min_length.is_some_and(|min| value.chars().count() < min) {
        return refuse(format!("is shorter than its MinLength {}", spec.min_length.unwrap_or_default()));
    }
    if spec.max_length.is_some_and(|max| value.chars().count() > max) {
        return refuse(format!("is longer than its MaxLength {}", spec.max_length.unwrap_or_default()));
    }
    if let Ok(number) = value.parse::<f64>()
        && spec.is_number()
        && (spec.min_value.is_some_and(|min| number < min) || spec.max_value.is_some_and(|max| number > max))
    {
        return refuse(format!("{number} is outside MinValue/MaxValue"));
    }
    Ok(())
}
