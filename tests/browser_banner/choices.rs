//! The three choices (reject all, accept all, a custom one), how they hold across reloads
//! and withdrawal, and what the preference centre shows of them.

use fantoccini::Locator;
use serde_json::Value;

use crate::support::SITE_A;
use crate::world::{ROOT, World, has, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_visit_then_reject_all_holds_after_reload() {
    let w = world("nl-NL,nl").await;
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    // Dutch by Accept-Language; focus moved into the banner; an overlay, not in the flow.
    let facts = w
        .browser
        .eval(&format!(
            "(() => {{ const b = {ROOT}.querySelector('[data-cp-banner]');
               const buttons = [...b.querySelectorAll('.cp-actions [data-cp-action]')].map(x => {{
                 const r = x.getBoundingClientRect(); const s = getComputedStyle(x);
                 return [x.getAttribute('data-cp-action'), Math.round(r.width), Math.round(r.height), s.backgroundColor, s.color, s.fontWeight];
               }});
               return {{ title: b.querySelector('h2').textContent, role: b.getAttribute('role'),
                 label: b.getAttribute('aria-labelledby'), position: getComputedStyle(b).position,
                 focused: {ROOT}.activeElement && {ROOT}.activeElement.getAttribute('data-cp-action'),
                 buttons }}; }})()"
        ))
        .await;
    assert_eq!(facts["title"], "Cookies op deze website");
    assert_eq!(facts["role"], "dialog");
    assert_eq!(facts["label"], "cp-title");
    assert_eq!(facts["position"], "fixed");
    // Focus is on the dialog, not on a choice: Enter never accepts by default.
    assert_eq!(facts["focused"], Value::Null);
    let buttons = facts["buttons"].as_array().expect("buttons");
    let actions: Vec<&str> = buttons
        .iter()
        .map(|b| b[0].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["accept-all", "reject-all", "open-settings"]);
    for b in buttons {
        // Equal size and visual weight (EDPB taskforce 2023): the same box and colours.
        let look = |b: &Value| b.as_array().expect("row")[1..].to_vec();
        assert_eq!(look(b), look(&buttons[0]), "{buttons:?}");
    }
    let cookies = w.cookie_names().await;
    assert!(
        !has(&cookies, "_ga") && !has(&cookies, "_fbp"),
        "{cookies:?}"
    );
    assert!(
        has(&cookies, "demo_session"),
        "the site's own cookie: {cookies:?}"
    );
    w.assert_no_tracker_reached("first visit");

    w.click("[data-cp-banner] [data-cp-action=\"reject-all\"]")
        .await;
    w.banner_shown(false).await;
    let cookies = w.cookie_names().await;
    assert!(has(&cookies, "cp_consent"), "{cookies:?}");
    assert!(!has(&cookies, "_ga"), "{cookies:?}");

    w.reload().await;
    w.banner_shown(false).await;
    // The floating button is there to change one's mind; the banner is not asked again.
    w.shown(".cp-floating").await;
    let cookies = w.cookie_names().await;
    assert!(
        !has(&cookies, "_ga") && !has(&cookies, "_fbp"),
        "{cookies:?}"
    );
    w.assert_no_tracker_reached("after reject and reload");
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_all_runs_trackers_and_withdrawal_expires_them() {
    let w = world("nl-NL,nl").await;
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    w.assert_no_tracker_reached("before the choice");
    w.click("[data-cp-banner] [data-cp-action=\"accept-all\"]")
        .await;
    // Without a reload, the neutralised scripts run and write their cookies.
    w.browser
        .until("window.cpRan && cpRan.includes('gtag') && cpRan.includes('meta') && cpRan.includes('gtm')")
        .await;
    w.browser
        .until("document.cookie.includes('_ga=') && document.cookie.includes('_fbp=')")
        .await;
    assert!(w.recorder.reached("www.googletagmanager.com"));
    assert!(w.recorder.reached("connect.facebook.net"));

    w.reload().await;
    w.banner_shown(false).await;
    w.browser
        .until("window.cpRan && cpRan.includes('gtag') && cpRan.includes('meta')")
        .await;

    // Withdraw through the site's own footer link.
    w.browser
        .client
        .find(Locator::Css("footer [data-cp-action=\"open-settings\"]"))
        .await
        .expect("footer link")
        .click()
        .await
        .expect("click");
    w.shown("[data-cp-preferences]").await;
    // The page carries no id: the centre fetches the visitor's own record.
    w.browser
        .until(&format!("!{ROOT}.querySelector('.cp-record').hidden"))
        .await;
    let id = w
        .browser
        .eval(&format!(
            "{ROOT}.querySelector('.cp-record code').textContent"
        ))
        .await;
    assert_eq!(
        id.as_str().map(str::len),
        Some(32),
        "the consent id is shown: {id}"
    );
    w.browser.eval("window.cpMarker = 1").await;
    let before = w.tracker_requests().len();
    w.click("[data-cp-preferences] [data-cp-action=\"reject-all\"]")
        .await;
    w.page_reloaded().await;
    let cookies = w.cookie_names().await;
    assert!(
        !has(&cookies, "_ga") && !has(&cookies, "_fbp"),
        "tracker cookies expired: {cookies:?}"
    );
    w.reload().await;
    assert_eq!(
        w.tracker_requests().len(),
        before,
        "no tracker request after withdrawal: {:?}",
        w.tracker_requests()
    );
    assert_eq!(w.browser.eval("window.cpRan === undefined").await, true);
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_choice_grants_analytics_but_not_marketing() {
    let w = world("en-GB,en").await;
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    assert_eq!(
        w.browser
            .eval(&format!(
                "{ROOT}.querySelector('[data-cp-banner] h2').textContent"
            ))
            .await,
        "Cookies on this website"
    );
    w.click("[data-cp-banner] [data-cp-action=\"open-settings\"]")
        .await;
    w.shown("[data-cp-preferences]").await;
    // Nothing pre-ticked (Planet49), necessary locked on; the services come from the config.
    let toggles = w
        .browser
        .eval(&format!(
            "[...{ROOT}.querySelectorAll('[data-cp-category]')].map(t => [t.getAttribute('data-cp-category'), t.checked, t.disabled])"
        ))
        .await;
    assert_eq!(
        toggles,
        serde_json::json!([
            ["necessary", true, true],
            ["preferences", false, false],
            ["analytics", false, false],
            ["marketing", false, false]
        ])
    );
    let services = w
        .browser
        .eval(&format!(
            "{ROOT}.querySelector('[data-cp-preferences]').textContent"
        ))
        .await;
    let services = services.as_str().expect("text");
    assert!(services.contains("Google Ireland Ltd.") && services.contains("_fbp"));
    w.click("[data-cp-category=\"analytics\"]").await;
    w.click("[data-cp-preferences] [data-cp-action=\"save\"]")
        .await;
    w.browser
        .until("window.cpRan && cpRan.includes('gtag')")
        .await;
    w.browser.until("document.cookie.includes('_ga=')").await;
    w.reload().await;
    w.browser
        .until("window.cpRan && cpRan.includes('gtag')")
        .await;
    let cookies = w.cookie_names().await;
    assert!(
        has(&cookies, "_ga") && !has(&cookies, "_fbp"),
        "{cookies:?}"
    );
    assert!(
        !w.recorder.reached("connect.facebook.net"),
        "{:?}",
        w.recorder.seen()
    );
    assert!(
        !w.recorder.reached("www.youtube.com"),
        "{:?}",
        w.recorder.seen()
    );
    w.close().await;
}

impl World {
    /// Forgets the visitor's choice (the browser's cookies) and loads the page afresh.
    async fn fresh_visit(&self) {
        self.browser
            .client
            .delete_all_cookies()
            .await
            .expect("cookies deleted");
        self.visit(SITE_A, "/").await;
        self.banner_shown(true).await;
        // Marks this document: a reload would drop it.
        self.browser.eval("window.cpMarker = 1").await;
    }

    /// Reopens the preference centre on the same page and reads what it shows: the
    /// optional switches (name → checked), the consent id and the date.
    async fn reopened_preferences(&self) -> (Value, Value, Value) {
        self.browser
            .eval("window.ConsentProxy.open() && true")
            .await;
        self.shown("[data-cp-preferences]").await;
        let shown = self
            .browser
            .eval(&format!(
                "(() => {{ const p = {ROOT}.querySelector('[data-cp-preferences]');
                   const switches = {{}};
                   p.querySelectorAll('input[data-cp-category]').forEach(t => switches[t.getAttribute('data-cp-category')] = t.checked);
                   const record = p.querySelector('.cp-record');
                   return [switches, record.hidden ? null : record.querySelector('code').textContent,
                           record.hidden ? null : record.querySelector('.cp-date').textContent]; }})()"
            ))
            .await;
        (shown[0].clone(), shown[1].clone(), shown[2].clone())
    }

    /// The consent id of the browser's `cp_consent`, as `ConsentProxy.state` has it.
    async fn state_id(&self) -> Value {
        self.browser.eval("window.ConsentProxy.state.id").await
    }
}

fn switches(preferences: bool, analytics: bool, marketing: bool) -> Value {
    serde_json::json!({ "necessary": true, "preferences": preferences,
        "analytics": analytics, "marketing": marketing })
}

/// After every kind of choice, the preference centre reopened on the same page (no reload)
/// shows that choice, the consent id and the date — and saving it untouched keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preference_centre_shows_the_choice_made_on_this_page() {
    let w = world("en-GB,en").await;
    let assert_record = |id: &Value, date: &Value, expected_id: &Value, when: &str| {
        assert_eq!(id.as_str().map(str::len), Some(32), "{when}: id {id}");
        assert_eq!(id, expected_id, "{when}: the id of this choice");
        assert!(
            date.as_str().is_some_and(|d| d.len() >= 8),
            "{when}: date {date}"
        );
    };

    // Accept all, from the first layer.
    w.fresh_visit().await;
    let (before, id, _) = w.reopened_preferences().await;
    assert_eq!(before, switches(false, false, false), "undecided");
    assert_eq!(id, Value::Null, "no id before a choice");
    w.click("[data-cp-preferences] [data-cp-action=\"accept-all\"]")
        .await;
    w.browser.until("window.ConsentProxy.state.decided").await;
    let (shown, id, date) = w.reopened_preferences().await;
    assert_eq!(shown, switches(true, true, true), "after accept all");
    assert_record(&id, &date, &w.state_id().await, "accept all");
    // Saving the untouched centre keeps everything: no withdrawal, no reload.
    w.click("[data-cp-preferences] [data-cp-action=\"save\"]")
        .await;
    w.browser
        .until(&format!(
            "{ROOT}.querySelector('[data-cp-preferences]').hidden"
        ))
        .await;
    assert_eq!(w.browser.eval("window.cpMarker").await, 1, "no reload");
    let (shown, _, _) = w.reopened_preferences().await;
    assert_eq!(shown, switches(true, true, true), "after saving untouched");
    w.browser.until("document.cookie.includes('_ga=')").await;

    // Reject all, from the first layer.
    w.fresh_visit().await;
    w.click("[data-cp-banner] [data-cp-action=\"reject-all\"]")
        .await;
    w.banner_shown(false).await;
    w.browser.until("window.ConsentProxy.state.decided").await;
    let (shown, id, date) = w.reopened_preferences().await;
    assert_eq!(shown, switches(false, false, false), "after reject all");
    assert_record(&id, &date, &w.state_id().await, "reject all");

    // A custom choice.
    w.fresh_visit().await;
    w.click("[data-cp-banner] [data-cp-action=\"open-settings\"]")
        .await;
    w.shown("[data-cp-preferences]").await;
    w.click("[data-cp-category=\"analytics\"]").await;
    w.click("[data-cp-preferences] [data-cp-action=\"save\"]")
        .await;
    w.browser.until("window.ConsentProxy.state.decided").await;
    let (shown, id, date) = w.reopened_preferences().await;
    assert_eq!(shown, switches(false, true, false), "after a custom choice");
    assert_record(&id, &date, &w.state_id().await, "custom");

    // A placeholder's "allow" grants its category (the YouTube embed: marketing).
    w.fresh_visit().await;
    w.browser
        .until("!!document.querySelector('iframe[data-cp-src]').contentDocument.querySelector('[data-cp-allow]')")
        .await;
    w.browser
        .eval("document.querySelector('iframe[data-cp-src]').contentDocument.querySelector('[data-cp-allow]').click() || true")
        .await;
    w.browser.until("window.ConsentProxy.state.decided").await;
    let (shown, id, date) = w.reopened_preferences().await;
    assert_eq!(shown, switches(false, false, true), "after a placeholder");
    assert_record(&id, &date, &w.state_id().await, "placeholder");
    assert_eq!(w.browser.eval("window.cpMarker").await, 1, "no reload");
    w.close().await;
}
