//! Parsing: TOML text to typed sections, one section at a time so that one bad site does
//! not hide the problems of the others.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{
    AcmeConfig, CollectConfig, Config, ConfigError, DashboardConfig, Files, GeoipConfig,
    PrivacyConfig, Problem, RetentionConfig, ServerConfig, SiteConfig, SiteTls, StorageConfig,
    validate,
};

pub(super) fn parse(source: PathBuf, text: &str, files: Files) -> Result<Config, ConfigError> {
    let mut table: Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError::single(&source, Problem::file(one_line(&e.to_string())))
    })?;
    let mut problems = Vec::new();

    let server = take_section::<ServerConfig>(&mut table, "server", &mut problems);
    let privacy = take_section::<PrivacyConfig>(&mut table, "privacy", &mut problems);
    let storage = take_section::<StorageConfig>(&mut table, "storage", &mut problems);
    let retention = take_section::<RetentionConfig>(&mut table, "retention", &mut problems);
    let mut geoip = take_section::<GeoipConfig>(&mut table, "geoip", &mut problems);
    let collect = take_section::<CollectConfig>(&mut table, "collect", &mut problems);
    let dashboard = take_section::<DashboardConfig>(&mut table, "dashboard", &mut problems);
    let mut acme = take_section::<AcmeConfig>(&mut table, "acme", &mut problems);
    let sites = match table.remove("site") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| take_site(i, item, &mut problems))
            .collect(),
        Some(_) => {
            problems.push(Problem::global(
                "site",
                "must be written as [[site]] tables",
            ));
            Vec::new()
        }
    };
    for key in table.keys() {
        problems.push(Problem::global(
            key.as_str(),
            "unknown section (expected `server`, `privacy`, `storage`, `retention`, `geoip`, \
             `collect`, `dashboard`, `acme` or `site`)",
        ));
    }

    let mut sites = sites;
    let mut server = server;
    resolve_paths(&source, server.as_mut(), geoip.as_mut(), &mut sites);
    if let Some(ca) = acme.as_mut().and_then(|a| a.ca.as_mut()) {
        resolve_path(&source, ca);
    }
    validate::check_sites(&mut sites, &mut problems);
    let (
        Some(server),
        Some(privacy),
        Some(storage),
        Some(retention),
        Some(geoip),
        Some(collect),
        Some(dashboard),
        Some(acme),
    ) = (
        server, privacy, storage, retention, geoip, collect, dashboard, acme,
    )
    else {
        return Err(ConfigError {
            file: source,
            problems,
        });
    };
    validate::check_server(&server, &privacy, &sites, &mut problems);
    validate::check_storage(&storage, &retention, &sites, &mut problems);
    validate::check_dashboard(&dashboard, &server, &sites, &mut problems);
    super::analytics::check(&geoip, &collect, &sites, &mut problems);
    let mut warnings = Vec::new();
    super::tls::check_acme(
        &acme,
        &storage,
        &server,
        &sites,
        &mut problems,
        &mut warnings,
    );
    if files == Files::MayBeMissing {
        let (missing, rest): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| p.missing_file);
        warnings.extend(missing);
        problems = rest;
    }
    if !problems.is_empty() {
        return Err(ConfigError {
            file: source,
            problems,
        });
    }
    Ok(Config {
        source,
        server,
        privacy,
        storage,
        retention,
        geoip,
        collect,
        dashboard,
        acme,
        sites,
        warnings,
    })
}

/// Deserializes `[name]` (an empty table when absent) with the path of a failing field.
fn take_section<T: DeserializeOwned>(
    table: &mut Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let value = table
        .remove(name)
        .unwrap_or_else(|| Value::Table(Table::new()));
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(section) => Some(section),
        Err(e) => {
            let field = join_path(name, &e.path().to_string());
            problems.push(Problem::global(field, one_line(&e.inner().to_string())));
            None
        }
    }
}

fn take_site(index: usize, item: Value, problems: &mut Vec<Problem>) -> Option<SiteConfig> {
    // Name the site by its `name` even when something else in it is wrong.
    let label = item
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("#{}", index + 1));
    match serde_path_to_error::deserialize::<_, SiteConfig>(item) {
        Ok(site) => Some(site),
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            problems.push(Problem::site(
                &label,
                field,
                one_line(&e.inner().to_string()),
            ));
            None
        }
    }
}

fn join_path(section: &str, path: &str) -> String {
    if path == "." {
        section.to_owned()
    } else {
        format!("{section}.{path}")
    }
}

/// TOML's messages span several lines (a source excerpt); a problem list wants one line each.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^'))
        .collect::<Vec<_>>()
        .join(" ")
}

fn resolve_path(source: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        *path = source.parent().unwrap_or(Path::new("")).join(&*path);
    }
}

/// Relative paths in the file are relative to the file, as a site owner reads them.
fn resolve_paths(
    source: &Path,
    server: Option<&mut ServerConfig>,
    geoip: Option<&mut GeoipConfig>,
    sites: &mut [SiteConfig],
) {
    let base = source.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    if let Some(server) = server {
        resolve(&mut server.data_dir);
        if let Some(key) = &mut server.secret_key_file {
            resolve(key);
        }
    }
    if let Some(database) = geoip.and_then(|g| g.database.as_mut()) {
        resolve(database);
    }
    for site in sites {
        if let Some(SiteTls::Files(tls)) = &mut site.tls {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        if let Some(ca) = site.upstream_tls.as_mut().and_then(|t| t.ca.as_mut()) {
            resolve(ca);
        }
        if let Some(file) = site.ga.as_mut().and_then(|ga| ga.api_secret_file.as_mut()) {
            resolve(file);
        }
    }
}
