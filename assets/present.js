// The presenter's phone page (/present): what is on air, and Previous / Next / Close / Reveal.
// Signs in from the link's fragment (#key=…, never sent to the server) with the presenter key;
// live through /api/events. Poll text is inserted as text.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem("livepoll-presenter");
  const auth = () => (key ? { authorization: `Bearer ${key}` } : {});
  const call = (method, path, body) => LP.api(method, path, body, auth()).catch(() => ({ status: 0, data: null }));
  const polls = new Map();
  let onAir = null;
  let view = "poll";

  function say(text, kind) { const s = $("present-status"); s.textContent = text || ""; s.className = `status${kind ? ` ${kind}` : ""}`; }
  function render() {
    const p = onAir && polls.get(onAir);
    $("air-question").textContent = view !== "poll" ? (view === "qa" ? "Q&A" : "Leaderboard") : p ? p.question : "Nothing on air";
    $("air-state").textContent = p && view === "poll" ? `${p.state}${p.revealed ? ", results revealed" : ""}` : "";
    $("close").disabled = !p || p.state !== "open";
    $("reveal").disabled = !p || p.revealed;
  }
  async function run(path) {
    const r = await call("POST", path);
    if (r.status === 200) say("Done.", "ok"); else say((r.data && r.data.message) || `The server answered ${r.status || "nothing"}.`, "bad");
  }
  $("prev").addEventListener("click", () => run("/api/screen/previous"));
  $("next").addEventListener("click", () => run("/api/screen/next"));
  $("close").addEventListener("click", () => onAir && run(`/api/polls/${encodeURIComponent(onAir)}/close`));
  $("reveal").addEventListener("click", () => onAir && run(`/api/polls/${encodeURIComponent(onAir)}/reveal`));

  async function signIn(k) {
    let r;
    try { r = await LP.api("POST", "/api/admin/session", undefined, { authorization: `Bearer ${k}` }); } catch (_) { return null; }
    if (r.status !== 204) return false;
    key = k;
    sessionStorage.setItem("livepoll-presenter", k);
    return true;
  }
  function start() {
    $("login").hidden = true;
    $("presenter").hidden = false;
    LP.follow({
      connection(ok) { const c = $("conn"); c.textContent = ok ? "live" : "reconnecting…"; c.classList.toggle("bad", !ok); },
      poll(p) { if (p.deleted) polls.delete(p.id); else polls.set(p.id, p); render(); },
      screen(s) { onAir = s.poll; view = s.view || "poll"; render(); },
    });
  }
  function showLogin(message) {
    $("login").hidden = false;
    $("presenter").hidden = true;
    $("login-error").textContent = message || "";
  }
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ok = await signIn($("key").value.trim());
    if (ok) { $("key").value = ""; start(); } else showLogin(ok === null ? "The server did not answer." : "That key is not right.");
  });
  LP.ready.then(async () => {
    const m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
    if (m) {
      history.replaceState(null, "", location.pathname + location.search);
      const ok = await signIn(decodeURIComponent(m[1]));
      if (ok) start(); else showLogin(ok === null ? "The server did not answer." : "The key in this link is not right.");
      return;
    }
    if (key && (await signIn(key))) start(); else showLogin();
  });
})();
