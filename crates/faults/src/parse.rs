//! Parsing rules (printing them back is in `print.rs`).
//!
//! A hand-written recursive-descent parser over the rule's characters. Every error carries the
//! 0-based character index it points at and says what was expected there; [`parse_rule`] and
//! [`parse_file`] turn that into a message with the rule and a caret under the column. The
//! grammar is in `docs/faults.md`.
//!
//! Lexical rules that need care:
//! - A node name is `[A-Za-z0-9_-]+`, except that a `-` directly followed by `>` ends the name
//!   (so `a->b` is the link from `a` to `b`).
//! - A `#` followed by whitespace or ending the text starts a comment that runs to the end of
//!   the line; so does a `#` that is the first non-blank character. Any other `#` is a count
//!   `#N` (and an error where no count may stand).
//! - A duration is one or more humantime components (`2s`, `1.5s`, `1m 30s`, `1s500ms`); a
//!   component after whitespace continues the duration when it starts with a digit.

use std::time::Duration;

use crate::ast::{Action, EventPat, Link, Rule, Trigger, When};

/// A rule that does not parse: the rule, where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The whole user-facing message: the rule, a caret under the column, what was expected.
    pub message: String,
    /// 1-based line (in a file; 1 for a single rule).
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses one rule, such as `crash server at server.recv(client)#2`.
///
/// Whitespace between tokens is free and a trailing `# comment` is allowed. On error the
/// message reads
///
/// ```text
/// error: in fault rule, column 21: expected a node group like {n2,n3} after "|"
///   partition {relay} | after
///                       ^
/// ```
pub fn parse_rule(text: &str) -> Result<Rule, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    Parser::new(&chars).rule().map_err(|e| {
        let column = e.col + 1;
        ParseError {
            message: format!(
                "error: in fault rule, column {column}: {}\n{}",
                e.msg,
                caret_display(&chars, e.col)
            ),
            line: 1,
            column,
        }
    })
}

/// Parses a faults file: one rule per line, `#` comments, blank lines ignored. `name` is used
/// in messages (`faults:3:7: …`). Returns each rule with its line number.
///
/// A line whose first non-blank character is `#` is a comment; a rule may end in a comment
/// (`crash server  # the primary`). The first error is returned, as
///
/// ```text
/// faults:3:21: expected a node group like {n2,n3} after "|"
///   partition {relay} | after
///                       ^
/// ```
pub fn parse_file(text: &str, name: &str) -> Result<Vec<(usize, Rule)>, ParseError> {
    let mut rules = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let lineno = i + 1;
        match Parser::new(&chars).rule() {
            Ok(rule) => rules.push((lineno, rule)),
            Err(e) => {
                let column = e.col + 1;
                return Err(ParseError {
                    message: format!(
                        "{name}:{lineno}:{column}: {}\n{}",
                        e.msg,
                        caret_display(&chars, e.col)
                    ),
                    line: lineno,
                    column,
                });
            }
        }
    }
    Ok(rules)
}

/// The rule indented by two spaces, and under it a caret under character `col` (0-based; may
/// be one past the end). Tabs are kept (so the caret lines up), other control characters are
/// shown as spaces.
fn caret_display(chars: &[char], col: usize) -> String {
    let shown: String = chars
        .iter()
        .map(|&c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect();
    let pad: String = chars
        .iter()
        .take(col)
        .map(|&c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("  {}\n  {pad}^", shown.trim_end())
}

/// The actions, as listed in messages.
const ACTIONS: &str = "partition, drop, crash, restart, pause, delay, reset, fail";

/// The operations an event may name in a trigger.
pub(crate) const TRIGGER_OPS: &[&str] = &["connect", "accept", "send", "recv", "close", "exit"];

/// The generic operations `fail` accepts besides syscall names.
pub(crate) const GENERIC_OPS: &[&str] = &["connect", "accept", "send", "recv", "close"];

/// The largest errno number Linux knows (`MAX_ERRNO`).
const MAX_ERRNO: i32 = 4095;

/// A loose upper bound on the seconds of a duration, checked before humantime parses it (which
/// could otherwise overflow `Duration` arithmetic on absurd input).
const MAX_DURATION_SECS: u128 = 1 << 62;

/// A parse failure: where (0-based character index) and what was expected.
#[derive(Debug)]
struct Failure {
    col: usize,
    msg: String,
}

type PResult<T> = Result<T, Failure>;

/// Whether `c` may be part of a node name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether an event's operation may contain `c`.
fn is_op_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Which list of operations an event may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    /// A trigger: [`TRIGGER_OPS`].
    Trigger,
    /// `fail`: any syscall name or [`GENERIC_OPS`].
    Fail,
}

/// The parser's state: the characters and the position.
struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a [char]) -> Self {
        Parser { s, i: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    /// Whether only whitespace and a comment are left (does not move).
    fn at_end(&self) -> bool {
        let mut j = self.i;
        while self.s.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        match self.s.get(j) {
            None => true,
            Some('#') => !matches!(self.s.get(j + 1), Some(c) if !c.is_whitespace()),
            Some(_) => false,
        }
    }

    /// Whether a count `#N` (rather than a comment) starts here.
    fn at_count(&self) -> bool {
        self.peek() == Some('#') && self.peek_at(1).is_some_and(|c| !c.is_whitespace())
    }

    fn fail<T>(&self, col: usize, msg: impl Into<String>) -> PResult<T> {
        Err(Failure {
            col,
            msg: msg.into(),
        })
    }

    /// The end (exclusive) of the node name starting here; `self.i` if there is none.
    fn name_end(&self) -> usize {
        let mut j = self.i;
        while let Some(&c) = self.s.get(j) {
            if !is_name_char(c) || (c == '-' && self.s.get(j + 1) == Some(&'>')) {
                break;
            }
            j += 1;
        }
        j
    }

    /// The word (node name or keyword) starting here, without consuming it.
    fn peek_word(&self) -> String {
        self.s[self.i..self.name_end()].iter().collect()
    }

    /// Consumes the word starting here (possibly empty); returns it and its column.
    fn word(&mut self) -> (String, usize) {
        let start = self.i;
        let end = self.name_end();
        self.i = end;
        (self.s[start..end].iter().collect(), start)
    }

    /// Consumes `lit` if the text continues with it.
    fn eat(&mut self, lit: &str) -> bool {
        let mut j = self.i;
        for c in lit.chars() {
            if self.s.get(j) != Some(&c) {
                return false;
            }
            j += 1;
        }
        self.i = j;
        true
    }

    /// A node name (after skipping whitespace), or an error with `expected`.
    fn node(&mut self, expected: &str) -> PResult<(String, usize)> {
        self.skip_ws();
        let (name, col) = self.word();
        if name.is_empty() {
            return self.fail(col, expected);
        }
        Ok((name, col))
    }

    // ---- rules ----

    fn rule(&mut self) -> PResult<Rule> {
        self.skip_ws();
        if self.at_end() || self.peek() == Some('#') {
            return self.fail(
                self.i,
                format!("empty fault rule: expected an action: {ACTIONS}"),
            );
        }
        let (word, col) = self.word();
        let action = match word.as_str() {
            "partition" => self.partition()?,
            "drop" => self.drop_()?,
            "crash" => Action::Crash {
                node: self.node(r#"expected a node name after "crash""#)?.0,
            },
            "restart" => Action::Restart {
                node: self.node(r#"expected a node name after "restart""#)?.0,
            },
            "pause" => self.pause()?,
            "delay" => self.delay()?,
            "reset" => Action::Reset {
                link: self.link("reset")?,
            },
            "fail" => self.fail_()?,
            "" => {
                return self.fail(col, format!("expected an action: {ACTIONS}"));
            }
            _ => {
                return self.fail(
                    col,
                    format!("unknown action \"{word}\"; the actions are: {ACTIONS}"),
                );
            }
        };
        let mut action = action;
        let trigger = self.trigger()?;
        if let (
            Some(_),
            Action::Partition {
                duration, refuse, ..
            },
        ) = (&trigger, &mut action)
        {
            // `partition {a} | {b} at 2s for 3s`: the options may also follow the trigger.
            self.partition_options(duration, refuse, true)?;
        }
        let class = self.class(trigger.as_ref().map(|t| &t.0))?;
        self.skip_ws();
        if !self.at_end() {
            let msg = if matches!(self.peek_word().as_str(), "at" | "after") {
                "a rule has one trigger; this is a second one"
            } else {
                "expected the end of the rule (a comment starts with \"# \")"
            };
            return self.fail(self.i, msg);
        }
        if let Action::Restart { .. } = action {
            let ok = matches!(trigger, Some((Trigger::After(When::Time(_)), _)));
            if !ok {
                let col = trigger.as_ref().map_or(self.i, |t| t.1);
                return self.fail(
                    col,
                    "restart needs \"after DURATION\": how long after the crash to start the \
                     node again, like restart server after 500ms",
                );
            }
        }
        Ok(Rule {
            action,
            trigger: trigger.map(|t| t.0),
            class,
        })
    }

    /// The optional `in class NAME` after the trigger, which must be an event.
    fn class(&mut self, trigger: Option<&Trigger>) -> PResult<Option<String>> {
        self.skip_ws();
        if self.peek_word() != "in" {
            return Ok(None);
        }
        let col = self.i;
        self.word();
        self.skip_ws();
        if self.peek_word() != "class" {
            return self.fail(
                self.i,
                "expected \"class\" and a recorded class's name after \"in\", like in class 2",
            );
        }
        self.word();
        self.skip_ws();
        let (name, _) =
            self.node("expected a recorded class's name after \"in class\", like in class 2")?;
        let anchored = matches!(
            trigger,
            Some(Trigger::At(When::Event(_)) | Trigger::After(When::Event(_)))
        );
        if !anchored {
            return self.fail(
                col,
                "\"in class\" anchors the rule on an event of a recorded class: it needs the \
                 trigger \"at EVENT\" or \"after EVENT\", like crash b at b.recv(a)#2 in class 2",
            );
        }
        Ok(Some(name))
    }

    /// The optional trigger (the caller checks the end of the rule). Errors with what may stand here when
    /// something else does.
    fn trigger(&mut self) -> PResult<Option<(Trigger, usize)>> {
        self.skip_ws();
        if self.at_end() {
            return Ok(None);
        }
        let word = self.peek_word();
        let col = self.i;
        if word == "in" {
            return Ok(None);
        }
        if word != "at" && word != "after" {
            return self.fail(col, r#"expected "at", "after" or the end of the rule"#);
        }
        self.word();
        self.skip_ws();
        let when = self.when(&word)?;
        let trigger = if word == "at" {
            Trigger::At(when)
        } else {
            Trigger::After(when)
        };
        Ok(Some((trigger, col)))
    }

    /// A time or an event after `at`/`after`.
    fn when(&mut self, keyword: &str) -> PResult<When> {
        let expected = format!(
            "expected a time like 2s or an event like server.recv(client)#2 after \"{keyword}\""
        );
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                // A node name may start with a digit: `2a.send` is an event, `1.5s` a time.
                let end = self.name_end();
                let event = self.s.get(end) == Some(&'.')
                    && self.s.get(end + 1).is_some_and(|c| c.is_ascii_alphabetic());
                if event {
                    Ok(When::Event(self.event(EventKind::Trigger, &expected)?))
                } else {
                    Ok(When::Time(self.duration(&format!("after \"{keyword}\""))?))
                }
            }
            Some(c) if is_name_char(c) => {
                Ok(When::Event(self.event(EventKind::Trigger, &expected)?))
            }
            _ => self.fail(self.i, expected),
        }
    }

    /// `NODE.OP(PEER)#N`.
    fn event(&mut self, kind: EventKind, expected: &str) -> PResult<EventPat> {
        let (node, _) = self.node(expected)?;
        if !self.eat(".") {
            return self.fail(
                self.i,
                format!(
                    "expected \".\" and an operation after \"{node}\", like {node}.send or \
                     {node}.recv(peer)#2"
                ),
            );
        }
        let start = self.i;
        while self.peek().is_some_and(is_op_char) {
            self.i += 1;
        }
        let op: String = self.s[start..self.i].iter().collect();
        match kind {
            EventKind::Trigger if !TRIGGER_OPS.contains(&op.as_str()) => {
                let what = if op.is_empty() {
                    "expected an operation after \".\"".to_string()
                } else {
                    format!("\"{op}\" cannot trigger a rule")
                };
                return self.fail(
                    start,
                    format!(
                        "{what}; the events that can are connect, accept, send, recv, close \
                         and exit"
                    ),
                );
            }
            EventKind::Fail
                if !GENERIC_OPS.contains(&op.as_str()) && bop_syscalls::number(&op).is_none() =>
            {
                let what = if op.is_empty() {
                    "expected a syscall name after \".\"".to_string()
                } else {
                    format!("unknown syscall \"{op}\"")
                };
                return self.fail(
                    start,
                    format!(
                        "{what}; fail takes a syscall name (like openat or recvfrom) or one of \
                         connect, accept, send, recv, close"
                    ),
                );
            }
            _ => {}
        }
        // Optional `(PEER)`, optional `#N`.
        let save = self.i;
        self.skip_ws();
        let mut peer = None;
        if self.eat("(") {
            self.skip_ws();
            if self.peek() != Some(')') {
                let (name, col) =
                    self.node(&format!("expected a node name or \")\" after \"{op}(\""))?;
                if kind == EventKind::Trigger && op == "exit" {
                    return self.fail(col, "exit has no peer: write NODE.exit");
                }
                peer = Some(name);
                self.skip_ws();
            }
            if !self.eat(")") {
                return self.fail(self.i, "expected \")\" after the peer's name");
            }
        } else {
            self.i = save;
        }
        let save = self.i;
        self.skip_ws();
        let nth = if self.at_count() {
            Some(self.count()?)
        } else {
            self.i = save;
            None
        };
        Ok(EventPat {
            node,
            op,
            peer,
            nth,
        })
    }

    /// `#N` with N ≥ 1; starts at the `#`.
    fn count(&mut self) -> PResult<u64> {
        self.i += 1; // '#'
        let start = self.i;
        let mut end = start;
        while self
            .s
            .get(end)
            .is_some_and(|&c| is_name_char(c) || c == '.')
        {
            end += 1;
        }
        let text: String = self.s[start..end].iter().collect();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return self.fail(
                start,
                "expected a count like #2 after \"#\": a whole number, 1 for the first (a \
                 comment starts with \"# \", with a space)",
            );
        }
        let n: u64 = match text.parse() {
            Ok(n) => n,
            Err(_) => return self.fail(start, format!("count #{text} is too large")),
        };
        if n == 0 {
            return self.fail(start, "counts start at 1: #1 is the first");
        }
        self.i = end;
        Ok(n)
    }

    /// A duration; `what` says after what it stands, for messages.
    fn duration(&mut self, what: &str) -> PResult<Duration> {
        self.skip_ws();
        let start = self.i;
        let expected = format!("expected a duration like 500ms, 2s or 1.5s {what}");
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return self.fail(start, expected);
        }
        loop {
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == 'µ')
            {
                self.i += 1;
            }
            let save = self.i;
            self.skip_ws();
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i = save;
                break;
            }
        }
        let text: String = self.s[start..self.i].iter().collect();
        if duration_bound_secs(&text) > MAX_DURATION_SECS {
            return self.fail(start, format!("duration \"{text}\" is too long"));
        }
        humantime::parse_duration(&text).or_else(|e| {
            use humantime::DurationError as E;
            let why = match e {
                E::UnknownUnit { unit, .. } if unit.is_empty() => {
                    "it needs a unit (ns, us, ms, s, m, h, d)".to_string()
                }
                E::UnknownUnit { unit, .. } => {
                    format!("unknown unit \"{unit}\" (the units are ns, us, ms, s, m, h, d)")
                }
                E::NumberOverflow => "too long, or finer than a nanosecond".to_string(),
                _ => "not a duration".to_string(),
            };
            self.fail(start, format!("bad duration \"{text}\": {why}; {expected}"))
        })
    }

    /// A duration longer than zero.
    fn positive_duration(&mut self, what: &str) -> PResult<Duration> {
        self.skip_ws();
        let start = self.i;
        let d = self.duration(what)?;
        if d.is_zero() {
            return self.fail(start, format!("expected a duration longer than 0 {what}"));
        }
        Ok(d)
    }

    /// `a -> b` or `a <-> b` after `keyword`.
    fn link(&mut self, keyword: &str) -> PResult<Link> {
        let (from, _) = self.node(&format!(
            "expected a link like client -> server after \"{keyword}\""
        ))?;
        self.skip_ws();
        let both = if self.eat("->") {
            false
        } else if self.eat("<->") {
            true
        } else {
            return self.fail(
                self.i,
                format!("expected \"->\" or \"<->\" after \"{from}\", like {from} -> server"),
            );
        };
        let arrow = if both { "<->" } else { "->" };
        let (to, _) = self.node(&format!("expected a node name after \"{arrow}\""))?;
        Ok(Link { from, to, both })
    }

    /// `{a,b,c}`; starts at the `{`. Returns the names with their columns.
    fn group(&mut self) -> PResult<Vec<(String, usize)>> {
        let open = self.i;
        self.i += 1; // '{'
        let mut names: Vec<(String, usize)> = Vec::new();
        loop {
            let after = if names.is_empty() { "{" } else { "," };
            let (name, col) = self.node(&format!("expected a node name after \"{after}\""))?;
            if names.iter().any(|(n, _)| *n == name) {
                return self.fail(col, format!("node \"{name}\" is twice in the group"));
            }
            names.push((name, col));
            self.skip_ws();
            if self.eat("}") {
                return Ok(names);
            }
            if !self.eat(",") {
                return self.fail(
                    self.i,
                    format!(
                        "expected \",\" or \"}}\" to close the group opened at column {}",
                        open + 1
                    ),
                );
            }
        }
    }

    /// One side of a partition: a group or a bare node name. Returns the names and whether the
    /// side was braced.
    fn side(&mut self, expected: &str) -> PResult<(Vec<(String, usize)>, bool)> {
        self.skip_ws();
        if self.peek() == Some('{') {
            return Ok((self.group()?, true));
        }
        let (name, col) = self.node(expected)?;
        Ok((vec![(name, col)], false))
    }

    fn partition(&mut self) -> PResult<Action> {
        let (a, a_braced) = self
            .side("expected a node group like {n1} or a link like n1 -> n2 after \"partition\"")?;
        self.skip_ws();
        let op_col = self.i;
        let (oneway, bar) = if self.eat("|") {
            (false, true)
        } else if self.eat("<->") {
            (false, false)
        } else if self.eat("->") {
            (true, false)
        } else if a_braced {
            return self.fail(op_col, "expected \"|\", \"->\" or \"<->\" after the group");
        } else {
            return self.fail(
                op_col,
                format!(
                    "expected \"->\" or \"<->\" after \"{}\" (groups are written in braces: \
                     {{a}} | {{b,c}})",
                    a[0].0
                ),
            );
        };
        if bar && !a_braced {
            return self.fail(
                a[0].1,
                format!(
                    "expected a node group like {{{}}} before \"|\" (or a link: {} <-> …)",
                    a[0].0, a[0].0
                ),
            );
        }
        self.skip_ws();
        let b = if bar {
            if self.peek() != Some('{') {
                return self.fail(self.i, "expected a node group like {n2,n3} after \"|\"");
            }
            self.group()?
        } else {
            let arrow = if oneway { "->" } else { "<->" };
            self.side(&format!(
                "expected a node name or a group like {{n2,n3}} after \"{arrow}\""
            ))?
            .0
        };
        if let Some((name, col)) = b.iter().find(|(n, _)| a.iter().any(|(m, _)| m == n)) {
            return self.fail(
                *col,
                format!("node \"{name}\" is on both sides of the partition"),
            );
        }
        let mut duration = None;
        let mut refuse = false;
        self.partition_options(&mut duration, &mut refuse, false)?;
        Ok(Action::Partition {
            a: a.into_iter().map(|(n, _)| n).collect(),
            b: b.into_iter().map(|(n, _)| n).collect(),
            oneway,
            duration,
            refuse,
        })
    }

    /// A partition's `for DURATION` and `refuse`, in any order; before the trigger, or after it
    /// when `after_trigger`. Stops at the end of the rule (or at a trigger when before it).
    fn partition_options(
        &mut self,
        duration: &mut Option<Duration>,
        refuse: &mut bool,
        after_trigger: bool,
    ) -> PResult<()> {
        loop {
            self.skip_ws();
            if self.at_end() {
                return Ok(());
            }
            let col = self.i;
            match self.peek_word().as_str() {
                "for" => {
                    if duration.is_some() {
                        return self.fail(col, "\"for\" is given twice");
                    }
                    self.word();
                    *duration = Some(self.positive_duration("after \"for\"")?);
                }
                "refuse" => {
                    if *refuse {
                        return self.fail(col, "\"refuse\" is given twice");
                    }
                    self.word();
                    *refuse = true;
                }
                "at" | "after" if after_trigger => {
                    return self.fail(col, "a rule has one trigger; this is a second one")
                }
                "at" | "after" => return Ok(()),
                "in" => return Ok(()),
                _ if after_trigger => {
                    return self.fail(
                        col,
                        "expected \"for DURATION\", \"refuse\" or the end of the rule",
                    )
                }
                _ => {
                    return self.fail(
                        col,
                        "expected \"for DURATION\", \"refuse\", \"at\", \"after\" or the end of \
                         the rule",
                    )
                }
            }
        }
    }

    fn drop_(&mut self) -> PResult<Action> {
        let link = self.link("drop")?;
        self.skip_ws();
        let mut nth = None;
        let mut p = None;
        let mut seed = 0;
        if self.at_count() {
            nth = Some(self.count()?);
            self.skip_ws();
            if matches!(self.peek_word().as_str(), "p" | "seed") {
                return self.fail(self.i, "a drop takes either #N or p=F, not both");
            }
        } else if self.peek_word() == "p" {
            p = Some(self.probability()?);
            self.skip_ws();
            if self.peek_word() == "seed" {
                seed = self.seed()?;
            }
        } else if self.peek_word() == "seed" {
            return self.fail(self.i, "seed=N goes after p=F, like p=0.2 seed=7");
        } else if !self.at_end() && !matches!(self.peek_word().as_str(), "at" | "after") {
            return self.fail(
                self.i,
                "expected \"#N\", \"p=F\", \"at\", \"after\" or the end of the rule",
            );
        }
        Ok(Action::Drop { link, nth, p, seed })
    }

    /// `KEY=` (the word is known to be `key`), whitespace allowed around `=`. Returns the
    /// column of the value.
    fn key_eq(&mut self, key: &str, example: &str) -> PResult<usize> {
        self.word();
        self.skip_ws();
        if !self.eat("=") {
            return self.fail(
                self.i,
                format!("expected \"=\" after \"{key}\", like {example}"),
            );
        }
        self.skip_ws();
        Ok(self.i)
    }

    /// A value token after `=`: letters, digits and `.+-_`.
    fn value_token(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    fn probability(&mut self) -> PResult<f64> {
        let col = self.key_eq("p", "p=0.2")?;
        let text = self.value_token();
        let expected = "expected a probability from 0 to 1 after \"p=\", like p=0.2";
        let wellformed = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && text.bytes().filter(|&b| b == b'.').count() <= 1
            && text.bytes().any(|b| b.is_ascii_digit());
        if !wellformed {
            return self.fail(col, expected);
        }
        match text.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
            _ => self.fail(
                col,
                format!("probability {text} is not between 0 and 1; {expected}"),
            ),
        }
    }

    fn seed(&mut self) -> PResult<u64> {
        let col = self.key_eq("seed", "seed=7")?;
        let text = self.value_token();
        match text.parse::<u64>() {
            Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => self.fail(
                col,
                format!(
                    "expected a seed after \"seed=\": a whole number from 0 to {}, like seed=7",
                    u64::MAX
                ),
            ),
        }
    }

    fn pause(&mut self) -> PResult<Action> {
        let (node, _) = self.node("expected a node name after \"pause\"")?;
        self.skip_ws();
        if self.peek_word() != "for" {
            return self.fail(
                self.i,
                format!("expected \"for DURATION\" after \"{node}\", like pause {node} for 2s"),
            );
        }
        self.word();
        let duration = self.positive_duration("after \"for\"")?;
        Ok(Action::Pause { node, duration })
    }

    fn delay(&mut self) -> PResult<Action> {
        let link = self.link("delay")?;
        let by = self.positive_duration("after the link (how late its messages arrive)")?;
        Ok(Action::Delay { link, by })
    }

    fn fail_(&mut self) -> PResult<Action> {
        self.skip_ws();
        let event = self.event(
            EventKind::Fail,
            "expected a call like client.connect(server)#1 after \"fail\"",
        )?;
        self.skip_ws();
        if self.peek_word() != "with" {
            return self.fail(
                self.i,
                "expected \"with ERRNO\" after the call, like with ECONNREFUSED",
            );
        }
        self.word();
        self.skip_ws();
        let col = self.i;
        let text = self.value_token();
        if text.is_empty() {
            return self.fail(
                col,
                "expected an errno after \"with\": a name like ECONNREFUSED or a number",
            );
        }
        let errno = if text.bytes().all(|b| b.is_ascii_digit()) {
            match text.parse::<i32>() {
                Ok(n) if (1..=MAX_ERRNO).contains(&n) => n,
                _ => {
                    return self.fail(
                        col,
                        format!("errno {text} is out of range: errnos go from 1 to {MAX_ERRNO}"),
                    )
                }
            }
        } else {
            match bop_syscalls::errno_number(&text) {
                Some(n) => n,
                None => {
                    return self.fail(
                        col,
                        format!(
                            "unknown errno \"{text}\"; expected a name like ECONNREFUSED, \
                             ETIMEDOUT or EPIPE, or a number"
                        ),
                    )
                }
            }
        };
        Ok(Action::Fail { event, errno })
    }
}

/// An upper bound on the seconds a humantime duration text stands for (saturating), so absurd
/// input is rejected before humantime's arithmetic sees it.
fn duration_bound_secs(text: &str) -> u128 {
    let mut total: u128 = 0;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut n: u128 = 0;
        while let Some(&c) = chars.peek() {
            match c.to_digit(10) {
                Some(d) => n = n.saturating_mul(10).saturating_add(u128::from(d)),
                None if c == '.' || c.is_whitespace() => {}
                None => break,
            }
            chars.next();
        }
        let mut unit = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() || (c.is_whitespace() && !unit.is_empty()) {
                break;
            }
            if !c.is_whitespace() {
                unit.push(c);
            }
            chars.next();
        }
        let per: u128 = match unit.as_str() {
            "minutes" | "minute" | "min" | "mins" | "m" => 60,
            "hours" | "hour" | "hr" | "hrs" | "h" => 3600,
            "days" | "day" | "d" => 86_400,
            "weeks" | "week" | "wk" | "wks" | "w" => 604_800,
            "months" | "month" | "M" => 2_630_016,
            "years" | "year" | "yr" | "yrs" | "y" => 31_557_600,
            _ => 1,
        };
        total = total.saturating_add(n.saturating_add(1).saturating_mul(per));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_counts_units() {
        assert!(duration_bound_secs("2s") >= 2);
        assert!(duration_bound_secs("1m 30s") >= 90);
        assert!(duration_bound_secs("3y") >= 3 * 31_557_600);
        assert!(duration_bound_secs("18446744073709551615s 1000ms") > MAX_DURATION_SECS);
    }

    #[test]
    fn humantime_overflow_edge_is_an_error_not_a_panic() {
        // humantime would panic in Duration::new on this one.
        let e = parse_rule("crash a at 18446744073709551615s 1000ms").unwrap_err();
        assert!(e.message.contains("is too long"), "{}", e.message);
    }
}
