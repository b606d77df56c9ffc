//! Tests of the cluster file and command-line loaders.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{load, parse, Cluster, ConfigError, ExploreSpec, Ready, RunSpec};

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("bop-cluster-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn file(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// An executable shell script.
    fn program(&self, rel: &str) -> PathBuf {
        self.file(rel, "#!/bin/sh\nexit 0\n", 0o755)
    }

    fn dir(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Writes `relay.toml` and parses it, with the path given as `<dir>/relay.toml`.
    fn parse(&self, text: &str) -> Result<Cluster, String> {
        let path = self.file("relay.toml", text, 0o644);
        load(&path).map_err(|e| e.message)
    }

    /// Parses `text` as `relay.toml` in this directory and expects an error; returns its
    /// message with the directory removed from it (so tests can match `relay.toml:3:7:`).
    fn error(&self, text: &str) -> String {
        match self.parse(text) {
            Ok(c) => panic!("expected an error for:\n{text}\ngot {c:#?}"),
            Err(m) => m.replace(&format!("{}/", self.0.display()), ""),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that `message` starts with `prefix` and contains every one of `words`.
#[track_caller]
fn assert_msg(message: &str, prefix: &str, words: &[&str]) {
    assert!(
        message.starts_with(prefix),
        "expected prefix {prefix:?} in:\n{message}"
    );
    for w in words {
        assert!(message.contains(w), "expected {w:?} in:\n{message}");
    }
}

const MINIMAL: &str = "[[node]]\nname = \"server\"\ncmd = \"./server 7000\"\n";

#[test]
fn full_file() {
    let s = Scratch::new();
    let server = s.program("server");
    let client = s.program("bin/client");
    let check = s.program("check.sh");
    let data = s.dir("data");
    let c = s
        .parse(
            r#"# a relay
[[node]]
name   = "server"
cmd    = "./server 7000 'two words'"
daemon = true
ready  = "tcp:127.0.0.1:7000"
env    = { RUST_LOG = "info", EMPTY = "" }
cwd    = "."
delay  = "100 ms"

[[node]]
name = "relay-2"
cmd = "../bin/client --x"
cwd = "data"
ready = "unix:relay.sock"
daemon = false
delay = "1m"

[[node]]
name = "tail_x"
cmd = "sh -c 'exit 0'"

[run]
timeout = "30s"
grace = "1s"
ready_timeout = "5s"
setup = "rm -rf data"

[check]
cmd = "./check.sh --strict"
timeout = "10s"
"#,
        )
        .unwrap();
    assert_eq!(c.path, Some(s.path("relay.toml")));
    assert_eq!(c.base_dir, s.0);
    assert_eq!(c.nodes.len(), 3);

    let n = &c.nodes[0];
    assert_eq!(n.name, "server");
    assert_eq!(n.cmd, "./server 7000 'two words'");
    assert_eq!(n.argv, ["./server", "7000", "two words"]);
    assert_eq!(n.program, server);
    assert!(n.daemon);
    assert!(n.crashable);
    assert_eq!(
        n.ready,
        Some(Ready::Tcp("127.0.0.1:7000".parse::<SocketAddr>().unwrap()))
    );
    assert_eq!(n.env.get("RUST_LOG").map(String::as_str), Some("info"));
    assert_eq!(n.env.get("EMPTY").map(String::as_str), Some(""));
    assert_eq!(n.cwd, s.0);
    assert_eq!(n.delay, Duration::from_millis(100));

    let n = &c.nodes[1];
    assert_eq!(n.name, "relay-2");
    // Relative to the node's cwd; `..` is left to the kernel.
    assert_eq!(n.program, data.join("../bin/client"));
    assert_eq!(
        n.program.canonicalize().unwrap(),
        client.canonicalize().unwrap()
    );
    assert_eq!(n.cwd, data);
    assert!(!n.daemon);
    assert!(!n.crashable);
    assert_eq!(
        n.ready,
        Some(Ready::Unix(data.join("relay.sock"))),
        "relative to the node's cwd, where the node binds a relative path"
    );
    assert_eq!(n.delay, Duration::from_secs(60));
    assert!(n.env.is_empty());

    let n = &c.nodes[2];
    assert!(
        n.program.is_absolute() && n.program.ends_with("sh"),
        "{:?}",
        n.program
    );
    assert_eq!(n.argv, ["sh", "-c", "exit 0"]);

    assert_eq!(
        c.run,
        RunSpec {
            timeout: Duration::from_secs(30),
            grace: Duration::from_secs(1),
            ready_timeout: Duration::from_secs(5),
            setup: Some("rm -rf data".into()),
            user: None,
        }
    );
    let chk = c.check.unwrap();
    assert_eq!(chk.cmd, "./check.sh --strict");
    assert_eq!(chk.argv, ["./check.sh", "--strict"]);
    assert_eq!(chk.program, check);
    assert_eq!(chk.cwd, s.0);
    assert_eq!(chk.timeout, Duration::from_secs(10));
}

#[test]
fn defaults() {
    let s = Scratch::new();
    let server = s.program("server");
    let c = s.parse(MINIMAL).unwrap();
    assert_eq!(c.run, RunSpec::default());
    assert_eq!(c.run.timeout, Duration::from_secs(60));
    assert_eq!(c.run.grace, Duration::from_secs(3));
    assert_eq!(c.run.ready_timeout, Duration::from_secs(30));
    assert_eq!(c.check, None);
    assert_eq!(c.explore, ExploreSpec::default());
    let n = &c.nodes[0];
    assert_eq!(n.program, server);
    assert!(!n.daemon);
    assert!(!n.crashable);
    assert_eq!(n.ready, None);
    assert!(n.env.is_empty());
    assert_eq!(n.cwd, s.0);
    assert_eq!(n.delay, Duration::ZERO);

    // [check] timeout defaults to 30s; an empty [run] keeps the defaults.
    s.program("check.sh");
    let c = s
        .parse(&format!("{MINIMAL}[run]\n[check]\ncmd = \"./check.sh\"\n"))
        .unwrap();
    assert_eq!(c.run, RunSpec::default());
    assert_eq!(c.check.unwrap().timeout, Duration::from_secs(30));
}

#[test]
fn path_lookup_and_node_path() {
    let s = Scratch::new();
    let c = s
        .parse("[[node]]\nname = \"a\"\ncmd = \"sh -c true\"\n")
        .unwrap();
    let sh = &c.nodes[0].program;
    assert!(
        sh.is_absolute() && sh.file_name().unwrap() == "sh",
        "{sh:?}"
    );

    // A node's own PATH is searched (relative entries from its cwd).
    let tool = s.program("tools/mytool");
    let c = s
        .parse("[[node]]\nname = \"a\"\ncmd = \"mytool\"\nenv = { PATH = \"tools\" }\n")
        .unwrap();
    assert_eq!(c.nodes[0].program, tool);
}

#[test]
fn relative_file_path_and_base_dir() {
    let s = Scratch::new();
    s.program("server");
    let path = s.file("relay.toml", MINIMAL, 0o644);
    // `parse` with a relative path: base_dir is made absolute against the current directory.
    let text = std::fs::read_to_string(&path).unwrap();
    let rel = Path::new("relay.toml");
    let e = parse(&text, rel).unwrap_err().message;
    // The current directory (the crate) has no ./server: the message uses the path as given.
    assert_msg(
        &e,
        "relay.toml:3:7: ",
        &["program \"./server\" not found", "tried /"],
    );
    let c = parse(&text, &path).unwrap();
    assert_eq!(c.base_dir, s.0);
}

#[test]
fn missing_file() {
    let s = Scratch::new();
    let e = load(&s.path("nope.toml")).unwrap_err().message;
    assert!(
        e.contains("nope.toml: cannot read the cluster file: "),
        "{e}"
    );
    assert!(e.contains("No such file or directory"), "{e}");
    let e = load(&s.0).unwrap_err().message;
    assert!(e.contains("cannot read the cluster file"), "{e}");
    std::fs::write(s.path("bin.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let e = load(&s.path("bin.toml")).unwrap_err().message;
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn syntax_missing_value() {
    let s = Scratch::new();
    let e = s.error("[[node]]\nname = \"relay\"\ncmd = \n");
    assert_eq!(
        e,
        "relay.toml:3:7: expected a value after \"cmd =\" (a quoted command line, e.g. cmd = \"./server 7000\")\n 3 | cmd = \n   |       ^"
    );
    let e = s.error("[[node]]\nname = \"relay\"\ncmd =   # todo\n");
    assert_msg(&e, "relay.toml:3:9: expected a value after \"cmd =\"", &[]);
    let e = s.error("[[node]]\nname = \"relay\"\r\ndelay =\r\n");
    assert_msg(
        &e,
        "relay.toml:3:8: expected a value after \"delay =\"",
        &["\"100ms\""],
    );
    let e = s.error("[[node]]\nname = \"a\"\nenv = { A = }\n");
    assert_msg(
        &e,
        "relay.toml:3:13: expected a value after \"A =\"",
        &["A = \"value\""],
    );
}

#[test]
fn syntax_other() {
    let s = Scratch::new();
    let e = s.error("[[node]]\nname = \"a\"\ncmd = ./server\n");
    assert_msg(
        &e,
        "relay.toml:3:7: cannot read the value of \"cmd\": text must be in quotes",
        &["cmd = \"./server 7000\""],
    );
    let e = s.error("[[node]]\nname = \"a\"\ndaemon = yes\n");
    assert_msg(
        &e,
        "relay.toml:3:10: \"daemon\" must be true or false",
        &["daemon = true"],
    );
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"./server 7000\n");
    assert_msg(&e, "relay.toml:3:21: unterminated string", &["closing \""]);
    let e = s.error("[[node]]\nname = \"a\"\ncmd = 'x\n");
    assert_msg(&e, "relay.toml:3:9: unterminated string", &["closing '"]);
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"grep \\d\"\n");
    assert_msg(
        &e,
        "relay.toml:3:13: invalid escape sequence",
        &["\\\\", "'...'"],
    );
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"./x\" 7000\n");
    assert_msg(
        &e,
        "relay.toml:3:13: unexpected text after the value",
        &["quote a whole command line"],
    );
    let e = s.error("[[node]]\nname = \"a\"\ncmd\n");
    assert_msg(&e, "relay.toml:3:4: expected \"=\" after the key", &[]);
    let e = s.error("[[node]\nname = \"a\"\n");
    assert_msg(&e, "relay.toml:1:7: invalid table header", &["[[node]]"]);
    let e = s.error("[[node]]\nname = \"a\"\nenv = { A = \"1\" \n");
    assert_msg(&e, "relay.toml:3:17: invalid inline table", &["}"]);
    let e = s.error("[[node]]\nname = \"a\"\nname = \"b\"\n");
    assert_msg(
        &e,
        "relay.toml:3:1: \"name\" is set twice",
        &["keep only one"],
    );
    let e = s.error("[[node]]\nname = \"a\"\n[node]\n");
    assert_msg(
        &e,
        "relay.toml:3:1: [node] after [[node]]",
        &["double brackets"],
    );
    let e = s.error("[run]\n[run]\n");
    assert_msg(&e, "relay.toml:2:1: the table [run] appears twice", &[]);
    // The caret line is there.
    assert!(e.ends_with("\n 2 | [run]\n   | ^"), "{e}");
}

#[test]
fn unknown_keys() {
    let s = Scratch::new();
    let e = s.error("[[node]]\nnmae = \"a\"\n");
    assert_msg(
        &e,
        "relay.toml:2:1: unknown key \"nmae\" in [[node]] (did you mean \"name\"?)",
        &["the allowed keys are name, cmd, daemon, crashable, ready, env, cwd, delay, user"],
    );
    let e = s.error("[run]\ntimout = \"1s\"\n");
    assert_msg(
        &e,
        "relay.toml:2:1: unknown key \"timout\" in [run] (did you mean \"timeout\"?)",
        &["timeout, grace, ready_timeout"],
    );
    let e = s.error("[check]\ncmd = \"x\"\nfoo = 1\n");
    assert_msg(
        &e,
        "relay.toml:3:1: unknown key \"foo\" in [check];",
        &["cmd, timeout"],
    );
    let e = s.error("[[nodes]]\nname = \"a\"\n");
    assert_msg(
        &e,
        "relay.toml:1:3: unknown key \"nodes\" at the top level (did you mean \"node\"?)",
        &["[[node]], [run], [check], [explore]"],
    );
    let e = s.error(
        "[explore]
max_crash = 1
",
    );
    assert_eq!(
        e,
        "relay.toml:2:1: unknown key \"max_crash\" in [explore] (did you mean \"max_crashes\"?); the allowed keys are max_crashes, omissions, max_faults, runs\n 2 | max_crash = 1\n   | ^^^^^^^^^"
    );
    let e = s.error(
        "[explore]
budget = 100
",
    );
    assert_msg(
        &e,
        "relay.toml:2:1: unknown key \"budget\" in [explore]; the allowed keys are max_crashes, omissions, max_faults, runs",
        &[],
    );
    let e = s.error("[[node]]\ncrashible = true\n");
    assert_msg(
        &e,
        "relay.toml:2:1: unknown key \"crashible\" in [[node]] (did you mean \"crashable\"?)",
        &[],
    );
    let e = s.error("[explor]\n");
    assert_msg(
        &e,
        "relay.toml:1:2: unknown key \"explor\" at the top level (did you mean \"explore\"?)",
        &["[[node]], [run], [check], [explore]"],
    );
}

#[test]
fn wrong_types() {
    let s = Scratch::new();
    s.program("server");
    let e = s.error(&format!("{MINIMAL}daemon = \"yes\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:10: \"daemon\" must be true or false, not a string",
        &["daemon = true"],
    );
    let e = s.error("[[node]]\nname = 3\n");
    assert_msg(
        &e,
        "relay.toml:2:8: \"name\" must be a quoted name",
        &["not a number"],
    );
    let e = s.error("[[node]]\nname = \"a\"\ncmd = [\"./a\"]\n");
    assert_msg(
        &e,
        "relay.toml:3:7: \"cmd\" must be a quoted command line, not an array",
        &[],
    );
    let e = s.error(&format!("{MINIMAL}[run]\ntimeout = 30\n"));
    assert_msg(
        &e,
        "relay.toml:5:11: \"timeout\" must be a quoted duration, not a number",
        &["timeout = \"30s\""],
    );
    let e = s.error(&format!("{MINIMAL}env = 3\n"));
    assert_msg(
        &e,
        "relay.toml:4:7: \"env\" must be a table of quoted strings, not a number",
        &["RUST_LOG"],
    );
    let e = s.error(&format!("{MINIMAL}env = {{ PORT = 7000 }}\n"));
    assert_msg(
        &e,
        "relay.toml:4:16: the environment variable \"PORT\" must be a quoted string",
        &["PORT = \"7000\""],
    );
    let e = s.error("[node]\nname = \"a\"\n");
    assert_msg(
        &e,
        "relay.toml:1:1: each node needs its own [[node]] table",
        &["double brackets"],
    );
    let e = s.error("node = 3\n");
    assert_msg(
        &e,
        "relay.toml:1:8: \"node\" must be one [[node]] table",
        &[],
    );
    let e = s.error(&format!("{MINIMAL}[[run]]\n"));
    assert_msg(
        &e,
        "relay.toml:4:1: there is only one [run] table",
        &["not [[run]]"],
    );
    let e = s.error(&format!("{MINIMAL}[[check]]\n"));
    assert_msg(
        &e,
        "relay.toml:4:1: there is only one [check] table",
        &["not [[check]]"],
    );
    let e = s.error(&format!("{MINIMAL}[[run]]\n[[run]]\n[[run]]\n"));
    assert!(
        e.starts_with("relay.toml:4:1: there is only one [run] table"),
        "{e}"
    );
    let e = s.error(&format!("{MINIMAL}ready = 7000\n"));
    assert_msg(
        &e,
        "relay.toml:4:9: \"ready\" must be a quoted address, not a number",
        &["tcp:127.0.0.1:7000"],
    );
}

#[test]
fn missing_name_or_cmd() {
    let s = Scratch::new();
    s.program("server");
    let e = s.error(&format!("{MINIMAL}\n[[node]]\ncmd = \"./server\"\n"));
    assert_msg(
        &e,
        "relay.toml:5:1: this [[node]] has no \"name\"",
        &["name = \"server\""],
    );
    assert!(e.contains("\n 5 | [[node]]\n   | ^^^^^^^^"), "{e}");
    let e = s.error(&format!("{MINIMAL}\n[[node]]\nname = \"client\"\n"));
    assert_msg(
        &e,
        "relay.toml:5:1: node \"client\" has no \"cmd\"",
        &["cmd = \"./client\""],
    );
    let e = s.error(&format!("{MINIMAL}[check]\ntimeout = \"1s\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:1: [check] has no \"cmd\"",
        &["./check.sh"],
    );
}

#[test]
fn empty_and_unbalanced_cmd() {
    let s = Scratch::new();
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"  \"\n");
    assert_msg(
        &e,
        "relay.toml:3:7: the command is empty",
        &["e.g. cmd = \"./server 7000\""],
    );
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"./server 'a b\"\n");
    assert_msg(
        &e,
        "relay.toml:3:7: cannot split the command into words: missing closing quote",
        &["balanced"],
    );
    assert!(
        e.ends_with(" 3 | cmd = \"./server 'a b\"\n   |       ^^^^^^^^^^^^^^^"),
        "{e}"
    );
}

#[test]
fn duplicate_and_bad_names() {
    let s = Scratch::new();
    s.program("server");
    let e = s.error(&format!(
        "{MINIMAL}[[node]]\nname   = \"server\"\ncmd = \"./server\"\n"
    ));
    assert_msg(
        &e,
        "relay.toml:5:10: the node name \"server\" is used twice (first at ",
        &["relay.toml:2:8)", "unique"],
    );
    for (name, col_msg) in [
        (
            "my.server",
            "relay.toml:2:8: invalid node name \"my.server\"",
        ),
        (
            "my server",
            "relay.toml:2:8: invalid node name \"my server\"",
        ),
        ("a{b}", "relay.toml:2:8: invalid node name \"a{b}\""),
    ] {
        let e = s.error(&format!(
            "[[node]]\nname = \"{name}\"\ncmd = \"./server\"\n"
        ));
        assert_msg(
            &e,
            col_msg,
            &["letters, digits, \"_\" and \"-\"", "crash server at"],
        );
    }
    let e = s.error("[[node]]\nname = \"\"\ncmd = \"./server\"\n");
    assert_msg(&e, "relay.toml:2:8: the node name is empty", &[]);
}

#[test]
fn no_nodes() {
    let s = Scratch::new();
    let e = s.error("");
    assert_msg(&e, "relay.toml: no nodes: add at least one [[node]]", &[]);
    let e = s.error("# nothing\n[run]\ntimeout = \"1s\"\n");
    assert_msg(&e, "relay.toml: no nodes", &[]);
    let e = s.error("node = []\n");
    assert_msg(&e, "relay.toml:1:8: no nodes", &[]);
}

#[test]
fn durations() {
    let s = Scratch::new();
    s.program("server");
    let c = s
        .parse(&format!(
            "{MINIMAL}delay = \"100 ms\"\n[run]\ngrace = \"0s\"\n"
        ))
        .unwrap();
    assert_eq!(c.nodes[0].delay, Duration::from_millis(100));
    assert_eq!(c.run.grace, Duration::ZERO);
    let e = s.error(&format!("{MINIMAL}delay = \"soon\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:9: invalid duration \"soon\" for \"delay\"",
        &["\"100ms\"", "\"2s\"", "\"1m\""],
    );
    let e = s.error(&format!("{MINIMAL}[run]\ntimeout = \"0s\"\n"));
    assert_msg(
        &e,
        "relay.toml:5:11: \"timeout\" must be longer than zero",
        &[],
    );
    let e = s.error(&format!("{MINIMAL}[run]\nready_timeout = \"30\"\n"));
    assert_msg(
        &e,
        "relay.toml:5:17: invalid duration \"30\" for \"ready_timeout\"",
        &["unit"],
    );
    s.program("check.sh");
    let e = s.error(&format!(
        "{MINIMAL}[check]\ncmd = \"./check.sh\"\ntimeout = \"x\"\n"
    ));
    assert_msg(
        &e,
        "relay.toml:6:11: invalid duration \"x\" for \"timeout\"",
        &[],
    );
}

#[test]
fn ready_values() {
    let s = Scratch::new();
    s.program("server");
    let c = s
        .parse(&format!("{MINIMAL}ready = \"tcp:localhost:7000\"\n"))
        .unwrap();
    assert_eq!(
        c.nodes[0].ready,
        Some(Ready::Tcp("127.0.0.1:7000".parse().unwrap()))
    );
    let c = s
        .parse(&format!("{MINIMAL}ready = \"unix:/tmp/x.sock\"\n"))
        .unwrap();
    assert_eq!(c.nodes[0].ready, Some(Ready::Unix("/tmp/x.sock".into())));
    let e = s.error(&format!("{MINIMAL}ready = \"tcp:example.com:7000\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:9: invalid ready address \"tcp:example.com:7000\"",
        &["IP address or localhost"],
    );
    let e = s.error(&format!("{MINIMAL}ready = \"udp:127.0.0.1:7000\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:9: UDP readiness cannot be checked",
        &["delay"],
    );
    let e = s.error(&format!("{MINIMAL}ready = \"7000\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:9: invalid ready address \"7000\"",
        &["tcp:HOST:PORT", "unix:PATH"],
    );
    let e = s.error(&format!("{MINIMAL}ready = \"tcp:127.0.0.1:99999\"\n"));
    assert_msg(&e, "relay.toml:4:9: invalid ready address", &["1 to 65535"]);
}

#[test]
fn programs() {
    let s = Scratch::new();
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"./server 7000\"\n");
    let tried = format!("tried {}", s.path("server").display());
    let e_full = e.clone();
    assert_msg(&e, "relay.toml:3:7: program \"./server\" not found", &[]);
    // The directory was stripped from the message for matching: check the original had it.
    assert!(
        s.parse("[[node]]\nname = \"a\"\ncmd = \"./server 7000\"\n")
            .unwrap_err()
            .contains(&tried),
        "{e_full}"
    );

    s.file("server", "not a program", 0o644);
    let e = s
        .parse("[[node]]\nname = \"a\"\ncmd = \"./server\"\n")
        .unwrap_err();
    assert!(
        e.contains("relay.toml:3:7: program \"./server\" is not executable"),
        "{e}"
    );
    assert!(e.contains("mode 644") && e.contains("chmod +x"), "{e}");

    s.dir("adir");
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"./adir\"\n");
    assert_msg(
        &e,
        "relay.toml:3:7: program \"./adir\" is a directory, not a program",
        &[],
    );

    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"no-such-program-bop-test x\"\n");
    assert_msg(
        &e,
        "relay.toml:3:7: program \"no-such-program-bop-test\" not found in PATH (searched ",
        &["./no-such-program-bop-test"],
    );

    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"/no/such/prog\"\n");
    assert_msg(
        &e,
        "relay.toml:3:7: program \"/no/such/prog\" not found: tried /no/such/prog;",
        &[],
    );
}

#[test]
fn cwd_values() {
    let s = Scratch::new();
    s.program("server");
    let e = s.error(&format!("{MINIMAL}cwd = \"nope\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:7: the working directory \"nope\" cannot be used: ",
        &["nope"],
    );
    let e = s.error(&format!("{MINIMAL}cwd = \"server\"\n"));
    assert_msg(
        &e,
        "relay.toml:4:7: the working directory \"server\" is not a directory",
        &[],
    );
}

#[test]
fn env_names() {
    let s = Scratch::new();
    s.program("server");
    let e = s.error(&format!("{MINIMAL}env = {{ \"A=B\" = \"x\" }}\n"));
    assert_msg(
        &e,
        "relay.toml:4:17: invalid environment variable name \"A=B\"",
        &[],
    );
}

#[test]
fn from_commands() {
    let s = Scratch::new();
    let server = s.program("server");
    let nodes = vec![
        ("server".to_string(), "./server 7000".to_string()),
        ("client".to_string(), "sh -c 'exit 0'".to_string()),
    ];
    let c = Cluster::from_commands(&nodes, &["server".to_string()], &s.0).unwrap();
    assert_eq!(c.path, None);
    assert_eq!(c.base_dir, s.0);
    assert_eq!(c.nodes.len(), 2);
    assert_eq!(c.nodes[0].program, server);
    assert!(c.nodes[0].daemon);
    assert!(c.nodes[0].crashable, "--daemon makes a node crashable");
    assert_eq!(c.nodes[0].cwd, s.0);
    assert!(!c.nodes[1].daemon);
    assert!(!c.nodes[1].crashable);
    assert_eq!(c.explore, ExploreSpec::default());
    assert_eq!(c.nodes[1].argv, ["sh", "-c", "exit 0"]);
    assert_eq!(c.run, RunSpec::default());
    assert_eq!(c.check, None);

    let e = Cluster::from_commands(&nodes, &["srv".to_string()], &s.0)
        .unwrap_err()
        .message;
    assert_msg(
        &e,
        "--daemon srv: there is no node named \"srv\"",
        &["server, client"],
    );

    let bad = |n: &str, c: &str| {
        Cluster::from_commands(&[(n.to_string(), c.to_string())], &[], &s.0)
            .unwrap_err()
            .message
    };
    assert_msg(
        &bad("client", "./client 7000"),
        "--node client: program \"./client\" not found",
        &[],
    );
    assert_msg(
        &bad("a.b", "./server"),
        "--node a.b: invalid node name \"a.b\"",
        &["a_b"],
    );
    assert_msg(
        &bad("", "./server"),
        "--node =./server: the node name is empty",
        &["--node NAME="],
    );
    assert_msg(&bad("c", ""), "--node c: the command is empty", &[]);
    assert_msg(
        &bad("c", "./server 'x"),
        "--node c: cannot split the command",
        &["missing closing quote"],
    );

    let dup = vec![
        ("a".to_string(), "sh".to_string()),
        ("a".to_string(), "sh".to_string()),
    ];
    let e = Cluster::from_commands(&dup, &[], &s.0).unwrap_err().message;
    assert_msg(
        &e,
        "--node a: the name \"a\" is used by an earlier --node",
        &[],
    );
    let e = Cluster::from_commands(&[], &[], &s.0).unwrap_err().message;
    assert_msg(&e, "no nodes: give at least one --node NAME='COMMAND'", &[]);
}

#[test]
fn ready_and_delay_options() {
    let s = Scratch::new();
    s.program("server");
    let nodes = vec![
        ("server".to_string(), "./server 7000".to_string()),
        ("client".to_string(), "sh -c 'exit 0'".to_string()),
    ];
    let mut c = Cluster::from_commands(&nodes, &[], &s.0).unwrap();
    c.set_ready("server=tcp:127.0.0.1:7000").unwrap();
    c.set_delay("client=1500ms").unwrap();
    assert_eq!(
        c.nodes[0].ready,
        Some(Ready::Tcp("127.0.0.1:7000".parse().unwrap()))
    );
    assert_eq!(c.nodes[1].delay, Duration::from_millis(1500));
    assert_eq!(c.nodes[1].ready, None);
    c.set_ready("client=unix:up.sock").unwrap();
    assert_eq!(c.nodes[1].ready, Some(Ready::Unix(s.path("up.sock"))));

    let mut c = Cluster::from_commands(&nodes, &[], &s.0).unwrap();
    let mut err =
        |f: &dyn Fn(&mut Cluster) -> Result<(), ConfigError>| f(&mut c).unwrap_err().message;
    assert_msg(
        &err(&|c| c.set_ready("srv=tcp:127.0.0.1:7000")),
        "--ready srv=tcp:127.0.0.1:7000: there is no node named \"srv\"; the nodes are: server, client",
        &[],
    );
    assert_msg(
        &err(&|c| c.set_ready("server=7000")),
        "--ready server=7000: invalid ready address \"7000\"",
        &["tcp:127.0.0.1:7000"],
    );
    assert_msg(
        &err(&|c| c.set_ready("server=udp:127.0.0.1:7000")),
        "--ready server=udp:127.0.0.1:7000: UDP readiness cannot be checked",
        &["--delay client=200ms"],
    );
    assert_msg(
        &err(&|c| c.set_ready("tcp:127.0.0.1:7000")),
        "--ready \"tcp:127.0.0.1:7000\": expected NAME=ADDRESS",
        &["--ready server=tcp:127.0.0.1:7000"],
    );
    assert_msg(
        &err(&|c| c.set_delay("client=soon")),
        "--delay client=soon: invalid duration \"soon\" for \"delay\"",
        &["\"100ms\""],
    );
    assert_msg(
        &err(&|c| c.set_delay("cli=1s")),
        "--delay cli=1s: there is no node named \"cli\"",
        &[],
    );
    c.set_ready("server=tcp:127.0.0.1:7000").unwrap();
    assert_msg(
        &c.set_ready("server=tcp:127.0.0.1:7001")
            .unwrap_err()
            .message,
        "--ready server=tcp:127.0.0.1:7001: node server already has a --ready address",
        &[],
    );
}

#[test]
fn from_argv() {
    let s = Scratch::new();
    let server = s.program("my.server");
    let argv: Vec<String> = ["./my.server", "7000", "two words"]
        .map(String::from)
        .to_vec();
    let c = Cluster::from_argv(&argv, &s.0).unwrap();
    assert_eq!(c.nodes.len(), 1);
    let n = &c.nodes[0];
    assert_eq!(n.name, "my_server");
    assert_eq!(n.cmd, "./my.server 7000 'two words'");
    assert_eq!(n.argv, argv);
    assert_eq!(n.program, server);
    assert!(!n.daemon);
    assert!(!n.crashable);
    assert_eq!(c.run, RunSpec::default());
    assert_eq!(c.explore, ExploreSpec::default());

    let c = Cluster::from_argv(&["sh".to_string()], &s.0).unwrap();
    assert_eq!(c.nodes[0].name, "sh");
    s.program("...");
    let c = Cluster::from_argv(&["./...".to_string()], &s.0).unwrap();
    assert_eq!(c.nodes[0].name, "node");

    let e = Cluster::from_argv(&[], &s.0).unwrap_err().message;
    assert_msg(&e, "no command given", &["bop run -- ./server 7000"]);
    let e = Cluster::from_argv(&["./nope".to_string()], &s.0)
        .unwrap_err()
        .message;
    assert_msg(&e, "command ./nope: program \"./nope\" not found", &[]);
    let e = Cluster::from_argv(&["a\0b".to_string()], &s.0)
        .unwrap_err()
        .message;
    assert!(e.contains("NUL"), "{e}");
}

/// Every prefix of a valid file, and a few mutations, give a result or an error, never a panic.
#[test]
fn no_panics_on_damaged_input() {
    let s = Scratch::new();
    s.program("server");
    s.program("check.sh");
    let text = "[[node]]\nname = \"server\" # é\ncmd = \"./server 'a b'\"\ndaemon = true\ncrashable = false\nready = \"tcp:[::1]:7000\"\nenv = { A = \"b\" }\r\ndelay = \"1s\"\n[run]\ntimeout = \"2s\"\n[check]\ncmd = \"./check.sh\"\n[explore]\nmax_crashes = 0\nomissions = true\nmax_faults = 3\nruns = 10\n";
    let path = s.path("relay.toml");
    assert!(parse(text, &path).is_ok());
    for (i, _) in text.char_indices() {
        let _ = parse(&text[..i], &path);
        for junk in [
            "\"", "'", "=", "[", "]", "{", "\n", "é", "\\", "\r", "\0", "#",
        ] {
            let damaged = format!("{}{junk}{}", &text[..i], &text[i..]);
            if let Err(e) = parse(&damaged, &path) {
                assert!(!e.message.is_empty());
            }
        }
    }
}

/// The example in docs/cluster-file.md is a valid cluster file.
#[test]
fn documented_example() {
    let doc = include_str!("../../../docs/cluster-file.md");
    let start = doc
        .find("```toml\n# relay.toml")
        .expect("the example is in the docs")
        + 8;
    let len = doc[start..].find("```").expect("the example ends");
    let example = &doc[start..start + len];
    let s = Scratch::new();
    let server = s.program("server");
    let relay = s.program("data/relay");
    let client = s.program("client");
    s.program("check.sh");
    let c = s.parse(example).unwrap();
    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["server", "relay", "client"]);
    assert_eq!(c.nodes[0].program, server);
    assert_eq!(c.nodes[1].program, relay);
    assert_eq!(
        c.nodes[1].ready,
        Some(Ready::Unix("/tmp/relay.sock".into()))
    );
    assert_eq!(c.nodes[1].cwd, s.path("data"));
    assert_eq!(c.nodes[2].program, client);
    assert_eq!(c.nodes[2].delay, Duration::from_millis(100));
    assert_eq!(c.run.timeout, Duration::from_secs(30));
    assert_eq!(c.check.unwrap().timeout, Duration::from_secs(10));
}

/// `[node.env]` after `[[node]]` sets the last node's environment.
#[test]
fn env_subtable() {
    let s = Scratch::new();
    s.program("server");
    let c = s
        .parse(&format!("{MINIMAL}[node.env]\nRUST_LOG = \"info\"\n"))
        .unwrap();
    assert_eq!(
        c.nodes[0].env.get("RUST_LOG").map(String::as_str),
        Some("info")
    );
}

#[test]
fn explore_defaults() {
    let s = Scratch::new();
    s.program("server");
    let d = ExploreSpec::default();
    assert_eq!(d.max_crashes, 1);
    assert!(d.omissions);
    assert_eq!(d.max_faults, 2);
    assert_eq!(d.runs, None);
    assert_eq!(s.parse(MINIMAL).unwrap().explore, d);
    // An empty table, or one setting only some keys, keeps the other defaults.
    assert_eq!(
        s.parse(&format!("{MINIMAL}[explore]\n")).unwrap().explore,
        d
    );
    let c = s
        .parse(&format!("{MINIMAL}[explore]\nruns = 50\n"))
        .unwrap();
    assert_eq!(
        c.explore,
        ExploreSpec {
            runs: Some(50),
            ..ExploreSpec::default()
        }
    );
}

#[test]
fn explore_values() {
    let s = Scratch::new();
    s.program("server");
    let c = s
        .parse(&format!(
            "[explore]\nmax_crashes = 0\nomissions = false\nmax_faults = 5\nruns = 200\n\n{MINIMAL}"
        ))
        .unwrap();
    assert_eq!(
        c.explore,
        ExploreSpec {
            max_crashes: 0,
            omissions: false,
            max_faults: 5,
            runs: Some(200),
        }
    );
    let c = s
        .parse(&format!(
            "{MINIMAL}[explore]\nmax_crashes = 3\nmax_faults = 1\nruns = 1\nomissions = true\n"
        ))
        .unwrap();
    assert_eq!(
        c.explore,
        ExploreSpec {
            max_crashes: 3,
            omissions: true,
            max_faults: 1,
            runs: Some(1),
        }
    );
    // The largest value that fits, and TOML's other ways to write an integer.
    let c = s
        .parse(&format!(
            "{MINIMAL}[explore]\nruns = 4_294_967_295\nmax_faults = 0x10\nmax_crashes = +2\n"
        ))
        .unwrap();
    assert_eq!(c.explore.runs, Some(u32::MAX));
    assert_eq!(c.explore.max_faults, 16);
    assert_eq!(c.explore.max_crashes, 2);
}

#[test]
fn crashable_follows_daemon() {
    let s = Scratch::new();
    s.program("server");
    let c = s
        .parse(
            r#"[[node]]
name = "a"
cmd = "./server"
daemon = true

[[node]]
name = "b"
cmd = "./server"

[[node]]
name = "c"
cmd = "./server"
daemon = true
crashable = false

[[node]]
name = "d"
cmd = "./server"
crashable = true

[[node]]
name = "e"
cmd = "./server"
daemon = false
crashable = false
"#,
        )
        .unwrap();
    let flags: Vec<(&str, bool, bool)> = c
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.daemon, n.crashable))
        .collect();
    assert_eq!(
        flags,
        [
            ("a", true, true),
            ("b", false, false),
            ("c", true, false),
            ("d", false, true),
            ("e", false, false),
        ]
    );
}

#[test]
fn crashable_errors() {
    let s = Scratch::new();
    s.program("server");
    let e = s.error(&format!("{MINIMAL}crashable = \"true\"\n"));
    assert_eq!(
        e,
        "relay.toml:4:13: \"crashable\" must be true or false, not a string (e.g. crashable = false)\n 4 | crashable = \"true\"\n   |             ^^^^^^"
    );
    let e = s.error(&format!("{MINIMAL}crashable = 1\n"));
    assert_msg(
        &e,
        "relay.toml:4:13: \"crashable\" must be true or false, not a number (e.g. crashable = false)",
        &[],
    );
    let e = s.error(&format!("{MINIMAL}crashable = yes\n"));
    assert_msg(
        &e,
        "relay.toml:4:13: \"crashable\" must be true or false (lowercase, no quotes), e.g. crashable = false",
        &[],
    );
    let e = s.error(&format!("{MINIMAL}crashable =\n"));
    assert_msg(
        &e,
        "relay.toml:4:12: expected a value after \"crashable =\" (true or false, e.g. crashable = false)",
        &[],
    );
}

#[test]
fn explore_errors() {
    let s = Scratch::new();
    s.program("server");
    // Each case: the [explore] line, then the expected message (reported on line 5).
    let cases = [
        (
            "max_crashes = -1",
            "relay.toml:5:15: \"max_crashes\" must be a whole number, 0 or more, not -1 (e.g. max_crashes = 1)",
        ),
        (
            "max_crashes = \"1\"",
            "relay.toml:5:15: \"max_crashes\" must be a whole number, 0 or more, not a string (e.g. max_crashes = 1)",
        ),
        (
            "max_crashes = true",
            "relay.toml:5:15: \"max_crashes\" must be a whole number, 0 or more, not true/false (e.g. max_crashes = 1)",
        ),
        (
            "max_faults = 0",
            "relay.toml:5:14: \"max_faults\" must be a whole number, 1 or more, not 0 (e.g. max_faults = 2)",
        ),
        (
            "max_faults = -3",
            "relay.toml:5:14: \"max_faults\" must be a whole number, 1 or more, not -3 (e.g. max_faults = 2)",
        ),
        (
            "max_faults = 2.5",
            "relay.toml:5:14: \"max_faults\" must be a whole number, 1 or more, not 2.5 (e.g. max_faults = 2)",
        ),
        (
            "max_faults = [2]",
            "relay.toml:5:14: \"max_faults\" must be a whole number, 1 or more, not an array (e.g. max_faults = 2)",
        ),
        (
            "runs = 0",
            "relay.toml:5:8: \"runs\" must be a whole number, 1 or more, not 0 (e.g. runs = 200)",
        ),
        (
            "runs = \"100\"",
            "relay.toml:5:8: \"runs\" must be a whole number, 1 or more, not a string (e.g. runs = 200)",
        ),
        (
            "runs = 1e3",
            "relay.toml:5:8: \"runs\" must be a whole number, 1 or more, not 1e3 (e.g. runs = 200)",
        ),
        (
            "runs = 5000000000",
            "relay.toml:5:8: \"runs\" is too large: at most 4294967295 (e.g. runs = 200)",
        ),
        (
            "runs = 99999999999999999999",
            "relay.toml:5:8: \"runs\" is too large: at most 4294967295 (e.g. runs = 200)",
        ),
        (
            "runs = two",
            "relay.toml:5:8: \"runs\" must be a whole number, 1 or more, written as plain digits (no quotes, no leading zeros), e.g. runs = 200",
        ),
        (
            "runs = 010",
            "relay.toml:5:9: \"runs\" must be a whole number, 1 or more, written as plain digits (no quotes, no leading zeros), e.g. runs = 200",
        ),
        (
            "runs = 2x",
            "relay.toml:5:9: \"runs\" must be a whole number, 1 or more, written as plain digits (no quotes, no leading zeros), e.g. runs = 200",
        ),
        (
            "runs =",
            "relay.toml:5:7: expected a value after \"runs =\" (a whole number, 1 or more, e.g. runs = 200)",
        ),
        (
            "omissions = \"no\"",
            "relay.toml:5:13: \"omissions\" must be true or false, not a string (e.g. omissions = false)",
        ),
        (
            "omissions = 0",
            "relay.toml:5:13: \"omissions\" must be true or false, not a number (e.g. omissions = false)",
        ),
        (
            "omissions = no",
            "relay.toml:5:13: \"omissions\" must be true or false (lowercase, no quotes), e.g. omissions = false",
        ),
    ];
    for (line, message) in cases {
        let e = s.error(&format!("{MINIMAL}[explore]\n{line}\n"));
        assert_msg(&e, &format!("{message}\n 5 | {line}\n"), &[]);
    }
    // The caret is under the whole value.
    let e = s.error(&format!("{MINIMAL}[explore]\nmax_crashes = -1\n"));
    assert!(
        e.ends_with("\n 5 | max_crashes = -1\n   |               ^^"),
        "{e}"
    );

    let e = s.error(&format!("{MINIMAL}[[explore]]\n"));
    assert_msg(
        &e,
        "relay.toml:4:1: there is only one [explore] table: write [explore], not [[explore]]",
        &[],
    );
    let e = s.error(&format!("explore = 3\n{MINIMAL}"));
    assert_msg(
        &e,
        "relay.toml:1:11: \"explore\" must be a table, not a number (e.g. [explore] max_faults = 2)",
        &[],
    );
    let e = s.error(&format!("{MINIMAL}[explore]\n[explore]\n"));
    assert_msg(
        &e,
        "relay.toml:5:1: the table [explore] appears twice: merge the two into one",
        &[],
    );
}

/// The `[explore]` example in docs/cluster-file.md is valid and means what it says.
#[test]
fn documented_explore_example() {
    let doc = include_str!("../../../docs/cluster-file.md");
    let start = doc
        .find("```toml\n[[node]]\nname      = \"server\"")
        .expect("the [explore] example is in the docs")
        + 8;
    let len = doc[start..].find("```").expect("the example ends");
    let s = Scratch::new();
    s.program("server");
    s.program("client");
    let c = s.parse(&doc[start..start + len]).unwrap();
    let flags: Vec<(&str, bool, bool)> = c
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.daemon, n.crashable))
        .collect();
    assert_eq!(
        flags,
        [
            ("server", true, true),
            ("backup", true, false),
            ("client", false, false),
        ]
    );
    assert_eq!(
        c.explore,
        ExploreSpec {
            max_crashes: 2,
            omissions: false,
            max_faults: 3,
            runs: Some(500),
        }
    );
}

#[test]
fn a_node_runs_as_its_user_or_the_runs_default() {
    let s = Scratch::new();
    let c = s
        .parse(
            "[run]\nuser = \"nobody\"\n\n[[node]]\nname = \"a\"\ncmd = \"sh -c true\"\n\n\
             [[node]]\nname = \"b\"\ncmd = \"sh -c true\"\nuser = \"0\"\n\n\
             [[node]]\nname = \"c\"\ncmd = \"sh -c true\"\nuser = \"root\"\n",
        )
        .expect("parses");
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("this machine has nobody");
    let a = c.nodes[0].user.as_ref().expect("the run's default");
    assert_eq!(
        (a.name.as_str(), a.uid, a.gid),
        ("nobody", nobody.uid.as_raw(), nobody.gid.as_raw())
    );
    let b = c.nodes[1].user.as_ref().expect("its own, by uid");
    assert_eq!((b.uid, b.gid), (0, 0));
    assert_eq!(c.nodes[2].user.as_ref().map(|u| u.uid), Some(0));
    // without any, the node runs as bop does
    let c = s
        .parse("[[node]]\nname = \"a\"\ncmd = \"sh -c true\"\n")
        .expect("parses");
    assert_eq!(c.nodes[0].user, None);
}

#[test]
fn an_unknown_user_is_located() {
    let s = Scratch::new();
    let e = s.error("[[node]]\nname = \"a\"\ncmd = \"sh -c true\"\nuser = \"nosuchuser\"\n");
    assert_msg(
        &e,
        "relay.toml:4:8: no user \"nosuchuser\" on this machine (not in the password database)",
        &["user = \"nobody\""],
    );
    let e = s.error("[run]\nuser = 65534\n[[node]]\nname = \"a\"\ncmd = \"sh -c true\"\n");
    assert_msg(&e, "relay.toml:2:8:", &["user"]);
}

/// The keys a table takes, as the loader itself says: its error for an unknown key lists them.
fn allowed_keys(s: &Scratch, text: &str) -> Vec<String> {
    let e = s.error(text);
    let list = e
        .split("the allowed keys are ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no list of allowed keys in:\n{e}"));
    list.split(", ").map(|k| k.trim().to_string()).collect()
}

/// The keys in the first column of the first table after `heading` in `doc`, in order.
fn doc_table_keys(doc: &str, heading: &str) -> Vec<String> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("docs/cluster-file.md has no section {heading:?}"));
    doc[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and the |---| line
        .filter_map(|l| l.split('|').nth(1))
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect()
}

/// docs/cluster-file.md names every key the loader takes, and no other: the key table of each
/// of its `[[node]]`, `[run]`, `[check]` and `[explore]` sections lists exactly the keys the
/// loader accepts there, every node key has its own `###` section, and the example message for
/// a misspelt key is the loader's.
#[test]
fn the_docs_list_every_key_the_loader_takes() {
    const DOC: &str = include_str!("../../../docs/cluster-file.md");
    let s = Scratch::new();
    let node = "[[node]]\nname = \"a\"\ncmd = \"sh\"\n";
    for (heading, text) in [
        ("## `[[node]]`", format!("{node}bogus = 1\n")),
        ("## `[run]`", format!("{node}[run]\nbogus = 1\n")),
        (
            "## `[check]`",
            format!("{node}[check]\ncmd = \"sh\"\nbogus = 1\n"),
        ),
        ("## `[explore]`", format!("{node}[explore]\nbogus = 1\n")),
    ] {
        let mut taken = allowed_keys(&s, &text);
        let mut documented = doc_table_keys(DOC, heading);
        taken.sort();
        documented.sort();
        assert_eq!(
            documented, taken,
            "docs/cluster-file.md, section {heading}: the keys of its table (left) are not the \
             keys the loader takes (right)"
        );
    }
    for key in allowed_keys(&s, &format!("{node}bogus = 1\n")) {
        assert!(
            DOC.contains(&format!("### `{key}`")),
            "docs/cluster-file.md has no section ### `{key}` for the node key {key}"
        );
    }
    let e = s.error("[[node]]\nnmae = \"a\"\n");
    let first = e.lines().next().unwrap_or_default();
    // relay.toml:2:1: MESSAGE
    let shown = first.split_once(": ").map(|(_, m)| m).unwrap_or_default();
    assert!(
        DOC.contains(&format!("| A misspelt key | `{shown}` |")),
        "docs/cluster-file.md should show the misspelt-key message as bop prints it: {shown}"
    );
}
