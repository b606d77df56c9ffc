//! Checks shared by the cluster file and the command line. Each returns a message that says
//! what is wrong and what to do; the caller adds where (`file:line:col` or `--node NAME`).

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Ready;

/// The search path `execvp` uses when `PATH` is not set (glibc's `_CS_PATH`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Durations longer than this are refused (they would overflow clocks downstream).
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Whether `c` may appear in a node name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `name` with every run of characters not allowed in a node name replaced by `_`; "" when
/// nothing usable is left.
pub(crate) fn sanitize_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if name_char(c) {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.chars().all(|c| c == '_') {
        String::new()
    } else {
        out
    }
}

/// A node name must be non-empty and made of `[A-Za-z0-9_-]`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(
            r#"the node name is empty: give a name of letters, digits, "_" and "-", e.g. "server""#
                .into(),
        );
    }
    if name.chars().all(name_char) {
        return Ok(());
    }
    let suggestion = match sanitize_name(name) {
        s if s.is_empty() => r#", e.g. "server""#.to_string(),
        s => format!(r#", e.g. "{s}""#),
    };
    Err(format!(
        r#"invalid node name "{}": use only letters, digits, "_" and "-" (names appear in fault rules such as "crash server at server.recv(client)#2", so no dots, spaces or braces){suggestion}"#,
        name.escape_debug()
    ))
}

/// Splits a command line like a shell would (no shell is run). Returns the program
/// (`argv[0]`) and the whole argument vector.
pub(crate) fn split_cmd(cmd: &str, example: &str) -> Result<(String, Vec<String>), String> {
    if cmd.contains('\0') {
        return Err(
            "the command contains a NUL character, which no program can receive: remove it".into(),
        );
    }
    let argv = shell_words::split(cmd).map_err(|e| {
        format!(
            r#"cannot split the command into words: {e} (quotes inside the command must be balanced; quote an argument with spaces like "./server 'a b'")"#
        )
    })?;
    match argv.first() {
        Some(program) => Ok((program.clone(), argv)),
        None => Err(format!(
            "the command is empty: give the program to run and its arguments, e.g. {example}"
        )),
    }
}

/// `base` joined with `rel`, with `.` components and doubled slashes removed (`..` is kept:
/// it is resolved by the kernel, through symbolic links).
pub(crate) fn join(base: &Path, rel: impl AsRef<Path>) -> PathBuf {
    base.join(rel).components().collect()
}

/// Why a path cannot be executed.
enum NotRunnable {
    Missing,
    Directory,
    NotExecutable(u32),
    Unreadable(std::io::Error),
}

/// Whether `path` is a file with an execute permission bit set (following symbolic links).
fn runnable(path: &Path) -> Result<(), NotRunnable> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NotRunnable::Missing),
        // "Not a directory": a path component is a file.
        Err(e) if e.raw_os_error() == Some(20) => return Err(NotRunnable::Missing),
        Err(e) => return Err(NotRunnable::Unreadable(e)),
    };
    if meta.is_dir() {
        return Err(NotRunnable::Directory);
    }
    let mode = meta.permissions().mode();
    if mode & 0o111 == 0 {
        return Err(NotRunnable::NotExecutable(mode & 0o7777));
    }
    Ok(())
}

fn not_runnable_message(program: &str, path: &Path, why: NotRunnable, cwd: &Path) -> String {
    let path_d = path.display();
    match why {
        NotRunnable::Missing => {
            let relative = if program.starts_with('/') {
                String::new()
            } else {
                format!(
                    r#" (a program with a "/" is relative to the node's working directory, {})"#,
                    cwd.display()
                )
            };
            format!(
                r#"program "{program}" not found: tried {path_d}{relative}; check the path, or build the program first"#
            )
        }
        NotRunnable::Directory => {
            format!(r#"program "{program}" is a directory, not a program: {path_d}"#)
        }
        NotRunnable::NotExecutable(mode) => format!(
            r#"program "{program}" is not executable: {path_d} has mode {mode:o}; make it executable (chmod +x {path_d})"#
        ),
        NotRunnable::Unreadable(e) => {
            format!(r#"program "{program}" cannot be checked: {path_d}: {e}"#)
        }
    }
}

/// Resolves `argv[0]` as `execvp` would, from the working directory `cwd` (absolute): with a
/// `/` it is relative to `cwd`; otherwise it is looked up in `path_var` (or the default search
/// path). Returns an absolute path to an existing executable file.
pub(crate) fn resolve_program(
    program: &str,
    cwd: &Path,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = join(cwd, program);
        return match runnable(&path) {
            Ok(()) => Ok(path),
            Err(why) => Err(not_runnable_message(program, &path, why, cwd)),
        };
    }
    let search = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut tried = Vec::new();
    let mut first_problem = None;
    for dir in std::env::split_paths(search) {
        // An empty entry means the current directory, as for execvp.
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            join(cwd, dir)
        };
        let path = join(&dir, program);
        match runnable(&path) {
            Ok(()) => return Ok(path),
            Err(NotRunnable::Missing) => {}
            Err(why) => {
                if first_problem.is_none() {
                    first_problem = Some((path.clone(), why));
                }
            }
        }
        let shown = dir.display().to_string();
        if !tried.contains(&shown) {
            tried.push(shown);
        }
    }
    if let Some((path, why)) = first_problem {
        return Err(not_runnable_message(program, &path, why, cwd));
    }
    let searched = if tried.is_empty() {
        "PATH is empty".to_string()
    } else {
        tried.join(":")
    };
    Err(format!(
        r#"program "{program}" not found in PATH (searched {searched}); give its path instead, e.g. "./{program}" for a program in the working directory {}"#,
        cwd.display()
    ))
}

/// Resolves a working directory relative to `base`; it must exist and be a directory.
pub(crate) fn resolve_dir(dir: &str, base: &Path) -> Result<PathBuf, String> {
    if dir.contains('\0') {
        return Err("the directory contains a NUL character: remove it".into());
    }
    if dir.is_empty() {
        return Err(r#"the directory is empty: give a directory, e.g. cwd = "data", or leave cwd out to use the cluster file's directory"#.into());
    }
    let path = join(base, dir);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path),
        Ok(_) => Err(format!(
            r#"the working directory "{dir}" is not a directory: {}"#,
            path.display()
        )),
        Err(e) => Err(format!(
            r#"the working directory "{dir}" cannot be used: {}: {e} (relative directories are relative to {}); create it or fix the path"#,
            path.display(),
            base.display()
        )),
    }
}

/// Parses a duration such as "100ms", "2s", "1m", "100 ms", "1h 30m".
pub(crate) fn parse_duration(key: &str, text: &str, allow_zero: bool) -> Result<Duration, String> {
    let examples = r#"write a number and a unit, e.g. "100ms", "2s", "1m" or "1h 30m""#;
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            r#"invalid duration "{}" for "{key}": {e}; {examples}"#,
            text.escape_debug()
        )
    })?;
    if d.is_zero() && !allow_zero {
        return Err(format!(r#""{key}" must be longer than zero; {examples}"#));
    }
    if d > MAX_DURATION {
        return Err(format!(
            r#"the duration "{}" for "{key}" is too long: at most 100 years"#,
            text.escape_debug()
        ));
    }
    Ok(d)
}

/// Parses `tcp:HOST:PORT` (HOST an IP address or `localhost`) or `unix:PATH` (relative to `base`,
/// the node's working directory, where a server that binds a relative path puts its socket).
/// `delay_example` shows how to give the next node a start delay where the address was written
/// (`delay = "200ms"` in a cluster file, `--delay NEXT=200ms` on the command line).
pub(crate) fn parse_ready(text: &str, base: &Path, delay_example: &str) -> Result<Ready, String> {
    let examples = r#"e.g. "tcp:127.0.0.1:7000", "tcp:[::1]:7000", "tcp:localhost:7000" or "unix:server.sock""#;
    let shown = text.escape_debug();
    if let Some(addr) = text.strip_prefix("tcp:") {
        let (host, port) = match addr.parse::<SocketAddr>() {
            Ok(sa) => (Some(sa.ip()), sa.port().to_string()),
            Err(_) => match addr.rsplit_once(':') {
                Some((host, port)) => {
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let ip = match host {
                        "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                        _ => host.parse::<IpAddr>().ok(),
                    };
                    if ip.is_none() {
                        return Err(format!(
                            r#"invalid ready address "{shown}": the host "{}" must be an IP address or localhost (bop looks for a listening socket and does not resolve host names), {examples}"#,
                            host.escape_debug()
                        ));
                    }
                    (ip, port.to_string())
                }
                None => {
                    return Err(format!(
                        r#"invalid ready address "{shown}": expected tcp:HOST:PORT, {examples}"#
                    ))
                }
            },
        };
        return match (host, port.parse::<u16>()) {
            (Some(ip), Ok(port)) if port != 0 => Ok(Ready::Tcp(SocketAddr::new(ip, port))),
            _ => Err(format!(
                r#"invalid ready address "{shown}": the port "{}" must be a number from 1 to 65535 (the port the node listens on), {examples}"#,
                port.escape_debug()
            )),
        };
    }
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() || path.contains('\0') {
            return Err(format!(
                r#"invalid ready address "{shown}": give the path of the socket the node listens on after "unix:", {examples}"#
            ));
        }
        return Ok(Ready::Unix(join(base, path)));
    }
    if text.to_ascii_lowercase().starts_with("udp:") {
        return Err(format!(
            r#"UDP readiness cannot be checked ("{shown}"): a UDP socket does not listen, so bop cannot tell when the node is ready; remove "ready" and give the next node a start delay instead, e.g. {delay_example}"#
        ));
    }
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("tcp:") || lower.starts_with("unix:") {
        return Err(format!(
            r#"invalid ready address "{shown}": write "tcp:" and "unix:" in lowercase, {examples}"#
        ));
    }
    Err(format!(
        r#"invalid ready address "{shown}": expected "tcp:HOST:PORT" or "unix:PATH", {examples}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("server-1_a").is_ok());
        let e = check_name("my server").unwrap_err();
        assert!(
            e.contains("my_server") && e.contains("letters, digits"),
            "{e}"
        );
        assert!(check_name("").unwrap_err().contains("empty"));
        assert!(check_name("a.b").is_err());
        assert!(check_name("a{b}").is_err());
        assert!(check_name("é").unwrap_err().contains(r#"e.g. "server""#));
        assert_eq!(sanitize_name("python3.11"), "python3_11");
        assert_eq!(sanitize_name("..."), "");
        assert_eq!(sanitize_name("a  b"), "a_b");
    }

    fn parse_ready_file(text: &str, base: &Path) -> Result<Ready, String> {
        parse_ready(text, base, r#"delay = "200ms""#)
    }

    #[test]
    fn ready_values() {
        let base = Path::new("/base");
        assert_eq!(
            parse_ready_file("tcp:127.0.0.1:7000", base),
            Ok(Ready::Tcp("127.0.0.1:7000".parse().unwrap()))
        );
        assert_eq!(
            parse_ready_file("tcp:localhost:80", base),
            Ok(Ready::Tcp("127.0.0.1:80".parse().unwrap()))
        );
        assert_eq!(
            parse_ready_file("tcp:[::1]:80", base),
            Ok(Ready::Tcp("[::1]:80".parse().unwrap()))
        );
        assert_eq!(
            parse_ready_file("tcp:::1:80", base),
            Ok(Ready::Tcp("[::1]:80".parse().unwrap()))
        );
        assert_eq!(
            parse_ready_file("unix:./s/x.sock", base),
            Ok(Ready::Unix(PathBuf::from("/base/s/x.sock")))
        );
        assert_eq!(
            parse_ready_file("unix:/run/x", base),
            Ok(Ready::Unix(PathBuf::from("/run/x")))
        );
        assert!(parse_ready_file("tcp:example.com:80", base)
            .unwrap_err()
            .contains("IP address or localhost"));
        assert!(parse_ready_file("tcp:127.0.0.1:0", base)
            .unwrap_err()
            .contains("1 to 65535"));
        assert!(parse_ready_file("tcp:127.0.0.1:x", base)
            .unwrap_err()
            .contains("1 to 65535"));
        assert!(parse_ready_file("tcp:127.0.0.1", base).is_err());
        assert!(parse_ready_file("tcp:", base).is_err());
        assert!(parse_ready_file("unix:", base).is_err());
        assert!(parse_ready_file("udp:127.0.0.1:9", base)
            .unwrap_err()
            .contains("delay"));
        assert!(parse_ready_file("TCP:127.0.0.1:9", base)
            .unwrap_err()
            .contains("lowercase"));
        assert!(parse_ready_file("127.0.0.1:9", base)
            .unwrap_err()
            .contains("tcp:HOST:PORT"));
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("d", "100 ms", true),
            Ok(Duration::from_millis(100))
        );
        assert_eq!(parse_duration("d", "1m", true), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("d", "0s", true), Ok(Duration::ZERO));
        assert!(parse_duration("d", "0s", false)
            .unwrap_err()
            .contains("longer than zero"));
        assert!(parse_duration("d", "soon", true)
            .unwrap_err()
            .contains("\"100ms\""));
        assert!(parse_duration("d", "100", true).is_err());
        assert!(parse_duration("d", "", true).is_err());
        assert!(parse_duration("d", "1000000000y", true)
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn split() {
        assert_eq!(
            split_cmd("./a 'b c'", "x"),
            Ok((
                "./a".to_string(),
                vec!["./a".to_string(), "b c".to_string()]
            ))
        );
        assert!(split_cmd("./a 'b", "x")
            .unwrap_err()
            .contains("missing closing quote"));
        assert!(split_cmd("  ", "EX").unwrap_err().contains("empty"));
        assert!(split_cmd("a\0b", "x").unwrap_err().contains("NUL"));
    }
}
