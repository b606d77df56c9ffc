//! Building a [`Cluster`] from the command line instead of a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::validate::{
    check_name, join, parse_duration, parse_ready, resolve_program, sanitize_name, split_cmd,
};
use crate::{Cluster, ConfigError, ExploreSpec, Node, RunSpec};

impl Cluster {
    /// Builds a cluster from `bop run --node NAME='COMMAND' … --daemon NAME …`.
    ///
    /// `nodes` are `(name, command)` pairs in start order; `daemons` names nodes that keep
    /// running until the others exit (and are the ones `bop explore` may crash). Commands are
    /// split like a shell would and their programs resolved against `base_dir` (a path with a
    /// `/`) or `PATH`, as in a cluster file. Every node runs in `base_dir`, made absolute; the
    /// run and `[explore]` limits are the defaults and there is no check. Errors start with the option they are about, e.g. `--node client: …`.
    pub fn from_commands(
        nodes: &[(String, String)],
        daemons: &[String],
        base_dir: &Path,
    ) -> Result<Cluster, ConfigError> {
        let base_dir = absolute(base_dir)?;
        if nodes.is_empty() {
            return Err(ConfigError::new(
                "no nodes: give at least one --node NAME='COMMAND' (e.g. --node server='./server 7000'), or a command after --"
                    .to_string(),
            ));
        }
        let mut built: Vec<Node> = Vec::with_capacity(nodes.len());
        for (name, cmd) in nodes {
            let label = if name.is_empty() {
                format!("--node ={cmd}")
            } else {
                format!("--node {name}")
            };
            let fail = |m: String| ConfigError::new(format!("{label}: {m}"));
            check_name(name).map_err(|m| {
                fail(format!(
                    "{m}; write --node NAME='COMMAND', e.g. --node server='./server 7000'"
                ))
            })?;
            if built.iter().any(|n| &n.name == name) {
                return Err(fail(format!(
                    r#"the name "{name}" is used by an earlier --node: give each node a unique name"#
                )));
            }
            let node = command_node(name, cmd, false, &base_dir).map_err(fail)?;
            built.push(node);
        }
        for daemon in daemons {
            match built.iter_mut().find(|n| &n.name == daemon) {
                Some(node) => {
                    node.daemon = true;
                    node.crashable = true;
                }
                None => {
                    let known: Vec<&str> = built.iter().map(|n| n.name.as_str()).collect();
                    return Err(ConfigError::new(format!(
                        r#"--daemon {daemon}: there is no node named "{daemon}"; the nodes are: {}"#,
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(Cluster {
            path: None,
            base_dir,
            nodes: built,
            run: RunSpec::default(),
            check: None,
            explore: ExploreSpec::default(),
        })
    }

    /// Applies `bop run --ready NAME=ADDRESS`: the nodes after NAME start only once ADDRESS is
    /// listening, as with a cluster file's `ready` (`tcp:HOST:PORT` or `unix:PATH`, a relative
    /// PATH being relative to the node's working directory). Errors start with the option,
    /// e.g. `--ready server=7000: invalid ready address …`.
    pub fn set_ready(&mut self, option: &str) -> Result<(), ConfigError> {
        let (i, spec) = node_option(
            &self.nodes,
            "--ready",
            option,
            "ADDRESS",
            "tcp:127.0.0.1:7000",
        )?;
        let next = self.nodes.get(i + 1).map_or("NEXT", |n| n.name.as_str());
        let node = &self.nodes[i];
        if node.ready.is_some() {
            return Err(ConfigError::new(format!(
                "--ready {option}: node {} already has a --ready address: give one per node",
                node.name
            )));
        }
        let ready = parse_ready(spec, &node.cwd, &format!("--delay {next}=200ms"))
            .map_err(|m| ConfigError::new(format!("--ready {option}: {m}")))?;
        self.nodes[i].ready = Some(ready);
        Ok(())
    }

    /// Applies `bop run --delay NAME=DURATION`: wait this long before starting NAME, counted
    /// from when the node before it started (or became ready), as with a cluster file's
    /// `delay`. Errors start with the option, e.g. `--delay client=soon: invalid duration …`.
    pub fn set_delay(&mut self, option: &str) -> Result<(), ConfigError> {
        let (i, text) = node_option(&self.nodes, "--delay", option, "DURATION", "200ms")?;
        let delay = parse_duration("delay", text, true)
            .map_err(|m| ConfigError::new(format!("--delay {option}: {m}")))?;
        let node = &mut self.nodes[i];
        if !node.delay.is_zero() {
            return Err(ConfigError::new(format!(
                "--delay {option}: node {} already has a --delay: give one per node",
                node.name
            )));
        }
        node.delay = delay;
        Ok(())
    }

    /// Builds a one-node cluster from `bop run -- PROGRAM ARGS…`.
    ///
    /// The node is not a daemon; it is named after the program's file name, reduced to the
    /// characters allowed in names (`"node"` if none are left), and its `cmd` is `argv` joined
    /// with shell quoting. The program is resolved against `base_dir` or `PATH`.
    pub fn from_argv(argv: &[String], base_dir: &Path) -> Result<Cluster, ConfigError> {
        let base_dir = absolute(base_dir)?;
        let Some(program) = argv.first() else {
            return Err(ConfigError::new(
                "no command given: write the command to run after --, e.g. bop run -- ./server 7000"
                    .to_string(),
            ));
        };
        let cmd = shell_words::join(argv);
        let file_name = Path::new(program)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match sanitize_name(&file_name) {
            n if n.is_empty() => "node".to_string(),
            n => n,
        };
        let node = command_node(&name, &cmd, false, &base_dir)
            .map_err(|m| ConfigError::new(format!("command {cmd}: {m}")))?;
        Ok(Cluster {
            path: None,
            base_dir,
            nodes: vec![node],
            run: RunSpec::default(),
            check: None,
            explore: ExploreSpec::default(),
        })
    }
}

/// Splits a per-node option `NAME=VALUE` (`--ready`, `--delay`) and finds the node it names:
/// its index and the value.
fn node_option<'o>(
    nodes: &[Node],
    flag: &str,
    option: &'o str,
    what: &str,
    example: &str,
) -> Result<(usize, &'o str), ConfigError> {
    let Some((name, value)) = option.split_once('=') else {
        let first = nodes.first().map_or("server", |n| n.name.as_str());
        return Err(ConfigError::new(format!(
            "{flag} {option:?}: expected NAME={what}, the name of a --node and its value, e.g. {flag} {first}={example}"
        )));
    };
    match nodes.iter().position(|n| n.name == name) {
        Some(i) => Ok((i, value)),
        None => {
            let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            Err(ConfigError::new(format!(
                r#"{flag} {option}: there is no node named "{name}"; the nodes are: {}"#,
                known.join(", ")
            )))
        }
    }
}

/// A node from a name and a command line, running in `base_dir` with no extra environment;
/// crashable if it is a daemon.
fn command_node(name: &str, cmd: &str, daemon: bool, base_dir: &Path) -> Result<Node, String> {
    let (program, argv) = split_cmd(cmd, &format!("--node {name}='./{name}'"))?;
    let program = resolve_program(&program, base_dir, std::env::var_os("PATH").as_deref())?;
    Ok(Node {
        name: name.to_string(),
        cmd: cmd.to_string(),
        argv,
        program,
        daemon,
        crashable: daemon,
        ready: None,
        env: BTreeMap::new(),
        cwd: base_dir.to_path_buf(),
        delay: Duration::ZERO,
        user: None,
    })
}

/// `dir` made absolute against the current directory.
fn absolute(dir: &Path) -> Result<PathBuf, ConfigError> {
    let cwd = std::env::current_dir().map_err(|e| {
        ConfigError::new(format!(
            "cannot determine the current directory to resolve paths: {e}"
        ))
    })?;
    Ok(join(&cwd, dir))
}
