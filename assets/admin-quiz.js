// The organiser console's quiz panel: write quiz questions (mark the right options), and run
// them with one button that always does the next step: present the next question → close it
// (the room sees the answer) → show the leaderboard → present the next question. The console
// is English; user text is inserted as text.
"use strict";
(() => {
  const el = (...a) => LP.el(...a);
  const polls = new Map();
  let order = [];
  let screen = { poll: null, view: "poll" };
  const auth = () => {
    const token = sessionStorage.getItem("livepoll-admin");
    return token ? { authorization: `Bearer ${token}` } : {};
  };
  const call = (method, path, body) => LP.api(method, path, body, auth()).catch(() => ({ status: 0, data: null }));

  const status = el("p", { class: "status", role: "status" });
  const stepBtn = el("button", { type: "button", class: "big primary-btn", id: "quiz-step" });
  const stepNote = el("p", { class: "meta", id: "quiz-step-note" });
  const lbBtn = el("button", { type: "button", id: "quiz-lb" });
  const resetBtn = el("button", { type: "button", id: "quiz-reset", text: "Reset leaderboard" });
  const csv = el("a", { href: "/api/leaderboard.csv", download: "leaderboard.csv", text: "Leaderboard CSV ↓" });
  const list = el("ol", { class: "quiz-list", id: "quiz-list" });

  // ---------- writing a question ----------
  const q = el("input", { type: "text", id: "quiz-question", maxlength: "500", required: "", "aria-label": "Quiz question" });
  const optionRows = el("div", { class: "quiz-options" });
  const duration = el("input", { type: "number", id: "quiz-duration", min: "5", max: "600", value: "20", "aria-label": "Seconds to answer" });
  const points = el("input", { type: "number", id: "quiz-points", min: "1", max: "100000", value: "1000", "aria-label": "Points" });
  function addOption(text) {
    const n = optionRows.children.length;
    const input = el("input", { type: "text", maxlength: "200", class: "quiz-opt", "aria-label": `Answer ${n + 1}` });
    input.value = text || "";
    const right = el("input", { type: "checkbox", class: "quiz-right-box", "aria-label": `Answer ${n + 1} is right` });
    optionRows.append(el("div", { class: "quiz-opt-row" }, el("span", { "aria-hidden": "true", text: ["▲", "◆", "●", "■", "★", "⬟"][n % 6] }), input, el("label", {}, right, " right")));
  }
  for (let i = 0; i < 4; i++) addOption();
  const more = el("button", { type: "button", text: "+ answer", onclick: () => optionRows.children.length < 6 && addOption() });
  const create = el("button", { type: "submit", class: "primary-btn", id: "quiz-create", text: "Add quiz question" });
  const form = el("form", { class: "quiz-form", id: "quiz-form" },
    el("label", {}, "Question ", q), optionRows, more,
    el("p", {}, el("label", {}, "Seconds ", duration), " ", el("label", {}, "Points ", points)), create);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const rows = [...optionRows.children].map((r) => ({ text: r.querySelector(".quiz-opt").value.trim(), right: r.querySelector(".quiz-right-box").checked }))
      .filter((r) => r.text);
    const def = { question: q.value, kind: "quiz", options: rows.map((r) => r.text),
      correct: rows.map((r, i) => (r.right ? i : -1)).filter((i) => i >= 0),
      duration_secs: Number(duration.value), points: Number(points.value) };
    const r = await call("POST", "/api/polls", def);
    if (r.status === 201) {
      q.value = "";
      for (const row of optionRows.children) { row.querySelector(".quiz-opt").value = ""; row.querySelector(".quiz-right-box").checked = false; }
      say(`Added “${r.data.question}”.`, "ok");
      q.focus();
    } else say((r.data && r.data.message) || "Not added.", "bad");
  });

  function say(text, kind) { status.textContent = text; status.className = `status ${kind || ""}`; }

  // ---------- running the quiz ----------
  const quizzes = () => order.map((id) => polls.get(id)).filter((p) => p && p.kind === "quiz");
  function nextStep() {
    const on = screen.poll && polls.get(screen.poll);
    if (on && on.kind === "quiz" && on.state === "open") return { label: "Close question", note: "The room sees the right answer", run: () => call("POST", `/api/polls/${encodeURIComponent(on.id)}/close`) };
    if (on && on.kind === "quiz" && on.state === "closed" && screen.view !== "leaderboard") return { label: "Show leaderboard", note: "Top 10 on the screen", run: () => call("PUT", "/api/screen", { view: "leaderboard" }) };
    const all = quizzes();
    const from = on ? all.findIndex((p) => p.id === on.id) : -1;
    const next = all.slice(from + 1).find((p) => p.state === "draft") || all.find((p) => p.state === "draft");
    if (next) return { label: "Next question ▸", note: next.question, run: () => call("POST", `/api/polls/${encodeURIComponent(next.id)}/present`) };
    return null;
  }
  function render() {
    const s = nextStep();
    stepBtn.textContent = s ? s.label : "No quiz question left";
    stepBtn.disabled = !s;
    stepNote.textContent = s ? s.note : "Add questions below.";
    lbBtn.textContent = screen.view === "leaderboard" ? "Back to the question" : "Leaderboard on screen";
    list.replaceChildren(...quizzes().map((p) => el("li", { class: screen.poll === p.id ? "on-air" : "" },
      el("span", { class: "badge", text: p.state }), " ", p.question, " ",
      el("span", { class: "muted", text: `(${(p.options || []).length} options, ${p.duration_secs} s)` }))));
  }
  stepBtn.addEventListener("click", async () => {
    const s = nextStep();
    if (!s) return;
    stepBtn.disabled = true;
    const r = await s.run();
    if (r.status >= 400 || r.status === 0) say((r.data && r.data.message) || "That did not work.", "bad"); else say("");
    render();
  });
  lbBtn.addEventListener("click", async () => {
    await call("PUT", "/api/screen", { view: screen.view === "leaderboard" ? "poll" : "leaderboard" });
  });
  resetBtn.addEventListener("click", async () => {
    if (resetBtn.dataset.confirm !== "1") { resetBtn.dataset.confirm = "1"; resetBtn.textContent = "Really reset? Click again"; return; }
    delete resetBtn.dataset.confirm;
    resetBtn.textContent = "Reset leaderboard";
    const r = await call("POST", "/api/leaderboard/reset");
    say(r.status === 200 ? "The leaderboard starts again from zero." : "Not reset.", r.status === 200 ? "ok" : "bad");
  });

  const panel = el("section", { class: "quiz-panel strip", id: "quiz-panel", "aria-labelledby": "quiz-h" },
    el("h2", { id: "quiz-h", text: "Quiz" }),
    el("div", { class: "quiz-run" }, stepBtn, lbBtn, resetBtn, csv), stepNote, status, list,
    el("details", {}, el("summary", { text: "+ New quiz question" }), form));

  // A reload answered after a live event must not put older state back (see admin-qa.js).
  const seen = { poll: 0, screen: 0 };
  async function load() {
    const before = Object.assign({}, seen);
    const r = await call("GET", "/api/polls");
    if (r.status !== 200) return;
    if (seen.poll === before.poll) {
      order = r.data.map((p) => p.id);
      for (const p of r.data) polls.set(p.id, p);
    }
    const s = await call("GET", "/api/screen");
    if (s.status === 200 && seen.screen === before.screen) screen = s.data;
    render();
  }
  LP.on("poll", (p) => {
    seen.poll += 1;
    if (p.deleted) { polls.delete(p.id); order = order.filter((id) => id !== p.id); } else {
      if (!polls.has(p.id)) order.push(p.id);
      polls.set(p.id, Object.assign(polls.get(p.id) || {}, p));
    }
    render();
  });
  LP.on("screen", (s) => { seen.screen += 1; screen = { poll: s.poll, view: s.view || "poll" }; load(); });
  LP.ready.then(() => {
    const host = document.getElementById("console");
    if (host) host.append(panel);
    load();
  });
})();
