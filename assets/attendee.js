// The attendee's phone: shows the poll on air, votes, confirms only after the server's 202.
// Everything shown is derived from the current poll state on each render, so a status can never
// outlive the state it describes (an open poll never says "closed").
"use strict";
LP.ready.then(() => {
  const $ = (id) => document.getElementById(id);
  const polls = new Map();
  const results = new Map();
  let onAir = null;
  const mine = {}; // poll id + round -> ballot, as the server last confirmed it
  let draft = null; // {key, choices} while a multiple-choice selection differs from what was sent
  let flash = null; // {key, text, cls}: the outcome of the last send, for this poll round only
  let sending = null; // key of the poll round a vote is being sent for
  let retryTimer = null;
  // A vote that could not reach the server (an outage): kept and sent again until the server
  // answers. A ballot replaces the voter's previous one, so sending it twice is harmless.
  let pending = null; // {key, body, offline, text}
  let connected = true;
  let title = "";

  const key = (p) => `${p.id}/${p.round}`;
  const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x));

  // A new voter token may need the event code: the scanned URL's ?code=, else the attendee types
  // the one on the screen. One attempt at a time, however many callers wait for it.
  let needCode = false;
  let joining = null;
  function askForCode(wrong) {
    needCode = true;
    render();
    $("code-form").hidden = false;
    $("code-status").textContent = wrong ? LP.t("code_wrong") : "";
    $("code-input").focus();
    return new Promise((ok) => {
      $("code-form").onsubmit = (e) => { e.preventDefault(); const v = $("code-input").value.trim(); if (v) ok(v); };
    });
  }
  async function join() {
    let code = new URLSearchParams(location.search).get("code");
    for (;;) {
      const r = await LP.api("POST", "/api/session", code ? { code } : undefined).catch(() => null);
      if (r && r.status === 200) {
        if (needCode) { needCode = false; $("code-form").hidden = true; render(); }
        return;
      }
      if (r && r.status === 403 && r.data && r.data.error === "bad_code") { code = await askForCode(!!code); continue; }
      await new Promise((ok) => setTimeout(ok, 1000 * Math.max(2, (r && r.retryAfter) || 0)));
    }
  }
  function ensureSession() {
    if (!joining) joining = join().finally(() => { joining = null; });
    return joining;
  }
  // Other features of this page (Q&A, quiz) get their voter token through the same door.
  LP.ensureSession = ensureSession;

  async function loadMine(id) {
    const r = await LP.api("GET", `/api/polls/${encodeURIComponent(id)}`).catch(() => null);
    if (!r || r.status !== 200) return;
    const prev = polls.get(id);
    if (!prev || prev.round <= r.data.round) polls.set(id, Object.assign(prev || {}, r.data));
    if (r.data.my_ballot) mine[key(r.data)] = r.data.my_ballot;
    if (r.data.results && !results.has(id)) results.set(id, r.data.results);
    if (id === onAir) render();
  }

  function ballotChoices(b) {
    if (!b) return [];
    if (b.choices) return b.choices;
    if (b.rating) return [b.rating];
    return [];
  }

  function sentBallot(body) {
    if (body.choice !== undefined) return { choices: [body.choice] };
    if (body.choices) return { choices: body.choices.slice().sort((a, b) => a - b) };
    if (body.rating) return { rating: body.rating };
    if (body.words) return { words: body.words };
    return { text: body.text };
  }

  function friendly(p, r) {
    if (p.kind === "multiple") return LP.t("choose_between", { max: p.max_choices });
    if (p.kind === "wordcloud" && r.data && r.data.message && r.data.message.includes("words per person")) return LP.t("too_many_words", { max: p.max_words || 1 });
    if (p.kind === "wordcloud") return (r.data && r.data.message && r.data.message.includes("at most")) ? LP.t("too_long", { max: 40 }) : LP.t("type_a_word");
    return LP.t("not_recorded");
  }

  async function send(body, attempt = 0) {
    const p = polls.get(onAir);
    if (!p || p.state !== "open") return;
    const k = key(p);
    clearTimeout(retryTimer);
    sending = k;
    if (!pending || pending.key !== k) flash = { key: k, text: LP.t("sending"), cls: "" };
    render();
    const r = await LP.api("POST", `/api/polls/${encodeURIComponent(p.id)}/votes`, body).catch(() => ({ status: 0 }));
    sending = null;
    const waited = pending && pending.key === k && pending.offline;
    if (r.status !== 0 && r.status !== 503 && r.status !== 429) pending = null;
    if (r.status === 202) {
      mine[k] = sentBallot(body);
      draft = null;
      flash = { key: k, text: waited ? LP.t("vote_sent_late") : LP.t("vote_recorded"), cls: "ok" };
    } else if (r.status === 401 && attempt < 2) {
      await ensureSession();
      return send(body, attempt + 1);
    } else if (r.status === 409) {
      flash = null; // the poll's own state says why (closed, or not open yet)
    } else if (r.status === 400) {
      flash = { key: k, text: friendly(p, r), cls: "bad" };
    } else if (r.status === 0 || r.status === 503) {
      // No server (or no Kafka) now: keep the vote and send it until it is taken.
      const wait = Math.max(2, r.retryAfter || 0);
      // Once the vote waited for the connection, it still did when the server, back, first
      // answers 503 (Kafka not ready yet): the 202 then says "Connection back: …".
      const offline = r.status === 0 || waited;
      pending = { key: k, body, offline, text: offline ? LP.t("vote_waiting") : LP.t("busy_retry", { s: wait }) };
      flash = null;
      retryTimer = setTimeout(() => send(body), 1000 * wait);
    } else if (r.status === 429) {
      const wait = Math.max(1, r.retryAfter || 2);
      flash = { key: k, text: LP.t("busy_retry", { s: wait }), cls: "warn" };
      if (attempt < 10) retryTimer = setTimeout(() => send(body, attempt + 1), wait * 1000);
    } else {
      flash = { key: k, text: LP.t("went_wrong"), cls: "bad" };
    }
    render();
  }

  // The status line: what this attendee needs to know now, from the poll's state.
  function status(p, open, current) {
    const k = key(p);
    if (flash && flash.key === k && (open || flash.cls !== "warn") && sending === k) return flash;
    if (!open) {
      clearTimeout(retryTimer);
      const unsent = (draft && draft.key === k) || (pending && pending.key === k);
      pending = null;
      if (p.state === "paused") return { text: LP.t("paused"), cls: "muted" };
      if (p.state === "closed" && unsent) return { text: LP.t("closed_unsent"), cls: "warn" };
      if (p.state === "closed") return { text: current.length || mine[k] ? LP.t("closed_counted") : LP.t("closed"), cls: "muted" };
      return { text: LP.t("not_started"), cls: "muted" };
    }
    if (pending && pending.key === k) return { text: pending.text, cls: "warn" };
    if (draft && draft.key === k) return { text: LP.t("not_sent"), cls: "warn" };
    if (flash && flash.key === k) return flash;
    if (mine[k]) return { text: LP.t("vote_kept"), cls: "ok" };
    return { text: "", cls: "" };
  }

  function choiceButton(label, pressed, disabled, onclick, extra) {
    return LP.el("button", Object.assign({
      class: "choice", type: "button", "aria-pressed": String(pressed),
      onclick: () => !disabled && onclick(),
    }, disabled ? { disabled: "" } : {}, extra || {}), LP.el("bdi", { text: label }));
  }

  function render() {
    const p = onAir && polls.get(onAir);
    $("waiting").hidden = !!p || needCode;
    $("event-title").hidden = $("waiting").hidden || !title;
    $("poll").hidden = !p || needCode;
    if (!p) return;
    if (p.kind === "quiz" && LP.quiz) return LP.quiz.render(p, { ballot: () => mine[key(p)], results: () => results.get(p.id) });
    const k = key(p);
    const open = p.state === "open";
    $("poll").classList.toggle("closed", !open);
    $("question").textContent = p.question;
    LP.countdown($("countdown"), open ? p.closes_at : null);
    const current = ballotChoices(mine[k]);
    const form = $("form");
    const focused = document.activeElement && form.contains(document.activeElement) ? document.activeElement.dataset.i : null;
    const typing = p.kind === "wordcloud" && form._key === k && form.querySelector("input");
    if (!typing) form.replaceChildren();
    form._key = k;
    if (p.kind === "single" || p.kind === "multiple") {
      const multi = p.kind === "multiple";
      const selected = multi ? (draft && draft.key === k ? draft.choices : current) : current;
      const full = multi && selected.length >= p.max_choices;
      p.options.forEach((o, i) => {
        const pressed = selected.includes(i);
        form.append(choiceButton(o, pressed, !open || (full && !pressed && p.max_choices > 1), () => {
          if (!multi) return send({ choice: i });
          if (p.max_choices === 1) { draft = { key: k, choices: [i] }; }
          else {
            const next = pressed ? selected.filter((x) => x !== i) : selected.concat(i);
            draft = sameSet(next, current) ? null : { key: k, choices: next };
          }
          flash = null;
          render();
        }, { "data-i": String(i) }));
      });
      if (multi) {
        const n = selected.length;
        form.append(LP.el("p", { class: `hint${full && open ? " full" : ""}`, text: full && open && p.max_choices > 1
          ? LP.t("chosen_full", { n, max: p.max_choices })
          : LP.t("choose_up_to", { n, max: p.max_choices }) }));
        const canSend = open && n > 0 && !!draft && draft.key === k;
        const sendButton = (where) => LP.el("button", Object.assign({ class: "primary", type: "button", text: LP.t("send"), "data-i": where,
          onclick: () => canSend && send({ choices: draft.choices }) }, canSend ? {} : { disabled: "" }));
        form.append(sendButton("send"));
        // A long list gets a second Send above it: one is always near, and neither floats over
        // an option (a pinned button covered the last one).
        if (p.options.length > 5) form.prepend(sendButton("send-top"));
      }
    } else if (p.kind === "rating") {
      const row = LP.el("div", { class: `rating s${p.scale}`, role: "group", "aria-label": LP.t("rating_group", { n: p.scale }) });
      for (let v = 1; v <= p.scale; v++) {
        const label = p.labels && (v === 1 ? `${LP.num(1)}, ${p.labels[0]}` : v === p.scale ? `${LP.num(v)}, ${p.labels[1]}` : null);
        row.append(choiceButton(LP.num(v), current.includes(v), !open, () => send({ rating: v }), Object.assign({ "data-i": String(v) }, label ? { "aria-label": label } : {})));
      }
      form.append(row);
      if (p.labels) form.append(LP.el("div", { class: "ends" }, LP.el("span", {}, `${LP.num(1)} = `, LP.el("bdi", { text: p.labels[0] })), LP.el("span", {}, `${LP.num(p.scale)} = `, LP.el("bdi", { text: p.labels[1] }))));
    } else if (!typing) {
      // A word cloud may take several words per person (max_words): one input each.
      const b = mine[k];
      const n = Math.max(1, Math.min(5, p.max_words || 1));
      const sentWords = () => { const m = mine[k]; return m ? (m.words || (m.text ? [m.text] : [])) : []; };
      const inputs = Array.from({ length: n }, (_, i) => LP.el("input", { type: "text", maxlength: "40", "data-i": `w${i}`, "aria-label": n > 1 ? LP.t("word_n_label", { n: i + 1 }) : LP.t("word_label"), placeholder: LP.t("word_placeholder"), enterkeyhint: i === n - 1 ? "send" : "next" }));
      if (b) sentWords().forEach((w, i) => { if (inputs[i]) inputs[i].value = w; });
      const typed = () => inputs.map((x) => x.value.trim()).filter(Boolean);
      const submit = () => {
        const words = typed();
        if (!open || !words.length) return;
        send(n > 1 ? { words } : { text: inputs[0].value });
      };
      for (const input of inputs) {
        input.addEventListener("input", () => {
          const sent = sentWords().join("\u0000").toLowerCase();
          draft = typed().length && typed().join("\u0000").toLowerCase() !== sent ? { key: k } : null;
          flash = null;
          const s = status(p, p.state === "open", current);
          $("status").textContent = s.text; $("status").className = `status ${s.cls}`;
        });
        input.addEventListener("keydown", (e) => { if (e.key === "Enter") submit(); });
      }
      if (n > 1) form.append(LP.el("p", { class: "hint", text: LP.t("up_to_words", { n }) }));
      form.append(...inputs, LP.el("button", { class: "primary", type: "button", text: LP.t("send"), onclick: submit }));
    }
    if (p.kind === "wordcloud") for (const c of form.querySelectorAll("input, button")) c.disabled = !open;
    if (focused) { const f = form.querySelector(`[data-i="${focused}"]`); if (f && !f.disabled) f.focus(); }
    const s = status(p, open, current);
    $("status").textContent = s.text;
    $("status").className = `status ${s.cls}`;
    const r = results.get(p.id);
    LP.renderResults($("results"), p, r && r.round === p.round ? r : null);
  }

  LP.follow({
    connection(ok) {
      $("conn").hidden = ok;
      // Back after an outage: a kept vote goes now, and the join details may have changed.
      if (ok && !connected) {
        loadTitle();
        const p = polls.get(onAir);
        if (pending && p && pending.key === key(p)) send(pending.body);
      }
      connected = ok;
    },
    screen(s) {
      if (s.now) LP.clockOffset = s.now - Date.now();
      const changed = onAir !== s.poll;
      if (changed) { draft = null; flash = null; }
      onAir = s.poll;
      if (onAir) loadMine(onAir);
      render();
      // A new question starts at its top, not where the last long list was scrolled to.
      if (changed) window.scrollTo(0, 0);
    },
    poll(p) {
      if (p.deleted) polls.delete(p.id);
      else {
        const prev = polls.get(p.id);
        if (prev && prev.round !== p.round) { results.delete(p.id); draft = null; flash = null; }
        polls.set(p.id, Object.assign(prev || {}, p));
      }
      if (p.id === onAir) render();
    },
    results(r) {
      results.set(r.poll, r);
      const p = polls.get(onAir);
      if (r.poll === onAir && p && r.round === p.round) LP.renderResults($("results"), p, r);
    },
  });
  async function loadTitle() {
    const info = await LP.api("GET", "/api/info").catch(() => null);
    if (!info || !info.data) return;
    title = info.data.title || "";
    $("event-title").textContent = title;
    render();
  }
  loadTitle();
  ensureSession();
});
