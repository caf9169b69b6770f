//! Untrusted text on a terminal: package names, descriptions, help texts
//! and event fields come from images and the kernel, and a terminal obeys
//! escape sequences in them (moving the cursor, rewriting earlier lines,
//! setting the window title). Everything shown as text goes through
//! [`escape_controls`] first.

use std::borrow::Cow;

/// `s` with every control character but newline written as `\xNN` (C0,
/// DEL) or `\u{NN}` (C1), so nothing in it acts on the terminal. Text
/// without any is returned as is.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let is_control = |c: char| c != '\n' && c.is_control();
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_control(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_obeyed() {
        assert!(matches!(
            escape_controls("plain text\nline"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_controls("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape_controls("\x07\t\r\x7f"), "\\x07\\x09\\x0d\\x7f");
        assert_eq!(escape_controls("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(escape_controls("héllo ✓"), "héllo ✓");
    }
}
