//! The text form of payload bytes in a trace's `data` field: printable ASCII as itself, `\\`
//! for a backslash, `\xNN` (two lower-case hex digits) for any other byte.

use std::fmt::Write as _;

/// Bytes as the `data` field writes them.
pub fn escape_data(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// The bytes a `data` field stands for; an error says where the text is not in that form.
pub fn unescape_data(text: &str) -> Result<Vec<u8>, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = text
                    .get(i + 2..i + 4)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("column {}: `\\x` is not followed by two hex digits", i + 1)
                    })?;
                out.push(hex);
                i += 4;
            }
            _ => {
                return Err(format!(
                    "column {}: a backslash must be followed by `\\` or `xNN`",
                    i + 1
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_come_back_from_their_text(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let text = escape_data(&bytes);
            prop_assert!(text.bytes().all(|c| (0x20..=0x7e).contains(&c)));
            prop_assert_eq!(unescape_data(&text).unwrap(), bytes);
        }
    }

    #[test]
    fn malformed_text_is_refused_with_its_column() {
        assert_eq!(
            unescape_data("ab\\x4").unwrap_err(),
            "column 3: `\\x` is not followed by two hex digits"
        );
        assert!(unescape_data("\\n").unwrap_err().contains("column 1"));
        assert_eq!(unescape_data("a\\\\b\\x00").unwrap(), b"a\\b\x00");
    }
}
