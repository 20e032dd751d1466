//! Text from outside (a commit message, an approval summary, CustomData, a failure message, a
//! command's output) shown on a terminal. Escape sequences in it would be obeyed: ANSI and OSC
//! sequences can clear the screen, rewrite earlier lines, set the window title or put text on
//! the clipboard (OSC 52). Every line `run`, `status` and `history` print goes through
//! [`visible`]; `--json` and the action logs keep the raw text.

use std::borrow::Cow;

/// Whether `c` would be obeyed rather than shown: control characters other than newline and
/// tab (C0, DEL, C1), and the bidirectional overrides that reorder what follows them.
fn obeyed(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => true,
        c => c.is_control(),
    }
}

/// `text` with every obeyed character shown instead: `^[` for ESC (caret notation for C0),
/// `^?` for DEL, `<U+009B>` for the others.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(obeyed) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !obeyed(c) => shown.push(c),
            '\u{0}'..='\u{1f}' => {
                shown.push('^');
                shown.push(char::from(c as u8 + 0x40));
            }
            '\u{7f}' => shown.push_str("^?"),
            c => shown.push_str(&format!("<U+{:04X}>", u32::from(c))),
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(visible("build ✔ 1.2s\tok\nnext"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(visible("\u{1b}[2J\u{1b}[Hpwned"), "^[[2J^[[Hpwned");
        assert_eq!(visible("\u{1b}]52;c;cm0gLXJmIH4=\u{7}"), "^[]52;c;cm0gLXJmIH4=^G");
        assert_eq!(visible("a\rb\u{8}c\u{7f}"), "a^Mb^Hc^?");
        assert_eq!(visible("\u{9b}31m"), "<U+009B>31m");
        assert_eq!(visible("x\u{202E}gpj.exe"), "x<U+202E>gpj.exe");
    }
}
