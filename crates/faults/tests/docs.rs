//! docs/faults.md tells the truth: every rule in its ```faults blocks parses and prints back
//! byte for byte, and every error message it shows is the one the parser gives.

use bop_faults::{parse_file, parse_rule};

const DOC: &str = include_str!("../../../docs/faults.md");

/// The fenced code blocks of this language (the first word of the info string: a block may go
/// on with marks for the docs' test, as in ```` ```faults file=echo.faults ````), each with the
/// 1-based line of its first line.
fn blocks(lang: &str) -> Vec<(usize, Vec<&'static str>)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (i, line) in DOC.lines().enumerate() {
        match &mut current {
            None => {
                let info = line.trim_start().strip_prefix("```");
                if info.and_then(|i| i.split_whitespace().next()) == Some(lang) {
                    current = Some((i + 2, Vec::new()));
                }
            }
            Some((_, lines)) => {
                if line.trim_start() == "```" {
                    out.extend(current.take());
                } else {
                    lines.push(line);
                }
            }
        }
    }
    assert!(
        current.is_none(),
        "unclosed ```{lang} block in docs/faults.md"
    );
    out
}

/// A line of a faults block without its comment: the text before the first `#` that is
/// followed by a blank or ends the line, or that starts the line.
fn strip_comment(line: &str) -> &str {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (k, &(at, c)) in chars.iter().enumerate() {
        let next_blank = !matches!(chars.get(k + 1), Some(&(_, n)) if !n.is_whitespace());
        if c == '#' && (next_blank || line[..at].trim().is_empty()) {
            return &line[..at];
        }
    }
    line
}

#[test]
fn every_rule_in_the_doc_is_canonical() {
    let blocks = blocks("faults");
    assert!(
        blocks.len() >= 20,
        "found only {} ```faults blocks",
        blocks.len()
    );
    let mut rules = 0;
    for (first, lines) in &blocks {
        for (k, line) in lines.iter().enumerate() {
            let at = first + k;
            let text = strip_comment(line).trim();
            if text.is_empty() {
                continue;
            }
            let rule = parse_rule(line)
                .unwrap_or_else(|e| panic!("docs/faults.md:{at}: {line:?} does not parse:\n{e}"));
            assert_eq!(
                rule.to_string(),
                text,
                "docs/faults.md:{at}: not in canonical form"
            );
            // Without its comment it is the same rule.
            assert_eq!(parse_rule(text).ok(), Some(rule));
            rules += 1;
        }
        // Each block is also a valid faults file.
        let text = lines.join("\n");
        if let Err(e) = parse_file(&text, "docs") {
            panic!("docs/faults.md:{first}: block is not a faults file:\n{e}");
        }
    }
    assert!(rules >= 30, "found only {rules} rules");
}

#[test]
fn every_error_in_the_doc_is_the_real_one() {
    let mut checked = 0;
    for (first, lines) in blocks("text") {
        let shown = lines.join("\n");
        let Some(head) = lines.first() else { continue };
        if head.starts_with("error: in fault rule, column ") {
            // The rule is the second line, indented by two spaces.
            let rule = lines[1].strip_prefix("  ").expect("indented rule");
            let e = parse_rule(rule).expect_err(rule);
            assert_eq!(e.message, shown, "docs/faults.md:{first}");
            checked += 1;
        } else if let Some((name, rest)) = head.split_once(':') {
            // `NAME:LINE:COL: …` from a faults file: rebuild the file up to that line.
            let Some((line, _)) = rest.split_once(':') else {
                continue;
            };
            let Ok(line) = line.parse::<usize>() else {
                continue;
            };
            let rule = lines[1].strip_prefix("  ").expect("indented rule");
            let text = format!("{}{rule}\n", "\n".repeat(line - 1));
            let e = parse_file(&text, name).expect_err(rule);
            assert_eq!(e.message, shown, "docs/faults.md:{first}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "checked only {checked} error messages");
}

#[test]
fn the_grammar_names_every_action() {
    for action in [
        "partition",
        "drop",
        "crash",
        "restart",
        "pause",
        "delay",
        "reset",
        "fail",
    ] {
        assert!(
            DOC.contains(&format!("### `{action}`")),
            "docs/faults.md has no section for {action}"
        );
        assert!(
            DOC.contains(&format!("\"{action}\"")),
            "the grammar lacks {action}"
        );
    }
}
