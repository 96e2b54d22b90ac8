//! `consent-proxy demo` as a newcomer meets it: the real binary, its printed URLs and
//! commands, and a data directory that is really temporary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_consent-proxy");

/// Starts the demo on free ports and reads what it prints up to "Press Ctrl-C".
fn start_demo(extra: &[&str]) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        let done = line.contains("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    // Keep reading, so the demo's later lines never meet a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, printed)
}

fn line_after<'a>(printed: &'a [String], marker: &str) -> &'a str {
    printed
        .iter()
        .position(|l| l.contains(marker))
        .and_then(|i| printed.get(i + 1))
        .unwrap_or_else(|| panic!("no line after {marker:?} in {printed:#?}"))
        .trim()
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(child.wait().expect("exit").success());
}

/// The loader's `data-cp-state` of the demo's home page, fetched with `cookie`.
async fn page_state(proxy: &str, cookie: Option<&str>) -> serde_json::Value {
    let mut req = reqwest::Client::new().get(proxy);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let html = req.send().await.expect("page").text().await.expect("body");
    let start = html.find("data-cp-state=\"").expect("loader state") + 15;
    let end = start + html[start..].find('"').expect("end of state");
    serde_json::from_str(&html[start..end].replace("&quot;", "\"")).expect("state JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_consent_cookie_command_works_against_the_running_demo() {
    let (child, printed) = start_demo(&[]);
    let proxy = printed
        .iter()
        .find_map(|l| l.split("Demo site behind the proxy:").nth(1))
        .map(|u| u.trim().replace("localhost", "127.0.0.1"))
        .expect("proxy URL printed");
    let command = line_after(&printed, "A cookie of a visitor");
    let mut words = command.split_whitespace();
    let exe = words.next().expect("program");
    let output = Command::new(exe)
        .args(words)
        .output()
        .expect("the printed command runs");
    assert!(
        output.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cookie = String::from_utf8(output.stdout).expect("utf-8");
    let cookie = cookie.trim();
    assert!(cookie.starts_with("cp_consent="), "{cookie}");

    assert_eq!(page_state(&proxy, None).await["decided"], false);
    let state = page_state(&proxy, Some(cookie)).await;
    assert_eq!(
        state["decided"], true,
        "the demo accepts the cookie: {state}"
    );
    let granted = state["granted"].to_string();
    assert!(
        granted.contains("analytics") && granted.contains("marketing"),
        "{state}"
    );

    // The state directory is temporary, said so, and gone after the demo stops.
    let state_line = printed
        .iter()
        .find(|l| l.contains("State (key, consent records):"))
        .expect("state directory printed");
    assert!(state_line.contains("temporary"), "{state_line}");
    let dir = state_line
        .split("records):")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("directory");
    assert!(std::path::Path::new(dir).join("secret.key").exists());
    stop(child);
    assert!(
        !std::path::Path::new(dir).exists(),
        "{dir} removed when the demo stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keeps_a_given_data_dir_and_runs_start_afresh_by_default() {
    let kept = tempfile::tempdir().expect("tempdir");
    let kept_path = kept.path().join("state");
    let (child, printed) = start_demo(&["--data-dir", kept_path.to_str().expect("utf-8")]);
    assert!(printed.iter().any(|l| l.contains("(kept;")), "{printed:#?}");
    stop(child);
    let key = std::fs::read(kept_path.join("secret.key")).expect("kept key");

    // Two default runs: two different directories, so two different keys.
    let (a, first) = start_demo(&[]);
    let (b, second) = start_demo(&[]);
    let dir = |printed: &[String]| {
        printed
            .iter()
            .find_map(|l| l.split("records):").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .expect("directory")
    };
    assert_ne!(dir(&first), dir(&second));
    assert_ne!(
        std::fs::read(std::path::Path::new(&dir(&first)).join("secret.key")).expect("key"),
        key
    );
    stop(a);
    stop(b);
}

#[test]
fn consent_cookie_without_a_key_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("demo.toml");
    std::fs::write(&config, consent_proxy::demo::DEMO_CONFIG).expect("write");
    let output = Command::new(BIN)
        .args(["consent-cookie", "--config"])
        .arg(&config)
        .args(["--site", "demo", "--grant", "analytics"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--data-dir"), "{err}");
    assert!(
        !dir.path().join("data").join("secret.key").exists(),
        "no new key is made up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_dashboard_is_populated_and_its_printed_login_works() {
    let (child, printed) = start_demo(&[]);
    let line = printed
        .iter()
        .find(|l| l.contains("Dashboard:"))
        .expect("dashboard line printed");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("URL")
        .replace("localhost", "127.0.0.1");
    let password = line.split("password ").nth(1).expect("password").trim();
    assert!(line.contains("user demo"), "{line}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = url.replace("/dashboard", "/dashboard/login");
    let resp = client
        .post(&login)
        .form(&[("username", "demo"), ("password", password)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303, "the printed login works");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = client
        .get(&url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Demo data"), "labelled as demo data");
    let visitors: i64 = html
        .split("data-metric=\"visitors\"><dt>Unique visitors</dt><dd><span class=\"value\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map(|n| n.replace('\u{202f}', ""))
        .and_then(|n| n.parse().ok())
        .expect("the visitors card");
    assert!(visitors > 1000, "30 days of traffic: {visitors}");
    assert!(
        !html.contains("No data in this range.</p></section><section aria-labelledby=\"entry-h\"")
    );
    stop(child);
}
