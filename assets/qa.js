// Q&A on the attendee's phone (a tab next to the poll: ask, upvote, undo) and on the projector
// (LP.views.qa: the pinned question large, the top live questions below). The list arrives as
// SSE `questions` events filtered for this viewer by the server. Question texts and names are
// typed by people: they are only ever inserted as text (textContent), never as HTML.
"use strict";
(() => {
  document.head.append(LP.el("link", { rel: "stylesheet", href: "/assets/qa.css" }));
  const EN = {
    tab_poll: "Poll", tab_qa: "Q&A", poll_on_air: "A poll is live — tap to vote",
    heading: "Questions", ask_label: "Your question", ask_placeholder: "Ask the speaker…",
    name_label: "Your name (optional)", name_placeholder: "Anonymous", send: "Send question",
    sending: "Sending…", sent: "✓ Sent. It shows in the list below.",
    sent_pending: "✓ Sent. It shows to everyone once the organiser approves it.",
    too_soon: "One question per 30 seconds — please wait a moment.", closed: "Questions are closed.",
    moderated_note: "Questions are reviewed before they appear.", empty_text: "Type a question first.",
    chars_left: "{n} characters left", failed: "Could not send; please try again.",
    sort_label: "Sort questions", top: "Top", newest: "Newest", none: "No questions yet — be the first to ask.",
    anonymous: "Anonymous", pending: "Waiting for approval", answered: "Answered", pinned: "Pinned",
    upvote: "Upvote", upvoted: "Upvoted — tap to undo", upvotes: "{n} upvotes",
    screen_title: "Questions", screen_empty: "Ask your questions on your phone", screen_join: "Scan the code to ask",
  };
  const t = (key, vars) => {
    const s = LP.t ? LP.t(`qa.${key}`, vars) : `qa.${key}`;
    if (s !== `qa.${key}`) return s;
    return EN[key].replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] !== undefined ? String(vars[k]) : ""));
  };
  const isScreen = () => document.body.classList.contains("screen");
  const $ = (id) => document.getElementById(id);
  let questions = [];
  let settings = { open: true, moderated: false };

  // ---------- the projector ----------
  let stage = null;
  function renderScreen() {
    if (!stage) return;
    const live = questions.filter((q) => q.state === "live");
    const pinned = live.find((q) => q.pinned) || null;
    const rest = live.filter((q) => q !== pinned).slice(0, pinned ? 4 : 6);
    const card = (q, big) => LP.el("li", { class: `qa-card${big ? " qa-pinned" : ""}`, "data-id": q.id },
      LP.el("span", { class: "qa-votes", "aria-label": t("upvotes", { n: q.upvotes }) },
        LP.el("span", { class: "qa-arrow", "aria-hidden": "true", text: "▲" }), LP.el("span", { class: "qa-n", text: LP.num ? LP.num(q.upvotes) : String(q.upvotes) })),
      LP.el("span", { class: "qa-body" },
        LP.el("span", { class: "qa-text", dir: "auto", text: q.text }),
        LP.el("span", { class: "qa-who", dir: "auto", text: q.name || t("anonymous") })));
    const parts = [];
    if (pinned) parts.push(LP.el("ol", { class: "qa-top" }, card(pinned, true)));
    if (rest.length) parts.push(LP.el("ol", { class: "qa-rest" }, ...rest.map((q) => card(q, false))));
    if (!parts.length) parts.push(LP.el("p", { class: "qa-empty", text: t("screen_empty") }));
    const box = LP.el("div", { class: "qa-screen" }, LP.el("h1", { class: "qa-heading", text: t("screen_title") }), ...parts);
    stage.replaceChildren(box);
    fitScreen();
    requestAnimationFrame(fitScreen);
  }
  function fitScreen() {
    const box = stage && stage.querySelector(".qa-screen");
    if (!box || !LP.fit || !box.clientHeight) return;
    // One font size for the whole view (the pinned card is drawn larger in em), as large as
    // fits the stage. Below what the back of a room can read, the lowest questions make room.
    const readable = window.innerHeight * 0.03;
    let size = LP.fit(box, 12, window.innerHeight * 0.055);
    for (let rest = box.querySelector(".qa-rest"); size < readable && rest && rest.children.length; ) {
      rest.lastElementChild.remove();
      if (!rest.children.length) rest.remove();
      size = LP.fit(box, 12, window.innerHeight * 0.055);
    }
  }
  LP.views.qa = {
    show(container) { stage = container; renderScreen(); },
    hide() { if (stage) stage.replaceChildren(); stage = null; },
  };
  window.addEventListener("resize", () => { if (isScreen()) fitScreen(); });

  // ---------- the attendee's phone ----------
  let ui = null;
  let sort = "top";
  let tab = "poll";
  let onAir = null;
  const pollStates = new Map(); // poll id -> state, so the banner invites only to an open poll
  const pending = new Map(); // question id -> desired "mine" while an upvote is in flight

  function buildPhone() {
    const main = document.querySelector("main");
    if (!main || isScreen()) return;
    const tabPoll = LP.el("button", { type: "button", role: "tab", id: "qa-tab-poll", "aria-controls": "poll", onclick: () => setTab("poll") }, t("tab_poll"));
    const count = LP.el("span", { class: "qa-count" });
    const tabQa = LP.el("button", { type: "button", role: "tab", id: "qa-tab-qa", "aria-controls": "qa", onclick: () => setTab("qa") }, t("tab_qa"), count);
    const tabs = LP.el("div", { class: "qa-tabs", role: "tablist" }, tabPoll, tabQa);
    const banner = LP.el("button", { type: "button", class: "qa-banner", hidden: "", onclick: () => setTab("poll") }, t("poll_on_air"));
    const text = LP.el("textarea", { id: "qa-text", maxlength: "280", rows: "3", placeholder: t("ask_placeholder"), dir: "auto" });
    const left = LP.el("span", { class: "qa-left muted", id: "qa-left" });
    const name = LP.el("input", { id: "qa-name", type: "text", maxlength: "40", autocomplete: "nickname", placeholder: t("name_placeholder"), dir: "auto" });
    try { name.value = localStorage.getItem("livepoll-qa-name") || ""; } catch (_) { /* private mode */ }
    const send = LP.el("button", { type: "submit", class: "primary" }, t("send"));
    const status = LP.el("p", { class: "status", role: "status", "aria-live": "polite" });
    const note = LP.el("p", { class: "qa-note muted" });
    const form = LP.el("form", { class: "qa-form", novalidate: "" },
      LP.el("label", { for: "qa-text", text: t("ask_label") }), text, left,
      LP.el("label", { for: "qa-name", text: t("name_label") }), name, note, send, status);
    const sortTop = LP.el("button", { type: "button", onclick: () => { sort = "top"; renderPhone(); } }, t("top"));
    const sortNew = LP.el("button", { type: "button", onclick: () => { sort = "newest"; renderPhone(); } }, t("newest"));
    const list = LP.el("ol", { class: "qa-list", "aria-label": t("heading") });
    const empty = LP.el("p", { class: "muted qa-none", text: t("none") });
    const section = LP.el("section", { id: "qa", class: "qa", role: "tabpanel", "aria-labelledby": "qa-tab-qa", hidden: "" },
      LP.el("h2", { class: "sr-only", text: t("heading") }), form,
      LP.el("div", { class: "qa-sort", role: "group", "aria-label": t("sort_label") }, sortTop, sortNew), list, empty);
    main.prepend(tabs, banner);
    main.append(section);
    ui = { tabs, tabPoll, tabQa, count, banner, text, left, name, send, status, note, form, sortTop, sortNew, list, empty, section };
    const updateLeft = () => { ui.left.textContent = t("chars_left", { n: 280 - [...ui.text.value].length }); };
    text.addEventListener("input", updateLeft);
    updateLeft();
    form.addEventListener("submit", (e) => { e.preventDefault(); ask(); });
    if (location.hash === "#qa") tab = "qa";
    setTab(tab);
  }

  function setTab(which) {
    tab = which;
    document.body.classList.toggle("qa-on", tab === "qa");
    ui.section.hidden = tab !== "qa";
    ui.tabPoll.setAttribute("aria-selected", String(tab === "poll"));
    ui.tabQa.setAttribute("aria-selected", String(tab === "qa"));
    renderPhone();
  }

  function say(text, cls) { ui.status.textContent = text; ui.status.className = `status ${cls || ""}`; }

  async function call(method, path, body) {
    let r = await LP.api(method, path, body).catch(() => ({ status: 0 }));
    if (r.status === 401) {
      // No voter session yet (or an old one): get one, then try once more.
      await LP.api("POST", "/api/session").catch(() => null);
      r = await LP.api(method, path, body).catch(() => ({ status: 0 }));
    }
    return r;
  }

  async function refresh() {
    const r = await call("GET", "/api/questions");
    if (r.status === 200 && Array.isArray(r.data)) { questions = r.data; render(); }
  }

  async function ask() {
    const text = ui.text.value.trim();
    if (!text) { say(t("empty_text"), "bad"); ui.text.focus(); return; }
    const name = ui.name.value.trim();
    try { localStorage.setItem("livepoll-qa-name", name); } catch (_) { /* private mode */ }
    ui.send.disabled = true;
    say(t("sending"));
    const r = await call("POST", "/api/questions", name ? { text, name } : { text });
    ui.send.disabled = false;
    if (r.status === 202) {
      ui.text.value = "";
      ui.text.dispatchEvent(new Event("input"));
      say(r.data && r.data.state === "pending" ? t("sent_pending") : t("sent"), "ok");
      refresh();
    } else if (r.status === 429) say(t("too_soon"), "warn");
    else if (r.status === 409) say(t("closed"), "warn");
    else say((r.status === 400 && r.data && r.data.message) || t("failed"), "bad");
  }

  async function toggleUpvote(q) {
    const want = !(pending.has(q.id) ? pending.get(q.id) : q.mine);
    pending.set(q.id, want);
    renderPhone();
    const r = await call(want ? "POST" : "DELETE", `/api/questions/${encodeURIComponent(q.id)}/upvote`);
    if (r.status !== 202) {
      pending.delete(q.id);
      say(r.status === 409 ? t("answered") : t("failed"), "bad");
      renderPhone();
    }
    // Otherwise the flag stays until a questions event confirms it.
  }

  function shownMine(q) { return pending.has(q.id) ? pending.get(q.id) : q.mine; }
  function shownCount(q) { return q.upvotes + (pending.has(q.id) ? (pending.get(q.id) ? 1 : 0) - (q.mine ? 1 : 0) : 0); }

  function renderPhone() {
    if (!ui) return;
    const visible = questions.filter((q) => q.state !== "hidden");
    ui.count.textContent = visible.length ? ` (${visible.length})` : "";
    ui.banner.hidden = !(tab === "qa" && onAir && pollStates.get(onAir) === "open");
    ui.sortTop.setAttribute("aria-pressed", String(sort === "top"));
    ui.sortNew.setAttribute("aria-pressed", String(sort === "newest"));
    ui.form.classList.toggle("closed", !settings.open);
    for (const e of [ui.text, ui.name, ui.send]) e.disabled = !settings.open;
    ui.note.textContent = !settings.open ? t("closed") : settings.moderated ? t("moderated_note") : "";
    if (tab !== "qa") return;
    const list = visible.slice();
    if (sort === "newest") list.sort((a, b) => b.at - a.at);
    ui.empty.hidden = list.length > 0;
    ui.list.replaceChildren(...list.map((q) => {
      const mine = shownMine(q);
      const n = shownCount(q);
      const badges = [];
      if (q.pinned) badges.push(LP.el("span", { class: "qa-badge pin", text: t("pinned") }));
      if (q.state === "answered") badges.push(LP.el("span", { class: "qa-badge done", text: `✓ ${t("answered")}` }));
      if (q.state === "pending") badges.push(LP.el("span", { class: "qa-badge wait", text: t("pending") }));
      const canVote = q.state === "live" || mine;
      const vote = LP.el("button", {
        type: "button", class: `qa-up${mine ? " on" : ""}`, "aria-pressed": String(mine),
        "aria-label": `${mine ? t("upvoted") : t("upvote")} · ${t("upvotes", { n })}`,
        onclick: () => toggleUpvote(q),
      }, LP.el("span", { "aria-hidden": "true", text: "▲" }), LP.el("span", { class: "qa-n", text: LP.num ? LP.num(n) : String(n) }));
      if (!canVote) vote.disabled = true;
      return LP.el("li", { class: `qa-item qa-${q.state}${q.pinned ? " pinned" : ""}${q.own ? " own" : ""}`, "data-id": q.id },
        vote,
        LP.el("div", { class: "qa-main" },
          LP.el("p", { class: "qa-text", dir: "auto", text: q.text }),
          LP.el("p", { class: "qa-meta" }, LP.el("span", { class: "qa-who", dir: "auto", text: q.name || t("anonymous") }), ...badges)));
    }));
  }

  function render() { if (isScreen()) renderScreen(); else renderPhone(); }

  LP.on("questions", (list) => {
    questions = list;
    // A confirmed flag ends the optimistic one.
    for (const [id, want] of pending) { const q = list.find((x) => x.id === id); if (!q || q.mine === want) pending.delete(id); }
    render();
  });
  LP.on("qa", (s) => { settings = s; render(); });
  LP.on("screen", (s) => { onAir = s.poll || null; renderPhone(); });
  LP.on("poll", (p) => {
    if (p.deleted) pollStates.delete(p.id); else if (p.state) pollStates.set(p.id, p.state);
    if (p.id === onAir) renderPhone();
  });

  const start = () => { buildPhone(); if (!isScreen()) refresh(); };
  (LP.ready || Promise.resolve()).then(start);
})();
