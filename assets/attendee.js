// The attendee's phone: shows the poll on air, votes, confirms only after the server's 202.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const polls = new Map();
  const results = new Map();
  let onAir = null;
  let mine = {}; // poll id + round -> ballot, as the server last confirmed it
  let selected = [];

  const setStatus = (text, cls) => { $("status").textContent = text; $("status").className = `status ${cls || ""}`; };
  const key = (p) => `${p.id}/${p.round}`;

  async function ensureSession() {
    for (;;) {
      const r = await LP.api("POST", "/api/session").catch(() => null);
      if (r && r.status === 200) return;
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }

  async function loadMine(id) {
    const r = await LP.api("GET", `/api/polls/${encodeURIComponent(id)}`).catch(() => null);
    if (!r || r.status !== 200) return;
    polls.set(id, Object.assign(polls.get(id) || {}, r.data));
    if (r.data.my_ballot) mine[key(r.data)] = r.data.my_ballot;
    if (r.data.results) results.set(id, r.data.results);
    if (id === onAir) render();
  }

  function ballotChoices(b) {
    if (!b) return [];
    if (b.choices) return b.choices;
    if (b.rating) return [b.rating];
    return [];
  }

  async function send(body, attempt = 0) {
    const p = polls.get(onAir);
    setStatus("Sending…");
    const r = await LP.api("POST", `/api/polls/${encodeURIComponent(p.id)}/votes`, body).catch(() => ({ status: 0 }));
    if (r.status === 202) {
      mine[key(p)] = body.choice !== undefined ? { choices: [body.choice] } : body.choices ? { choices: body.choices.slice().sort((a, b) => a - b) } : body.rating ? { rating: body.rating } : { text: body.text };
      setStatus("✓ Vote recorded. You can change it until the poll closes.", "ok");
      render();
      return;
    }
    if (r.status === 401) { await ensureSession(); if (attempt < 2) return send(body, attempt + 1); }
    if (r.status === 409) { setStatus("This poll is closed.", "warn"); return; }
    if (r.status === 400) { setStatus((r.data && r.data.message) || "That vote is not valid.", "bad"); return; }
    if (r.status === 429 || r.status === 503 || r.status === 0) {
      const wait = Math.max(1, r.retryAfter || 2);
      setStatus(`Busy — retrying in ${wait}s… (your vote is not recorded yet)`, "warn");
      if (attempt < 10) setTimeout(() => send(body, attempt + 1), wait * 1000);
      return;
    }
    setStatus("Something went wrong; please try again.", "bad");
  }

  function render() {
    const p = onAir && polls.get(onAir);
    $("waiting").hidden = !!p;
    $("poll").hidden = !p;
    if (!p) return;
    $("question").textContent = p.question;
    LP.countdown($("countdown"), p.state === "open" ? p.closes_at : null);
    const form = $("form");
    const current = ballotChoices(mine[key(p)]);
    const open = p.state === "open";
    form.replaceChildren();
    if (p.kind === "single" || p.kind === "multiple") {
      if (p.kind === "multiple" && !selected.length) selected = current.slice();
      p.options.forEach((o, i) => {
        const pressed = p.kind === "single" ? current.includes(i) : selected.includes(i);
        form.append(LP.el("button", {
          class: "choice", type: "button", "aria-pressed": String(pressed), text: o,
          onclick: () => {
            if (!open) return;
            if (p.kind === "single") send({ choice: i });
            else {
              selected = selected.includes(i) ? selected.filter((x) => x !== i) : selected.concat(i);
              render();
            }
          },
        }));
      });
      if (p.kind === "multiple") {
        form.append(LP.el("p", { class: "muted", text: `Choose up to ${p.max_choices}.` }));
        form.append(LP.el("button", { class: "primary", type: "button", text: "Send", onclick: () => open && selected.length && send({ choices: selected }) }));
      }
    } else if (p.kind === "rating") {
      const row = LP.el("div", { class: "rating", role: "group", "aria-label": `rating from 1 to ${p.scale}` });
      for (let v = 1; v <= p.scale; v++) {
        row.append(LP.el("button", { class: "choice", type: "button", "aria-pressed": String(current.includes(v)), text: String(v), onclick: () => open && send({ rating: v }) }));
      }
      form.append(row);
    } else {
      const input = LP.el("input", { type: "text", maxlength: "40", "aria-label": "your word", placeholder: "A word or two" });
      const b = mine[key(p)];
      if (b && b.text) input.value = b.text;
      form.append(input, LP.el("button", { class: "primary", type: "button", text: "Send", onclick: () => open && input.value.trim() && send({ text: input.value }) }));
    }
    if (!open) setStatus(p.state === "closed" ? "Voting is closed." : "Voting has not started yet.", "muted");
    LP.renderResults($("results"), p, results.get(p.id));
  }

  LP.follow({
    connection(ok) { $("conn").hidden = ok; },
    screen(s) {
      if (s.now) LP.clockOffset = s.now - Date.now();
      if (onAir !== s.poll) { selected = []; setStatus(""); }
      onAir = s.poll;
      if (onAir) loadMine(onAir);
      render();
    },
    poll(p) {
      if (p.deleted) polls.delete(p.id);
      else {
        const prev = polls.get(p.id);
        if (prev && prev.round !== p.round) { results.delete(p.id); selected = []; }
        polls.set(p.id, Object.assign(prev || {}, p));
      }
      if (p.id === onAir) render();
    },
    results(r) { results.set(r.poll, r); if (r.poll === onAir) LP.renderResults($("results"), polls.get(onAir), r); },
  });
  ensureSession();
})();
