// The projector: the poll on air with live animated results, QR code, countdown, turnout.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const polls = new Map();
  const results = new Map();
  let onAir = null;
  let hideResults = false;

  LP.api("GET", "/api/info").then((r) => { if (r.data) { $("join").textContent = r.data.join_url; LP.clockOffset = r.data.now - Date.now(); } });

  function render() {
    const p = onAir && polls.get(onAir);
    $("question").textContent = p ? p.question : "Waiting for the next question…";
    LP.countdown($("countdown"), p && p.state === "open" ? p.closes_at : null);
    const r = p && results.get(p.id);
    $("hidden-note").hidden = !p || !!r || hideResults;
    LP.renderResults($("results"), hideResults ? null : p, r);
    $("turnout").textContent = p && r ? `${r.voters} ${r.voters === 1 ? "voter" : "voters"}${p.state === "closed" ? " · voting closed" : ""}` : "";
  }

  LP.follow({
    connection(ok) {
      $("live").textContent = ok ? "● live" : "⚠ connection lost — reconnecting";
      $("live").className = ok ? "live" : "live lost";
    },
    screen(s) { onAir = s.poll; render(); },
    poll(p) {
      if (p.deleted) polls.delete(p.id); else polls.set(p.id, p);
      if (p.id === onAir) render();
    },
    results(r) { results.set(r.poll, r); if (r.poll === onAir) render(); },
  });

  async function step(dir) {
    const token = sessionStorage.getItem("livepoll-admin");
    if (!token) return;
    const ids = [...polls.values()].sort((a, b) => a.created_at - b.created_at).map((p) => p.id);
    if (!ids.length) return;
    const i = ids.indexOf(onAir);
    const next = ids[(i + dir + ids.length) % ids.length];
    await LP.api("PUT", "/api/screen", { poll: next }, { authorization: `Bearer ${token}` });
  }

  document.addEventListener("keydown", (e) => {
    const k = e.key.toLowerCase();
    if (k === "escape") { $("help").hidden = true; $("qr-full").hidden = true; }
    else if (k === "?") $("help").hidden = !$("help").hidden;
    else if (k === "q") $("qr-full").hidden = !$("qr-full").hidden;
    else if (k === "h") { hideResults = !hideResults; render(); }
    else if (k === "n") step(1);
    else if (k === "p") step(-1);
    else if (k === "f") document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen();
  });
})();
