/* consent-proxy: Google Consent Mode v2 defaults, run before any Google tag
 * (required by Google for EEA traffic since March 2024). The server decided the state
 * for this request; it travels in this script's data-cp-state attribute. */
(function () {
  "use strict";
  var el = document.currentScript;
  var state = { granted: [] };
  try { state = JSON.parse(el.getAttribute("data-cp-state")) || state; } catch (e) { /* keep denied */ }
  var has = function (c) { return state.granted.indexOf(c) >= 0 ? "granted" : "denied"; };
  window.dataLayer = window.dataLayer || [];
  function gtag() { window.dataLayer.push(arguments); }
  gtag("consent", "default", {
    ad_storage: has("marketing"),
    ad_user_data: has("marketing"),
    ad_personalization: has("marketing"),
    analytics_storage: has("analytics"),
    functionality_storage: has("preferences"),
    personalization_storage: has("preferences"),
    security_storage: "granted",
    wait_for_update: 500
  });
  gtag("set", "ads_data_redaction", state.granted.indexOf("marketing") < 0);
})();
