/*! asgi-attribution snippet (MIT).
 * Reports the landings a server cannot see: pages answered by a cache or CDN, and single-page-app
 * navigations (pushState, replaceState, popstate). It loads nothing else, needs no library, and neither
 * reads nor sets cookies: the server sees its own first-party cookies on the request and answers with
 * the signed, HttpOnly attribution cookie itself.
 *
 * Configured by its <script> tag (rendered by attribution.snippet.script_tag):
 *   data-endpoint  the collect endpoint, e.g. /_attribution/collect
 *   data-params    comma-separated query parameters that make a URL a landing (utm_source,gclid,...)
 *   data-caseless  those of them that count in any case (sccid: Snap writes ScCid)
 * Forms marked <form data-attribution> (or data-attribution="prefix_") get hidden inputs holding the
 * public attribution (UTMs, click ids, channel); a "attribution" event on document carries it too.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  // A layout that includes the tag twice must not double every report.
  if (!script || window.__attributionSnippet) return;
  window.__attributionSnippet = true;

  var FORMS = "form[data-attribution]";
  var STORE_KEY = "attribution:sent";
  var REMEMBERED = 50;
  var endpoint = script.getAttribute("data-endpoint") || "/_attribution/collect";
  var tracked = names("data-params");
  var caseless = names("data-caseless");

  var sentHere = {}; // this page's reports: the fallback when sessionStorage is unavailable
  var answer = null; // the public attribution from the last collect answer
  var asking = false;
  var href = pageUrl();
  // The referrer of the current history entry: the real one on load, the previous URL after pushState.
  var referrer = document.referrer;

  function names(attribute) {
    var found = Object.create(null);
    (script.getAttribute(attribute) || "").split(",").forEach(function (name) {
      name = name.trim();
      if (name) found[name] = true;
    });
    return found;
  }

  function pageUrl() {
    return location.href.split("#")[0];
  }

  function isExternal(url) {
    try {
      return !!url && new URL(url).host !== location.host;
    } catch (e) {
      return false;
    }
  }

  function hasTrackedParam(url) {
    var found = false;
    new URL(url).searchParams.forEach(function (value, name) {
      if (value && (tracked[name] || caseless[name.toLowerCase()])) found = true;
    });
    return found;
  }

  // sessionStorage rather than a cookie: it never travels to any server, lives exactly as long as the
  // tab (reloads and back/forward included, so those never re-report), and a new tab opened from a
  // later ad click starts clean. The server drops identical consecutive landings as well.
  function remembered() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE_KEY) || "[]");
    } catch (e) {
      return [];
    }
  }

  function alreadySent(key) {
    return sentHere[key] || remembered().indexOf(key) >= 0;
  }

  function remember(key) {
    sentHere[key] = true;
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(remembered().concat(key).slice(-REMEMBERED)));
    } catch (e) {
      // private mode or a full quota: sentHere still holds for this page
    }
  }

  function post(body) {
    var text = JSON.stringify(body);
    if (!window.fetch) {
      if (navigator.sendBeacon) navigator.sendBeacon(endpoint, text);
      return;
    }
    asking = true;
    // text/plain keeps it a "simple" request: no CORS preflight, even for a site on several hosts.
    // keepalive lets the report finish when the visitor leaves the page at once.
    fetch(endpoint, {
      method: "POST",
      body: text,
      keepalive: true,
      credentials: "include",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && data.attribution) {
          answer = data.attribution;
          decorate();
          document.dispatchEvent(new CustomEvent("attribution", { detail: answer }));
        }
      })
      .catch(function () {})
      .then(function () {
        asking = false;
      });
  }

  function decorate() {
    if (!answer) return;
    var forms = document.querySelectorAll(FORMS);
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      var prefix = form.getAttribute("data-attribution") || "";
      Object.keys(answer).forEach(function (key) {
        var field = form.elements.namedItem(prefix + key);
        if (!field) {
          field = document.createElement("input");
          field.type = "hidden";
          field.name = prefix + key;
          form.appendChild(field);
        }
        // Only hidden inputs: a field the visitor can see or edit is theirs.
        if (field.type === "hidden") field.value = answer[key];
      });
    }
  }

  function check() {
    var url = pageUrl();
    var ref = isExternal(referrer) ? referrer : "";
    var params = hasTrackedParam(url);
    // A URL with tracked parameters is one landing whatever the referrer (so going back to it is not a
    // second one); a referral alone is one per referring URL.
    var key = params ? url : ref && ref + " > " + url;
    if (key && !alreadySent(key)) {
      remember(key);
      post({ url: url, referrer: ref });
    } else if (answer) {
      decorate();
    } else if (!asking && document.querySelector(FORMS)) {
      post({ url: url, referrer: "", record: false }); // nothing new: only ask for the attribution
    }
  }

  function navigated(isNewEntry) {
    var url = pageUrl();
    if (url === href) return;
    if (isNewEntry) referrer = href;
    href = url;
    check();
  }

  ["pushState", "replaceState"].forEach(function (method) {
    var original = history[method];
    history[method] = function () {
      var result = original.apply(this, arguments);
      navigated(method === "pushState");
      return result;
    };
  });
  window.addEventListener("popstate", function () {
    navigated(true);
  });

  // A prerendered page the visitor may never open is no landing: wait until it is shown.
  if (document.prerendering) {
    document.addEventListener("prerenderingchange", check, { once: true });
  } else {
    check();
  }
})();
