//! The banner with the keyboard alone: focus order, trapping, Escape.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use serde_json::Value;

use crate::support::SITE_A;
use crate::world::{ROOT, World, has, world};

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
