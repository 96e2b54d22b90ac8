/* consent-proxy banner runtime.
 * The server already neutralised everything the visitor has not granted; this script
 * re-activates what gets granted on the page, in document order, without a reload.
 * Public hooks (stable): window.ConsentProxy.grant([...categories]),
 * elements with data-cp-action="open-settings", placeholders' data-cp-allow buttons. */
(function () {
  "use strict";
  var loader = document.currentScript ||
    document.querySelector("script[data-cp-loader]");
  var state = { site: "", decided: false, granted: ["necessary"] };
  try { state = JSON.parse(loader.getAttribute("data-cp-state")) || state; } catch (e) { /* defaults */ }

  function allowed(category) { return state.granted.indexOf(category) >= 0; }

  /* Scripts must run in document order: external ones are chained, each waiting for the
   * previous to load, as the parser would have run them. */
  function activateScripts(category) {
    var inert = Array.prototype.slice.call(
      document.querySelectorAll('script[type="text/plain"][data-cp-category="' + category + '"]'));
    var i = 0;
    function next() {
      if (i >= inert.length) { return; }
      var old = inert[i++];
      var fresh = document.createElement("script");
      for (var a = 0; a < old.attributes.length; a++) {
        var attr = old.attributes[a];
        if (attr.name === "type" || attr.name === "data-cp-src" || attr.name === "data-cp-type" ||
            attr.name === "data-cp-category") { continue; }
        fresh.setAttribute(attr.name, attr.value);
      }
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
    var frames = document.querySelectorAll('iframe[data-cp-src][data-cp-category="' + category + '"]');
    for (var i = 0; i < frames.length; i++) {
      var frame = frames[i];
      frame.removeAttribute("srcdoc");
      frame.setAttribute("src", frame.getAttribute("data-cp-src"));
      frame.removeAttribute("data-cp-src");
    }
  }

  function grant(categories) {
    for (var i = 0; i < categories.length; i++) {
      var c = categories[i];
      if (allowed(c)) { continue; }
      state.granted.push(c);
      activateScripts(c);
      activateFrames(c);
    }
  }

  /* Placeholders live in same-origin srcdoc frames: wire their buttons from here. */
  function wirePlaceholders() {
    var frames = document.querySelectorAll("iframe[data-cp-src]");
    for (var i = 0; i < frames.length; i++) {
      (function (frame) {
        function wire() {
          var doc = frame.contentDocument;
          if (!doc) { return; }
          var button = doc.querySelector("[data-cp-allow]");
          if (button && !button.getAttribute("data-cp-wired")) {
            button.setAttribute("data-cp-wired", "1");
            button.addEventListener("click", function () {
              var c = button.getAttribute("data-cp-allow");
              document.dispatchEvent(new CustomEvent("cp:allow", { detail: { category: c } }));
              grant([c]);
            });
          }
        }
        frame.addEventListener("load", wire);
        wire();
      })(frames[i]);
    }
  }

  window.ConsentProxy = { state: state, grant: grant, allowed: allowed };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wirePlaceholders);
  } else {
    wirePlaceholders();
  }
})();
