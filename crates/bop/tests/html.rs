//! The HTML export in a real browser: headless Chromium renders the space-time diagram of an
//! echo run; the rendered page has one lane per node and the screenshot is not blank.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Debian's chromium (or the headless shell), when installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-headless-shell", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn browser(exe: &str, dir: &Path) -> Command {
    let mut c = Command::new(exe);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", dir.join("profile").display()));
    c
}

#[test]
fn the_html_export_renders_one_lane_per_node() {
    let Some(exe) = chromium() else {
        // CI installs it (.ci/run): there, a missing browser is a failure, not a skip
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium: .ci/run should have installed chromium-headless-shell"
        );
        eprintln!("skipped: no chromium installed (apt-get install chromium-headless-shell)");
        return;
    };
    let sb = Sandbox::new();
    let port = free_port();
    let echo = tb("tb-echo");
    let run = sb.run_cluster(
        "echo",
        &format!(
            "[[node]]\nname = \"server\"\ncmd = \"'{echo}' server {port} 2\"\nready = \"tcp:127.0.0.1:{port}\"\n\n\
             [[node]]\nname = \"alpha\"\ncmd = \"'{echo}' client {port} 1 3\"\n\n\
             [[node]]\nname = \"beta\"\ncmd = \"'{echo}' client {port} 2 3\"\n"
        ),
    );
    run.expect_code(0);
    let trace = run.trace_path.clone().expect("trace");
    let html = sb.join("t.html");
    let ex = sb.bop(
        "export-html",
        &[
            "export".into(),
            trace.display().to_string(),
            "--format".into(),
            "html".into(),
            "-o".into(),
            html.display().to_string(),
        ],
        None,
    );
    ex.expect_code(0);
    let url = format!("file://{}", html.display());

    // the DOM after the page's script ran: a lane header per node
    let dom = browser(exe, sb.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for node in ["server", "alpha", "beta"] {
        assert!(
            dom.contains(&format!(">{node}<")),
            "no lane titled {node} in the rendered page"
        );
    }

    // a screenshot that is not blank: many pixels differ from the background
    let png = sb.join("shot.png");
    let st = browser(exe, sb.path())
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .status()
        .expect("run chromium");
    assert!(st.success());
    let file = std::fs::File::open(&png).expect("screenshot written");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let bytes = &buf[..info.buffer_size()];
    let px = info.color_type.samples();
    let bg = &bytes[..px];
    let differing = bytes.chunks(px).filter(|p| p != &bg).count();
    let total = bytes.len() / px;
    assert!(
        differing * 100 > total,
        "the screenshot is (nearly) blank: {differing} of {total} pixels differ from the background"
    );
}
