//! Length and character-set checks for the model's string fields (botocore patterns).

use super::Checker;

/// The character classes of botocore's patterns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Charset {
    /// Pipeline, stage, action and rule names: `[A-Za-z0-9.@\-_]+`.
    Entity,
    /// Artifact names: `[a-zA-Z0-9_\-]+`.
    Artifact,
    /// Namespaces and pipeline variable names: `[A-Za-z0-9@\-_]+`.
    Namespace,
    /// Provider and version of an action type: `[0-9A-Za-z_-]+`.
    Provider,
    /// Environment variable names: `[A-Za-z0-9_]+`.
    EnvironmentName,
    /// Artifact bucket names: `[a-zA-Z0-9\-\.]+`.
    Bucket,
    /// Transition disabled reasons: `[a-zA-Z0-9!@ \(\)\.\*\?\-]+`.
    DisabledReason,
}

impl Charset {
    fn allows(self, c: char) -> bool {
        let alnum = c.is_ascii_alphanumeric();
        match self {
            Charset::Entity => alnum || matches!(c, '.' | '@' | '-' | '_'),
            Charset::Artifact | Charset::Provider => alnum || matches!(c, '_' | '-'),
            Charset::Namespace => alnum || matches!(c, '@' | '-' | '_'),
            Charset::EnvironmentName => alnum || c == '_',
            Charset::Bucket => alnum || matches!(c, '-' | '.'),
            Charset::DisabledReason => alnum || matches!(c, '!' | '@' | ' ' | '(' | ')' | '.' | '*' | '?' | '-'),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Charset::Entity => "letters, digits and . @ - _",
            Charset::Artifact | Charset::Provider => "letters, digits and _ -",
            Charset::Namespace => "letters, digits and @ - _",
            Charset::EnvironmentName => "letters, digits and _",
            Charset::Bucket => "letters, digits and - .",
            Charset::DisabledReason => "letters, digits, spaces and ! @ ( ) . * ? -",
        }
    }
}

/// Why `value` is not `min..=max` characters of `charset`, if it is not.
pub(crate) fn name_problem(value: &str, min: usize, max: usize, charset: Charset) -> Option<String> {
    if value.is_empty() && min > 0 {
        return Some("is required".to_string());
    }
    let length = value.chars().count();
    if length > max {
        return Some(format!("is {length} characters long; the limit is {max}"));
    }
    if length < min {
        return Some(format!("must be at least {min} characters long"));
    }
    value
        .chars()
        .find(|&c| !charset.allows(c))
        .map(|bad| format!("\"{value}\" contains {bad:?}; only {} are allowed", charset.describe()))
}

/// Checks a required name.
pub(crate) fn check_name(c: &mut Checker, path: &str, value: &str, max: usize, charset: Charset) {
    if let Some(problem) = name_problem(value, 1, max, charset) {
        c.error(path, problem);
    }
}

/// Checks the length of free text.
pub(crate) fn check_length(c: &mut Checker, path: &str, value: &str, min: usize, max: usize) {
    let length = value.chars().count();
    if length < min {
        if length == 0 {
            c.error(path, "must not be empty");
        } else {
            c.error(path, format!("must be at least {min} characters long"));
        }
    } else if length > max {
        c.error(path, format!("is {length} characters long; the limit is {max}"));
    }
}

/// Checks a list's length when it is given: botocore lists have a minimum and maximum size.
pub(crate) fn check_count(c: &mut Checker, path: &str, count: usize, min: usize, max: usize, what: &str) {
    if count < min || count > max {
        let bounds = if min == max { format!("exactly {min}") } else { format!("{min} to {max}") };
        c.error(path, format!("has {count} {what}; {bounds} are allowed"));
    }
}

/// `arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.*`, at most 1024 characters.
pub(crate) fn is_role_arn(value: &str) -> bool {
    if value.len() > 1024 {
        return false;
    }
    let Some(rest) = value.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_suffix, rest)) = rest.split_once(':') else {
        return false;
    };
    let partition_ok = partition_suffix.is_empty()
        || partition_suffix
            .split('-')
            .skip(1)
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            && partition_suffix.starts_with('-');
    let Some(rest) = rest.strip_prefix("iam::") else {
        return false;
    };
    let Some((account, role)) = rest.split_once(':') else {
        return false;
    };
    partition_ok && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) && role.starts_with("role/")
}

pub(crate) fn check_role_arn(c: &mut Checker, path: &str, value: &str) {
    if value.is_empty() {
        c.error(path, "is required");
    } else if !is_role_arn(value) {
        c.error(path, format!("\"{value}\" is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::111122223333:role/service-role/x"));
        assert!(is_role_arn("arn:aws-cn:iam::111122223333:role/x"));
        assert!(is_role_arn("arn:aws-us-gov:iam::111122223333:role/x"));
        assert!(!is_role_arn("arn:aws:iam::1111:role/x"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:user/x"));
        assert!(!is_role_arn("arn:aws:s3:::bucket"));
        assert!(!is_role_arn("arn:awsx:iam::111122223333:role/x"));
    }

    #[test]
    fn name_problems() {
        assert_eq!(name_problem("Build", 1, 100, Charset::Entity), None);
        assert!(name_problem("Build stage", 1, 100, Charset::Entity).unwrap().contains("' '"));
        assert!(name_problem(&"a".repeat(101), 1, 100, Charset::Entity).unwrap().contains("101"));
        assert_eq!(name_problem("", 1, 100, Charset::Entity).as_deref(), Some("is required"));
        assert!(name_problem("a.b", 1, 100, Charset::Artifact).is_some());
    }
}
