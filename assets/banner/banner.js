/* consent-proxy banner.
 * The server already neutralised everything the visitor has not granted and decided this
 * page's consent state (the loader's data-cp-state). This script shows the banner and the
 * preference centre, records choices with POST /_cp/consent, and re-activates what gets
 * granted on the page, in document order, without a reload.
 * Public hooks (stable, documented in the README): in the open shadow root of
 * [data-cp-root]: [data-cp-banner], [data-cp-preferences], buttons [data-cp-action=
 * accept-all|reject-all|open-settings|save], toggles [data-cp-category]; on the page:
 * any [data-cp-action="open-settings"]; window.ConsentProxy.{open, grant, state};
 * the "cp:consent" event on document after every saved choice. */
(function () {
  "use strict";
  var loader = document.currentScript ||
    document.querySelector("script[data-cp-loader]");
  var state = { site: "", decided: false, granted: ["necessary"], langs: [] };
  try { state = JSON.parse(loader.getAttribute("data-cp-state")) || state; } catch (e) { /* defaults */ }

  function allowed(category) { return state.granted.indexOf(category) >= 0; }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  /* ---- Re-activation of what the server neutralised ---- */

  /* Scripts must run in document order: external ones are chained, each waiting for the
   * previous to load, as the parser would have run them. */
  function activateScripts(category) {
    var inert = document.querySelectorAll('script[type="text/plain"][data-cp-category="' + category + '"]');
    var i = 0;
    function next() {
      if (i >= inert.length) { return; }
      var old = inert[i++];
      var fresh = document.createElement("script");
      each(old.attributes, function (attr) {
        if (!/^(type|data-cp-src|data-cp-type|data-cp-category)$/.test(attr.name)) {
          fresh.setAttribute(attr.name, attr.value);
        }
      });
      var originalType = old.getAttribute("data-cp-type");
      if (originalType) { fresh.setAttribute("type", originalType); }
      var src = old.getAttribute("data-cp-src");
      if (src) {
        fresh.async = false;
        fresh.onload = fresh.onerror = next;
        fresh.src = src;
        old.parentNode.replaceChild(fresh, old);
      } else {
        fresh.text = old.text;
        old.parentNode.replaceChild(fresh, old);
        next();
      }
    }
    next();
  }

  function activateFrames(category) {
    each(document.querySelectorAll('iframe[data-cp-src][data-cp-category="' + category + '"]'), function (frame) {
      frame.removeAttribute("srcdoc");
      frame.setAttribute("src", frame.getAttribute("data-cp-src"));
      frame.removeAttribute("data-cp-src");
    });
  }

  function grant(categories) {
    each(categories, function (c) {
      if (allowed(c)) { return; }
      state.granted.push(c);
      activateScripts(c);
      activateFrames(c);
    });
  }

  /* Google Consent Mode v2 update, for sites that keep their own gtag (mode = "client"). */
  function consentModeUpdate() {
    if (!document.querySelector('script[src="/_cp/consent-mode.js"]')) { return; }
    var has = function (c) { return allowed(c) ? "granted" : "denied"; };
    window.dataLayer = window.dataLayer || [];
    (function () { window.dataLayer.push(arguments); })("consent", "update", {
      ad_storage: has("marketing"), ad_user_data: has("marketing"),
      ad_personalization: has("marketing"), analytics_storage: has("analytics"),
      functionality_storage: has("preferences"), personalization_storage: has("preferences")
    });
  }

  /* ---- Recording a choice ---- */

  function choose(method, granted) {
    var body = { method: method, granted: granted || [], language: ui.lang };
    return fetch("/_cp/consent", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json" }, body: JSON.stringify(body)
    }).then(function (resp) {
      if (!resp.ok) { throw new Error("consent not recorded: " + resp.status); }
      return resp.json();
    }).then(function (answer) {
      var withdrawn = state.granted.filter(function (c) { return answer.granted.indexOf(c) < 0; });
      state.decided = true;
      state.id = answer.id;
      state.date = answer.date;
      state.gpc = answer.gpc;
      document.dispatchEvent(new CustomEvent("cp:consent", { detail: answer }));
      if (withdrawn.length) {
        /* What already ran cannot be unloaded: reload, so the server serves the page
         * without it (its cookies were expired with the answer). */
        location.reload();
        return answer;
      }
      grant(answer.granted);
      consentModeUpdate();
      return answer;
    });
  }

  /* ---- The banner and preference centre (shadow DOM: the site's CSS cannot reach in) ---- */

  var ui = { doc: null, lang: null, host: null, root: null, opener: null, recordAsked: false };

  function pickLanguage() {
    if (state.lang) { return state.lang; }
    var page = (document.documentElement.getAttribute("lang") || "").slice(0, 2).toLowerCase();
    return state.langs.indexOf(page) >= 0 ? page : "";
  }

  function load(lang) {
    return fetch("/_cp/banner.json" + (lang ? "?lang=" + lang : ""), { credentials: "same-origin" })
      .then(function (resp) { return resp.json(); })
      .then(function (doc) { ui.doc = doc; ui.lang = doc.lang; return doc; });
  }

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    for (var k in attrs) {
      if (attrs[k] === true) { el.setAttribute(k, ""); }
      else if (attrs[k] !== false && attrs[k] != null) { el.setAttribute(k, attrs[k]); }
    }
    each(children || [], function (c) {
      if (c != null) { el.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return el;
  }

  function button(action, label) {
    return h("button", { type: "button", "class": "cp-btn", "data-cp-action": action }, [label]);
  }

  function languageSwitch(doc) {
    if (doc.languages.length < 2) { return null; }
    var names = { nl: "Nederlands", en: "English", fr: "Français", de: "Deutsch" };
    return h("div", { "class": "cp-langs", role: "group", "aria-label": doc.text.language },
      doc.languages.map(function (l) {
        /* The visible code is the accessible name (WCAG 2.5.3 Label in Name); the
         * language's own name is the description. */
        return h("button", { type: "button", "class": "cp-lang", lang: l, "data-cp-lang": l,
          title: names[l], "aria-pressed": String(l === doc.lang) }, [l.toUpperCase()]);
      }));
  }

  function gpcNote(doc) {
    return state.gpc ? h("p", { "class": "cp-note", role: "note" }, [doc.text.gpcNotice]) : null;
  }

  function firstLayer(doc) {
    var t = doc.text;
    var policy = doc.policy ? h("a", { href: doc.policy }, [t.privacyPolicy]) : null;
    return h("section", { "data-cp-banner": true, role: "dialog", "aria-modal": "false",
      "aria-labelledby": "cp-title", "aria-describedby": "cp-body", tabindex: "-1", hidden: true }, [
      h("div", { "class": "cp-head" }, [
        doc.logo ? h("img", { src: doc.logo, alt: "", "class": "cp-logo" }) : null,
        h("h2", { id: "cp-title" }, [t.title]),
        languageSwitch(doc)
      ]),
      h("p", { id: "cp-body" }, [t.body, policy ? " " : null, policy]),
      gpcNote(doc),
      /* Accept, reject and settings: the same element, size and colours (EDPB cookie-banner
       * taskforce, 2023: rejecting as easy as accepting, on the first layer). */
      h("div", { "class": "cp-actions" }, [
        button("accept-all", t.acceptAll), button("reject-all", t.rejectAll),
        button("open-settings", t.settings)
      ])
    ]);
  }

  function servicesTable(doc, category, services) {
    var t = doc.text;
    if (!services.length) { return h("p", { "class": "cp-muted" }, [t.noServices]); }
    return h("details", {}, [
      h("summary", {}, [t.services + " (" + services.length + ")"]),
      h("div", { "class": "cp-scroll", tabindex: "0", role: "region", "aria-label": t.services + ": " + category }, services.map(function (s) {
        return h("div", { "class": "cp-service" }, [
          h("h3", {}, [s.name]),
          h("p", {}, [t.provider + ": " + s.provider + ". " + s.purpose + " ",
            s.policy ? h("a", { href: s.policy, rel: "noopener" }, [t.privacyPolicy]) : null]),
          s.cookies.length ? h("table", {}, [
            h("thead", {}, [h("tr", {}, [t.cookie, t.purpose, t.lifetime].map(function (c) {
              return h("th", { scope: "col" }, [c]);
            }))]),
            h("tbody", {}, s.cookies.map(function (c) {
              return h("tr", {}, [h("td", {}, [h("code", {}, [c.name])]),
                h("td", {}, [c.purpose || s.purpose]), h("td", {}, [c.lifetime])]);
            }))
          ]) : null
        ]);
      }))
    ]);
  }

  function secondLayer(doc) {
    var t = doc.text;
    /* Filled by syncPreferences() each time the centre opens: the visitor's id and date. */
    var record = h("dl", { "class": "cp-record", hidden: true }, [
      h("dt", {}, [t.consentId]), h("dd", {}, [h("code", {})]),
      h("dt", {}, [t.consentDate]), h("dd", { "class": "cp-date" })
    ]);
    return h("section", { "data-cp-preferences": true, role: "dialog", "aria-modal": "true",
      "aria-labelledby": "cp-pref-title", tabindex: "-1", hidden: true }, [
      h("div", { "class": "cp-head" }, [h("h2", { id: "cp-pref-title" }, [t.preferencesTitle]), languageSwitch(doc)]),
      gpcNote(doc),
      h("ul", { "class": "cp-categories" }, doc.categories.map(function (c) {
        var id = "cp-cat-" + c.id;
        return h("li", {}, [
          h("div", { "class": "cp-toggle" }, [
            h("input", { type: "checkbox", role: "switch", id: id, "data-cp-category": c.id,
              "data-cp-gpc": c.gpc ? "1" : null, "data-cp-locked": c.locked ? "1" : null, "aria-describedby": id + "-d",
              checked: !!c.locked, disabled: !!c.locked }),
            h("label", { "for": id }, [c.name]),
            c.locked ? h("span", { "class": "cp-muted" }, [t.alwaysOn]) : null
          ]),
          h("p", { id: id + "-d" }, [c.description]),
          servicesTable(doc, c.name, c.services)
        ]);
      })),
      record,
      h("div", { "class": "cp-actions" }, [
        button("accept-all", t.acceptAll), button("reject-all", t.rejectAll), button("save", t.save)
      ])
    ]);
  }

  function render(doc) {
    var wrap = h("div", { "class": "cp cp-pos-" + doc.position, lang: doc.lang }, [
      firstLayer(doc),
      h("div", { "class": "cp-backdrop", hidden: true }),
      secondLayer(doc),
      doc.floating ? h("button", { type: "button", "class": "cp-floating", "data-cp-action": "open-settings",
        "aria-label": doc.text.preferencesTitle, title: doc.text.preferencesTitle, hidden: true }, [
        h("span", { "aria-hidden": "true" }, ["\u2699"])
      ]) : null,
      h("p", { "class": "cp-status", role: "status", "aria-live": "polite" })
    ]);
    var c = doc.colors;
    wrap.style.setProperty("--cp-bg", c.background);
    wrap.style.setProperty("--cp-text", c.text);
    wrap.style.setProperty("--cp-button", c.button);
    wrap.style.setProperty("--cp-button-text", c.buttonText);
    wrap.addEventListener("click", onClick);
    wrap.addEventListener("keydown", onKey);
    if (ui.wrap) { ui.root.replaceChild(wrap, ui.wrap); } else { ui.root.appendChild(wrap); }
    ui.wrap = wrap;
  }

  function part(selector) { return ui.wrap && ui.wrap.querySelector(selector); }

  /* The preference centre always shows the current state, also after a choice made on
   * this page: switches on only for what the visitor granted — never pre-ticked (CJEU
   * Planet49) — and the consent id and date once decided (GDPR art. 7(1)). */
  function syncPreferences() {
    each(ui.wrap.querySelectorAll("[data-cp-preferences] input[data-cp-category]"), function (input) {
      if (input.hasAttribute("data-cp-locked")) { return; }
      var blockedByGpc = !!state.gpc && input.hasAttribute("data-cp-gpc");
      var c = input.getAttribute("data-cp-category");
      input.checked = !!state.decided && allowed(c) && !blockedByGpc;
      input.disabled = blockedByGpc;
    });
    var record = part(".cp-record");
    record.hidden = !state.id;
    if (state.id) {
      record.querySelector("code").textContent = state.id;
      part(".cp-date").textContent = new Date(state.date * 1000).toLocaleString(ui.doc.lang);
    } else {
      fetchRecord();
    }
  }

  /* The page carries no consent id (one page serves everyone who chose alike): the
   * visitor's own id and date come from GET /_cp/consent, once, when the centre opens. */
  function fetchRecord() {
    if (!state.decided || ui.recordAsked) { return; }
    ui.recordAsked = true;
    fetch("/_cp/consent", { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (record) {
        if (record && record.id && !state.id) {
          state.id = record.id;
          state.date = record.date;
          syncPreferences();
        }
      })
      .catch(function () { ui.recordAsked = false; });
  }

  /* Shows one layer ("banner", "preferences") or none; the floating button when none. */
  function show(layer) {
    var banner = part("[data-cp-banner]"), prefs = part("[data-cp-preferences]");
    var floating = part(".cp-floating");
    /* Read before anything is hidden: hiding the focused element moves focus away. */
    var active = ui.root.activeElement || document.activeElement;
    banner.hidden = layer !== "banner";
    prefs.hidden = layer !== "preferences";
    part(".cp-backdrop").hidden = layer !== "preferences";
    if (floating) { floating.hidden = !!layer || !state.decided; }
    if (layer) {
      var own = ui.wrap.contains(active) && !active.classList.contains("cp-floating");
      if (!ui.opener && active && active !== document.body && !own) { ui.opener = active; }
      if (layer === "preferences") { syncPreferences(); }
      /* Focus goes to the dialog itself, never to a choice: Enter must not accept by
       * default (accepting and refusing equally easy, EDPB cookie-banner taskforce 2023). */
      (layer === "banner" ? banner : prefs).focus();
    } else if (ui.opener && ui.opener.isConnected) {
      ui.opener.focus();
      ui.opener = null;
    } else {
      ui.opener = null;
    }
  }

  function checkedCategories() {
    var out = [];
    each(ui.wrap.querySelectorAll("[data-cp-preferences] input[data-cp-category]"), function (input) {
      if (input.checked && !input.disabled) { out.push(input.getAttribute("data-cp-category")); }
    });
    return out;
  }

  function onClick(event) {
    var target = event.target.closest("[data-cp-action], [data-cp-lang]");
    if (!target) { return; }
    var lang = target.getAttribute("data-cp-lang");
    if (lang) {
      var layer = part("[data-cp-preferences]").hidden ? "banner" : "preferences";
      load(lang).then(function (doc) {
        render(doc);
        show(layer);
        var again = part((layer === "banner" ? "[data-cp-banner]" : "[data-cp-preferences]") + ' [data-cp-lang="' + lang + '"]');
        if (again) { again.focus(); }
      });
      return;
    }
    var action = target.getAttribute("data-cp-action");
    if (action === "open-settings") { show("preferences"); return; }
    var method = action === "save" ? "custom" : action;
    choose(method, action === "save" ? checkedCategories() : []).then(function () {
      part(".cp-status").textContent = ui.doc.text.saved;
      show(null);
    }, function () {
      part(".cp-status").textContent = ui.doc.text.error;
    });
  }

  function onKey(event) {
    var prefs = part("[data-cp-preferences]");
    if (prefs.hidden) { return; }
    if (event.key === "Escape") {
      /* Closing is never consent: an undecided visitor goes back to the first layer. */
      show(state.decided ? null : "banner");
      return;
    }
    if (event.key !== "Tab") { return; }
    /* The preference centre is modal: Tab cycles inside it. */
    var focusable = prefs.querySelectorAll("button, input:not([disabled]), summary, a[href]");
    var first = focusable[0], last = focusable[focusable.length - 1];
    var active = ui.root.activeElement;
    if (event.shiftKey && (active === first || active === prefs)) { last.focus(); event.preventDefault(); }
    else if (!event.shiftKey && active === last) { first.focus(); event.preventDefault(); }
  }

  /* Builds the shadow root once; resolves when the stylesheet is in (nothing is shown
   * unstyled, so the page never shifts). */
  function mount() {
    if (ui.ready) { return ui.ready; }
    ui.ready = load(pickLanguage()).then(function (doc) {
      return new Promise(function (resolve) {
        ui.host = h("div", { "data-cp-root": true });
        ui.root = ui.host.attachShadow({ mode: "open" });
        var css = h("link", { rel: "stylesheet", href: "/_cp/banner.css" });
        css.onload = css.onerror = function () { resolve(doc); };
        ui.root.appendChild(css);
        render(doc);
        document.body.appendChild(ui.host);
      });
    });
    return ui.ready;
  }

  function open() {
    return mount().then(function () { show("preferences"); });
  }

  /* Any element of the site's own with data-cp-action="open-settings" (a footer link). */
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest('[data-cp-action="open-settings"]');
    if (el) { event.preventDefault(); open(); }
  });

  /* Placeholders live in same-origin srcdoc frames: their button records consent for
   * that one category (a clear affirmative act) and loads the embed. */
  function wirePlaceholders() {
    each(document.querySelectorAll("iframe[data-cp-src]"), function (frame) {
      function wire() {
        var doc = frame.contentDocument;
        var btn = doc && doc.querySelector("[data-cp-allow]");
        if (!btn || btn.getAttribute("data-cp-wired")) { return; }
        btn.setAttribute("data-cp-wired", "1");
        btn.addEventListener("click", function () {
          var c = btn.getAttribute("data-cp-allow");
          var granted = state.granted.filter(function (g) { return g !== "necessary"; }).concat([c]);
          /* The server's answer decides (GPC may still refuse); if it cannot be reached,
           * the embed loads on this page only. */
          choose("custom", granted).then(function () { if (ui.wrap) { show(null); } }, function () { grant([c]); });
        });
      }
      frame.addEventListener("load", wire);
      wire();
    });
  }

  /* A site's own script may write a tracker's cookie after the page came
   * (document.cookie = "_fbp=…"). When the cookies change, the server is asked to expire
   * those of refused categories (it sees them all, also HttpOnly ones, and counts them). */
  var swept = null;
  function sweep() {
    var now = document.cookie;
    if (now === swept || !now) { return; }
    swept = now;
    fetch("/_cp/cookies", { method: "POST", credentials: "same-origin" }).then(function () {
      swept = document.cookie;
    }, function () { /* the next change tries again */ });
  }

  /* The consent funnel counts banner impressions: an aggregate, without any identifier. */
  function countImpression() {
    if (navigator.sendBeacon) {
      navigator.sendBeacon("/_cp/collect", JSON.stringify({ events: [{ name: "cp_banner", url: location.href }] }));
    }
  }

  function start() {
    wirePlaceholders();
    if (["preferences", "analytics", "marketing"].some(function (c) { return !allowed(c); })) {
      sweep();
      setInterval(sweep, 2000);
    }
    if (!state.decided) {
      mount().then(function () { show("banner"); countImpression(); });
    } else if (state.fb) {
      mount().then(function () { show(null); });
    }
  }

  window.ConsentProxy = { state: state, grant: grant, allowed: allowed, open: open };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
