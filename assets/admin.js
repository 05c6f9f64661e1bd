// The organiser console: a presenter strip (what is on air, what comes next, Next/Previous), a
// compact agenda list and the selected poll's details with live results beside it.
// Live events update the affected row and panel in place, so keyboard focus and text being typed
// survive votes arriving. Every piece of poll text goes in with textContent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = LP.el;
  const KINDS = { single: "single choice", multiple: "multiple choice", rating: "rating", wordcloud: "word cloud", quiz: "quiz" };
  const VIS = { always: "visible to everyone", after_vote: "after voting", after_close: "after closing", never: "never (organiser only, until revealed)" };
  const VIS_SHORT = { always: "visible", after_vote: "after vote", after_close: "after close", never: "hidden" };

  let token = sessionStorage.getItem("livepoll-admin");
  const polls = new Map(); // id -> poll (without results)
  const results = new Map(); // id -> latest results object
  const rows = new Map(); // id -> row elements
  let order = []; // agenda order (ids)
  let onAir = null;
  let nextId = null; // what Next presents, as the server says (GET /api/screen "next")
  let selected = null;
  let editor = { mode: null, id: null, opener: null }; // mode: create | edit | fix
  let pending = null; // the action waiting for an inline confirmation
  let drag = null;
  const auth = () => ({ authorization: `Bearer ${token}` });
  const narrow = window.matchMedia("(max-width: 899px)");

  // ---------- small helpers ----------
  function say(target, text, kind) {
    const e = typeof target === "string" ? $(target) : target;
    e.textContent = text || "";
    e.className = `status${kind ? ` ${kind}` : ""}`;
  }
  function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }
  function fmtDur(s) {
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} min`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }
  function errorText(r) {
    const m = (r.data && r.data.message) || `The server answered ${r.status}.`;
    if (r.status === 503) return `Kafka is unavailable, nothing changed: ${m}${r.retryAfter ? ` Try again in ${r.retryAfter} s.` : ""}`;
    return m;
  }
  // Hides (or shows) a button; if it had the keyboard focus, hands the focus to `fallback`.
  function setHidden(e, hidden, fallback) {
    if (hidden && document.activeElement === e && fallback) fallback.focus();
    e.hidden = hidden;
  }
  function setDisabled(b, off) {
    if (off) b.setAttribute("aria-disabled", "true");
    else b.removeAttribute("aria-disabled");
  }
  const isOff = (b) => b.getAttribute("aria-disabled") === "true" || b.getAttribute("aria-busy") === "true";

  // One admin request; errors go to `status` (an inline role=alert region). Returns the
  // response on success, null otherwise.
  async function call(method, path, body, status) {
    let r;
    try {
      r = await LP.api(method, path, body, auth());
    } catch (_) {
      if (status) say(status, "The server did not answer: check the connection and try again.", "bad");
      return null;
    }
    if (r.status === 401) { signedOut(); return null; }
    if (r.status >= 400) { if (status) say(status, errorText(r), "bad"); return null; }
    if (status) say(status, "");
    return r;
  }
  // Runs an action from a button: ignores clicks while it runs or while the button is disabled.
  async function run(button, fn) {
    if (button && isOff(button)) return;
    if (button) button.setAttribute("aria-busy", "true");
    try { await fn(); } finally { if (button) button.removeAttribute("aria-busy"); }
  }
  const path = (id, tail) => `/api/polls/${encodeURIComponent(id)}${tail || ""}`;

  // Results for the poll's current round (an empty tally if the latest results are older).
  function currentResults(p) {
    const r = results.get(p.id);
    if (r && r.round === p.round) return r;
    const n = p.kind === "rating" ? p.scale || 5 : (p.options || []).length;
    return p.kind === "wordcloud" ? { poll: p.id, round: p.round, voters: 0, words: [] }
      : { poll: p.id, round: p.round, voters: 0, counts: new Array(n).fill(0) };
  }
  const answers = (p) => currentResults(p).voters || 0;
  // True while the audience cannot see this poll's results and an organiser may reveal them.
  // The room's view, as the projector shows it: results are visible when revealed, always, or
  // once closed (unless "never").
  function hiddenFromAudience(p) {
    if (!p || p.visibility === "always" || p.revealed) return false;
    if (p.state === "closed" && p.visibility !== "never") return false;
    return true;
  }
  // Next continues after the presenter's position and skips played polls: the server decides.
  function nextPoll() { return (nextId && polls.get(nextId)) || null; }
  let nextTimer = null;
  function loadNextSoon() { clearTimeout(nextTimer); nextTimer = setTimeout(loadNext, 150); }
  async function loadNext() {
    const s = await call("GET", "/api/screen", undefined, null);
    if (s && s.data) { nextId = s.data.next || null; updateStrip(); }
  }
  function showTimer(e, p) {
    if (p.state === "open" && p.closes_at) LP.countdown(e, p.closes_at);
    else if (p.state === "paused") LP.pausedTime(e, p.remaining_ms);
    else { LP.countdown(e, null); return false; }
    return true;
  }

  // ---------- agenda rows ----------
  function makeRow(id) {
    const r = {};
    r.pos = el("span", { class: "pos" });
    r.q = el("strong", { class: "q" });
    r.state = el("span", { class: "badge" });
    r.air = el("span", { class: "badge air", text: "on air" });
    r.answers = el("span", { class: "answers" });
    r.kind = el("span", { class: "chip" });
    r.id = el("span", { class: "mono" });
    r.timer = el("span", { class: "timer" });
    r.vis = el("span", { class: "vis" });
    r.btn = el("button", { type: "button", class: "row-main", tabindex: "-1" },
      el("span", { class: "line1" }, r.pos, r.q, r.air, r.state, r.answers),
      el("span", { class: "line2" }, r.kind, r.id, r.timer, r.vis));
    r.li = el("li", { class: "poll-row", "data-id": id, draggable: "true" },
      el("span", { class: "handle", "aria-hidden": "true", title: "Drag to reorder", text: "⠿" }), r.btn);
    rows.set(id, r);
    return r;
  }

  function updateRow(p) {
    const r = rows.get(p.id) || makeRow(p.id);
    r.q.textContent = p.question;
    r.btn.title = p.question;
    r.state.textContent = p.state;
    r.state.className = `badge ${p.state}`;
    r.kind.textContent = KINDS[p.kind] || p.kind;
    r.id.textContent = p.id;
    r.vis.textContent = VIS_SHORT[p.visibility] + (p.revealed ? " · revealed" : "");
    r.vis.className = `vis ${hiddenFromAudience(p) ? "hidden-res" : ""}`;
    if (!showTimer(r.timer, p)) r.timer.textContent = p.duration_secs ? `timer ${fmtDur(p.duration_secs)}` : "no timer";
    updateAnswers(p);
    markAir(p.id);
  }
  function updateAnswers(p) {
    const r = rows.get(p.id);
    if (r) r.answers.textContent = plural(answers(p), "answer", "answers");
  }
  function markAir(id) {
    const r = rows.get(id);
    if (!r) return;
    r.air.hidden = id !== onAir;
    r.li.classList.toggle("on-air", id === onAir);
  }

  // Puts the rows in `ids` order, moving only misplaced ones; keeps the keyboard focus.
  function applyOrder(ids) {
    const known = ids.filter((id) => polls.has(id));
    for (const id of polls.keys()) if (!known.includes(id)) known.push(id);
    order = known;
    const list = $("polls");
    const active = document.activeElement;
    order.forEach((id, i) => {
      const r = rows.get(id) || makeRow(id);
      if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] || null);
      r.pos.textContent = String(i + 1);
    });
    while (list.children.length > order.length) list.lastElementChild.remove();
    if (active && active !== document.activeElement && document.contains(active)) active.focus({ preventScroll: true });
    $("count").textContent = order.length ? `(${order.length})` : "";
    $("empty").hidden = order.length > 0;
    tabStops();
    updateStrip();
    if (selected) updateDetail();
  }
  // Only one row is in the Tab order (the selected one, else the first); arrows move between rows.
  function tabStops() {
    const stop = selected && rows.has(selected) ? selected : order[0];
    for (const [id, r] of rows) {
      r.btn.tabIndex = id === stop ? 0 : -1;
      if (id === selected) r.btn.setAttribute("aria-current", "true");
      else r.btn.removeAttribute("aria-current");
      r.li.classList.toggle("selected", id === selected);
    }
  }

  function removePoll(id) {
    const r = rows.get(id);
    const i = order.indexOf(id);
    const hadFocus = r && r.li.contains(document.activeElement);
    polls.delete(id);
    results.delete(id);
    if (r) { LP.countdown(r.timer, null); r.li.remove(); rows.delete(id); }
    if (onAir === id) onAir = null;
    const neighbour = order[i + 1] || order[i - 1];
    order = order.filter((x) => x !== id);
    if (selected === id) {
      if (editor.id === id) closeEditor(false);
      selected = null;
      if (neighbour && neighbour !== id) select(neighbour);
      else updateDetail();
    }
    applyOrder(order);
    if (hadFocus && neighbour && rows.has(neighbour)) rows.get(neighbour).btn.focus();
  }

  // ---------- loading and live events ----------
  // Live changes are numbered, so a full reload that was already under way when one arrived
  // does not put back the older state it read.
  let seq = 0;
  const touched = new Map();
  const touch = (key) => touched.set(key, ++seq);
  const fresher = (key, since) => (touched.get(key) || 0) > since;

  async function load() {
    const since = seq;
    const r = await call("GET", "/api/polls", undefined, "agenda-status");
    if (!r) return;
    const seen = new Set();
    for (const p of r.data) {
      seen.add(p.id);
      if (fresher(`p:${p.id}`, since)) continue; // changed (or deleted) since: keep what we have
      if (p.results && !fresher(`r:${p.id}`, since)) results.set(p.id, p.results);
      const q = Object.assign({}, p);
      delete q.results;
      polls.set(p.id, q);
    }
    for (const id of [...polls.keys()]) if (!seen.has(id) && !fresher(`p:${id}`, since)) removePoll(id);
    const s = await call("GET", "/api/screen", undefined, null);
    if (s && s.data && !fresher("screen", since)) onAir = s.data.poll || null;
    if (s && s.data) nextId = s.data.next || null;
    for (const p of polls.values()) updateRow(p);
    applyOrder(fresher("order", since) ? order : r.data.map((p) => p.id));
    if (!selected && order.length) select(onAir && polls.has(onAir) ? onAir : order[0]);
  }
  let resyncTimer = null;
  function resyncSoon() { clearTimeout(resyncTimer); resyncTimer = setTimeout(load, 250); }

  function onPoll(p) {
    touch(`p:${p.id}`);
    if (p.deleted) { removePoll(p.id); return; }
    const known = polls.has(p.id);
    const q = Object.assign({}, p);
    delete q.results;
    if (p.results) results.set(p.id, p.results);
    polls.set(p.id, q);
    updateRow(q);
    if (!known) { applyOrder(order.concat(p.id)); resyncSoon(); return; }
    if (p.id === selected) updateDetail();
    if (p.id === onAir || nextPoll() === q) updateStrip();
    loadNextSoon();
  }
  function onResults(r) {
    touch(`r:${r.poll}`);
    results.set(r.poll, r);
    const p = polls.get(r.poll);
    if (!p) return;
    updateAnswers(p);
    if (r.poll === selected) updateResults(p);
    if (r.poll === onAir) $("air-answers").textContent = plural(answers(p), "answer", "answers");
  }
  function onScreen(s) {
    touch("screen");
    if (typeof s.now === "number") LP.clockOffset = s.now - Date.now();
    const old = onAir;
    onAir = s.poll || null;
    if (old) markAir(old);
    if (onAir) markAir(onAir);
    updateStrip();
    loadNextSoon();
    // A "Presenting …" note always names what is on air now, whoever changed it.
    if (old !== onAir && /^(Presenting|Nothing on air)/.test($("presenter-status").textContent)) {
      const p = onAir && polls.get(onAir);
      say("presenter-status", p ? `Presenting ${order.indexOf(onAir) + 1} of ${order.length}: ${p.question}` : "Nothing on air: the screen shows how to join.", "ok");
    }
    // The detail panel follows the show while it was showing what was on air.
    if (onAir && polls.has(onAir) && (selected === old || !selected) && editor.mode !== "edit" && editor.mode !== "fix") select(onAir);
    else if (selected) updateDetail();
  }

  function follow() {
    let es;
    let lost = false;
    const open = () => {
      es = new EventSource("/api/events");
      es.onopen = () => {
        $("conn").textContent = "● live";
        $("conn").className = "conn ok";
        if (lost) load(); // catch up on anything missed while disconnected
        lost = false;
      };
      es.onerror = () => {
        lost = true;
        $("conn").textContent = "connection lost — reconnecting…";
        $("conn").className = "conn bad";
        if (es.readyState === EventSource.CLOSED) { es.close(); setTimeout(open, 2000); }
      };
      const on = (name, fn) => es.addEventListener(name, (ev) => { try { fn(JSON.parse(ev.data)); } catch (e) { console.error(name, e); } });
      on("poll", onPoll);
      on("results", onResults);
      on("screen", onScreen);
      on("stats", (s) => { $("joined").textContent = s.joined != null ? `· ${plural(s.joined, "attendee", "attendees")} joined` : ""; });
      on("agenda", (a) => { if (a && Array.isArray(a.order)) { touch("order"); applyOrder(a.order); loadNextSoon(); } });
      // The Q&A and Quiz panels listen through LP.on: they share this stream.
      LP._es = es;
      for (const [name, fns] of Object.entries(LP.listeners)) for (const fn of fns) on(name, fn);
    };
    open();
    watchHealth();
  }

  // What /healthz warns about (phones turned away for want of open files, a full disk…),
  // checked every 10 s and shown under the connection state until it clears.
  function watchHealth() {
    const check = async () => {
      const r = await LP.api("GET", "/healthz").catch(() => null);
      const d = (r && r.data) || {};
      const lines = [...(Array.isArray(d.warnings) ? d.warnings : [])];
      if (r && r.status === 503 && d.reason) lines.unshift(d.reason);
      const e = $("health-warning");
      e.textContent = lines.join(" · ");
      e.hidden = lines.length === 0;
    };
    check();
    setInterval(check, 10000);
  }

  // ---------- presenter strip ----------
  function updateStrip() {
    const p = onAir && polls.get(onAir);
    const state = $("air-state");
    $("air").classList.toggle("idle", !p);
    $("air-question").textContent = p ? p.question : "Nothing on air: the screen shows how to join.";
    state.hidden = !p;
    if (p) { state.textContent = p.state; state.className = `badge ${p.state}`; }
    $("air-answers").textContent = p ? plural(answers(p), "answer", "answers") : "";
    if (!p || !showTimer($("air-countdown"), p)) LP.countdown($("air-countdown"), null);
    $("air-hidden").textContent = p && hiddenFromAudience(p) ? "results hidden from the audience" : "";
    const n = nextPoll();
    const pos = n ? order.indexOf(n.id) + 1 : 0;
    $("next-question").textContent = n ? `Next: ${pos}. ${n.question}` : order.length ? "End of the agenda: Next shows the join screen." : "No polls yet.";
    $("next").textContent = p ? "Next ▸" : "Present next ▸";
    setDisabled($("next"), !n && !p);
    setDisabled($("prev"), !order.length);
    const fallback = $("next");
    // Close, or reopen a poll that Next/Previous closed by mistake.
    setHidden($("air-close"), !(p && p.state !== "draft"), fallback);
    if (p) $("air-close").textContent = p.state === "open" ? "Close voting" : "Reopen voting";
    setHidden($("air-reveal"), !(p && hiddenFromAudience(p)), fallback);
    setHidden($("air-off"), !p, fallback);
  }

  async function stepScreen(dir, button) {
    await run(button, async () => {
      const r = await call("POST", `/api/screen/${dir}`, undefined, "presenter-status");
      if (!r) return;
      const id = r.data && r.data.poll;
      onScreen({ poll: id || null });
      loadNext();
      const p = id && polls.get(id);
      say("presenter-status", p ? `Presenting ${order.indexOf(id) + 1} of ${order.length}: ${p.question}` : "Nothing on air: the screen shows how to join.", "ok");
    });
  }
  $("next").addEventListener("click", (e) => stepScreen("next", e.currentTarget));
  $("prev").addEventListener("click", (e) => stepScreen("previous", e.currentTarget));
  $("air-close").addEventListener("click", (e) => run(e.currentTarget, async () => {
    const id = onAir;
    const reopen = id && polls.get(id) && polls.get(id).state === "closed";
    const r = id && (await call("POST", path(id, reopen ? "/open" : "/close"), undefined, "presenter-status"));
    if (r) { onPoll(r.data); say("presenter-status", reopen ? "Voting reopened." : "Voting closed.", "ok"); }
  }));
  $("air-reveal").addEventListener("click", (e) => run(e.currentTarget, async () => {
    const id = onAir;
    const r = id && (await call("POST", path(id, "/reveal"), undefined, "presenter-status"));
    if (r) { onPoll(r.data); say("presenter-status", "Results revealed to everyone.", "ok"); }
  }));
  $("air-off").addEventListener("click", (e) => run(e.currentTarget, async () => {
    const r = await call("PUT", "/api/screen", { poll: null }, "presenter-status");
    if (r) { onScreen({ poll: null }); say("presenter-status", "Taken off air: the screen shows how to join.", "ok"); }
  }));
  $("copy-screen").addEventListener("click", async () => {
    const url = `${location.origin}/screen#token=${encodeURIComponent(token)}`;
    try {
      await navigator.clipboard.writeText(url);
      $("copy-box").hidden = true;
      say("presenter-status", "Copied the signed-in screen link. It holds the admin token: give it only to the projector laptop.", "ok");
    } catch (_) {
      $("copy-box").hidden = false;
      $("copy-url").value = url;
      $("copy-url").focus();
      $("copy-url").select();
      say("presenter-status", "This browser does not allow copying here: the link is selected below, press Ctrl+C (⌘C). It hides once copied.", "warn");
    }
  });
  // The link holds the admin token: it leaves the page once used, so a mirrored laptop does not
  // show it to the room.
  function hideScreenLink() {
    if ($("copy-box").hidden) return;
    $("copy-box").hidden = true;
    $("copy-url").value = "";
    say("presenter-status", "The signed-in screen link is hidden again (it holds the admin token).", "ok");
    $("copy-screen").focus();
  }
  $("copy-url").addEventListener("copy", () => setTimeout(hideScreenLink, 0));
  $("copy-url").addEventListener("blur", hideScreenLink);

  // ---------- detail panel ----------
  function select(id, how) {
    if (!polls.has(id)) return;
    if (selected !== id) {
      closeConfirm(false);
      if (editor.mode === "edit" || editor.mode === "fix") closeEditor(false);
      say("detail-status", "");
    }
    selected = id;
    tabStops();
    updateDetail();
    if (how && how.focusRow) rows.get(id).btn.focus();
    if (how && how.reveal && narrow.matches) {
      $("detail").scrollIntoView({ block: "start" });
      $("detail").focus({ preventScroll: true });
    }
  }

  function updateDetail() {
    const p = selected && polls.get(selected);
    $("detail-empty").hidden = !!p;
    $("detail-body").hidden = !p;
    if (!p) return;
    const i = order.indexOf(p.id);
    $("d-pos").textContent = `${i + 1} of ${order.length}`;
    $("d-state").textContent = p.state;
    $("d-state").className = `badge ${p.state}`;
    $("d-air").hidden = p.id !== onAir;
    $("d-kind").textContent = KINDS[p.kind] + (p.kind === "multiple" && p.max_choices ? ` (up to ${p.max_choices})` : "")
      + (p.kind === "rating" ? ` 1–${p.scale}${p.labels ? ` (${p.labels[0]} … ${p.labels[1]})` : ""}` : "");
    $("detail-question").textContent = p.question;
    $("d-id").textContent = p.id;
    const rounds = Array.isArray(p.rounds) ? p.rounds.length : 0;
    $("d-round").textContent = String(p.round) + (rounds > 1 ? ` (${rounds} rounds)` : "");
    $("d-vis").textContent = VIS[p.visibility] + (p.revealed ? " · revealed this round" : "");
    const t = $("d-timer");
    if (!showTimer(t, p)) t.textContent = p.duration_secs ? fmtDur(p.duration_secs) : "none";
    updateHistory(p);

    const air = p.id === onAir;
    $("a-present").textContent = air ? "On air" : "Present";
    setDisabled($("a-present"), air);
    $("a-toggle").textContent = p.state === "open" || p.state === "paused" ? "Close voting" : p.state === "closed" ? "Reopen voting" : "Open voting";
    const reveal = $("a-reveal");
    reveal.hidden = p.visibility === "always";
    reveal.textContent = p.revealed ? "Revealed" : hiddenFromAudience(p) ? "Reveal results" : "Results public";
    setDisabled(reveal, !hiddenFromAudience(p));
    $("a-edit").textContent = p.state === "draft" ? "Edit" : "Fix text";
    setDisabled($("a-up"), i <= 0);
    setDisabled($("a-down"), i < 0 || i >= order.length - 1);
    setDisabled($("a-reset"), p.state === "draft");
    updateResults(p);
  }

  // Earlier rounds, each with a way to discard it (a rehearsal, a false start): its ballots then
  // leave the results, the CSV and the reports.
  function updateHistory(p) {
    const past = (p.rounds || []).filter((r) => r.round !== p.round);
    $("d-history").hidden = !past.length;
    const time = (ms) => (ms ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "—");
    $("d-rounds").replaceChildren(...past.map((r) => {
      const text = el("span", { class: "round-text", text: `Round ${r.round} · ${r.opened_at ? `${time(r.opened_at)}–${time(r.closed_at)}` : "never opened"}` });
      const li = el("li", { class: r.discarded ? "discarded" : "" }, text);
      if (r.discarded) li.append(el("span", { class: "muted", text: "discarded: not in results or exports" }));
      else {
        const b = el("button", { type: "button", class: "danger", "data-round": String(r.round), text: `Discard round ${r.round}…` });
        b.addEventListener("click", () => askConfirm(b, `Discard round ${r.round} of “${p.question}”? Its votes leave the results, the CSV and the reports (they stay in the log).`, `Discard round ${r.round}`, () => run(b, async () => {
          const res = await call("POST", path(p.id, `/rounds/${r.round}/discard`), undefined, "detail-status");
          if (res) { onPoll(res.data); say("detail-status", `Round ${r.round} discarded.`, "ok"); }
        })));
        li.append(b);
      }
      return li;
    }));
  }

  function updateResults(p) {
    const r = currentResults(p);
    $("d-answers").textContent = plural(r.voters || 0, "answer", "answers");
    $("d-turnout").textContent = `· round ${p.round} · ${plural(r.voters || 0, "voter", "voters")}`;
    LP.renderResults($("detail-results"), p, r);
  }

  // Inline confirmation (instead of confirm()): Enter confirms, Escape or Cancel goes back.
  function askConfirm(origin, text, yes, action) {
    pending = { origin, action };
    $("confirm-text").textContent = text;
    $("confirm-yes").textContent = yes;
    $("confirm").hidden = false;
    $("confirm-yes").focus();
  }
  function closeConfirm(restoreFocus) {
    const p = pending;
    pending = null;
    $("confirm").hidden = true;
    if (restoreFocus && p && p.origin) p.origin.focus();
  }
  $("confirm-no").addEventListener("click", () => closeConfirm(true));
  $("confirm").addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); closeConfirm(true); } });
  $("confirm-yes").addEventListener("click", () => {
    const p = pending;
    closeConfirm(false);
    if (p) { p.origin.focus(); p.action(); }
  });

  const act = (id, fn) => $(id).addEventListener("click", (e) => { if (selected && !isOff(e.currentTarget)) run(e.currentTarget, () => fn(selected, e.currentTarget)); });
  act("a-present", async (id) => {
    const r = await call("POST", path(id, "/present"), undefined, "detail-status");
    if (r) { onPoll(r.data); onScreen({ poll: id }); say("detail-status", "On air now.", "ok"); }
  });
  act("a-toggle", async (id) => {
    const p = polls.get(id);
    const r = await call("POST", path(id, p.state === "open" || p.state === "paused" ? "/close" : "/open"), undefined, "detail-status");
    if (r) { onPoll(r.data); say("detail-status", r.data.state === "open" ? "Voting is open." : "Voting closed.", "ok"); }
  });
  act("a-reveal", async (id) => {
    const r = await call("POST", path(id, "/reveal"), undefined, "detail-status");
    if (r) { onPoll(r.data); say("detail-status", "Results revealed to everyone.", "ok"); }
  });
  act("a-edit", async (id, b) => { const p = polls.get(id); openEditor(p.state === "draft" ? "edit" : "fix", p, b); });
  act("a-duplicate", async (id) => {
    const r = await call("POST", path(id, "/duplicate"), undefined, "detail-status");
    if (!r) return;
    const copy = r.data;
    touch(`p:${copy.id}`);
    polls.set(copy.id, copy);
    updateRow(copy);
    const o = order.filter((x) => x !== copy.id);
    o.splice(o.indexOf(id) + 1, 0, copy.id);
    applyOrder(o);
    select(copy.id);
    say("detail-status", `Duplicated as the draft “${copy.id}”, right after the original.`, "ok");
    resyncSoon();
  });
  act("a-csv", async (id) => {
    let res;
    try { res = await fetch(path(id, "/results.csv"), { headers: auth(), credentials: "same-origin" }); } catch (_) { res = null; }
    if (!res || !res.ok) { say("detail-status", res ? `The export failed (${res.status}).` : "The server did not answer.", "bad"); return; }
    const blob = await res.blob();
    const a = el("a", { href: URL.createObjectURL(blob), download: `${id}-results.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    say("detail-status", `Downloaded ${id}-results.csv.`, "ok");
  });
  act("a-up", (id) => move(id, -1, "detail-status"));
  act("a-down", (id) => move(id, 1, "detail-status"));
  act("a-reset", async (id, b) => {
    const p = polls.get(id);
    const timer = p.duration_secs ? ` with its full ${fmtDur(p.duration_secs)} timer` : "";
    const when = id === onAir ? `It opens now${timer}.` : p.state === "open" ? "Voting stays open." : `It opens when you present it${timer}.`;
    askConfirm(b, `Start round ${p.round + 1} of “${p.question}” with no votes? ${when} Round ${p.round} stays in the history and the CSV (discard it there if it was a rehearsal).`, `Start round ${p.round + 1}`, () => run(b, async () => {
      const r = await call("POST", path(id, "/reset"), undefined, "detail-status");
      if (r) { onPoll(r.data); say("detail-status", `Round ${r.data.round} started${r.data.state === "open" ? ": voting is open" : ""}.`, "ok"); }
    }));
  });
  act("a-delete", async (id, b) => {
    const p = polls.get(id);
    askConfirm(b, `Delete “${p.question}” and its results? This cannot be undone.`, "Delete poll", () => run(b, async () => {
      const r = await call("DELETE", path(id), undefined, "detail-status");
      if (r) { touch(`p:${id}`); removePoll(id); say("agenda-status", `Deleted “${p.question}”.`, "ok"); }
    }));
  });
  $("back").addEventListener("click", () => {
    const r = selected && rows.get(selected);
    if (r) { r.btn.scrollIntoView({ block: "center" }); r.btn.focus(); }
  });

  // ---------- reordering ----------
  async function reorder(newOrder, status) {
    touch("order");
    const before = order.slice();
    applyOrder(newOrder);
    const r = await call("PUT", "/api/agenda", { order: newOrder }, status);
    if (!r) { applyOrder(before); return false; }
    if (r.data && Array.isArray(r.data.order)) applyOrder(r.data.order);
    loadNextSoon();
    return true;
  }
  async function move(id, delta, status) {
    const i = order.indexOf(id);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= order.length) return;
    const o = order.slice();
    o.splice(i, 1);
    o.splice(j, 0, id);
    if (await reorder(o, status)) say(status, `Moved to position ${order.indexOf(id) + 1} of ${order.length}.`, "ok");
  }

  const list = $("polls");
  list.addEventListener("click", (e) => {
    const li = e.target.closest(".poll-row");
    if (li) select(li.dataset.id, { reveal: true });
  });
  list.addEventListener("keydown", (e) => {
    const li = e.target.closest(".poll-row");
    if (!li || !e.target.classList.contains("row-main")) return;
    const id = li.dataset.id;
    const i = order.indexOf(id);
    if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      move(id, e.key === "ArrowUp" ? -1 : 1, "agenda-status");
      return;
    }
    const to = { ArrowUp: i - 1, ArrowDown: i + 1, Home: 0, End: order.length - 1 }[e.key];
    if (to === undefined || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    if (order[to]) select(order[to], { focusRow: true });
  });
  list.addEventListener("dragstart", (e) => {
    const li = e.target.closest(".poll-row");
    if (!li) return;
    drag = li.dataset.id;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", drag);
    li.classList.add("dragging");
  });
  const dropMarks = () => list.querySelectorAll(".drop-before, .drop-after").forEach((x) => x.classList.remove("drop-before", "drop-after"));
  list.addEventListener("dragover", (e) => {
    const li = e.target.closest(".poll-row");
    if (!drag || !li) return;
    e.preventDefault();
    dropMarks();
    const box = li.getBoundingClientRect();
    li.classList.add(e.clientY < box.top + box.height / 2 ? "drop-before" : "drop-after");
  });
  list.addEventListener("drop", (e) => {
    const li = e.target.closest(".poll-row");
    if (!drag || !li) return;
    e.preventDefault();
    const after = li.classList.contains("drop-after");
    dropMarks();
    const o = order.filter((x) => x !== drag);
    let at = o.indexOf(li.dataset.id);
    if (at < 0) return;
    if (after) at += 1;
    o.splice(at, 0, drag);
    const id = drag;
    reorder(o, "agenda-status").then((ok) => ok && say("agenda-status", `Moved to position ${order.indexOf(id) + 1} of ${order.length}.`, "ok"));
  });
  list.addEventListener("dragend", () => {
    dropMarks();
    list.querySelectorAll(".dragging").forEach((x) => x.classList.remove("dragging"));
    drag = null;
  });

  // ---------- the poll form (create, edit a draft, fix the text of an open/closed poll) ----------
  const form = $("editor");
  const kind = () => form.querySelector("input[name=kind]:checked").value;
  function showKindFields() {
    const k = kind();
    $("f-options").hidden = !(k === "single" || k === "multiple");
    $("f-max").hidden = k !== "multiple";
    $("f-scale").hidden = k !== "rating";
    countOptions();
  }
  function optionLines() { return $("options").value.split("\n").map((s) => s.trim()).filter(Boolean); }
  function countOptions() { const n = optionLines().length; $("options-count").textContent = n ? `(${plural(n, "option", "options")})` : ""; }
  form.addEventListener("change", (e) => { if (e.target.name === "kind") showKindFields(); });
  $("options").addEventListener("input", countOptions);

  function openEditor(mode, p, opener) {
    closeConfirm(false);
    editor = { mode, id: p ? p.id : null, opener: opener || null };
    (mode === "create" ? $("editor-home") : $("editor-slot")).append(form);
    form.reset();
    for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    say("editor-status", "");
    const fix = mode === "fix";
    $("editor-title").textContent = mode === "create" ? "New poll" : fix ? "Fix the text" : "Edit draft";
    $("editor-note").hidden = !fix;
    $("editor-note").textContent = fix ? "Voting has started: only the question and the option texts can change. The number of options can change only while nobody has voted." : "";
    for (const e of form.querySelectorAll("#kind-set input, #max, #scale, #vis, #dur, #pid")) e.disabled = fix;
    $("pid").disabled = mode !== "create";
    $("editor-submit").textContent = mode === "create" ? "Create draft" : fix ? "Save text" : "Save changes";
    $("editor-present").hidden = mode !== "create";
    if (p) {
      $("q").value = p.question;
      form.querySelector(`input[name=kind][value="${p.kind}"]`).checked = true;
      $("options").value = (p.options || []).join("\n");
      $("max").value = p.max_choices || "";
      $("scale").value = p.scale || 5;
      $("label-low").value = p.labels ? p.labels[0] : "";
      $("label-high").value = p.labels ? p.labels[1] : "";
      $("vis").value = p.visibility;
      $("dur").value = p.duration_secs || "";
      $("pid").value = p.id;
    }
    showKindFields();
    // Fixing text: only the question, option texts and end labels are shown.
    for (const id of ["kind-set", "f-settings", "f-scale-n"]) $(id).hidden = fix;
    if (fix) $("f-max").hidden = true;
    form.hidden = false;
    $("new-poll").setAttribute("aria-expanded", String(mode === "create"));
    $("q").focus();
  }
  function closeEditor(restoreFocus) {
    const opener = editor.opener;
    editor = { mode: null, id: null, opener: null };
    if (form.contains(document.activeElement) && !restoreFocus) $("agenda").focus({ preventScroll: true });
    form.hidden = true;
    $("editor-home").append(form);
    $("new-poll").setAttribute("aria-expanded", "false");
    if (restoreFocus && opener && document.contains(opener)) opener.focus();
  }
  $("new-poll").addEventListener("click", (e) => {
    if (editor.mode === "create") { closeEditor(true); return; }
    openEditor("create", null, e.currentTarget);
  });
  $("editor-cancel").addEventListener("click", () => closeEditor(true));
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); closeEditor(true); } });

  function invalid(field, message) {
    field.setAttribute("aria-invalid", "true");
    say("editor-status", message, "bad");
    field.focus();
    return null;
  }
  // The definition in the form, or null (with the reason shown) if it cannot be valid.
  function readForm() {
    for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    const k = kind();
    const question = $("q").value.trim();
    if (!question) return invalid($("q"), "Write the question first.");
    const def = { question, kind: k, visibility: $("vis").value };
    if (k === "single" || k === "multiple") {
      def.options = optionLines();
      if (def.options.length < 2 || def.options.length > 20) return invalid($("options"), `Give 2 to 20 options, one per line (now ${def.options.length}).`);
      if (def.options.some((o) => o.length > 200)) return invalid($("options"), "An option is longer than 200 characters.");
    }
    if (k === "multiple" && $("max").value) {
      def.max_choices = Number($("max").value);
      if (!(def.max_choices >= 1 && def.max_choices <= def.options.length)) return invalid($("max"), `Max choices must be between 1 and ${def.options.length}.`);
    }
    if (k === "rating") {
      def.scale = Number($("scale").value);
      if (!(Number.isInteger(def.scale) && def.scale >= 2 && def.scale <= 10)) return invalid($("scale"), "The scale goes from 2 to 10.");
      const lo = $("label-low").value.trim();
      const hi = $("label-high").value.trim();
      if (lo || hi) {
        if (!lo) return invalid($("label-low"), "Give both end labels, or neither.");
        if (!hi) return invalid($("label-high"), "Give both end labels, or neither.");
        def.labels = [lo, hi];
      }
    }
    if ($("dur").value) {
      def.duration_secs = Number($("dur").value);
      if (!(Number.isInteger(def.duration_secs) && def.duration_secs >= 1 && def.duration_secs <= 604800)) return invalid($("dur"), "The timer is a whole number of seconds, 1 to 604800 (a week).");
    }
    const id = $("pid").value.trim();
    if (editor.mode === "create" && id) {
      if (!/^[a-z0-9-]{1,40}$/.test(id)) return invalid($("pid"), "An id uses only a–z, 0–9 and -, at most 40 characters.");
      def.id = id;
    }
    return def;
  }

  async function submit(present) {
    const def = readForm();
    if (!def) return;
    const mode = editor.mode;
    if (mode === "create") {
      const r = await call("POST", "/api/polls", def, "editor-status");
      if (!r) return;
      const p = r.data;
      touch(`p:${p.id}`);
      polls.set(p.id, p);
      updateRow(p);
      applyOrder(order.filter((x) => x !== p.id).concat(p.id));
      select(p.id);
      let msg = `Created “${p.question}” as a draft (${order.indexOf(p.id) + 1} of ${order.length}).`;
      if (present) {
        const s = await call("POST", path(p.id, "/present"), undefined, "editor-status");
        if (!s) return;
        onPoll(s.data);
        onScreen({ poll: p.id });
        msg = `Created “${p.question}” and put it on air.`;
      }
      // The form stays open and empty for the next poll (same kind and settings).
      const k = kind();
      const keep = { vis: $("vis").value, dur: $("dur").value, max: $("max").value, scale: $("scale").value };
      form.reset();
      form.querySelector(`input[name=kind][value="${k}"]`).checked = true;
      $("vis").value = keep.vis; $("dur").value = keep.dur; $("max").value = keep.max; $("scale").value = keep.scale;
      showKindFields();
      say("editor-status", msg, "ok");
      $("q").focus();
    } else if (mode === "edit") {
      const r = await call("PUT", path(editor.id), def, "editor-status");
      if (!r) return;
      onPoll(r.data);
      closeEditor(true);
      say("detail-status", "Saved.", "ok");
    } else if (mode === "fix") {
      const p = polls.get(editor.id);
      const body = {};
      if (def.question !== p.question) body.question = def.question;
      if (def.options && JSON.stringify(def.options) !== JSON.stringify(p.options)) body.options = def.options;
      if (def.labels && JSON.stringify(def.labels) !== JSON.stringify(p.labels || null)) body.labels = def.labels;
      if (!Object.keys(body).length) { say("editor-status", "Nothing changed.", "warn"); return; }
      const r = await call("PATCH", path(editor.id), body, "editor-status");
      if (!r) return;
      onPoll(r.data);
      closeEditor(true);
      say("detail-status", "Text fixed: phones and the screen show it now.", "ok");
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); run($("editor-submit"), () => submit(false)); });
  $("editor-present").addEventListener("click", (e) => run(e.currentTarget, () => submit(true)));

  // ---------- signing in ----------
  async function signIn(t) {
    let r;
    try { r = await LP.api("POST", "/api/admin/session", undefined, { authorization: `Bearer ${t}` }); } catch (_) { return null; }
    if (r.status !== 204 && r.status !== 200) return false;
    token = t;
    sessionStorage.setItem("livepoll-admin", t);
    return true;
  }
  function showLogin(message) {
    $("console").hidden = true;
    $("login").hidden = false;
    say("login-error", message || "", "bad");
    $("token").focus();
  }
  function signedOut() {
    sessionStorage.removeItem("livepoll-admin");
    showLogin("Your admin session is no longer valid: sign in again.");
  }
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ok = await signIn($("token").value.trim());
    if (ok) { $("token").value = ""; start(); } else say("login-error", ok === null ? "The server did not answer." : "That token is not right.", "bad");
  });

  let started = false;
  async function start() {
    $("login").hidden = true;
    $("console").hidden = false;
    say("login-error", "");
    if (started) { load(); return; }
    started = true;
    // The detail panel sits just below the sticky presenter strip, whatever its height.
    const strip = $("presenter");
    new ResizeObserver(() => document.documentElement.style.setProperty("--strip-h", `${strip.offsetHeight}px`)).observe(strip);
    LP.api("GET", "/api/info").then((r) => {
      if (r.status !== 200 || !r.data) return;
      if (typeof r.data.now === "number") LP.clockOffset = r.data.now - Date.now();
      if (r.data.title) { $("event-title").textContent = r.data.title; document.title = `${r.data.title} — livepoll organiser`; }
    }).catch(() => {});
    follow();
    await load();
    updateStrip();
    $("console").dataset.loaded = "true"; // the agenda is shown (tests wait for it)
  }

  LP.ready.then(async () => {
    // A one-click organiser link carries the token in the fragment (never sent to the server):
    // take it, sign in with it, and remove it from the address bar and the history.
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      history.replaceState(null, "", location.pathname + location.search);
      const t = decodeURIComponent(m[1]);
      const ok = await signIn(t);
      if (ok) { start(); return; }
      showLogin(ok === null ? "The server did not answer." : "The token in this link is not right: paste the admin token printed by livepoll serve.");
      return;
    }
    if (token && (await signIn(token))) start();
    else showLogin("");
  });
})();
