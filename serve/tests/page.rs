//! The status page renders in a real headless browser: Chromium (Debian's `chromium`) loads
//! `GET /`, its script fetches `/status.json` and fills in the figures, and a screenshot is
//! taken. Without a chromium binary the test skips with one line, unless
//! `COWHEAP_REQUIRE_CHROMIUM=1` (CI) makes that a failure.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{base, config, temp, Host, INCREMENT};

/// The browser: `$COWHEAP_CHROMIUM`, else the first of Debian's names on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COWHEAP_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

fn browser_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        let required = std::env::var("COWHEAP_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "no chromium binary (apt-get install chromium); COWHEAP_REQUIRE_CHROMIUM=1 makes that a failure"
        );
        eprintln!("skipped: the status page test: no chromium binary on the PATH (apt-get install chromium)");
    }
    found
}

fn headless(browser: &PathBuf, args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().expect("a profile folder");
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Lets the page's script run its polls (the first fetch and a few intervals)
            // before the DOM is dumped or the screenshot taken.
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_status_page_renders_the_hosts_figures_in_headless_chromium() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let sessions: Vec<_> = (0..3).map(|_| c.create()).collect();
    for (id, token) in &sessions {
        for _ in 0..5 {
            c.answer(id, token, INCREMENT);
        }
    }
    let url = format!("{}/", host.url);
    let dom = headless(&browser, &["--dump-dom"], &url);
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains("data-ready=\"1\""),
        "the page's script did not fill the page: {}\n{html}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(html.contains("<b id=\"live\">3</b>"), "{html}");
    assert!(html.contains("<b id=\"stored\">3</b>"), "{html}");
    assert!(html.contains("<b id=\"evals\">15</b>"), "{html}");
    assert!(html.contains(&format!("host {}", host.host_id)), "{html}");
    assert!(html.contains("<polyline"), "the charts are drawn: {html}");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-status.png");
    let _ = std::fs::remove_file(&shot);
    let out = headless(
        &browser,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,820",
        ],
        &url,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a page, not a blank: {} bytes",
        png.len()
    );
}
