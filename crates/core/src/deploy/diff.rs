//! Line diffs of templates, for `--plan` (docs/providers.md "Plans").

use similar::{ChangeTag, TextDiff};

/// A unified diff of `old` against `new` (three lines of context), and the counts of lines
/// added and removed. Empty text when nothing changed.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> (String, usize, usize) {
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    if added == 0 && removed == 0 {
        return (String::new(), 0, 0);
    }
    let text = diff.unified_diff().context_radius(3).header(old_label, new_label).to_string();
    (text, added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_counted_and_shown_with_context() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nb\nC\nd\ne\n";
        let (text, added, removed) = unified(old, new, "planned", "now");
        assert_eq!((added, removed), (2, 1));
        assert!(text.starts_with("--- planned\n+++ now\n"), "{text}");
        assert!(text.contains("-c\n") && text.contains("+C\n") && text.contains("+e\n"), "{text}");
        assert_eq!(unified(old, old, "a", "b"), (String::new(), 0, 0));
    }
}
