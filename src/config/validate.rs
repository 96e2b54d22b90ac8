//! Rules a parsed configuration must satisfy; each broken rule becomes one [`Problem`].

use std::collections::HashMap;

use http::Uri;

use super::{Jurisdiction, Language, PrivacyConfig, Problem, ServerConfig, SiteConfig, SiteTls};

/// Rules of `[server]` and `[privacy]`, some of which look at the sites.
pub(super) fn check_server(
    server: &ServerConfig,
    privacy: &PrivacyConfig,
    sites: &[SiteConfig],
    problems: &mut Vec<Problem>,
) {
    if server.listen.is_empty() && server.tls_listen.is_empty() {
        problems.push(Problem::global(
            "server.listen",
            "no listener: give at least one address in `listen` or `tls_listen`",
        ));
    }
    if !server.tls_listen.is_empty() && !sites.iter().any(|s| s.tls.is_some()) {
        problems.push(Problem::global(
            "server.tls_listen",
            "HTTPS listeners are configured but no site has a `tls` certificate",
        ));
    }
    if server.limits.max_header_bytes < 8 * 1024 {
        problems.push(Problem::global(
            "server.limits.max_header_bytes",
            "must be at least 8192 (browsers routinely send heads of several KB)",
        ));
    }
    let read = server.limits.upstream_read_buffer;
    if !(8192..=1024 * 1024).contains(&read) {
        problems.push(Problem::global(
            "server.limits.upstream_read_buffer",
            "must be between 8192 and 1048576 bytes",
        ));
    }
    if server.limits.page_cache_bytes > 0
        && !(4096..=server.limits.page_cache_bytes / 8)
            .contains(&server.limits.page_cache_page_bytes)
    {
        problems.push(Problem::global(
            "server.limits.page_cache_page_bytes",
            "must be at least 4096 and at most an eighth of `page_cache_bytes`",
        ));
    }
    if server.limits.html_rewrite_memory < 64 * 1024 {
        problems.push(Problem::global(
            "server.limits.html_rewrite_memory",
            "must be at least 65536 bytes",
        ));
    }
    if server.limits.consents_per_minute == 0 {
        problems.push(Problem::global(
            "server.limits.consents_per_minute",
            "must be at least 1",
        ));
    }
    if server.limits.consents_per_minute_network < server.limits.consents_per_minute {
        problems.push(Problem::global(
            "server.limits.consents_per_minute_network",
            "must be at least `consents_per_minute` (a network holds at least one address)",
        ));
    }
    if server.limits.decompression_ratio < 10 {
        problems.push(Problem::global(
            "server.limits.decompression_ratio",
            "must be at least 10 (HTML commonly compresses 5–20 times)",
        ));
    }
    if server.limits.max_headers == 0 {
        problems.push(Problem::global(
            "server.limits.max_headers",
            "must be at least 1",
        ));
    }
    for protocol in &server.upgrades {
        if protocol.eq_ignore_ascii_case("h2c") {
            problems.push(Problem::global(
                "server.upgrades",
                "`h2c` cannot be allowed: an HTTP/2 connection to the origin would carry \
                 requests past the proxy's per-request consent rules",
            ));
        } else if protocol.is_empty()
            || !protocol
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            problems.push(Problem::global(
                "server.upgrades",
                format!("`{protocol}` is not a protocol name (like `websocket`)"),
            ));
        }
    }
    // The Dutch AP and CNIL accept a truncated address only without its last octet
    // (IPv4 /24) or last 80 bits (IPv6 /48); keeping more would be less anonymous.
    if privacy.ipv4_prefix > 24 {
        problems.push(Problem::global(
            "privacy.ipv4_prefix",
            "must be at most 24: the last octet of an IPv4 address is always removed",
        ));
    }
    if privacy.ipv6_prefix > 48 {
        problems.push(Problem::global(
            "privacy.ipv6_prefix",
            "must be at most 48: more bits of an IPv6 address would identify the visitor",
        ));
    }
}

/// Rules of every `[[site]]`; also lowercases host names and fills language defaults.
pub(super) fn check_sites(sites: &mut [SiteConfig], problems: &mut Vec<Problem>) {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut hosts: HashMap<String, String> = HashMap::new();
    for site in sites.iter_mut() {
        let name = site.name.clone();
        if !valid_site_name(&name) {
            problems.push(Problem::site(
                &name,
                "name",
                "must be 1-63 characters of a-z, 0-9, `-` or `_`",
            ));
        }
        *names.entry(name.clone()).or_default() += 1;

        if site.hosts.is_empty() {
            problems.push(Problem::site(
                &name,
                "hosts",
                "must list at least one host name",
            ));
        }
        for host in &mut site.hosts {
            let lower = host.to_ascii_lowercase();
            if !valid_host_name(&lower) {
                problems.push(Problem::site(
                    &name,
                    "hosts",
                    format!(
                        "`{host}` is not an exact host name (no scheme, port, path or wildcard)"
                    ),
                ));
            } else if let Some(other) = hosts.insert(lower.clone(), name.clone()) {
                problems.push(Problem::site(
                    &name,
                    "hosts",
                    format!("`{lower}` is already a host of site `{other}`"),
                ));
            }
            *host = lower;
        }

        if let Err(message) = check_upstream(&site.upstream) {
            problems.push(Problem::site(&name, "upstream", message));
        }

        if site.languages.is_empty() {
            site.languages = site.jurisdiction.default_languages();
        }
        // Belgian law: the banner must be offered in the audience's languages.
        if site.jurisdiction == Jurisdiction::Be
            && !(site.languages.contains(&Language::Nl) && site.languages.contains(&Language::Fr))
        {
            problems.push(Problem::site(
                &name,
                "languages",
                "a Belgian site (jurisdiction = \"be\") must offer both \"nl\" and \"fr\"",
            ));
        }
        match site.default_language {
            Some(lang) if !site.languages.contains(&lang) => problems.push(Problem::site(
                &name,
                "default_language",
                format!("`{}` is not one of the site's `languages`", lang.code()),
            )),
            Some(_) => {}
            None => site.default_language = site.languages.first().copied(),
        }

        if site.policy_version.trim().is_empty() || site.policy_version.len() > 64 {
            problems.push(Problem::site(
                &name,
                "policy_version",
                "must be 1-64 characters",
            ));
        }
        super::tls::check_upstream_tls(site, &name, problems);
        if let Some(tls) = site.tls.as_ref().and_then(SiteTls::files) {
            for (field, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if !path.is_file() {
                    problems.push(Problem::missing(Some(&name), field, path));
                }
            }
        }
        for (i, tracker) in site.trackers.iter().enumerate() {
            if tracker.category == crate::catalog::Category::Necessary {
                problems.push(Problem::site(
                    &name,
                    format!("trackers[{i}].category"),
                    format!(
                        "tracker `{}` cannot be \"necessary\": trackers need consent",
                        tracker.name
                    ),
                ));
            }
        }
        if let Err(message) = crate::catalog::trackers::Rules::compile(&super::tracker_specs(
            &site.trackers,
            &site.services,
        )) {
            problems.push(Problem::site(&name, "trackers", message));
        }
        if let Some(id) = site.ga.as_ref().and_then(|ga| ga.measurement_id.as_deref())
            && !(id.starts_with("G-")
                && id.len() > 2
                && id[2..].bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            problems.push(Problem::site(
                &name,
                "ga.measurement_id",
                format!("`{id}` is not a GA4 measurement id (G-XXXXXXX)"),
            ));
        }
        check_consent(site, problems);
        if site.hsts.is_some() && site.tls.is_none() {
            problems.push(Problem::site(
                &name,
                "hsts",
                "HSTS needs HTTPS: give the site a `tls` certificate",
            ));
        }
    }
    for (name, count) in names {
        if count > 1 {
            problems.push(Problem::site(
                &name,
                "name",
                format!("{count} sites have this name; names must be unique"),
            ));
        }
    }
}

/// Consent lifetime, GPC, categories, banner look and the services list.
fn check_consent(site: &mut SiteConfig, problems: &mut Vec<Problem>) {
    use crate::catalog::Category;
    let name = site.name.clone();
    if site.consent_lifetime > super::MAX_CONSENT_LIFETIME
        || site.consent_lifetime < std::time::Duration::from_secs(24 * 3600)
    {
        problems.push(Problem::site(
            &name,
            "consent_lifetime",
            "must be between 1day and 13months (a choice is kept at most 13 months)",
        ));
    }
    if site.categories.contains(&Category::Necessary) {
        problems.push(Problem::site(
            &name,
            "categories",
            "lists the categories a visitor chooses; \"necessary\" is always on and not a choice",
        ));
    }
    site.categories.sort();
    site.categories.dedup();
    // GPC refuses marketing always (DESIGN.md); a site may add more, never fewer.
    if !site.gpc_refuses.contains(&Category::Marketing) {
        site.gpc_refuses.push(Category::Marketing);
    }
    if site.gpc_refuses.contains(&Category::Necessary) {
        problems.push(Problem::site(
            &name,
            "gpc_refuses",
            "\"necessary\" cannot be refused",
        ));
    }
    let colors = &site.banner.colors;
    for (field, value) in [
        ("background", &colors.background),
        ("text", &colors.text),
        ("button", &colors.button),
        ("button_text", &colors.button_text),
    ] {
        if super::banner::luminance(value).is_none() {
            problems.push(Problem::site(
                &name,
                format!("banner.colors.{field}"),
                format!("`{value}` is not a colour written as #rrggbb"),
            ));
        }
    }
    // WCAG 2.2 AA, success criteria 1.4.3 (text 4.5:1) and 1.4.11 (controls 3:1).
    for (fields, fg, bg, min) in [
        ("text/background", &colors.text, &colors.background, 4.5),
        (
            "button_text/button",
            &colors.button_text,
            &colors.button,
            4.5,
        ),
        ("button/background", &colors.button, &colors.background, 3.0),
    ] {
        if let Some(ratio) = super::banner::contrast(fg, bg)
            && ratio < min
        {
            problems.push(Problem::site(
                &name,
                "banner.colors",
                format!("contrast of {fields} is {ratio:.2}:1; WCAG 2.2 AA needs at least {min}:1"),
            ));
        }
    }
    if let Some(logo) = &site.banner.logo
        && (!logo.starts_with('/') || logo.starts_with("//"))
    {
        problems.push(Problem::site(
            &name,
            "banner.logo",
            "must be a path on the site itself (`/logo.svg`): the banner makes no third-party request",
        ));
    }
    for lang in site.banner.texts.keys() {
        if !site.languages.contains(lang) {
            problems.push(Problem::site(
                &name,
                format!("banner.texts.{}", lang.code()),
                "is not one of the site's `languages`",
            ));
        }
    }
    for (i, service) in site.services.iter().enumerate() {
        if service.name.trim().is_empty() || service.provider.trim().is_empty() {
            problems.push(Problem::site(
                &name,
                format!("services[{i}]"),
                "needs a `name` and a `provider`",
            ));
        }
        if service.category != Category::Necessary && !site.categories.contains(&service.category) {
            problems.push(Problem::site(
                &name,
                format!("services[{i}].category"),
                format!(
                    "`{}` is not one of the site's `categories`",
                    service.category
                ),
            ));
        }
    }
}

/// Rules of `[storage]` and `[retention]`.
pub(super) fn check_dashboard(
    dashboard: &super::DashboardConfig,
    server: &super::ServerConfig,
    sites: &[SiteConfig],
    problems: &mut Vec<Problem>,
) {
    let Some(host) = &dashboard.host else { return };
    if !sites
        .iter()
        .any(|s| s.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    {
        problems.push(Problem::global(
            "dashboard.host",
            format!(
                "`{host}` must be one of a site's `hosts` (its certificate serves the dashboard)"
            ),
        ));
    }
    if server.tls_listen.is_empty() {
        problems.push(Problem::global(
            "dashboard.host",
            "needs `server.tls_listen`: the dashboard is served on public hosts over HTTPS only",
        ));
    }
}

pub(super) fn check_storage(
    storage: &super::StorageConfig,
    retention: &super::RetentionConfig,
    sites: &[SiteConfig],
    problems: &mut Vec<Problem>,
) {
    let url = storage.url.as_str();
    let sqlite = url.strip_prefix("sqlite://").is_some_and(|f| !f.is_empty());
    let postgres = ["postgres://", "postgresql://"]
        .iter()
        .any(|p| url.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
    if !sqlite && !postgres {
        problems.push(Problem::global(
            "storage.url",
            format!(
                "`{}` is not supported: use `sqlite://FILE` (relative to `data_dir`) or `postgres://USER@HOST/DATABASE`",
                super::redacted_url(url)
            ),
        ));
    }
    if retention.rollups < retention.events {
        problems.push(Problem::global(
            "retention.rollups",
            "must be at least `retention.events`: rollups are what is left when raw events go",
        ));
    }
    // Proof of consent has to outlive the consent it proves.
    let longest = sites
        .iter()
        .map(|s| s.consent_lifetime)
        .max()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(30 * 24 * 3600));
    if retention.consent_records < longest {
        problems.push(Problem::global(
            "retention.consent_records",
            format!(
                "must be at least {} (30 days, and no shorter than the longest `consent_lifetime`): proof of consent has to outlive the consent itself",
                humantime::format_duration(longest)
            ),
        ));
    }
}

fn valid_site_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// An exact DNS name (RFC 1035 labels) or an IP literal, lowercase, without a port.
fn valid_host_name(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn check_upstream(upstream: &str) -> Result<(), String> {
    let uri: Uri = upstream
        .parse()
        .map_err(|_| format!("`{upstream}` is not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "`{upstream}` is not a valid URL (expected http://host:port or https://host)"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{upstream}` has no host"));
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(format!(
            "`{upstream}` has a path or query; give only scheme, host and port"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_exact() {
        assert!(valid_host_name("voipexpress.nl"));
        assert!(valid_host_name("085-nummer-aanvragen.nl"));
        assert!(valid_host_name("127.0.0.1"));
        assert!(!valid_host_name("*.voipexpress.nl"));
        assert!(!valid_host_name("voipexpress.nl:443"));
        assert!(!valid_host_name("https://voipexpress.nl"));
        assert!(!valid_host_name("-bad.nl"));
    }

    #[test]
    fn upstream_is_an_http_or_https_origin() {
        assert!(check_upstream("http://127.0.0.1:3000").is_ok());
        assert!(check_upstream("http://backend").is_ok());
        assert!(check_upstream("https://origin.example").is_ok());
        assert!(check_upstream("https://origin.example:8443").is_ok());
        assert!(check_upstream("ftp://origin.example").is_err());
        assert!(check_upstream("https://origin.example/site").is_err());
        assert!(check_upstream("htp://x").is_err());
        assert!(check_upstream("http://x/path").is_err());
        assert!(check_upstream("not a url").is_err());
    }

    fn problems(site_extra: &str, extra_sections: &str) -> String {
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n{extra_sections}\n[[site]]\nname = \"be\"\nhosts = [\"zonenummer.be\"]\nupstream = \"http://127.0.0.1:1\"\njurisdiction = \"be\"\n{site_extra}"
        );
        match crate::config::Config::parse("t.toml", &text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn consent_settings_are_checked_with_site_and_field() {
        assert_eq!(problems("", ""), "");
        let e = problems("consent_lifetime = \"14months\"", "");
        assert!(e.contains("site `be`: field `consent_lifetime`"), "{e}");
        let e = problems("[site.banner.colors]\nbutton = \"#9ab\"", "");
        assert!(e.contains("field `banner.colors.button`"), "{e}");
        let e = problems("[site.banner.colors]\ntext = \"#999999\"", "");
        assert!(e.contains("contrast of text/background is 2.85:1"), "{e}");
        let e = problems("[site.banner]\nlogo = \"https://cdn.example/logo.svg\"", "");
        assert!(e.contains("field `banner.logo`"), "{e}");
        let e = problems("categories = [\"necessary\", \"analytics\"]", "");
        assert!(e.contains("field `categories`"), "{e}");
        let e = problems(
            "categories = [\"analytics\"]\n[[site.services]]\nname = \"Pixel\"\nprovider = \"Meta\"\ncategory = \"marketing\"\npurpose = \"ads\"",
            "",
        );
        assert!(e.contains("field `services[0].category`"), "{e}");
        let e = problems("[site.banner.texts.de]\ntitle = \"Hallo\"", "");
        assert!(e.contains("field `banner.texts.de`"), "{e}");
        let e = problems(
            "",
            "[storage]\nurl = \"mysql://x\"\n[retention]\nconsent_records = \"1day\"",
        );
        assert!(e.contains("field `storage.url`"), "{e}");
        assert!(e.contains("field `retention.consent_records`"), "{e}");
    }
}
