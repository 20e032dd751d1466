//! Names as path segments. Stage and action names may be `.` or `..` (CodePipeline's pattern
//! `[A-Za-z0-9.@\-_]+` allows them), and a name used as a directory as it is would then climb
//! out of its execution's directory: two pipelines' actions named `..` would share one
//! workspace and one log.

use std::borrow::Cow;

/// `name` as one path segment, never `.`, `..`, empty, or holding a separator; one-to-one, so
/// that two names never share a path. Characters outside CodePipeline's name pattern, `%`
/// itself, and the dots of a name made only of dots are percent-encoded.
pub fn segment(name: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_');
    let only_dots = name == "." || name == "..";
    if !name.is_empty() && !only_dots && name.chars().all(plain) {
        return Cow::Borrowed(name);
    }
    if name.is_empty() {
        return Cow::Borrowed("%");
    }
    let mut encoded = String::with_capacity(name.len() * 3);
    for c in name.chars() {
        if plain(c) && !(only_dots && c == '.') {
            encoded.push(c);
        } else {
            let mut bytes = [0u8; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Cow::Owned(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_pattern_are_kept() {
        for name in ["Build", "unit-tests_2", "deploy@eu", "v1.2", "..."] {
            assert_eq!(segment(name), name);
        }
    }

    #[test]
    fn dot_names_and_separators_cannot_climb_or_collide() {
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("."), "%2E");
        assert_eq!(segment("a/b"), "a%2Fb");
        assert_eq!(segment("%2E%2E"), "%252E%252E", "an encoded-looking name stays distinct");
        assert_eq!(segment(""), "%");
        let names = ["..", ".", "%2E%2E", "%2E", "a/b", "a%2Fb", "", "%"];
        let segments: std::collections::BTreeSet<_> = names.iter().map(|n| segment(n).into_owned()).collect();
        assert_eq!(segments.len(), names.len(), "one-to-one: {segments:?}");
        assert!(segments.iter().all(|s| s != "." && s != ".." && !s.contains('/')));
    }
}
