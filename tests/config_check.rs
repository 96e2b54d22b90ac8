//! `consent-proxy check-config`: the example is valid, and bad files get every problem
//! named by file, site and field.

use std::process::Command;

fn check(path: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_consent-proxy"))
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn example_config_for_the_seven_sites_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = include_str!("../config/example.toml");
    let path = dir.path().join("example.toml");
    std::fs::write(&path, example).expect("write");
    std::fs::create_dir(dir.path().join("certs")).expect("certs dir");
    let hosts = [
        "voipexpress.nl",
        "regionummer.nl",
        "085-nummer-aanvragen.nl",
        "telefonie.io",
        "vastnaarmobiel.eu",
        "voipexpress.be",
        "zonenummer.be",
    ];
    for host in hosts {
        let rcgen::CertifiedKey {
            cert,
            signing_key: key_pair,
        } = rcgen::generate_simple_self_signed(vec![host.to_owned(), format!("www.{host}")])
            .expect("certificate");
        std::fs::write(dir.path().join(format!("certs/{host}.pem")), cert.pem()).expect("cert");
        std::fs::write(
            dir.path().join(format!("certs/{host}.key")),
            key_pair.serialize_pem(),
        )
        .expect("key");
    }
    let (ok, stdout, stderr) = check(&path);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok (7 sites)"), "{stdout}");
}

#[test]
fn every_problem_is_named_by_file_site_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = ["127.0.0.1:8080"]
trusted_proxies = ["10.0.0.0/8", "not-a-net"]

[[site]]
name = "voipexpress-nl"
hosts = ["voipexpress.nl"]
upstream = "htp://127.0.0.1:3000"
jurisdiction = "nl"

[[site]]
name = "zonenummer-be"
hosts = ["zonenummer.be", "voipexpress.nl"]
upstream = "http://127.0.0.1:3001"
jurisdiction = "be"
languages = ["nl"]

[[site]]
name = "telefonie-io"
hosts = ["telefonie.io"]
upstream = "http://127.0.0.1:3002"
jurisdiction = "nl"
colour = "blue"
tls = { cert = "missing.pem", key = "missing.key" }
"#,
    )
    .expect("write");
    let (ok, _, stderr) = check(&path);
    assert!(!ok);
    let file = path.display().to_string();
    let lines: Vec<&str> = stderr.lines().collect();
    let has = |site: Option<&str>, field: &str, words: &str| {
        lines.iter().any(|l| {
            l.starts_with(&file)
                && site.is_none_or(|s| l.contains(&format!("site `{s}`")))
                && l.contains(&format!("field `{field}`"))
                && l.contains(words)
        })
    };
    assert!(
        has(None, "server.trusted_proxies[1]", "not-a-net"),
        "{stderr}"
    );
    assert!(
        has(Some("voipexpress-nl"), "upstream", "htp://"),
        "{stderr}"
    );
    assert!(
        has(
            Some("zonenummer-be"),
            "hosts",
            "already a host of site `voipexpress-nl`"
        ),
        "{stderr}"
    );
    assert!(
        has(Some("zonenummer-be"), "languages", "\"fr\""),
        "{stderr}"
    );
    assert!(
        has(Some("telefonie-io"), "colour", "unknown field"),
        "{stderr}"
    );
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, "[server]\nlisten = [\"127.0.0.1:80\"\n").expect("write");
    let (ok, _, stderr) = check(&path);
    assert!(!ok);
    assert!(stderr.starts_with(&path.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("line 2") || stderr.contains("line 3"),
        "{stderr}"
    );
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let (ok, _, stderr) = check(std::path::Path::new("/nonexistent/consent-proxy.toml"));
    assert!(!ok);
    assert!(
        stderr.contains("/nonexistent/consent-proxy.toml"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot read"), "{stderr}");
}

/// GA forwarding without its API secret, a secret given twice, a plain-HTTP endpoint to
/// another host, a geo database that is not there: each named by site and field, and the
/// secret's value never printed.
#[test]
fn ga_and_geoip_problems_are_named_and_the_secret_never_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret.txt"), "s3cr3t-value-7f2").expect("secret");
    let path = dir.path().join("ga.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = ["127.0.0.1:8080"]

[geoip]
database = "missing.mmdb"

[[site]]
name = "a"
hosts = ["a.test"]
upstream = "http://127.0.0.1:3000"
jurisdiction = "nl"
ga = { measurement_id = "G-ABC1234", api_secret_env = "CP_TEST_SURELY_UNSET_VARIABLE" }

[[site]]
name = "b"
hosts = ["b.test"]
upstream = "http://127.0.0.1:3000"
jurisdiction = "be"
ga = { measurement_id = "G-ABC1234", api_secret_file = "secret.txt", endpoint = "http://analytics.example/mp/collect" }
query_allowlist = ["plan", "bad name"]
"#,
    )
    .expect("write");
    let (ok, _, stderr) = check(&path);
    assert!(!ok);
    for expected in [
        "field `geoip.database`: `",
        "site `a`: field `ga.api_secret_env`: the environment variable `CP_TEST_SURELY_UNSET_VARIABLE` is not set",
        "site `b`: field `ga.endpoint`: `http://analytics.example/mp/collect` is not an https:// URL",
        "site `b`: field `query_allowlist`: `bad name`",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("s3cr3t"), "the secret is never printed");
}

#[test]
fn the_shipped_example_passes_as_it_is_and_offline_turns_missing_files_into_warnings() {
    // As a new user runs it, on a fresh clone: ACME sites need no files.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let (ok, stdout, stderr) = check(std::path::Path::new(example));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok (7 sites)"), "{stdout}");

    // A site with certificate files that only exist on the server.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = ["127.0.0.1:8080"]
tls_listen = ["127.0.0.1:8443"]

[acme]
challenge = "tls-alpn-01"

[[site]]
name = "voipexpress-nl"
hosts = ["voipexpress.nl"]
upstream = "http://127.0.0.1:3000"
jurisdiction = "nl"
tls = { cert = "/etc/ssl/voipexpress.nl.pem", key = "/etc/ssl/voipexpress.nl.key" }

[[site]]
name = "zonenummer-be"
hosts = ["zonenummer.be"]
upstream = "http://127.0.0.1:3001"
jurisdiction = "be"
tls = "acme"
"#,
    )
    .expect("write");
    let (ok, _, stderr) = check(&path);
    assert!(!ok, "missing files are errors on the server");
    assert!(
        stderr.contains("site `voipexpress-nl`: field `tls.cert`")
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_consent-proxy"))
        .args(["check-config", "--offline"])
        .arg(&path)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("ok (2 sites, 3 warnings)"), "{stdout}");
    for field in ["tls.cert", "tls.key"] {
        assert!(
            stderr.lines().any(|l| l.starts_with("warning: ")
                && l.contains("site `voipexpress-nl`")
                && l.contains(&format!("field `{field}`"))),
            "{stderr}"
        );
    }
    // The challenge port is not 443: worth a warning, not an error.
    assert!(
        stderr.contains("field `server.tls_listen`") && stderr.contains("port 443"),
        "{stderr}"
    );

    // Errors stay errors offline.
    std::fs::write(
        &path,
        "[server]\nlisten = [\"127.0.0.1:8080\"]\n[acme]\ndirectory = \"http://ca.example/dir\"\n\
         [[site]]\nname = \"a\"\nhosts = [\"a.example\"]\nupstream = \"http://127.0.0.1:1\"\n\
         jurisdiction = \"nl\"\ntls = \"acme\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_consent-proxy"))
        .args(["check-config", "--offline"])
        .arg(&path)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("field `acme.directory`"), "{stderr}");
}

#[test]
fn an_unknown_validator_is_named_with_the_ones_there_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = ["127.0.0.1:8080"]

[[site]]
name = "telefonie-io"
hosts = ["telefonie.io"]
upstream = "http://127.0.0.1:3002"
jurisdiction = "nl"
revalidate_with = ["etag", "date"]
"#,
    )
    .expect("write");
    let (ok, _, stderr) = check(&path);
    assert!(!ok);
    let line = format!(
        "{}: site `telefonie-io`: field `revalidate_with[1]`: unknown variant `date`, \
         expected one of `etag`, `last-modified`, `weak-etag`",
        path.display()
    );
    assert!(stderr.contains(&line), "{stderr}");
}
