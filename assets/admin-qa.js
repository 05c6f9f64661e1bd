// The organiser console's Q&A panel: open/close and moderate Q&A, put it on the screen, a queue
// of questions waiting for approval (approve / hide), the live list with pin, answered, hide
// and delete, and the CSV export. Works on a phone (one column, big buttons). The console is
// English; question texts and names are inserted as text, never as HTML.
"use strict";
(() => {
  const el = (...a) => LP.el(...a);
  document.head.append(el("link", { rel: "stylesheet", href: "/assets/qa.css" }));
  const auth = () => {
    const token = sessionStorage.getItem("livepoll-admin");
    return token ? { authorization: `Bearer ${token}` } : {};
  };
  const call = (method, path, body) => LP.api(method, path, body, auth()).catch(() => ({ status: 0, data: null }));
  let questions = [];
  let settings = { open: true, moderated: false };
  let view = "poll";

  const open = el("input", { type: "checkbox", id: "qa-open" });
  const moderated = el("input", { type: "checkbox", id: "qa-moderated" });
  const onScreen = el("button", { type: "button", id: "qa-screen", class: "primary-btn" });
  const csv = el("button", { type: "button", id: "qa-csv", class: "link-btn", text: "Questions CSV ↓" });
  const status = el("p", { class: "status", role: "status", id: "qa-status" });
  const queueH = el("h3", { id: "qa-queue-h" });
  const queue = el("ol", { class: "qa-list admin", id: "qa-queue", "aria-labelledby": "qa-queue-h" });
  const liveH = el("h3", { id: "qa-live-h" });
  const live = el("ol", { class: "qa-list admin", id: "qa-live", "aria-labelledby": "qa-live-h" });
  const doneH = el("h3", { id: "qa-done-h" });
  const done = el("ol", { class: "qa-list admin", id: "qa-done", "aria-labelledby": "qa-done-h" });
  const count = el("span", { class: "muted", id: "qa-count" });

  function say(text, kind) { status.textContent = text || ""; status.className = `status${kind ? ` ${kind}` : ""}`; }
  function failed(r) {
    const m = (r.data && r.data.message) || (r.status ? `The server answered ${r.status}.` : "No answer from the server.");
    say(r.status === 503 ? `Kafka is unavailable, nothing changed: ${m}` : m, "bad");
  }

  async function act(q, action) {
    const r = action === "delete"
      ? await call("DELETE", `/api/questions/${encodeURIComponent(q.id)}`)
      : await call("POST", `/api/questions/${encodeURIComponent(q.id)}/${action}`);
    if (r.status === 200 || r.status === 204) {
      const words = { approve: "Approved", hide: "Hidden", answer: "Marked answered", pin: "Pinned (shown large on the screen)", unpin: "Unpinned", delete: "Deleted" };
      say(`${words[action]}: “${q.text.slice(0, 60)}”`, "ok");
      refresh();
    } else failed(r);
  }

  function row(q) {
    const b = (label, action, cls) => el("button", { type: "button", class: cls || "", "data-action": action, onclick: () => act(q, action) }, label);
    const buttons = [];
    if (q.state === "pending") buttons.push(b("Approve", "approve", "primary-btn"), b("Hide", "hide"));
    if (q.state === "live") {
      buttons.push(q.pinned ? b("Unpin", "unpin") : b("Pin", "pin", "primary-btn"), b("Answered", "answer"), b("Hide", "hide"));
    }
    if (q.state === "answered" || q.state === "hidden") buttons.push(b(q.state === "hidden" ? "Show again" : "Reopen", "approve"));
    // Delete asks once more in place.
    const del = el("button", { type: "button", class: "danger", "data-action": "delete" }, "Delete");
    del.addEventListener("click", () => {
      if (del.dataset.confirm === "1") { act(q, "delete"); return; }
      del.dataset.confirm = "1";
      del.textContent = "Really delete?";
      setTimeout(() => { delete del.dataset.confirm; del.textContent = "Delete"; }, 4000);
    });
    buttons.push(del);
    const badges = [];
    if (q.pinned) badges.push(el("span", { class: "qa-badge pin", text: "Pinned" }));
    if (q.state === "answered") badges.push(el("span", { class: "qa-badge done", text: "✓ Answered" }));
    if (q.state === "hidden") badges.push(el("span", { class: "qa-badge", text: "Hidden" }));
    return el("li", { class: `qa-item qa-${q.state}${q.pinned ? " pinned" : ""}`, "data-id": q.id },
      el("span", { class: "qa-score", "aria-label": `${q.upvotes} upvotes`, text: `▲ ${q.upvotes}` }),
      el("div", { class: "qa-main" },
        el("p", { class: "qa-text", dir: "auto", text: q.text }),
        el("p", { class: "qa-meta" }, el("span", { class: "qa-who", dir: "auto", text: q.name || "Anonymous" }),
          el("span", { text: new Date(q.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) }), ...badges),
        el("div", { class: "qa-actions" }, ...buttons)));
  }

  function render() {
    open.checked = settings.open;
    moderated.checked = settings.moderated;
    onScreen.textContent = view === "qa" ? "Screen: back to the poll" : "Show Q&A on the screen";
    onScreen.setAttribute("aria-pressed", String(view === "qa"));
    const by = (s) => questions.filter((q) => q.state === s);
    const pending = by("pending");
    const shown = by("live");
    const old = questions.filter((q) => q.state === "answered" || q.state === "hidden");
    queueH.textContent = `Waiting for approval (${pending.length})`;
    liveH.textContent = `Live questions (${shown.length})`;
    doneH.textContent = `Answered and hidden (${old.length})`;
    count.textContent = ` ${questions.length} question${questions.length === 1 ? "" : "s"}`;
    queueH.hidden = queue.hidden = !pending.length && !settings.moderated;
    queue.replaceChildren(...pending.map(row));
    live.replaceChildren(...shown.map(row));
    done.replaceChildren(...old.map(row));
    doneH.hidden = done.hidden = !old.length;
  }

  // A reload answered after a live event must not put older state back: each kind of state is
  // taken from the reload only if no live event for it arrived meanwhile.
  const seen = { questions: 0, qa: 0 };
  async function refresh() {
    const before = Object.assign({}, seen);
    const [q, s, v] = await Promise.all([call("GET", "/api/questions"), call("GET", "/api/qa"), call("GET", "/api/screen")]);
    if (q.status === 200 && seen.questions === before.questions) questions = q.data;
    if (s.status === 200 && seen.qa === before.qa) settings = s.data;
    if (v.status === 200) view = v.data.view || "poll";
    render();
  }

  async function setSettings(body) {
    const r = await call("PUT", "/api/qa", body);
    if (r.status === 200) {
      settings = r.data;
      say(`Q&A is ${settings.open ? "open" : "closed"}${settings.moderated ? ", new questions wait for approval" : ""}.`, "ok");
    } else failed(r);
    render();
  }
  open.addEventListener("change", () => setSettings({ open: open.checked }));
  moderated.addEventListener("change", () => setSettings({ moderated: moderated.checked }));
  onScreen.addEventListener("click", async () => {
    const r = await call("PUT", "/api/screen", { view: view === "qa" ? "poll" : "qa" });
    if (r.status === 200) { view = r.data.view || "poll"; render(); } else failed(r);
  });
  csv.addEventListener("click", async () => {
    let res;
    try { res = await fetch("/api/questions.csv", { headers: auth(), credentials: "same-origin" }); } catch (_) { res = null; }
    if (!res || !res.ok) { say("The CSV could not be downloaded.", "bad"); return; }
    const a = el("a", { href: URL.createObjectURL(await res.blob()), download: "questions.csv" });
    document.body.append(a);
    a.click();
    a.remove();
    say("Downloaded questions.csv.", "ok");
  });

  const panel = el("section", { class: "qa-panel strip", id: "qa-panel", "aria-labelledby": "qa-h" },
    el("h2", { id: "qa-h" }, "Q&A", count),
    el("div", { class: "qa-settings" },
      el("label", {}, open, " Open for questions"),
      el("label", {}, moderated, " Approve questions before they show"),
      onScreen, csv),
    status, queueH, queue, liveH, live, doneH, done);

  LP.on("questions", (list) => { seen.questions += 1; questions = list; render(); });
  LP.on("qa", (s) => { seen.qa += 1; settings = s; render(); });
  LP.on("screen", (s) => { view = s.view || "poll"; render(); });
  LP.ready.then(() => {
    const host = document.getElementById("console");
    if (host) host.append(panel);
    refresh();
    // Again once signed in (the first answer may have come before the admin session existed).
    if (host) new MutationObserver(() => { if (host.dataset.loaded === "true") refresh(); }).observe(host, { attributes: true, attributeFilter: ["data-loaded"] });
  });
})();
