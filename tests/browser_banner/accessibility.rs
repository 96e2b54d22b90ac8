//! axe-core with every rule on, over the banner, the preference centre and a placeholder,
//! and the banner on narrow screens.

use serde_json::Value;

use crate::support::SITE_A;
use crate::world::{ROOT, World, world};

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
