//! The dashboard's doors, over HTTP against the real proxy: login and logout, session
//! cookie flags, CSRF, brute force, roles (a viewer cannot export consent records or see
//! another site), and strangers' strings shown inert.

mod support;

use consent_proxy::dashboard::session::hash_password;
use consent_proxy::store::Store;
use serde_json::json;
use support::{Proxy, SITE_A, Upstream, config_text};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

async fn setup() -> (Upstream, Proxy, String) {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let store = Store::open("sqlite://consent-proxy.db", &proxy.dir.path().join("data"))
        .await
        .expect("store");
    for (user, sites) in [
        (
            "olivia",
            vec![("voipexpress".to_owned(), "owner".to_owned())],
        ),
        (
            "victor",
            vec![("voipexpress".to_owned(), "viewer".to_owned())],
        ),
    ] {
        store
            .put_user(
                user,
                &hash_password("correct horse battery").unwrap(),
                &sites,
                0,
            )
            .await
            .expect("user");
    }
    let admin = format!("http://{}", proxy.handle.admin_addr.expect("admin"));
    (upstream, proxy, admin)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Logs in; returns the `cp_dash=…` pair and the whole Set-Cookie.
async fn login(admin: &str, user: &str, password: &str) -> Result<(String, String), u16> {
    let resp = client()
        .post(format!("{admin}/dashboard/login"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .expect("login");
    if resp.status() != 303 {
        return Err(resp.status().as_u16());
    }
    let set = support::set_cookies(&resp)
        .into_iter()
        .next()
        .expect("cookie");
    Ok((set.split(';').next().unwrap().to_owned(), set))
}

async fn get(admin: &str, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(format!("{admin}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get")
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf field")
        .to_owned()
}

#[tokio::test]
async fn login_sessions_and_logout_with_csrf() {
    let (_up, _proxy, admin) = setup().await;
    let resp = get(&admin, "/dashboard", "").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/dashboard/login");
    assert_eq!(login(&admin, "olivia", "wrong password").await, Err(401));
    assert_eq!(
        login(&admin, "nobody", "correct horse battery").await,
        Err(401)
    );
    let (cookie, set) = login(&admin, "olivia", "correct horse battery")
        .await
        .expect("login");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let page = get(&admin, "/dashboard", &cookie).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>voipexpress</h1>"), "{html}");
    assert!(!html.contains("<script"), "the dashboard runs no script");

    // Logout without or with a wrong CSRF token is refused; the session lives on.
    let csrf = csrf_of(&html);
    for form in [vec![], vec![("csrf", "0000")]] {
        let resp = client()
            .post(format!("{admin}/dashboard/logout"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .expect("logout");
        assert_eq!(resp.status(), 403);
    }
    assert_eq!(get(&admin, "/dashboard", &cookie).await.status(), 200);
    let resp = client()
        .post(format!("{admin}/dashboard/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 303);
    assert!(support::set_cookies(&resp)[0].contains("Max-Age=0"));
    assert_eq!(
        get(&admin, "/dashboard", &cookie).await.status(),
        303,
        "the session is gone"
    );

    // A login form posted from another site is refused (login CSRF).
    let resp = client()
        .post(format!("{admin}/dashboard/login"))
        .header("origin", "http://evil.example")
        .form(&[
            ("username", "olivia"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn brute_force_is_limited() {
    let (_up, _proxy, admin) = setup().await;
    for _ in 0..5 {
        assert_eq!(login(&admin, "victor", "guess").await, Err(401));
    }
    // Even the right password waits now.
    assert_eq!(
        login(&admin, "victor", "correct horse battery").await,
        Err(429)
    );
    // Another user is not locked out by it.
    assert!(
        login(&admin, "olivia", "correct horse battery")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn roles_limit_exports_and_sites() {
    let (_up, _proxy, admin) = setup().await;
    let (owner, _) = login(&admin, "olivia", "correct horse battery")
        .await
        .unwrap();
    let (viewer, _) = login(&admin, "victor", "correct horse battery")
        .await
        .unwrap();
    let resp = get(&admin, "/dashboard/consents.csv?site=voipexpress", &owner).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().starts_with("consent_id,site,"));
    assert_eq!(
        get(&admin, "/dashboard/consents.csv?site=voipexpress", &viewer)
            .await
            .status(),
        403
    );
    let page = get(&admin, "/dashboard", &viewer)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("consents.csv"),
        "no export link for a viewer"
    );
    // Neither may see the site they have no role on.
    for cookie in [&owner, &viewer] {
        assert_eq!(
            get(&admin, "/dashboard?site=regionummer", cookie)
                .await
                .status(),
            403
        );
        assert_eq!(
            get(
                &admin,
                "/dashboard/export.csv?site=regionummer&table=pages",
                cookie
            )
            .await
            .status(),
            403
        );
    }
}

#[tokio::test]
async fn strangers_strings_are_shown_inert() {
    let (_up, proxy, admin) = setup().await;
    let payloads = [(
        "/<script>alert(1)</script>",
        "https://evil.example/\"><img src=x onerror=alert(2)>",
        "x\"onmouseover=\"alert(3)",
        "evil_<b>",
    )];
    for (path, referrer, campaign, _) in payloads {
        let resp = proxy
            .client()
            .post(proxy.url(SITE_A, "/_cp/collect"))
            .header("origin", format!("http://{SITE_A}:{}", proxy.http().port()))
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "text/plain")
            .header("user-agent", CHROME)
            .header("accept-language", "nl")
            .body(
                json!({ "events": [
                    { "name": "page_view", "url": format!("http://{SITE_A}{path}?utm_campaign={}", support::percent(campaign)), "referrer": referrer },
                    { "name": "evil_event", "url": format!("http://{SITE_A}/") },
                ] })
                .to_string(),
            )
            .send()
            .await
            .expect("collect");
        assert_eq!(resp.status(), 204);
    }
    let (cookie, _) = login(&admin, "olivia", "correct horse battery")
        .await
        .unwrap();
    let html = get(&admin, "/dashboard?site=voipexpress&range=day", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("\"onmouseover"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("%3Cscript%3E"),
        "the path is shown, escaped"
    );
    assert!(
        html.contains("x&quot;onmouseover=&quot;alert(3)"),
        "the campaign is shown, escaped"
    );
    assert!(html.contains("evil_event"));
    // CSV cells cannot become formulas or break rows.
    let csv = get(
        &admin,
        "/dashboard/export.csv?site=voipexpress&range=day&table=utm_campaign",
        &cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(csv.contains("\"x\"\"onmouseover=\"\"alert(3)\""), "{csv}");
}

/// `[dashboard] host`: the dashboard on a site host of the public HTTPS listener — there
/// only the dashboard (not the site), a `Secure` session cookie, HTTP redirected.
#[tokio::test]
async fn the_dashboard_on_a_public_https_host() {
    const STATS: &str = "stats.voipexpress.test";
    let upstream = Upstream::start().await;
    let certs = tempfile::tempdir().expect("dir");
    let rcgen::CertifiedKey {
        cert,
        signing_key: key_pair,
    } = rcgen::generate_simple_self_signed(vec![STATS.to_owned(), SITE_A.to_owned()])
        .expect("cert");
    std::fs::write(certs.path().join("c.pem"), cert.pem()).expect("cert");
    std::fs::write(certs.path().join("c.key"), key_pair.serialize_pem()).expect("key");
    let d = certs.path().display();
    let proxy = Proxy::start(&format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
data_dir = "data"

[dashboard]
host = "{STATS}"

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}", "{STATS}"]
upstream = "http://{up}"
jurisdiction = "nl"
tls = {{ cert = "{d}/c.pem", key = "{d}/c.key" }}
"#,
        up = upstream.addr
    ))
    .await;
    let store = Store::open("sqlite://consent-proxy.db", &proxy.dir.path().join("data"))
        .await
        .expect("store");
    store
        .put_user(
            "olivia",
            &hash_password("correct horse battery").unwrap(),
            &[("voipexpress".into(), "viewer".into())],
            0,
        )
        .await
        .expect("user");
    let tls = proxy.handle.tls_addrs[0];
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(STATS, tls)
        .resolve(SITE_A, tls)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let base = format!("https://{STATS}:{}", tls.port());
    let resp = client
        .post(format!("{base}/dashboard/login"))
        .form(&[
            ("username", "olivia"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    let set = support::set_cookies(&resp).remove(0);
    assert!(
        set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let page = client
        .get(format!("{base}/dashboard"))
        .header("cookie", set.split(';').next().unwrap())
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h1>voipexpress</h1>"));
    // The host serves nothing of the site, and the site's own host is still the site.
    let before = upstream.count();
    assert_eq!(
        client
            .get(format!("{base}/prijzen"))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(upstream.count(), before, "never proxied");
    let site = client
        .get(format!("https://{SITE_A}:{}/", tls.port()))
        .send()
        .await
        .expect("site");
    assert_ne!(site.status(), 404);
    assert_eq!(upstream.count(), before + 1);
    // Plain HTTP on the dashboard host goes to HTTPS.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(STATS, proxy.http())
        .build()
        .expect("client");
    let resp = plain
        .get(format!("http://{STATS}:{}/dashboard", proxy.http().port()))
        .send()
        .await
        .expect("http");
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("https://{STATS}/dashboard")
    );
}
