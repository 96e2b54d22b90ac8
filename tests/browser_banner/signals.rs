//! What the banner takes from the site and the browser: the visitor's language, Global
//! Privacy Control, and Google Consent Mode for a site that keeps its own gtag.

use crate::support::SITE_A;
use crate::world::{ROOT, SITE_BE, SITE_CLIENT_GA, has, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn belgian_site_in_french_with_dutch_one_click_away() {
    let w = world("fr-BE,fr").await;
    w.visit(SITE_BE, "/").await;
    w.banner_shown(true).await;
    let text = |selector: &str| format!("{ROOT}.querySelector('{selector}').textContent");
    assert_eq!(
        w.browser.eval(&text("[data-cp-banner] h2")).await,
        "Cookies sur ce site"
    );
    assert_eq!(
        w.browser
            .eval(&text("[data-cp-banner] [data-cp-action=\"reject-all\"]"))
            .await,
        "Tout refuser"
    );
    assert_eq!(
        w.browser
            .eval(&format!("{ROOT}.querySelector('.cp').lang"))
            .await,
        "fr"
    );
    w.click("[data-cp-banner] [data-cp-lang=\"nl\"]").await;
    w.browser
        .until(&format!(
            "{ROOT}.querySelector('[data-cp-banner] [data-cp-action=\"reject-all\"]').textContent === 'Alles weigeren'"
        ))
        .await;
    w.click("[data-cp-banner] [data-cp-action=\"reject-all\"]")
        .await;
    w.banner_shown(false).await;

    // A site that does not offer French: the page's own <html lang="nl"> decides.
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    assert_eq!(
        w.browser.eval(&text("[data-cp-banner] h2")).await,
        "Cookies op deze website"
    );
    w.assert_no_tracker_reached("Belgian visit");
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_privacy_control_refuses_marketing_without_a_click() {
    let w = world("en-GB,en").await;
    w.browser.enable_gpc().await;
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    let note = w
        .browser
        .eval(&format!(
            "{ROOT}.querySelector('[data-cp-banner] .cp-note').textContent"
        ))
        .await;
    assert!(
        note.as_str()
            .is_some_and(|n| n.contains("Global Privacy Control")),
        "{note}"
    );
    w.click("[data-cp-banner] [data-cp-action=\"accept-all\"]")
        .await;
    w.browser
        .until("window.cpRan && cpRan.includes('gtag')")
        .await;
    w.reload().await;
    w.browser
        .until("window.cpRan && cpRan.includes('gtag')")
        .await;
    assert!(
        !w.recorder.reached("connect.facebook.net"),
        "{:?}",
        w.recorder.seen()
    );
    let cookies = w.cookie_names().await;
    assert!(
        has(&cookies, "_ga") && !has(&cookies, "_fbp"),
        "{cookies:?}"
    );
    w.browser
        .eval(&format!("{ROOT}.querySelector('.cp-floating').click()"))
        .await;
    let marketing = w
        .browser
        .eval(&format!(
            "(t => [t.checked, t.disabled])({ROOT}.querySelector('[data-cp-category=\"marketing\"]'))"
        ))
        .await;
    assert_eq!(marketing, serde_json::json!([false, true]));
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_mode_defaults_first_and_the_update_after_the_choice() {
    let w = world("en-GB,en").await;
    w.visit(SITE_CLIENT_GA, "/").await;
    w.banner_shown(true).await;
    // Google Consent Mode v2: everything denied by default, before any tag.
    let consent = "window.dataLayer.filter(e => e[0] === 'consent').map(e => [e[1], e[2].analytics_storage, e[2].ad_storage])";
    assert_eq!(
        w.browser.eval(consent).await,
        serde_json::json!([["default", "denied", "denied"]])
    );
    w.click("[data-cp-banner] [data-cp-action=\"open-settings\"]")
        .await;
    w.click("[data-cp-category=\"analytics\"]").await;
    w.click("[data-cp-preferences] [data-cp-action=\"save\"]")
        .await;
    w.browser
        .until("window.dataLayer.some(e => e[0] === 'consent' && e[1] === 'update')")
        .await;
    assert_eq!(
        w.browser.eval(consent).await,
        serde_json::json!([
            ["default", "denied", "denied"],
            ["update", "granted", "denied"]
        ])
    );
    w.close().await;
}
