//! `AllowedPattern`: whether a value matches (the whole value, as CloudFormation checks it),
//! and a deterministic string that matches, generated from the pattern's HIR.

use regex_automata::meta::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};

/// The compiled pattern, anchored at both ends; `None` when the pattern is not a regular
/// expression the engine reads (Java-only syntax such as lookarounds).
pub fn compile(pattern: &str) -> Option<Regex> {
    Regex::builder().configure(Regex::config().nfa_size_limit(Some(1 << 20))).build(&format!("^(?:{pattern})$")).ok()
}

pub fn matches(pattern: &str, value: &str) -> Option<bool> {
    compile(pattern).map(|regex| regex.is_match(value))
}

/// A string matching `pattern`, the same every time: literals as written, the first
/// alternative, classes by a preferred character (`a`, `A`, `0`, `-`, else the first in the
/// class), repetitions at their minimum (at least once, at most a few times).
pub fn example(pattern: &str) -> Option<String> {
    let hir = regex_syntax::ParserBuilder::new().nest_limit(64).build().parse(pattern).ok()?;
    let mut out = String::new();
    generate(&hir, &mut out, 0)?;
    matches(pattern, &out).unwrap_or(false).then_some(out)
}

fn generate(hir: &Hir, out: &mut String, depth: usize) -> Option<()> {
    if depth > 64 || out.len() > 4096 {
        return None;
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(std::str::from_utf8(&literal.0).ok()?),
        HirKind::Class(Class::Unicode(class)) => {
            let contains = |c: char| class.ranges().iter().any(|r| r.start() <= c && c <= r.end());
            let preferred = ['a', 'A', '0', '-', '_'].into_iter().find(|&c| contains(c));
            out.push(preferred.or_else(|| class.ranges().first().map(|r| r.start()))?);
        }
        HirKind::Class(Class::Bytes(class)) => {
            let byte = class.ranges().iter().find_map(|r| (r.start()..=r.end()).find(u8::is_ascii_alphanumeric))?;
            out.push(char::from(byte));
        }
        HirKind::Repetition(repetition) => {
            let times = repetition.min.max(1).min(repetition.max.unwrap_or(u32::MAX)).min(64);
            for _ in 0..times {
                generate(&repetition.sub, out, depth + 1)?;
            }
        }
        HirKind::Capture(capture) => generate(&capture.sub, out, depth + 1)?,
        HirKind::Concat(parts) => {
            for part in parts {
                generate(part, out, depth + 1)?;
            }
        }
        HirKind::Alternation(choices) => generate(choices.first()?, out, depth + 1)?,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_match_their_patterns() {
        for pattern in [
            "[A-Za-z0-9-]+",
            "^[a-z][a-z0-9-]{2,62}$",
            "arn:aws:iam::\\d{12}:role/.*",
            "(main|develop)",
            "[0-9]{12}",
            "^https://github\\.com/[^/]+/[^/]+$",
            "[a-zA-Z0-9_.-]+/[a-zA-Z0-9_.-]+",
        ] {
            let value = example(pattern).unwrap_or_else(|| panic!("no example for {pattern}"));
            assert_eq!(matches(pattern, &value), Some(true), "{pattern} → {value}");
        }
        assert_eq!(example("(main|develop)").as_deref(), Some("main"));
        assert_eq!(example("[0-9]{12}").as_deref(), Some("000000000000"));
    }

    #[test]
    fn patterns_match_the_whole_value() {
        assert_eq!(matches("[a-z]+", "abc"), Some(true));
        assert_eq!(matches("[a-z]+", "abc1"), Some(false));
        assert_eq!(matches("(?<=x)y", "y"), None);
    }
}
