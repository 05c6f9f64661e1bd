// Word moderation, shared by the organiser console and the moderator's phone page (/moderate):
// the words of a word cloud with their counts (tap one to hide it from the projector and the
// phones, tap a hidden one to show it again), words waiting for approval, and the event's block
// list. The server filters what the audience gets; this only sends the organiser's decisions.
// Words are inserted as text, never as HTML.
"use strict";
LP.wordsPanel = (auth) => {
  const el = (...a) => LP.el(...a);
  const call = (method, path, body) => LP.api(method, path, body, auth()).catch(() => ({ status: 0, data: null }));
  const polls = new Map();
  const results = new Map();
  let onAir = null;
  let chosen = null; // the poll picked by hand; else the word cloud on air, else the first one
  let settings = { blocked_mode: "hold", blocked: [], block_file_entries: 0, profanity_filter: false };

  const picker = el("select", { id: "words-poll", "aria-label": "Word cloud to moderate" });
  const status = el("p", { class: "status", role: "status", id: "words-status" });
  const shownH = el("h3", { id: "words-shown-h" });
  const shown = el("ul", { class: "word-chips", id: "words-shown", "aria-labelledby": "words-shown-h" });
  const pendingH = el("h3", { id: "words-pending-h" });
  const pending = el("ul", { class: "word-chips", id: "words-pending", "aria-labelledby": "words-pending-h" });
  const hiddenH = el("h3", { id: "words-hidden-h" });
  const hidden = el("ul", { class: "word-chips", id: "words-hidden", "aria-labelledby": "words-hidden-h" });
  const blockInput = el("input", { type: "text", id: "block-word", maxlength: "40", autocomplete: "off", spellcheck: "false" });
  const blockBtn = el("button", { type: "button", id: "block-add", class: "primary-btn" }, "Block");
  const blockedList = el("ul", { class: "word-chips", id: "block-list", "aria-label": "Words blocked during this event" });
  const hold = el("input", { type: "radio", name: "blocked-mode", value: "hold", id: "blocked-hold" });
  const drop = el("input", { type: "radio", name: "blocked-mode", value: "drop", id: "blocked-drop" });
  const fileNote = el("p", { class: "muted", id: "block-note" });
  const empty = el("p", { class: "muted", id: "words-empty" }, "No word cloud yet: create one to moderate its words here.");

  function say(text, kind) { status.textContent = text || ""; status.className = `status${kind ? ` ${kind}` : ""}`; }
  function failed(r) {
    const m = (r.data && r.data.message) || (r.status ? `The server answered ${r.status}.` : "No answer from the server.");
    say(r.status === 503 ? `Kafka is unavailable, nothing changed: ${m}` : m, "bad");
  }
  const clouds = () => [...polls.values()].filter((p) => p.kind === "wordcloud");
  function current() {
    if (chosen && polls.has(chosen)) return polls.get(chosen);
    const air = onAir && polls.get(onAir);
    if (air && air.kind === "wordcloud") return air;
    return clouds()[0] || null;
  }

  async function word(p, action, w) {
    const r = await call("POST", `/api/polls/${encodeURIComponent(p.id)}/words/${action}`, { word: w });
    if (r.status === 200) {
      const done = { hide: "Hidden from the screen and the phones", show: "Shown again", approve: "Approved" };
      say(`${done[action]}: “${w}”`, "ok");
      if (r.data && r.data.results) { results.set(p.id, r.data.results); }
      render();
    } else failed(r);
  }

  function chip(p, w, n, buttons) {
    return el("li", { class: "word-chip", "data-word": w },
      el("span", { class: "word-text", dir: "auto", text: w }),
      el("span", { class: "word-count", text: LP.num(n) }),
      ...buttons.map(([label, action, cls]) => el("button", { type: "button", class: cls || "", "data-action": action, "aria-label": `${label} “${w}”`, onclick: () => word(p, action, w) }, label)));
  }

  // Updates a list of chips in place (keyed by poll and word), so a button being tapped is not
  // replaced under the finger by the next live update; only counts and order change.
  function fill(ul, p, entries, buttons) {
    const old = ul._chips || new Map();
    const next = new Map();
    for (const [w, n] of p ? entries : []) {
      const k = `${p.id}\u0000${w}`;
      let li = old.get(k);
      if (!li) li = chip(p, w, n, buttons);
      li.querySelector(".word-count").textContent = LP.num(n);
      next.set(k, li);
      ul.append(li);
    }
    for (const [k, li] of old) if (!next.has(k)) li.remove();
    ul._chips = next;
  }

  let pickerKey = null;
  function render() {
    const list = clouds();
    empty.hidden = list.length > 0;
    const p = current();
    const key = list.map((c) => `${c.id === onAir ? "● " : ""}${c.id}\u0000${c.question}`).join("\u0001");
    if (key !== pickerKey) {
      pickerKey = key;
      picker.replaceChildren(...list.map((c) => el("option", { value: c.id, text: `${c.id === onAir ? "● " : ""}${c.question}` })));
    }
    picker.hidden = list.length < 2;
    if (p) picker.value = p.id;
    const r = p && results.get(p.id);
    const fresh = r && r.round === p.round;
    const words = (fresh && r.words) || [];
    const waiting = (fresh && [...(r.pending_words || []), ...(r.blocked_words || [])]) || [];
    const gone = (fresh && r.hidden_words) || [];
    shownH.textContent = p ? `On the screen (${words.length}) — tap Hide to take a word off` : "";
    fill(shown, p, words, [["Hide", "hide", "danger"]]);
    pendingH.textContent = `Waiting for approval (${waiting.length})${p && p.moderation === "pre" ? " — this cloud shows words only once approved" : ""}`;
    fill(pending, p, waiting, [["Approve", "approve", "primary-btn"], ["Hide", "hide"]]);
    pendingH.hidden = pending.hidden = !p || (!waiting.length && p.moderation !== "pre");
    hiddenH.textContent = `Hidden (${gone.length})`;
    fill(hidden, p, gone, [["Show", "show"]]);
    hiddenH.hidden = hidden.hidden = !p || !gone.length;
    shownH.hidden = shown.hidden = !p;
    hold.checked = settings.blocked_mode !== "drop";
    drop.checked = settings.blocked_mode === "drop";
    blockedList.replaceChildren(...settings.blocked.map((w) => el("li", { class: "word-chip" },
      el("span", { class: "word-text", dir: "auto", text: w }),
      el("button", { type: "button", "data-action": "unblock", "aria-label": `Unblock “${w}”`, onclick: () => block(w, false) }, "Unblock"))));
    const file = settings.block_file_entries ? `${settings.block_file_entries} from the block-list file` : "no block-list file";
    const live = settings.blocked.length ? ", and these added during the event:" : "; none added during the event yet.";
    fileNote.textContent = `Blocked words: ${file}${settings.profanity_filter ? ", the profanity filter" : ""}${live}`;
  }

  async function block(w, add) {
    const r = await call("POST", `/api/moderation/${add ? "block" : "unblock"}`, { word: w });
    if (r.status === 200) {
      settings = r.data;
      say(add ? `Blocked: “${w}” never reaches a screen now.` : `Unblocked: “${w}”.`, "ok");
      if (add) blockInput.value = "";
      render();
    } else failed(r);
  }
  blockBtn.addEventListener("click", () => { if (blockInput.value.trim()) block(blockInput.value, true); });
  blockInput.addEventListener("keydown", (e) => { if (e.key === "Enter" && blockInput.value.trim()) block(blockInput.value, true); });
  for (const radio of [hold, drop]) {
    radio.addEventListener("change", async () => {
      const r = await call("PUT", "/api/moderation", { blocked_mode: radio.value });
      if (r.status === 200) { settings = r.data; say(radio.value === "drop" ? "Blocked words are now dropped." : "Blocked words now wait for approval.", "ok"); } else failed(r);
      render();
    });
  }
  picker.addEventListener("change", () => { chosen = picker.value; render(); });

  async function refresh() {
    const [ps, s, scr] = await Promise.all([call("GET", "/api/polls"), call("GET", "/api/moderation"), call("GET", "/api/screen")]);
    if (ps.status === 200) {
      for (const p of ps.data) { polls.set(p.id, p); if (p.results) results.set(p.id, p.results); }
    }
    if (s.status === 200) settings = s.data;
    if (scr.status === 200) onAir = scr.data.poll;
    render();
  }

  LP.on("poll", (p) => { if (p.deleted) polls.delete(p.id); else polls.set(p.id, p); render(); });
  LP.on("results", (r) => { results.set(r.poll, r); render(); });
  LP.on("screen", (s) => { onAir = s.poll; render(); });

  const panel = el("section", { class: "words-panel strip", id: "words-panel", "aria-labelledby": "words-h" },
    el("h2", { id: "words-h" }, "Word moderation"),
    empty, picker, status, shownH, shown, pendingH, pending, hiddenH, hidden,
    el("h3", { id: "block-h" }, "Block list"),
    fileNote, blockedList,
    el("div", { class: "block-add" }, el("label", { for: "block-word" }, "Block a word"), blockInput, blockBtn),
    el("fieldset", { class: "blocked-mode" }, el("legend", {}, "A blocked word…"),
      el("label", {}, hold, " waits for approval"), el("label", {}, drop, " is dropped")));
  return { panel, refresh };
};
