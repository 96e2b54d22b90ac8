//! The repository documents itself: the README's promises about its own documents hold.

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Users of the repository have no `shared/` folder: the architecture document is part of
/// the repository, linked from the README, and names every module of `src/`.
#[test]
fn architecture_document_is_in_the_repository_and_names_every_module() {
    let readme = read("README.md");
    assert!(
        !readme.contains("shared/"),
        "README points outside the repository"
    );
    assert!(
        readme.contains("(ARCHITECTURE.md)"),
        "README links ARCHITECTURE.md"
    );
    let architecture = read("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(format!("{ROOT}/src")).expect("src") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        let module = name.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let named = if name.ends_with(".rs") {
            format!("`{name}`")
        } else {
            format!("`{module}/`")
        };
        if !architecture.contains(&named) {
            missing.push(named);
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name {missing:?}"
    );
}

/// The command line section says how the binary gets onto the path.
#[test]
fn readme_says_how_to_get_the_binary() {
    let readme = read("README.md");
    let section = readme
        .split("## Command line")
        .nth(1)
        .expect("a Command line section");
    assert!(section.contains("cargo install --path ."));
    assert!(section.contains("target/release/consent-proxy"));
}

/// Modules import one way (ARCHITECTURE.md): each top-level module of `src/` may use only
/// the modules listed before it here, so the layering can never close into a circle.
#[test]
fn modules_import_one_way() {
    const LAYERS: &[&str] = &[
        "catalog",
        "clock",
        "body",
        "coding",
        "connection",
        "secrets",
        "pem",
        "config",
        "privacy",
        "limiter",
        "telemetry",
        "store",
        "acme",
        "consent",
        "ga",
        "collect",
        "stats",
        "rewrite",
        "proxy",
        "dashboard",
        "server",
        "demo",
    ];
    let mut problems = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let single = format!("{ROOT}/src/{module}.rs");
        if std::path::Path::new(&single).exists() {
            files.push(single);
        }
        let dir = format!("{ROOT}/src/{module}");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries {
                files.push(entry.expect("entry").path().display().to_string());
            }
        }
        assert!(!files.is_empty(), "no source for module `{module}`");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            for used in text.split("crate::").skip(1) {
                let name: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                match LAYERS.iter().position(|m| *m == name) {
                    Some(other) if other > rank => {
                        problems.push(format!("{file}: `{module}` uses `{name}`, a higher module"));
                    }
                    None if !name.is_empty() => {
                        problems.push(format!("{file}: `{name}` is not in the layer list"));
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
