//! Reading a TOML cluster file.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::diag::{hint, too_large, wrong_type, Source};
use crate::validate::{
    check_name, join, parse_duration, parse_ready, resolve_dir, resolve_program, split_cmd,
};
use crate::{Check, Cluster, ConfigError, ExploreSpec, Node, RunSpec, User};

/// A value as written, with where it is; types are checked by hand for better messages.
type Field = Option<Spanned<Value>>;

// The field order of these structs is the order in which serde lists the allowed keys; it must
// match `diag::{TOP,NODE,RUN,CHECK,EXPLORE}_KEYS`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    node: Option<Spanned<Vec<Spanned<RawNode>>>>,
    run: Option<RawRun>,
    check: Option<Spanned<RawCheck>>,
    explore: Option<RawExplore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Field,
    cmd: Field,
    daemon: Field,
    crashable: Field,
    ready: Field,
    env: Option<Spanned<BTreeMap<String, Spanned<Value>>>>,
    cwd: Field,
    delay: Field,
    user: Field,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    timeout: Field,
    grace: Field,
    ready_timeout: Field,
    setup: Field,
    user: Field,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    cmd: Field,
    timeout: Field,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExplore {
    max_crashes: Field,
    omissions: Field,
    max_faults: Field,
    runs: Field,
}

/// Reads and validates the cluster file at `path`. See `docs/cluster-file.md`.
///
/// A missing or unreadable file is an error naming the path and the operating system's reason.
pub fn load(path: &Path) -> Result<Cluster, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::InvalidData {
            "it is not UTF-8 text".to_string()
        } else {
            e.to_string()
        };
        ConfigError::new(format!(
            "{}: cannot read the cluster file: {why}",
            path.display()
        ))
    })?;
    parse(&text, path)
}

/// Parses and validates the text of a cluster file that lives at `path`.
///
/// Relative paths are resolved against the file's directory (made absolute); `path` is also
/// the name used in error messages (`path:line:column: …`). Programs and working directories
/// are checked on the file system.
pub fn parse(text: &str, path: &Path) -> Result<Cluster, ConfigError> {
    let src = Source { path, text };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let cwd = std::env::current_dir().map_err(|e| {
        src.file_error(&format!(
            "cannot determine the current directory to resolve paths: {e}"
        ))
    })?;
    let base_dir = join(&cwd, dir);
    let raw: RawFile = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
    let reader = Reader {
        src: &src,
        base_dir: &base_dir,
    };

    let raw_nodes = match raw.node {
        Some(nodes) if !nodes.get_ref().is_empty() => nodes.into_inner(),
        Some(nodes) => return Err(src.error(nodes.span(), &no_nodes())),
        None => return Err(src.file_error(&no_nodes())),
    };
    let mut nodes = Vec::with_capacity(raw_nodes.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for raw_node in raw_nodes {
        let node = reader.node(raw_node, &mut seen)?;
        nodes.push(node);
    }
    let run = match raw.run {
        Some(raw_run) => reader.run(raw_run)?,
        None => RunSpec::default(),
    };
    // `[run] user` is the default of the nodes without their own
    if let Some(u) = &run.user {
        for n in nodes.iter_mut().filter(|n| n.user.is_none()) {
            n.user = Some(u.clone());
        }
    }
    let check = raw.check.map(|c| reader.check(c)).transpose()?;
    let explore = match raw.explore {
        Some(raw_explore) => reader.explore(raw_explore)?,
        None => ExploreSpec::default(),
    };
    Ok(Cluster {
        path: Some(path.to_path_buf()),
        base_dir,
        nodes,
        run,
        check,
        explore,
    })
}

fn no_nodes() -> String {
    r#"no nodes: add at least one [[node]] table with a name and a command, e.g. [[node]] name = "server" cmd = "./server 7000""#
        .to_string()
}

/// Turns the raw tables into checked values.
struct Reader<'a> {
    src: &'a Source<'a>,
    base_dir: &'a Path,
}

impl Reader<'_> {
    fn err(&self, span: Range<usize>, message: &str) -> ConfigError {
        self.src.error(span, message)
    }

    /// A string value, or an error saying what `key` should be.
    fn string<'v>(&self, key: &str, v: &'v Spanned<Value>) -> Result<&'v str, ConfigError> {
        match v.get_ref() {
            Value::String(s) => Ok(s),
            other => Err(self.err(v.span(), &wrong_type(key, describe(other)))),
        }
    }

    /// A `true`/`false` value, or `default` when the key is absent.
    fn boolean(&self, key: &str, v: &Field, default: bool) -> Result<bool, ConfigError> {
        let Some(v) = v else { return Ok(default) };
        match v.get_ref() {
            Value::Boolean(b) => Ok(*b),
            other => Err(self.err(v.span(), &wrong_type(key, describe(other)))),
        }
    }

    /// A whole number from `min` to `u32::MAX`, or `None` when the key is absent.
    fn count(&self, key: &str, v: &Field, min: u32) -> Result<Option<u32>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let span = v.span();
        // Numbers are quoted back as written ("0x10", "2.0"), not as parsed.
        let written = || self.src.text.get(span.clone()).unwrap_or("").trim();
        let n = match v.get_ref() {
            Value::Integer(n) if *n < i64::from(min) => {
                Err(self.err(span.clone(), &wrong_type(key, written())))
            }
            Value::Integer(n) => {
                u32::try_from(*n).map_err(|_| self.err(span.clone(), &too_large(key)))
            }
            // Fractions are shown as written: "not 1.5".
            Value::Float(_) => Err(self.err(span.clone(), &wrong_type(key, written()))),
            other => Err(self.err(span.clone(), &wrong_type(key, describe(other)))),
        }?;
        Ok(Some(n))
    }

    fn duration(
        &self,
        key: &str,
        v: &Field,
        default: Duration,
        allow_zero: bool,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = v else { return Ok(default) };
        let text = self.string(key, v)?;
        parse_duration(key, text, allow_zero).map_err(|m| self.err(v.span(), &m))
    }

    fn node(
        &self,
        raw: Spanned<RawNode>,
        seen: &mut HashMap<String, usize>,
    ) -> Result<Node, ConfigError> {
        let table = raw.span();
        let raw = raw.into_inner();

        let Some(name_v) = &raw.name else {
            return Err(self.err(
                table,
                &format!(r#"this [[node]] has no "name": add one ({})"#, hint("name")),
            ));
        };
        let name = self.string("name", name_v)?;
        check_name(name).map_err(|m| self.err(name_v.span(), &m))?;
        if let Some(&first) = seen.get(name) {
            return Err(self.err(
                name_v.span(),
                &format!(
                    r#"the node name "{name}" is used twice (first at {}): give each node a unique name"#,
                    self.src.position(first)
                ),
            ));
        }
        seen.insert(name.to_string(), name_v.span().start);

        let Some(cmd_v) = &raw.cmd else {
            return Err(self.err(
                table,
                &format!(
                    r#"node "{name}" has no "cmd": add the command to run (a quoted command line, e.g. cmd = "./{name}")"#
                ),
            ));
        };
        let cmd = self.string("cmd", cmd_v)?;
        let (program, argv) =
            split_cmd(cmd, r#"cmd = "./server 7000""#).map_err(|m| self.err(cmd_v.span(), &m))?;

        let cwd = match &raw.cwd {
            Some(v) => {
                let dir = self.string("cwd", v)?;
                resolve_dir(dir, self.base_dir).map_err(|m| self.err(v.span(), &m))?
            }
            None => self.base_dir.to_path_buf(),
        };

        let mut env = BTreeMap::new();
        if let Some(table) = &raw.env {
            for (var, v) in table.get_ref() {
                let value = match v.get_ref() {
                    Value::String(s) => s,
                    other => {
                        let example = match other {
                            Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => {
                                other.to_string()
                            }
                            _ => "value".to_string(),
                        };
                        return Err(self.err(
                            v.span(),
                            &format!(
                                r#"the environment variable "{var}" must be a quoted string, not {} (e.g. {var} = "{example}")"#,
                                describe(other)
                            ),
                        ));
                    }
                };
                if var.is_empty() || var.contains('=') || var.contains('\0') {
                    return Err(self.err(
                        v.span(),
                        &format!(
                            r#"invalid environment variable name "{}": a name must be non-empty and contain no "=" (e.g. env = {{ RUST_LOG = "info" }})"#,
                            var.escape_debug()
                        ),
                    ));
                }
                if value.contains('\0') {
                    return Err(self.err(
                        v.span(),
                        &format!(r#"the value of "{var}" contains a NUL character: remove it"#),
                    ));
                }
                env.insert(var.clone(), value.to_string());
            }
        }

        // As for execvp in the child: the node's own PATH, if it sets one, is searched.
        let path_var: Option<OsString> = env
            .get("PATH")
            .map(OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        let program = resolve_program(&program, &cwd, path_var.as_deref())
            .map_err(|m| self.err(cmd_v.span(), &m))?;

        let daemon = self.boolean("daemon", &raw.daemon, false)?;
        // The daemons are the system under test; the other nodes are the oracle.
        let crashable = self.boolean("crashable", &raw.crashable, daemon)?;

        let ready = match &raw.ready {
            Some(v) => {
                let text = self.string("ready", v)?;
                // relative to the node's cwd: where a server binding a relative path listens
                Some(
                    parse_ready(text, &cwd, r#"delay = "200ms""#)
                        .map_err(|m| self.err(v.span(), &m))?,
                )
            }
            None => None,
        };

        let delay = self.duration("delay", &raw.delay, Duration::ZERO, true)?;
        let user = raw.user.as_ref().map(|v| self.user(v)).transpose()?;

        Ok(Node {
            name: name.to_string(),
            cmd: cmd.to_string(),
            argv,
            program,
            daemon,
            crashable,
            ready,
            env,
            cwd,
            delay,
            user,
        })
    }

    /// A `user = "NAME"` (or a uid), looked up in the password database.
    fn user(&self, v: &Spanned<Value>) -> Result<User, ConfigError> {
        let name = self.string("user", v)?;
        let found = match name.parse::<u32>() {
            Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
            Err(_) => nix::unistd::User::from_name(name),
        };
        match found {
            Ok(Some(u)) => Ok(User {
                name: name.to_string(),
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            }),
            Ok(None) => Err(self.err(
                v.span(),
                &format!(
                    r#"no user "{name}" on this machine (not in the password database): give an existing user's name or uid, e.g. user = "nobody""#
                ),
            )),
            Err(e) => Err(self.err(
                v.span(),
                &format!(r#"cannot look up the user "{name}": {e}"#),
            )),
        }
    }

    fn run(&self, raw: RawRun) -> Result<RunSpec, ConfigError> {
        let default = RunSpec::default();
        Ok(RunSpec {
            timeout: self.duration("timeout", &raw.timeout, default.timeout, false)?,
            grace: self.duration("grace", &raw.grace, default.grace, true)?,
            ready_timeout: self.duration(
                "ready_timeout",
                &raw.ready_timeout,
                default.ready_timeout,
                false,
            )?,
            setup: match &raw.setup {
                Some(v) => Some(self.string("setup", v)?.to_string()),
                None => None,
            },
            user: raw.user.as_ref().map(|v| self.user(v)).transpose()?,
        })
    }

    fn explore(&self, raw: RawExplore) -> Result<ExploreSpec, ConfigError> {
        let default = ExploreSpec::default();
        Ok(ExploreSpec {
            max_crashes: self
                .count("max_crashes", &raw.max_crashes, 0)?
                .unwrap_or(default.max_crashes),
            omissions: self.boolean("omissions", &raw.omissions, default.omissions)?,
            max_faults: self
                .count("max_faults", &raw.max_faults, 1)?
                .unwrap_or(default.max_faults),
            runs: self.count("runs", &raw.runs, 1)?.or(default.runs),
        })
    }

    fn check(&self, raw: Spanned<RawCheck>) -> Result<Check, ConfigError> {
        let table = raw.span();
        let raw = raw.into_inner();
        let Some(cmd_v) = &raw.cmd else {
            return Err(self.err(
                table,
                r#"[check] has no "cmd": add the oracle command (exit status 0 means pass), e.g. cmd = "./check.sh", or remove [check]"#,
            ));
        };
        let cmd = self.string("cmd", cmd_v)?;
        let (program, argv) =
            split_cmd(cmd, r#"cmd = "./check.sh""#).map_err(|m| self.err(cmd_v.span(), &m))?;
        let cwd: PathBuf = self.base_dir.to_path_buf();
        let program = resolve_program(&program, &cwd, std::env::var_os("PATH").as_deref())
            .map_err(|m| self.err(cmd_v.span(), &m))?;
        let timeout = self.duration("timeout", &raw.timeout, Duration::from_secs(30), false)?;
        Ok(Check {
            cmd: cmd.to_string(),
            argv,
            program,
            cwd,
            timeout,
        })
    }
}

/// The user's word for the type of a value.
fn describe(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) | Value::Float(_) => "a number",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}
