// Quiz players for moderators (console and /moderate): every player with rank and score; rename
// one (the leaderboard shows the new name) or hide them from the leaderboard. Names are text.
"use strict";
LP.playersPanel = (auth) => {
  const el = (...a) => LP.el(...a);
  const call = (method, path, body) => LP.api(method, path, body, auth()).catch(() => ({ status: 0, data: null }));
  let players = [];
  let editing = null;
  const list = el("ol", { class: "players", id: "players-list", "aria-labelledby": "players-h" });
  const status = el("p", { class: "status", role: "status", id: "players-status" });
  const empty = el("p", { class: "muted", id: "players-empty" }, "Nobody has answered a quiz question yet.");

  function say(text, kind) { status.textContent = text || ""; status.className = `status${kind ? ` ${kind}` : ""}`; }
  async function act(p, action, body) {
    const r = await call("POST", `/api/players/${encodeURIComponent(p.player)}/${action}`, body);
    if (r.status === 204) {
      say({ rename: `Renamed to “${(body && body.name) || "their own name"}”.`, hide: `Hidden from the leaderboard: “${p.name}”.`, show: `Back on the leaderboard: “${p.name}”.` }[action], "ok");
      editing = null;
      refresh();
    } else say((r.data && r.data.message) || `The server answered ${r.status || "nothing"}.`, "bad");
  }
  function row(p) {
    const li = el("li", { class: `player${p.hidden ? " hidden-player" : ""}`, "data-player": p.player },
      el("span", { class: "player-rank", text: `${LP.num(p.rank)}.` }),
      el("span", { class: "player-name", dir: "auto", text: p.name }),
      el("span", { class: "player-score", text: LP.num(p.score) }));
    if (editing === p.player) {
      const input = el("input", { type: "text", maxlength: "40", "aria-label": `New name for ${p.name}`, value: p.name });
      const save = () => act(p, "rename", { name: input.value });
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
      li.append(el("div", { class: "player-edit" }, input,
        el("button", { type: "button", class: "primary-btn", onclick: save }, "Save"),
        el("button", { type: "button", onclick: () => { editing = null; render(); } }, "Cancel")));
      setTimeout(() => input.focus(), 0);
    } else {
      li.append(el("div", { class: "player-actions" },
        el("button", { type: "button", "aria-label": `Rename ${p.name}`, onclick: () => { editing = p.player; render(); } }, "Rename"),
        p.hidden
          ? el("button", { type: "button", "aria-label": `Show ${p.name} again`, onclick: () => act(p, "show") }, "Show")
          : el("button", { type: "button", "aria-label": `Hide ${p.name}`, onclick: () => act(p, "hide") }, "Hide")));
    }
    return li;
  }
  function render() {
    empty.hidden = players.length > 0;
    list.replaceChildren(...players.map(row));
  }
  async function refresh() {
    const r = await call("GET", "/api/players");
    if (r.status === 200) { players = r.data; if (editing === null) render(); }
  }
  const panel = el("section", { class: "players-panel strip", id: "players-panel", "aria-labelledby": "players-h" },
    el("h2", { id: "players-h" }, "Quiz players"), status, empty, list);
  return { panel, refresh };
};
