// The moderator's phone page (/moderate): questions waiting for approval first (Approve / Hide),
// then the live ones (Answered / Pin / Hide), and the words of the word clouds (assets/words.js).
// Signs in from the link's fragment (#key=…, never sent to the server) with the moderator key,
// which gets a session cookie; live through /api/events like the console. Text stays text.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => LP.el(...a);
  let key = sessionStorage.getItem("livepoll-moderator");
  const auth = () => (key ? { authorization: `Bearer ${key}` } : {});
  const call = (method, path, body) => LP.api(method, path, body, auth()).catch(() => ({ status: 0, data: null }));
  let questions = [];
  const words = LP.wordsPanel(auth);
  const players = LP.playersPanel(auth);

  function say(text, kind) { const s = $("qa-status"); s.textContent = text || ""; s.className = `status${kind ? ` ${kind}` : ""}`; }

  async function act(q, action) {
    const r = await call("POST", `/api/questions/${encodeURIComponent(q.id)}/${action}`);
    if (r.status === 200) {
      const done = { approve: "Approved", hide: "Hidden", answer: "Marked answered", pin: "Pinned", unpin: "Unpinned" };
      say(`${done[action]}: “${q.text.slice(0, 60)}”`, "ok");
      refreshQuestions();
    } else say((r.data && r.data.message) || `The server answered ${r.status || "nothing"}.`, "bad");
  }

  function row(q) {
    const b = (label, action, cls) => el("button", { type: "button", class: cls || "", "data-action": action, onclick: () => act(q, action) }, label);
    const buttons = q.state === "pending"
      ? [b("Approve", "approve", "primary-btn"), b("Hide", "hide")]
      : [b("Answered", "answer"), q.pinned ? b("Unpin", "unpin") : b("Pin", "pin", "primary-btn"), b("Hide", "hide")];
    return el("li", { class: `qa-item qa-${q.state}${q.pinned ? " pinned" : ""}`, "data-id": q.id },
      el("span", { class: "qa-score", text: `▲ ${q.upvotes}` }),
      el("div", { class: "qa-main" },
        el("p", { class: "qa-text", dir: "auto", text: q.text }),
        el("p", { class: "qa-meta" }, el("span", { class: "qa-who", dir: "auto", text: q.name || "Anonymous" })),
        el("div", { class: "qa-actions" }, ...buttons)));
  }

  // Rows are kept while their question is unchanged, so a button being tapped is not replaced
  // under the finger when another question gets an upvote.
  const rows = new Map();
  function rowFor(q) {
    const sig = `${q.state}|${q.pinned}|${q.upvotes}|${q.text}|${q.name || ""}`;
    const kept = rows.get(q.id);
    if (kept && kept.sig === sig) return kept.li;
    const li = row(q);
    rows.set(q.id, { sig, li });
    return li;
  }
  function place(ol, list) {
    list.forEach((q, i) => { const li = rowFor(q); if (ol.children[i] !== li) ol.insertBefore(li, ol.children[i] || null); });
    while (ol.children.length > list.length) ol.lastElementChild.remove();
  }

  function render() {
    const pending = questions.filter((q) => q.state === "pending");
    const live = questions.filter((q) => q.state === "live");
    $("qa-queue-h").textContent = `Waiting for approval (${pending.length})`;
    $("qa-live-h").textContent = `Live questions (${live.length})`;
    place($("qa-queue"), pending);
    place($("qa-live"), live);
    const ids = new Set(questions.map((q) => q.id));
    for (const id of [...rows.keys()]) if (!ids.has(id)) rows.delete(id);
    $("qa-pending-n").textContent = pending.length ? `(${pending.length})` : "";
    const waiting = document.querySelectorAll("#words-pending li").length;
    $("words-pending-n").textContent = waiting ? `(${waiting})` : "";
  }

  async function refreshQuestions() {
    const r = await call("GET", "/api/questions");
    if (r.status === 200) { questions = r.data; render(); }
  }

  // Signs in with the key: the server answers with a moderator session cookie (for the stream).
  async function signIn(k) {
    let r;
    try { r = await LP.api("POST", "/api/admin/session", undefined, { authorization: `Bearer ${k}` }); } catch (_) { return null; }
    if (r.status !== 204) return false;
    key = k;
    sessionStorage.setItem("livepoll-moderator", k);
    return true;
  }

  function start() {
    $("login").hidden = true;
    $("moderator").hidden = false;
    $("words-section").append(words.panel);
    $("players-section").append(players.panel);
    LP.follow({ connection(ok) { const c = $("conn"); c.textContent = ok ? "live" : "reconnecting…"; c.classList.toggle("bad", !ok); } });
    LP.on("questions", (list) => { questions = list; render(); });
    LP.on("results", () => render());
    // Scores change as quiz questions close; the list is read again then and every few seconds.
    LP.on("poll", () => players.refresh());
    setInterval(() => players.refresh(), 5000);
    refreshQuestions();
    words.refresh();
    players.refresh();
  }

  function showLogin(message) {
    $("login").hidden = false;
    $("moderator").hidden = true;
    $("login-error").textContent = message || "";
    $("key").focus();
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
      if (ok) start(); else showLogin(ok === null ? "The server did not answer." : "The key in this link is not right: paste the moderator key printed by livepoll serve.");
      return;
    }
    if (key && (await signIn(key))) start(); else showLogin();
  });
})();
