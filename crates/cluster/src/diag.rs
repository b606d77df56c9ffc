//! Turning byte positions in a cluster file into `file:line:column` messages with the offending
//! source line and a caret, and turning `toml`'s own errors into messages that say what to do.

use std::ops::Range;
use std::path::Path;

use crate::ConfigError;

/// The keys of a `[[node]]` table.
pub(crate) const NODE_KEYS: &[&str] = &[
    "name",
    "cmd",
    "daemon",
    "crashable",
    "ready",
    "env",
    "cwd",
    "delay",
    "user",
];
/// The keys of the `[run]` table.
pub(crate) const RUN_KEYS: &[&str] = &["timeout", "grace", "ready_timeout", "setup", "user"];
/// The keys of the `[check]` table.
pub(crate) const CHECK_KEYS: &[&str] = &["cmd", "timeout"];
/// The keys of the `[explore]` table.
pub(crate) const EXPLORE_KEYS: &[&str] = &["max_crashes", "omissions", "max_faults", "runs"];
/// The keys at the top level of the file.
pub(crate) const TOP_KEYS: &[&str] = &["node", "run", "check", "explore"];
/// The `[explore]` keys whose value is a whole number written without quotes.
const NUMBER_KEYS: &[&str] = &["max_crashes", "max_faults", "runs"];
/// The keys whose value is `true` or `false`.
const BOOLEAN_KEYS: &[&str] = &["daemon", "crashable", "omissions"];

/// What a key's value should be, and an example: `("true or false", "daemon = true")`.
pub(crate) fn expected(key: &str) -> (String, String) {
    let (what, example) = match key {
        "name" => (
            r#"a quoted name of letters, digits, "_" and "-""#,
            r#"name = "server""#,
        ),
        "cmd" => ("a quoted command line", r#"cmd = "./server 7000""#),
        "daemon" => ("true or false", "daemon = true"),
        "crashable" => ("true or false", "crashable = false"),
        "ready" => (
            "a quoted address",
            r#"ready = "tcp:127.0.0.1:7000" or ready = "unix:server.sock""#,
        ),
        "env" => (
            "a table of quoted strings",
            r#"env = { RUST_LOG = "info" }"#,
        ),
        "cwd" => ("a quoted directory", r#"cwd = "data""#),
        "delay" => ("a quoted duration", r#"delay = "100ms""#),
        "timeout" => ("a quoted duration", r#"timeout = "30s""#),
        "grace" => ("a quoted duration", r#"grace = "3s""#),
        "ready_timeout" => ("a quoted duration", r#"ready_timeout = "30s""#),
        "setup" => ("a quoted shell command", r#"setup = "rm -rf data""#),
        "node" => (
            "one [[node]] table (double brackets) per node",
            r#"[[node]] name = "server" cmd = "./server 7000""#,
        ),
        "run" => ("a table", r#"[run] timeout = "60s""#),
        "check" => ("a table", r#"[check] cmd = "./check.sh""#),
        "explore" => ("a table", "[explore] max_faults = 2"),
        "max_crashes" => ("a whole number, 0 or more", "max_crashes = 1"),
        "omissions" => ("true or false", "omissions = false"),
        "max_faults" => ("a whole number, 1 or more", "max_faults = 2"),
        "runs" => ("a whole number, 1 or more", "runs = 200"),
        other => return ("a quoted string".into(), format!(r#"{other} = "value""#)),
    };
    (what.into(), example.into())
}

/// What a key's value should look like, with an example; used as "(…)" after a message.
pub(crate) fn hint(key: &str) -> String {
    let (what, example) = expected(key);
    format!("{what}, e.g. {example}")
}

/// `"key" must be …, not <found> (e.g. …)`.
pub(crate) fn wrong_type(key: &str, found: &str) -> String {
    let (what, example) = expected(key);
    format!(r#""{key}" must be {what}, not {found} (e.g. {example})"#)
}

/// The text of a cluster file and the path to name in messages.
pub(crate) struct Source<'a> {
    /// The path as the user gave it.
    pub path: &'a Path,
    /// The whole file.
    pub text: &'a str,
}

/// Where a byte offset is: 1-based line and column (in characters), the line's text without its
/// line break, and the offset of the line's start.
struct Location<'a> {
    line: usize,
    column: usize,
    line_text: &'a str,
    line_start: usize,
}

impl<'a> Source<'a> {
    /// The largest char boundary not after `pos` (clamped to the text).
    fn boundary(&self, pos: usize) -> usize {
        let mut pos = pos.min(self.text.len());
        while !self.text.is_char_boundary(pos) {
            pos -= 1;
        }
        pos
    }

    fn locate(&self, pos: usize) -> Location<'a> {
        let text = self.text;
        let pos = self.boundary(pos);
        // `pos` is a char boundary and '\n' is one byte, so these slices all exist.
        let slice = |r: Range<usize>| text.get(r).unwrap_or("");
        let line_start = slice(0..pos).rfind('\n').map_or(0, |i| i + 1);
        let line_end = slice(pos..text.len())
            .find('\n')
            .map_or(text.len(), |i| pos + i);
        let line_text = slice(line_start..line_end).trim_end_matches('\r');
        Location {
            line: slice(0..line_start).matches('\n').count() + 1,
            column: slice(line_start..pos).chars().count() + 1,
            line_text,
            line_start,
        }
    }

    /// `path:line:column`.
    pub fn position(&self, pos: usize) -> String {
        let loc = self.locate(pos);
        format!("{}:{}:{}", self.path.display(), loc.line, loc.column)
    }

    /// An error at `span`: `path:line:col: message`, then the line and a caret under the span.
    pub fn error(&self, span: Range<usize>, message: &str) -> ConfigError {
        let loc = self.locate(span.start);
        let start = self.boundary(span.start);
        let in_line = loc.line_text.len() + loc.line_start;
        let end = self.boundary(span.end.clamp(start, in_line.max(start)));
        let width = self
            .text
            .get(start..end)
            .unwrap_or("")
            .chars()
            .count()
            .max(1);
        let gutter = loc.line.to_string();
        // Keep tabs so the caret lines up with the text above it.
        let pad: String = (loc.line_text.get(..start - loc.line_start))
            .unwrap_or(loc.line_text)
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        ConfigError::new(format!(
            "{}: {message}\n {gutter} | {}\n {blank} | {pad}{carets}",
            self.position(span.start),
            loc.line_text,
            blank = " ".repeat(gutter.len()),
            carets = "^".repeat(width),
        ))
    }

    /// An error about the whole file (no position).
    pub fn file_error(&self, message: &str) -> ConfigError {
        ConfigError::new(format!("{}: {message}", self.path.display()))
    }

    /// Rewrites an error from the `toml` parser or from deserialising into the file's structure.
    pub fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let raw = err.message().trim();
        let Some(span) = err.span() else {
            return self.file_error(&format!("invalid cluster file: {}", one_line(raw)));
        };
        let pos = self.boundary(span.start);
        let loc = self.locate(pos);
        let before = loc
            .line_text
            .get(..pos - loc.line_start)
            .unwrap_or(loc.line_text);
        let after = loc.line_text.get(pos - loc.line_start..).unwrap_or("");
        let message = explain(raw, before, after, loc.line_text);
        // toml points after an invalid escape; point at its backslash instead.
        let span = match before.rfind('\\') {
            Some(i) if raw.starts_with("invalid escape sequence") => {
                let start = loc.line_start + i;
                start..start + 1
            }
            _ => span,
        };
        self.error(span, &message)
    }
}

/// Joins a multi-line message into one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The words between backticks in a serde/toml message: "unknown field `a`, expected `b`".
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// The key whose value starts right after `before` ("  cmd = " → "cmd"), if any.
fn key_before(before: &str) -> Option<String> {
    let rest = before.trim_end().strip_suffix('=')?.trim_end();
    let token = rest
        .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',' || c == '[')
        .next()
        .unwrap_or(rest);
    let token = token.rsplit('.').next().unwrap_or(token);
    let token = token.trim_matches(|c| c == '"' || c == '\'');
    (!token.is_empty()).then(|| token.to_string())
}

/// The table a header line names ("[[node]]" → "node"), if the line is a header.
fn header_name(line: &str) -> Option<String> {
    let line = line.trim();
    let line = line.split('#').next().unwrap_or(line).trim();
    let name = line.strip_prefix('[')?.trim_start_matches('[');
    let name = name.trim_end_matches(']').trim();
    Some(name.rsplit('.').next().unwrap_or(name).trim().to_string())
}

/// The user's word for a serde type description ("integer `3`" → "a number").
fn found_words(found: &str) -> &'static str {
    let word = found
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(',');
    match word {
        "string" | "char" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "true/false",
        "map" => "a table",
        "sequence" => "an array",
        _ => "a value of another type",
    }
}

/// A message for a `toml` error: `raw` is its text, `before`/`after` the text of its line
/// before and from the error position.
fn explain(raw: &str, before: &str, after: &str, line: &str) -> String {
    let first = raw.lines().next().unwrap_or("").trim();
    if first.starts_with("unknown field") {
        return unknown_key(raw);
    }
    // A struct deserialised from an array ([[run]]) reports "invalid length".
    let wrong = first
        .strip_prefix("invalid type: ")
        .or_else(|| first.starts_with("invalid length").then_some("sequence"));
    if let Some(rest) = wrong {
        let found = found_words(rest);
        let key = key_before(before).or_else(|| header_name(line));
        return match key.as_deref() {
            Some("node") if found == "a table" => {
                r#"each node needs its own [[node]] table with double brackets, not [node] (e.g. [[node]] name = "server" cmd = "./server 7000")"#
                    .to_string()
            }
            Some("run" | "check" | "explore") if found == "an array" => format!(
                "there is only one [{k}] table: write [{k}], not [[{k}]]",
                k = key.as_deref().unwrap_or_default()
            ),
            Some(key) => wrong_type(key, found),
            None => format!("wrong type: {}", one_line(rest)),
        };
    }
    if raw.contains("duplicate key") {
        let key = backticked(raw)
            .first()
            .map(|k| k.to_string())
            .unwrap_or_default();
        return match header_name(line) {
            Some(h) if h == "node" && !line.contains("[[") => {
                "[node] after [[node]]: start every node with [[node]] (double brackets)"
                    .to_string()
            }
            Some(_) => format!("the table [{key}] appears twice: merge the two into one"),
            None => format!(r#""{key}" is set twice in the same table: keep only one"#),
        };
    }
    if first.starts_with("invalid escape sequence") {
        return r#"invalid escape sequence: in a "..." string a backslash starts an escape; write \\ for a backslash, or use a '...' string, in which backslashes are plain text"#
            .to_string();
    }
    if first.starts_with("invalid basic string")
        || first.starts_with("invalid literal string")
        || first.starts_with("invalid multiline")
    {
        let quote = match first {
            f if f.starts_with("invalid literal") => "'",
            f if f.starts_with("invalid multiline basic") => r#"""""#,
            f if f.starts_with("invalid multiline literal") => "'''",
            _ => "\"",
        };
        return match after.chars().next() {
            Some(c) if c.is_control() && c != '\t' => format!(
                "control character U+{:04X} in a string: remove it (write escapes like \\n for a line break)",
                c as u32
            ),
            _ => format!("unterminated string: add the closing {quote} (a string must end on the line where it starts)"),
        };
    }
    if let Some(key) = key_before(before) {
        let value = after.trim_start();
        if value.is_empty() || value.starts_with(['#', '}', ',', ']']) {
            return format!(r#"expected a value after "{key} =" ({})"#, hint(&key));
        }
        if let Some(message) = unreadable_value(&key, first) {
            return message;
        }
        return format!(
            r#"cannot read the value of "{key}": text must be in quotes ({})"#,
            hint(&key)
        );
    }
    // A malformed number ("01", "1__0", "2x") is reported further into the value.
    if let Some(key) = before.find('=').and_then(|i| key_before(&before[..=i])) {
        if NUMBER_KEYS.contains(&key.as_str()) {
            if let Some(message) = unreadable_value(&key, first) {
                return message;
            }
        }
    }
    if first.starts_with("expected newline") {
        return r#"unexpected text after the value: write one key = value per line, and quote a whole command line (e.g. cmd = "./server 7000")"#
            .to_string();
    }
    if first.starts_with("expected `.`, `=`") {
        return r#"expected "=" after the key: write key = value (e.g. cmd = "./server 7000")"#
            .to_string();
    }
    if first.starts_with("invalid table header") {
        return "invalid table header: write [[node]] (once per node), [run], [check] or [explore]"
            .to_string();
    }
    if first.starts_with("invalid inline table") {
        return r#"invalid inline table: write { KEY = "value", OTHER = "value" } on one line, ending with }"#
            .to_string();
    }
    format!("invalid TOML: {}", one_line(raw))
}

/// A message for a value of a `true`/`false` or number key that TOML cannot read (`yes`,
/// `two`, `01`), given the first line of `toml`'s message; `None` for other keys.
fn unreadable_value(key: &str, first: &str) -> Option<String> {
    let (what, example) = expected(key);
    if BOOLEAN_KEYS.contains(&key) {
        return Some(format!(
            r#""{key}" must be true or false (lowercase, no quotes), e.g. {example}"#
        ));
    }
    if !NUMBER_KEYS.contains(&key) {
        return None;
    }
    if first.starts_with("number too large") {
        return Some(too_large(key));
    }
    Some(format!(
        r#""{key}" must be {what}, written as plain digits (no quotes, no leading zeros), e.g. {example}"#
    ))
}

/// `"key" is too large: …` for a whole number past `u32::MAX`.
pub(crate) fn too_large(key: &str) -> String {
    format!(
        r#""{key}" is too large: at most {} (e.g. {})"#,
        u32::MAX,
        expected(key).1
    )
}

/// "unknown field `nmae`, expected one of `name`, …" → which table, a suggestion, the keys.
fn unknown_key(raw: &str) -> String {
    let words = backticked(raw);
    let Some((&key, allowed)) = words.split_first() else {
        return format!("unknown key: {}", one_line(raw));
    };
    let (table, keys): (&str, Vec<String>) = if allowed == TOP_KEYS {
        (
            "at the top level",
            vec![
                "[[node]]".into(),
                "[run]".into(),
                "[check]".into(),
                "[explore]".into(),
            ],
        )
    } else {
        let table = if allowed == NODE_KEYS {
            "in [[node]]"
        } else if allowed == RUN_KEYS {
            "in [run]"
        } else if allowed == CHECK_KEYS {
            "in [check]"
        } else if allowed == EXPLORE_KEYS {
            "in [explore]"
        } else {
            "here"
        };
        (table, allowed.iter().map(|k| k.to_string()).collect())
    };
    let suggestion = allowed
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| format!(r#" (did you mean "{k}"?)"#))
        .unwrap_or_default();
    format!(
        r#"unknown key "{key}" {table}{suggestion}; the allowed keys are {}"#,
        keys.join(", ")
    )
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `row[j]` is the distance between the prefix of `a` seen so far and `b[..j]`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut next = Vec::with_capacity(row.len());
        next.push(i + 1);
        for ((cb, diag), up) in b.iter().zip(&row).zip(row.iter().skip(1)) {
            let left = next.last().copied().unwrap_or(usize::MAX);
            let cost = if ca == *cb {
                *diag
            } else {
                1 + (*diag).min(*up).min(left)
            };
            next.push(cost);
        }
        row = next;
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_before_finds_the_key() {
        assert_eq!(key_before("cmd = ").as_deref(), Some("cmd"));
        assert_eq!(key_before("  \"cmd\"=").as_deref(), Some("cmd"));
        assert_eq!(key_before("env = { A = ").as_deref(), Some("A"));
        assert_eq!(key_before("node.env.B = ").as_deref(), Some("B"));
        assert_eq!(key_before("cmd = \"x"), None);
        assert_eq!(key_before("= "), None);
        assert_eq!(key_before("x\u{3000}cmd =").as_deref(), Some("cmd"));
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("nmae", "name"), 2);
        assert_eq!(edit_distance("cmd", "cmd"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("deamon", "daemon"), 2);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn caret_under_column_with_multibyte_and_tabs() {
        let text = "a = \"é\"\n\tcmd =\n";
        let src = Source {
            path: Path::new("f.toml"),
            text,
        };
        let e = src.error(14..15, "boom");
        assert_eq!(e.message, "f.toml:2:6: boom\n 2 | \tcmd =\n   | \t    ^");
        let e = src.error(4..8, "str");
        assert!(
            e.message
                .starts_with("f.toml:1:5: str\n 1 | a = \"é\"\n   |     ^^^"),
            "{e}"
        );
        // Out-of-range spans do not panic.
        let e = src.error(1000..2000, "end");
        assert!(e.message.starts_with("f.toml:3:1: end"), "{e}");
    }
}
