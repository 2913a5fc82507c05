// Vane dashboard: live updates over Server-Sent Events, the list's filters, countdowns and the
// actions (with a confirmation). No framework; the server renders every piece of HTML.
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.dataset.csrf || "";
  var ns = body.dataset.namespace || "";
  var name = body.dataset.name || "";
  var kind = body.dataset.kind || "";
  var content = document.getElementById("content");
  var live = document.getElementById("live");
  var timer = null, busy = false, again = false;

  function notice(text, bad) {
    var n = document.getElementById("notice");
    if (!n) return;
    n.textContent = text;
    n.className = "notice" + (bad ? " bad" : " good");
    n.hidden = !text;
  }

  // showCluster says, while the API server does not answer the dashboard, since when and why.
  function showCluster(h) {
    var el = document.getElementById("cluster");
    if (!el) return;
    el.hidden = h.reachable;
    el.textContent = h.reachable ? "" : "The Kubernetes API server does not answer (since " +
      new Date(h.since).toLocaleTimeString() + "): " + h.error +
      ". What this page shows may be out of date, and actions will fail.";
  }

  function setStale(stale) {
    body.classList.toggle("stale", stale);
    if (live) live.textContent = stale ? "stale: reconnecting…" : "live";
  }

  // refresh fetches the page's live part again (from the server's cache) and swaps it in.
  function refresh() {
    if (!content) return;
    if (busy) { again = true; return; }
    busy = true;
    var u = new URL(location.href);
    u.searchParams.set("fragment", "1");
    fetch(u, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        return r.text().then(function (t) {
          if (r.ok) {
            content.innerHTML = t;
            filter();
            tick();
            body.dataset.updated = String(Date.now());
            return;
          }
          var msg = t;
          try { msg = JSON.parse(t).message; } catch (e) { /* not JSON */ }
          if (r.status === 404) msg = "This " + (kind === "Canary" ? "canary" : "rollout") + " no longer exists (" + msg + ").";
          if (r.status === 401) { location.href = "/login"; return; }
          notice(msg, true);
        });
      })
      .catch(function () { setStale(true); })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  function schedule() {
    if (!timer) timer = setTimeout(function () { timer = null; refresh(); }, 30);
  }

  var source = null;
  function connect() {
    var q = new URLSearchParams();
    if (ns) q.set("namespace", ns);
    if (name) q.set("name", name);
    if (kind) q.set("kind", kind);
    source = new EventSource("/api/v1/stream?" + q.toString());
    // on every (re)connection: what changed between the page's rendering (or the drop) and
    // the subscription was not announced, so look once
    source.addEventListener("hello", function () { setStale(false); showCluster({reachable: true}); schedule(); });
    source.addEventListener("cluster", function (e) { showCluster(JSON.parse(e.data)); });
    source.addEventListener("change", schedule);
    source.onerror = function () {
      setStale(true);
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 2000); }
    };
  }

  function filter() {
    var f = document.getElementById("filter");
    var s = document.getElementById("status-filter");
    if (!f || !s) return;
    var text = f.value.trim().toLowerCase(), status = s.value;
    document.querySelectorAll("tr.rollout, tr.canary").forEach(function (tr) {
      var show = (!text || tr.dataset.search.toLowerCase().indexOf(text) >= 0) &&
        (!status || tr.dataset.status === status);
      tr.hidden = !show;
    });
  }

  function tick() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.until) - Date.now()) / 1000));
      el.textContent = left + "s";
    });
  }

  function post(action, payload) {
    var url = "/api/v1/namespaces/" + encodeURIComponent(ns) + "/rollouts/" + encodeURIComponent(name) + "/" + action;
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().catch(function () { return { message: r.statusText }; }).then(function (j) {
        if (r.ok) { notice(name + ": " + j.message, false); schedule(); return; }
        notice(r.status + ": " + (j.message || r.statusText), true);
      });
    }).catch(function (e) { notice("The dashboard cannot be reached: " + e, true); });
  }

  function confirmAction(btn) {
    var dlg = document.getElementById("confirm");
    var action = btn.dataset.action;
    document.getElementById("confirm-text").textContent = btn.dataset.confirm;
    var undo = document.getElementById("undo-field"), image = document.getElementById("image-field");
    undo.hidden = action !== "undo";
    image.hidden = action !== "setimage";
    if (action === "undo") {
      var sel = document.getElementById("undo-revision");
      sel.innerHTML = "";
      document.querySelectorAll(".revision[data-revision]").forEach(function (r, i) {
        if (i === 0) return; // the current revision
        var o = document.createElement("option");
        o.value = o.textContent = r.dataset.revision;
        sel.appendChild(o);
      });
    }
    dlg.returnValue = "";
    dlg.onclose = function () {
      if (dlg.returnValue !== "ok") return;
      var payload = {};
      if (btn.dataset.full) payload.full = true;
      if (action === "undo") payload.revision = parseInt(document.getElementById("undo-revision").value || "0", 10);
      if (action === "setimage") {
        payload.container = document.getElementById("image-container").value.trim();
        payload.image = document.getElementById("image-value").value.trim();
      }
      post(action, payload);
    };
    dlg.showModal();
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest("button[data-action]");
    if (btn) { e.preventDefault(); confirmAction(btn); }
  });
  document.addEventListener("input", function (e) {
    if (e.target.id === "filter" || e.target.id === "status-filter") filter();
  });
  if (content) {
    connect();
    setInterval(tick, 1000);
    filter();
  }
})();
