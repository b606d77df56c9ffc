//! Property tests: the parser never panics, and every valid rule prints to text that parses
//! back to the same rule.

use std::time::Duration;

use bop_faults::{parse_file, parse_rule, Action, EventPat, Link, Rule, Trigger, When};
use proptest::prelude::*;
use proptest::sample::select;

// ---- valid syntax trees ----

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,8}"
}

/// Any duration up to about 60 years, to the nanosecond.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        // Round ones, as people write them.
        (0u64..100_000).prop_map(Duration::from_millis),
        (0u64..2_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn positive_duration() -> impl Strategy<Value = Duration> {
    duration().prop_map(|d| {
        if d.is_zero() {
            Duration::from_nanos(1)
        } else {
            d
        }
    })
}

fn nth() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        (1u64..10).prop_map(Some),
        (1u64..=u64::MAX).prop_map(Some)
    ]
}

fn link() -> impl Strategy<Value = Link> {
    (name(), name(), any::<bool>()).prop_map(|(from, to, both)| Link { from, to, both })
}

/// Two disjoint, non-empty groups without duplicates.
fn groups() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    proptest::collection::btree_set(name(), 2..7)
        .prop_flat_map(|set| {
            let v: Vec<String> = set.into_iter().collect();
            let n = v.len();
            (Just(v), 1..n)
        })
        .prop_shuffle_groups()
}

/// Shuffles the names before splitting them, so groups are not sorted.
trait ShuffleGroups {
    fn prop_shuffle_groups(self) -> BoxedStrategy<(Vec<String>, Vec<String>)>;
}

impl<S: Strategy<Value = (Vec<String>, usize)> + 'static> ShuffleGroups for S {
    fn prop_shuffle_groups(self) -> BoxedStrategy<(Vec<String>, Vec<String>)> {
        self.prop_flat_map(|(v, k)| (Just(v).prop_shuffle(), Just(k)))
            .prop_map(|(mut v, k)| {
                let b = v.split_off(k);
                (v, b)
            })
            .boxed()
    }
}

fn trigger_event() -> impl Strategy<Value = EventPat> {
    (
        name(),
        select(vec!["connect", "accept", "send", "recv", "close", "exit"]),
        proptest::option::of(name()),
        nth(),
    )
        .prop_map(|(node, op, peer, nth)| EventPat {
            node,
            op: op.to_string(),
            peer: if op == "exit" { None } else { peer },
            nth,
        })
}

/// Every syscall name bop knows, and the generic ops.
fn fail_op() -> impl Strategy<Value = String> {
    let mut ops: Vec<String> = (0i64..1000)
        .map(bop_syscalls::name)
        .filter(|n| *n != "syscall")
        .map(String::from)
        .collect();
    ops.extend(["send", "recv"].map(String::from));
    select(ops)
}

fn fail_event() -> impl Strategy<Value = EventPat> {
    (name(), fail_op(), proptest::option::of(name()), nth()).prop_map(|(node, op, peer, nth)| {
        EventPat {
            node,
            op,
            peer,
            nth,
        }
    })
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        duration().prop_map(When::Time),
        trigger_event().prop_map(When::Event)
    ]
}

fn trigger() -> impl Strategy<Value = Option<Trigger>> {
    prop_oneof![
        Just(None),
        when().prop_map(|w| Some(Trigger::At(w))),
        when().prop_map(|w| Some(Trigger::After(w))),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let partition = (
        groups(),
        any::<bool>(),
        proptest::option::of(positive_duration()),
        any::<bool>(),
    )
        .prop_map(|((a, b), oneway, duration, refuse)| Action::Partition {
            a,
            b,
            oneway,
            duration,
            refuse,
        });
    let one_way_link = (
        name(),
        name(),
        proptest::option::of(positive_duration()),
        any::<bool>(),
    )
        .prop_filter("different nodes", |(a, b, _, _)| a != b)
        .prop_map(|(a, b, duration, refuse)| Action::Partition {
            a: vec![a],
            b: vec![b],
            oneway: true,
            duration,
            refuse,
        });
    let drop = (
        link(),
        prop_oneof![
            Just((None, None, 0u64)),
            nth().prop_map(|n| (n, None, 0)),
            (0.0f64..=1.0, any::<u64>()).prop_map(|(p, s)| (None, Some(p), s)),
            (select(vec![0.0, 0.2, 0.5, 1.0]), 0u64..10).prop_map(|(p, s)| (None, Some(p), s)),
        ],
    )
        .prop_map(|(link, (nth, p, seed))| Action::Drop { link, nth, p, seed });
    prop_oneof![
        partition,
        one_way_link,
        drop,
        name().prop_map(|node| Action::Crash { node }),
        (name(), positive_duration()).prop_map(|(node, duration)| Action::Pause { node, duration }),
        (link(), positive_duration()).prop_map(|(link, by)| Action::Delay { link, by }),
        link().prop_map(|link| Action::Reset { link }),
        (fail_event(), 1i32..=4095).prop_map(|(event, errno)| Action::Fail { event, errno }),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        8 => (action(), trigger(), proptest::option::of(name())).prop_map(
            |(action, trigger, class)| {
                // `in class` only stands after an event trigger
                let anchored = matches!(
                    trigger,
                    Some(Trigger::At(When::Event(_)) | Trigger::After(When::Event(_)))
                );
                Rule {
                    action,
                    trigger,
                    class: class.filter(|_| anchored),
                }
            }
        ),
        1 => (name(), duration()).prop_map(|(node, d)| Rule {
            action: Action::Restart { node },
            trigger: Some(Trigger::After(When::Time(d))),
            class: None,
        }),
    ]
}

// ---- token soup: strings close to rules, to get deep into the parser ----

fn soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "partition",
        "drop",
        "crash",
        "restart",
        "pause",
        "delay",
        "reset",
        "fail",
        "at",
        "after",
        "in",
        "class",
        "for",
        "refuse",
        "with",
        "p",
        "seed",
        "=",
        "p=",
        "seed=",
        "{",
        "}",
        ",",
        "|",
        "->",
        "<->",
        "-",
        ">",
        "<",
        "#",
        "#2",
        "#0",
        "#x",
        "# ",
        ".",
        "(",
        ")",
        "a",
        "b",
        "n1",
        "2",
        "0.2",
        "1.5",
        "7",
        "s",
        "ms",
        "2s",
        "1.5s",
        "500ms",
        "0s",
        "1m",
        "1year",
        "µs",
        "99999999999999999999",
        "18446744073709551615s",
        "1000ms",
        "send",
        "recv",
        "exit",
        "connect",
        "accept",
        "close",
        "openat",
        "read",
        "ECONNREFUSED",
        "econnreset",
        "111",
        "0",
        "4096",
        "é",
        "\t",
        "\r",
        "\n",
        "\u{3000}",
        "\0",
        "a.send",
        "b.recv(a)#3",
        "{a,b}",
        "{c}",
        "a -> b",
    ];
    (
        proptest::collection::vec(select(tokens), 0..14),
        proptest::collection::vec(select(vec!["", " ", "  "]), 14),
    )
        .prop_map(|(toks, seps)| {
            let mut s = String::new();
            for (t, sep) in toks.iter().zip(seps) {
                s.push_str(t);
                s.push_str(sep);
            }
            s
        })
}

/// Parses `text`; if it parses, its canonical form must parse back to the same rule.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    match parse_rule(text) {
        Ok(r) => {
            let printed = r.to_string();
            let again = parse_rule(&printed)
                .map_err(|e| TestCaseError::fail(format!("{text:?} → {printed:?}:\n{e}")))?;
            prop_assert_eq!(&again, &r, "{:?} → {:?}", text, printed);
            prop_assert_eq!(again.to_string(), printed);
        }
        Err(e) => {
            // The message always shows a caret, and the column is within the text (or one
            // past its end).
            prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1);
            prop_assert!(e.message.contains('^'));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_text(&text)?;
        let _ = parse_file(&text, "f");
    }

    #[test]
    fn rule_like_strings_never_panic(text in soup()) {
        check_text(&text)?;
        let _ = parse_file(&text, "f");
    }

    #[test]
    fn valid_rules_print_and_parse_back(r in rule()) {
        let printed = r.to_string();
        let back = parse_rule(&printed)
            .map_err(|e| TestCaseError::fail(format!("{r:?} printed as {printed:?}:\n{e}")))?;
        prop_assert_eq!(&back, &r, "printed as {:?}", printed);
        // Printing is canonical: single spaces, nothing at either end.
        prop_assert!(!printed.contains("  ") && printed.trim() == printed);
    }

    #[test]
    fn cut_or_spliced_rules_never_panic(r in rule(), cut in any::<prop::sample::Index>(), junk in soup()) {
        let printed = r.to_string();
        let chars: Vec<char> = printed.chars().collect();
        let k = cut.index(chars.len() + 1);
        let head: String = chars[..k].iter().collect();
        let tail: String = chars[k..].iter().collect();
        check_text(&head)?;
        check_text(&format!("{head}{junk}{tail}"))?;
    }

    #[test]
    fn files_of_valid_rules_parse(rules in proptest::collection::vec(rule(), 0..6)) {
        let text: String = rules.iter().map(|r| format!("{r}  # comment\n\n")).collect();
        let parsed = parse_file(&text, "f").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let lines: Vec<usize> = parsed.iter().map(|(l, _)| *l).collect();
        let want: Vec<usize> = (0..rules.len()).map(|i| 2 * i + 1).collect();
        prop_assert_eq!(lines, want);
        let back: Vec<Rule> = parsed.into_iter().map(|(_, r)| r).collect();
        prop_assert_eq!(back, rules);
    }
}
