/* consent-proxy beacon: first-party, cookieless events to /_cp/collect.
 * The server decided (the loader's data-cp-state) whether this visitor's events are
 * collected: "always" (cookieless statistics, e.g. the Dutch exemption) or "consent"
 * (once analytics is granted). It anonymises everything before storing it and forwards
 * to Google Analytics only what an analytics grant allows.
 * Events: page_view (load and SPA navigations), page_engagement (time in view, on
 * pagehide), click (outbound links), file_download, and ConsentProxy.track(name, params).
 * With state.gtag (ga.mode = "server") the page's own gtag('event', …) calls are routed
 * here: Google's gtag.js never runs in the browser. */
(function () {
  "use strict";
  var loader = document.querySelector("script[data-cp-loader]");
  var state = {};
  try { state = JSON.parse(loader.getAttribute("data-cp-state")) || {}; } catch (e) { /* no state: nothing is sent */ }
  var cp = window.ConsentProxy = window.ConsentProxy || {};
  var queue = [], shown = null, since = null, engaged = 0;

  function enabled() {
    var granted = (cp.state && cp.state.granted) || state.granted || [];
    return state.collect === "always" || (state.collect === "consent" && granted.indexOf("analytics") >= 0);
  }

  function post(events, beacon) {
    var body = JSON.stringify({ events: events });
    if (beacon && navigator.sendBeacon) { navigator.sendBeacon("/_cp/collect", body); return; }
    /* A string body goes as text/plain, which needs no preflight. */
    fetch("/_cp/collect", { method: "POST", body: body, keepalive: true, credentials: "same-origin" })
      .catch(Boolean);
  }

  function track(name, params, extra) {
    if (!enabled()) { return; }
    var e = { name: String(name), url: location.href, params: params || {} };
    for (var k in extra) { e[k] = extra[k]; }
    queue.push(e);
    /* Events of one moment go together (25 at most, GA's limit). */
    if (queue.length === 1) { setTimeout(flush, 0); }
  }

  function flush(beacon) {
    while (queue.length) { post(queue.splice(0, 25), beacon); }
  }

  function view() {
    if (!enabled() || location.href === shown) { return; }
    track("page_view", {}, { title: document.title, referrer: document.referrer });
    shown = location.href;
  }

  /* Time in view: counted while the page is visible, sent when it is hidden or left. */
  function onHide(event) {
    if (event.type !== "pagehide" && document.visibilityState === "visible") { since = Date.now(); return; }
    if (since !== null) { engaged += Date.now() - since; since = null; }
    if (engaged > 0 && enabled()) {
      queue.push({ name: "page_engagement", url: location.href, engagement_ms: engaged, params: {} });
      engaged = 0;
    }
    flush(true);
  }

  var DOWNLOAD = /\.(pdf|zip|docx?|xlsx?|pptx?|csv|txt|mp[34]|dmg|exe|msi|apk|gz|rar)$/i;
  document.addEventListener("click", function (event) {
    var a = event.target.closest && event.target.closest("a[href]");
    if (!a || !/^https?:$/.test(a.protocol)) { return; }
    var file = a.pathname.match(DOWNLOAD);
    if (file) {
      track("file_download", { file_extension: file[1].toLowerCase(), link_url: a.href.slice(0, 100) });
    } else if (a.host !== location.host) {
      track("click", { link_domain: a.hostname, link_url: a.href.slice(0, 100), outbound: 1 });
    }
  }, true);

  /* Single-page apps: a navigation without a page load is a page view too. */
  ["pushState", "replaceState"].forEach(function (method) {
    var original = history[method];
    history[method] = function () {
      var result = original.apply(this, arguments);
      setTimeout(view, 0);
      return result;
    };
  });
  addEventListener("popstate", view);
  addEventListener("pagehide", onHide);
  document.addEventListener("visibilitychange", onHide);
  /* Analytics granted on this page: start now — or, where this page was already counted
   * cookieless, repeat its view for Google Analytics only. */
  document.addEventListener("cp:consent", function () {
    if (shown === null) { setTimeout(view, 0); return; }
    track("page_view", {}, { title: document.title, ga_only: true });
  });

  /* ga.mode = "server": the page's own gtag() and dataLayer keep working, into the beacon. */
  if (state.gtag) {
    var skip = { send_to: 1, event_callback: 1, event_timeout: 1 };
    var fromTag = function (entry) {
      if (!entry || entry[0] !== "event" || typeof entry[1] !== "string") { return; }
      var params = {}, given = entry[2] || {}, n = 0;
      for (var k in given) {
        var v = given[k];
        if (!skip[k] && n < 25 && (typeof v === "string" || typeof v === "number")) { params[k] = v; n++; }
      }
      track(entry[1], params);
    };
    var dl = window.dataLayer = window.dataLayer || [];
    if (typeof window.gtag !== "function") { window.gtag = function () { dl.push(arguments); }; }
    dl.forEach(fromTag);
    var push = dl.push;
    dl.push = function () {
      Array.prototype.forEach.call(arguments, fromTag);
      return push.apply(dl, arguments);
    };
  }

  cp.track = function (name, params) { track(name, params); };
  since = document.visibilityState === "visible" ? Date.now() : null;
  view();
})();
