//! Cutting text that came from outside: at a character's start, never inside one.

/// The longest start of `text` of at most `max_bytes` bytes that ends where a character
/// starts (`str::floor_char_boundary`, which the crate's minimum Rust does not have).
pub fn head(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::head;

    #[test]
    fn a_cut_never_falls_inside_a_character() {
        assert_eq!(head("abcdef", 4), "abcd");
        assert_eq!(head("abc", 8), "abc");
        assert_eq!(head("aéé", 2), "a");
        assert_eq!(head("aéé", 3), "aé");
        assert_eq!(head("🎉x", 3), "");
    }
}
