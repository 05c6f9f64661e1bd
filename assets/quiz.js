// Quiz mode on the attendee phone and the projector. attendee.js hands a quiz poll to
// LP.quiz.render(p, ctx); screen.js calls LP.quiz.decorate(container, p, results) after drawing
// results; the projector's leaderboard view registers itself in LP.views. Names and texts typed
// by people are inserted as text, never as HTML.
"use strict";
(() => {
  document.head.append(LP.el("link", { rel: "stylesheet", href: "/assets/quiz.css" }));
  const SHAPES = ["▲", "◆", "●", "■", "★", "⬟"];
  const t = (key, vars) => {
    const s = LP.t(`quiz.${key}`, vars);
    return s === `quiz.${key}` ? key : s;
  };
  const api = (method, path, body) => LP.api(method, path, body).catch(() => ({ status: 0 }));
  const isScreen = () => document.body.classList.contains("screen");
  const $ = (id) => document.getElementById(id);

  // ---------- the attendee's phone ----------
  const sent = {}; // poll/round -> choice sent from this page (202 or already answered)
  const outcome = {}; // poll/round -> GET /api/me answer once closed
  let me = null;
  let last = null; // the arguments of the last render, to render again on news

  async function loadMe(p) {
    const k = `${p.id}/${p.round}`;
    if (outcome[k] === "loading") return;
    outcome[k] = "loading";
    // Spread a room's phones over a second instead of asking all at the same moment.
    await new Promise((ok) => setTimeout(ok, Math.random() * 1000));
    const r = await api("GET", `/api/me?poll=${encodeURIComponent(p.id)}`);
    if (r.status === 200) { me = r.data; outcome[k] = r.data.answer || "none"; } else delete outcome[k];
    if (last) render(last.p, last.ctx);
  }

  async function answer(p, i) {
    const k = `${p.id}/${p.round}`;
    if (sent[k] !== undefined) return;
    sent[k] = i;
    render(p, last.ctx);
    let r = await api("POST", `/api/polls/${encodeURIComponent(p.id)}/votes`, { choice: i });
    if (r.status === 401) { await api("POST", "/api/session"); r = await api("POST", `/api/polls/${encodeURIComponent(p.id)}/votes`, { choice: i }); }
    if (r.status !== 202 && !(r.data && r.data.error === "already_answered")) {
      delete sent[k];
      last.ctx.note = r.status === 409 ? t("too_late") : t("not_recorded");
    }
    render(last.p, last.ctx);
  }

  function nameLine() {
    const line = LP.el("p", { class: "quiz-name" });
    if (!me) { api("GET", "/api/me").then((r) => { if (r.status === 200) { me = r.data; if (last) render(last.p, last.ctx); } }); return line; }
    const edit = LP.el("button", { type: "button", class: "link-btn", text: t("change_name") });
    line.append(LP.el("span", { text: t("playing_as", { name: me.name }) }), " ", edit);
    edit.addEventListener("click", () => {
      const input = LP.el("input", { type: "text", maxlength: "40", value: me.name, "aria-label": t("your_name") });
      const save = LP.el("button", { type: "button", class: "primary", text: t("save") });
      // Why a name was refused (blocked, too long), in the server's words, read out too.
      const why = LP.el("span", { class: "name-error", role: "alert" });
      const done = async () => {
        const r = await api("PUT", "/api/me", { name: input.value });
        if (r.status === 200) { me = r.data; render(last.p, last.ctx); return; }
        input.setAttribute("aria-invalid", "true");
        why.textContent = (r.data && r.data.message) || "";
      };
      save.addEventListener("click", done);
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); done(); } });
      line.replaceChildren(input, save, why);
      input.focus();
    });
    return line;
  }

  // Renders a quiz poll into the attendee page's #poll section.
  function render(p, ctx) {
    last = { p, ctx };
    const k = `${p.id}/${p.round}`;
    const open = p.state === "open";
    const ballot = ctx.ballot();
    const mine = sent[k] !== undefined ? sent[k] : ballot && ballot.choices ? ballot.choices[0] : undefined;
    $("poll").classList.toggle("closed", !open);
    $("question").textContent = p.question;
    LP.countdown($("countdown"), open ? p.closes_at : null);
    const form = $("form");
    const r0 = ctx.results();
    const results = r0 && r0.round === p.round ? r0 : null;
    const correct = (results && results.correct) || p.correct || [];
    const grid = LP.el("div", { class: `quiz-answers n${p.options.length}`, role: "group", "aria-label": t("answers") });
    p.options.forEach((o, i) => {
      const chosen = mine === i;
      const cls = ["quiz-answer", `q${i % 6}`];
      if (chosen) cls.push("chosen");
      if (!open && correct.includes(i)) cls.push("right");
      const b = LP.el("button", { type: "button", class: cls.join(" "), "aria-pressed": String(chosen), "data-i": String(i) },
        LP.el("span", { class: "shape", "aria-hidden": "true", text: SHAPES[i % 6] }), LP.el("span", { class: "text", text: o }));
      if (!open || mine !== undefined) b.disabled = true;
      b.addEventListener("click", () => answer(p, i));
      grid.append(b);
    });
    form.replaceChildren(grid);
    let status = { text: "", cls: "" };
    if (open) {
      if (mine !== undefined) status = { text: t("locked_in"), cls: "ok" };
      else if (ctx.note) status = { text: ctx.note, cls: "bad" };
      else if (!p.closes_at) status = { text: t("get_ready"), cls: "muted" };
      else status = { text: t("pick_fast"), cls: "" };
    } else if (p.state !== "closed") status = { text: t("get_ready"), cls: "muted" };
    $("status").textContent = status.text;
    $("status").className = `status quiz-status ${status.cls}`;
    const extra = [];
    if (p.state === "closed") {
      // The outcome right under the answers, where the player is looking.
      const o = outcome[k];
      if (o === undefined) loadMe(p);
      let text = null;
      if (mine === undefined && (!o || o === "none" || o === "loading")) text = { text: t("no_answer"), cls: "muted" };
      else if (o && o !== "loading" && o !== "none") text = o.correct ? { text: t("correct", { points: o.points }), cls: "ok" } : { text: t("wrong"), cls: "bad" };
      if (text) extra.push(LP.el("p", { class: `quiz-outcome ${text.cls}`, role: "status", text: text.text }));
    }
    if (!open && me && me.rank) extra.push(LP.el("p", { class: "quiz-rank", text: t("your_rank", { rank: me.rank, players: me.players, score: me.score }) }));
    extra.push(nameLine());
    form.append(...extra);
    LP.renderResults($("results"), p, results, t("hidden_until_close"));
    decorate($("results"), p, results);
  }

  // ---------- the projector ----------
  // Marks the right options in results drawn by LP.renderResults (after the question closed).
  function decorate(container, p, results) {
    const correct = (results && results.correct) || [];
    // While open, the room sees the answers with their shapes and colours, not the counts.
    const shown = container._key === "hidden" && p.state === "open" && isScreen();
    if (shown && container._quizKey !== `${p.id}/${p.round}/${p.options.join("\u0000")}`) {
      container._quizKey = `${p.id}/${p.round}/${p.options.join("\u0000")}`;
      if (container._quizGrid) container._quizGrid.remove();
      container._quizGrid = LP.el("div", { class: `quiz-answers quiz-screen-options n${p.options.length}` },
        ...p.options.map((o, i) => LP.el("div", { class: `quiz-answer q${i % 6}` },
          LP.el("span", { class: "shape", "aria-hidden": "true", text: SHAPES[i % 6] }), LP.el("span", { class: "text", text: o }))));
      container.append(container._quizGrid);
    }
    container.classList.toggle("quiz-open", shown);
    if (!shown && container._quizGrid) { container._quizGrid.remove(); container._quizGrid = null; container._quizKey = null; }
    if (container._key === "hidden") return;
    (container._rows || []).forEach((r, i) => {
      r.fill.classList.add("quiz-fill", `q${i % 6}`);
      const right = p.state === "closed" && correct.includes(i);
      r.item.classList.toggle("quiz-right", right);
      r.item.classList.toggle("quiz-wrong", p.state === "closed" && !right && correct.length > 0);
      const label = r.item.querySelector(".opt");
      if (label && !label._shape) {
        label._shape = LP.el("span", { class: `quiz-shape q${i % 6}`, "aria-hidden": "true", text: SHAPES[i % 6] });
        label.prepend(label._shape, " ");
      }
      if (label) label.dataset.right = right ? t("right_mark") : "";
    });
  }

  // The leaderboard view: the top 10, rows gliding to their new places when ranks change.
  const board = { container: null, timer: null, rows: new Map() };
  async function refreshBoard() {
    const r = await api("GET", "/api/leaderboard");
    if (!board.container || r.status !== 200) return;
    const list = board.list;
    const before = new Map([...board.rows].map(([k, row]) => [k, row.getBoundingClientRect().top]));
    const seen = new Set();
    r.data.entries.forEach((e, i) => {
      const key = e.player || e.name; // one row per player, even when two share a name
      let row = board.rows.get(key);
      if (!row) {
        row = LP.el("li", { class: "lb-row" }, LP.el("span", { class: "lb-rank" }), LP.el("span", { class: "lb-name" }), LP.el("span", { class: "lb-score" }));
        board.rows.set(key, row);
      }
      row.children[0].textContent = LP.num(e.rank);
      row.children[1].textContent = e.name;
      row.children[2].textContent = LP.num(e.score);
      row.className = `lb-row${i < 3 ? ` top${i + 1}` : ""}`;
      list.append(row);
      seen.add(key);
    });
    for (const [k, row] of board.rows) if (!seen.has(k)) { row.remove(); board.rows.delete(k); }
    board.empty.hidden = r.data.entries.length > 0;
    board.count.textContent = r.data.players ? t("players", { n: r.data.players }) : "";
    // FLIP: start each moved row where it was, then let it glide to where it is now.
    for (const [k, row] of board.rows) {
      const was = before.get(k);
      if (was === undefined) continue;
      const dy = was - row.getBoundingClientRect().top;
      if (!dy) continue;
      row.style.transition = "none";
      row.style.transform = `translateY(${dy}px)`;
      requestAnimationFrame(() => requestAnimationFrame(() => { row.style.transition = ""; row.style.transform = ""; }));
    }
    LP.fit(board.container, 12, window.innerHeight * 0.06);
  }
  LP.views.leaderboard = {
    show(container) {
      board.container = container;
      board.rows = new Map();
      board.list = LP.el("ol", { class: "leaderboard" });
      board.empty = LP.el("p", { class: "muted lb-empty", text: t("no_players"), hidden: "" });
      board.count = LP.el("p", { class: "lb-count" });
      container.replaceChildren(LP.el("h1", { class: "lb-title", text: t("leaderboard") }), board.list, board.empty, board.count);
      refreshBoard();
      board.timer = setInterval(refreshBoard, 2000);
    },
    hide() {
      clearInterval(board.timer);
      if (board.container) board.container.replaceChildren();
      board.container = null;
    },
  };

  // L on a signed-in screen switches between the leaderboard and the poll.
  let view = "poll";
  LP.on("screen", (s) => { view = s.view || "poll"; });
  document.addEventListener("keydown", (e) => {
    if (!isScreen() || e.ctrlKey || e.metaKey || e.altKey || e.key.toLowerCase() !== "l") return;
    const token = sessionStorage.getItem("livepoll-admin");
    LP.api("PUT", "/api/screen", { view: view === "leaderboard" ? "poll" : "leaderboard" }, token ? { authorization: `Bearer ${token}` } : {}).catch(() => null);
    e.preventDefault();
  });

  LP.quiz = { render, decorate, shapes: SHAPES };
})();
