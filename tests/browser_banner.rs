//! The banner as visitors meet it: real headless Chromium, the real proxy in front of the
//! demo site, and every other host name sent to a loopback recorder — so a test can show
//! that a page did not even *try* to reach a tracker.

mod support;

use fantoccini::Locator;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use serde_json::Value;
use support::browser::{Browser, Options};
use support::recorder::Recorder;
use support::{Proxy, SITE_A};

const SITE_BE: &str = "zonenummer.test";
/// A site that keeps its own gtag behind Google Consent Mode v2 (`ga.mode = "client"`).
const SITE_CLIENT_GA: &str = "telefonie.test";

/// Every third party the demo page names (scripts, pixel, embeds, preconnect).
const TRACKER_HOSTS: &[&str] = &[
    "www.googletagmanager.com",
    "www.google-analytics.com",
    "region1.google-analytics.com",
    "connect.facebook.net",
    "www.facebook.com",
    "www.youtube.com",
];

/// The banner's shadow root, for in-page expressions.
const ROOT: &str = "document.querySelector('[data-cp-root]').shadowRoot";

struct World {
    recorder: Recorder,
    proxy: Proxy,
    browser: Browser,
}

async fn world(accept_language: &str) -> World {
    let site = consent_proxy::demo::site::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("demo site");
    let recorder = Recorder::start().await;
    let proxy = Proxy::start(&format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"
data_dir = "data"

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}"]
upstream = "http://{site}"
jurisdiction = "nl"
languages = ["nl", "en"]
privacy_policy_url = "/privacy.html"

[[site.services]]
name = "Google Analytics"
provider = "Google Ireland Ltd."
category = "analytics"
purpose = {{ nl = "Bezoekersstatistieken", en = "Visitor statistics" }}
cookies = [{{ name = "_ga", lifetime = "2years" }}]

[[site.services]]
name = "Meta Pixel"
provider = "Meta Platforms Ireland Ltd."
category = "marketing"
purpose = "Advertising"
cookies = [{{ name = "_fbp", lifetime = "90days" }}]

[[site]]
name = "zonenummer"
hosts = ["{SITE_BE}"]
upstream = "http://{site}"
jurisdiction = "be"

[[site]]
name = "telefonie"
hosts = ["{SITE_CLIENT_GA}"]
upstream = "http://{site}"
jurisdiction = "nl"
ga = {{ measurement_id = "G-DEMO12345", mode = "client" }}
"#
    ))
    .await;
    let browser = Browser::start_with(&Options {
        hosts: &[SITE_A, SITE_BE, SITE_CLIENT_GA],
        recorder: Some(recorder.port),
        accept_language: Some(accept_language),
        user_agent: None,
    })
    .await;
    World {
        recorder,
        proxy,
        browser,
    }
}

impl World {
    async fn visit(&self, host: &str, path: &str) {
        self.browser
            .client
            .goto(&self.proxy.url(host, path))
            .await
            .expect("page loads");
        self.browser.until("window.ConsentProxy").await;
    }

    /// Waits until the banner's first layer shows (or, with `false`, until the UI is
    /// mounted with the first layer hidden).
    async fn banner_shown(&self, shown: bool) {
        self.browser
            .until(&format!(
                "document.querySelector('[data-cp-root]') && {ROOT}.querySelector('[data-cp-banner]') && \
                 {ROOT}.querySelector('[data-cp-banner]').hidden === {}",
                !shown
            ))
            .await;
    }

    /// Waits until the part `selector` of the banner (a layer, the floating button) shows.
    async fn shown(&self, selector: &str) {
        self.browser
            .until(&format!("!{ROOT}.querySelector('{selector}').hidden"))
            .await;
    }

    /// Clicks an element of the banner's shadow root, as a mouse user would.
    async fn click(&self, selector: &str) {
        let host = self
            .browser
            .client
            .find(Locator::Css("[data-cp-root]"))
            .await
            .expect("banner host");
        let root = host.shadow_root().await.expect("open shadow root");
        root.find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .expect("click");
    }

    async fn cookie_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .browser
            .client
            .get_all_cookies()
            .await
            .expect("cookies")
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Reloads and waits for the new document's banner script.
    async fn reload(&self) {
        self.browser.client.refresh().await.expect("reload");
        self.browser.until("window.ConsentProxy").await;
    }

    /// Waits for a reload the page starts itself (after a withdrawal).
    async fn page_reloaded(&self) {
        for _ in 0..50 {
            // The marker set before the action disappears with the old document. A script
            // that runs while the page unloads fails; the next attempt waits in the new one.
            if let Ok(v) = self
                .browser
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     const started = Date.now();
                     (function check() {
                       if (!window.cpMarker && window.ConsentProxy && document.readyState === 'complete') { done(true); }
                       else if (Date.now() - started > 10000) { done(false); }
                       else { requestAnimationFrame(check); }
                     })();",
                    vec![],
                )
                .await
                && v == Value::Bool(true)
            {
                return;
            }
        }
        panic!("the page did not reload");
    }

    /// No attempt at any of the demo page's third parties. (The browser's own background
    /// traffic — update checks, its start page — also lands in the recorder and is not
    /// the site's doing.)
    fn assert_no_tracker_reached(&self, when: &str) {
        let trackers = self.tracker_requests();
        assert!(
            trackers.is_empty(),
            "{when}: trackers were contacted: {trackers:?}"
        );
    }

    fn tracker_requests(&self) -> Vec<String> {
        self.recorder
            .seen()
            .into_iter()
            .filter(|e| TRACKER_HOSTS.iter().any(|h| e.starts_with(h)))
            .collect()
    }

    async fn close(self) {
        self.browser.close().await;
    }
}

fn has(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

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

/// Presses one key (WebDriver key codes: Tab U+E004, Enter U+E007, Escape U+E00C).
async fn press(w: &World, key: char, shift: bool) {
    let mut keys = KeyActions::new("keyboard".into());
    if shift {
        keys = keys.then(KeyAction::Down { value: '\u{e008}' });
    }
    keys = keys
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    if shift {
        keys = keys.then(KeyAction::Up { value: '\u{e008}' });
    }
    w.browser.client.perform_actions(keys).await.expect("keys");
}

async fn focused(w: &World) -> Value {
    w.browser
        .eval(&format!(
            "(e => e && (e.getAttribute('data-cp-action') || e.getAttribute('data-cp-category') || e.getAttribute('data-cp-lang') || e.tagName.toLowerCase()))({ROOT}.activeElement)"
        ))
        .await
}

/// Which of the banner's dialogs has the focus itself: `"banner"`, `"preferences"` or null.
async fn dialog_focused(w: &World) -> Value {
    w.browser
        .eval(&format!(
            "(e => e && (e.hasAttribute('data-cp-banner') ? 'banner' : e.hasAttribute('data-cp-preferences') ? 'preferences' : null))({ROOT}.activeElement)"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only() {
    let w = world("nl-NL,nl").await;
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    // The dialog itself has the focus, not "accept all": Enter chooses nothing.
    assert_eq!(dialog_focused(&w).await, "banner");
    press(&w, '\u{e007}', false).await;
    w.banner_shown(true).await;
    assert!(!has(&w.cookie_names().await, "cp_consent"));
    // Tab walks the language switch, the privacy policy link, then the choices as shown.
    let mut forwards = Vec::new();
    for _ in 0..5 {
        press(&w, '\u{e004}', false).await;
        forwards.push(focused(&w).await);
    }
    assert_eq!(forwards, ["nl", "en", "a", "accept-all", "reject-all"]);
    // A visible focus indicator (WCAG 2.4.7).
    let outline = w
        .browser
        .eval(&format!(
            "getComputedStyle({ROOT}.activeElement).outlineStyle"
        ))
        .await;
    assert_ne!(outline, "none");
    press(&w, '\u{e004}', true).await;
    assert_eq!(focused(&w).await, "accept-all");
    press(&w, '\u{e004}', false).await;
    press(&w, '\u{e004}', false).await;
    assert_eq!(focused(&w).await, "open-settings");
    press(&w, '\u{e007}', false).await;
    w.shown("[data-cp-preferences]").await;
    assert_eq!(
        dialog_focused(&w).await,
        "preferences",
        "focus moves to the dialog"
    );
    // From the dialog, the language switch and then the first switch.
    for expected in ["nl", "en", "preferences"] {
        press(&w, '\u{e004}', false).await;
        assert_eq!(focused(&w).await, expected);
    }
    press(&w, ' ', false).await;
    assert_eq!(
        w.browser
            .eval(&format!(
                "{ROOT}.querySelector('[data-cp-category=\"preferences\"]').checked"
            ))
            .await,
        true
    );
    // Backwards past the language switch, Tab wraps inside the modal preference centre.
    let mut backwards = Vec::new();
    for _ in 0..3 {
        press(&w, '\u{e004}', true).await;
        backwards.push(focused(&w).await);
    }
    assert_eq!(backwards, ["en", "nl", "save"]);
    press(&w, '\u{e004}', false).await;
    assert_eq!(focused(&w).await, "nl", "and forwards again");
    // Escape closes it without counting as consent.
    press(&w, '\u{e00c}', false).await;
    w.banner_shown(true).await;
    assert!(!has(&w.cookie_names().await, "cp_consent"));
    assert_eq!(dialog_focused(&w).await, "banner");
    for _ in 0..5 {
        press(&w, '\u{e004}', false).await;
    }
    assert_eq!(focused(&w).await, "reject-all");
    press(&w, ' ', false).await;
    w.banner_shown(false).await;
    assert!(has(&w.cookie_names().await, "cp_consent"));
    // Reopened from the floating button, closed with Escape: focus goes back to it.
    w.shown(".cp-floating").await;
    w.browser
        .eval(&format!("{ROOT}.querySelector('.cp-floating').focus()"))
        .await;
    press(&w, '\u{e007}', false).await;
    w.shown("[data-cp-preferences]").await;
    assert_eq!(dialog_focused(&w).await, "preferences");
    press(&w, '\u{e00c}', false).await;
    assert_eq!(
        w.browser
            .eval(&format!(
                "{ROOT}.activeElement && {ROOT}.activeElement.className"
            ))
            .await,
        "cp-floating"
    );
    w.assert_no_tracker_reached("keyboard reject");
    w.close().await;
}

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

/// Runs axe-core with every rule it has switched on — experimental and best-practice rules
/// included — in the document of `window_expr` (the page, or a placeholder's frame), on
/// `context`; returns the violations as `rule (impact): targets`.
async fn axe_scan(w: &World, axe: &str, window_expr: &str, context: &str) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         const win = {window_expr};
         if (!win.axe) {{ win.eval(arguments[0]); }}
         const rules = {{}};
         win.axe.getRules().forEach(r => rules[r.ruleId] = {{ enabled: true }});
         win.axe.run({context}, {{ rules, resultTypes: ['violations'] }})
           .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))),
                 e => done(['axe failed: ' + e]));"
    );
    w.browser
        .client
        .execute_async(&script, vec![Value::String(axe.to_owned())])
        .await
        .expect("scan")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accessibility_scan_and_narrow_screens() {
    let w = world("nl-NL,nl").await;
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/axe/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core (scripts/test.sh installs it with npm)");
    // 320 CSS pixels wide (WCAG 1.4.10 reflow; also what 200 % zoom of 640 px gives).
    w.browser
        .cdp(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({ "width": 320, "height": 640, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    w.visit(SITE_A, "/").await;
    w.banner_shown(true).await;
    let banner = "{ include: [['[data-cp-root]']] }";
    let first = axe_scan(&w, &axe, "window", banner).await;
    assert_eq!(first, serde_json::json!([]), "first layer");
    // Everything fits: no button outside the 320 px viewport, no sideways scrolling.
    let overflow = w
        .browser
        .eval(&format!(
            "(() => {{ const b = {ROOT}.querySelector('[data-cp-banner]');
               return [b.scrollWidth <= b.clientWidth,
                 [...b.querySelectorAll('button')].every(x => {{ const r = x.getBoundingClientRect(); return r.left >= 0 && r.right <= 320; }})]; }})()"
        ))
        .await;
    assert_eq!(overflow, serde_json::json!([true, true]));

    // A blocked embed's placeholder, in its own (same-origin) document.
    w.browser
        .until("!!document.querySelector('iframe[data-cp-src]').contentDocument.querySelector('[data-cp-allow]')")
        .await;
    let placeholder = axe_scan(
        &w,
        &axe,
        "document.querySelector('iframe[data-cp-src]').contentWindow",
        "win.document",
    )
    .await;
    assert_eq!(placeholder, serde_json::json!([]), "placeholder");

    w.click("[data-cp-banner] [data-cp-action=\"open-settings\"]")
        .await;
    w.shown("[data-cp-preferences]").await;
    w.browser
        .eval(&format!(
            "{ROOT}.querySelectorAll('details').forEach(d => d.open = true)"
        ))
        .await;
    let second = axe_scan(&w, &axe, "window", banner).await;
    assert_eq!(second, serde_json::json!([]), "preference centre");
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
