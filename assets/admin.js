// The organiser console: sign in with the admin token, create and run polls, choose what is on air.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("livepoll-admin");
  let onAir = null;
  const results = new Map();
  let polls = [];
  let editing = null; // id of the draft being edited, or null when the form creates a poll
  const auth = () => ({ authorization: `Bearer ${token}` });

  async function signIn(t) {
    const r = await LP.api("POST", "/api/admin/session", undefined, { authorization: `Bearer ${t}` });
    if (r.status !== 204) return false;
    token = t;
    sessionStorage.setItem("livepoll-admin", t);
    return true;
  }

  async function refresh() {
    const r = await LP.api("GET", "/api/polls", undefined, auth());
    if (r.status === 200) { polls = r.data; for (const p of polls) if (p.results) results.set(p.id, p.results); }
    const s = await LP.api("GET", "/api/screen");
    onAir = s.data && s.data.poll;
    render();
  }

  async function act(method, path, body) {
    const r = await LP.api(method, path, body, auth());
    if (r.status >= 400) alert((r.data && r.data.message) || `Failed (${r.status})`);
    await refresh();
  }

  function render() {
    const list = $("polls");
    list.replaceChildren();
    if (!polls.length) list.append(LP.el("p", { class: "muted", text: "No polls yet: create one below." }));
    for (const p of polls) {
      const id = encodeURIComponent(p.id);
      const head = LP.el("div", {}, LP.el("strong", { text: p.question }),
        LP.el("span", { class: `badge ${p.state}`, text: p.state }),
        p.id === onAir ? LP.el("span", { class: "badge air", text: "on air" }) : null,
        LP.el("span", { class: "badge", text: `${p.kind} · round ${p.round}` }));
      const res = LP.el("div", { "data-results": p.id });
      const r = results.get(p.id);
      const voters = r ? `${r.voters} ${r.voters === 1 ? "voter" : "voters"}` : "";
      LP.renderResults(res, p, r);
      const actions = LP.el("div", { class: "actions" },
        p.state === "draft" ? LP.el("button", { type: "button", text: "Edit", onclick: () => edit(p) }) : null,
        p.state !== "open" ? LP.el("button", { type: "button", text: "Open", onclick: () => act("POST", `/api/polls/${id}/open`) }) : null,
        p.state === "open" ? LP.el("button", { type: "button", text: "Close", onclick: () => act("POST", `/api/polls/${id}/close`) }) : null,
        LP.el("button", { type: "button", text: p.id === onAir ? "Take off air" : "Put on air", onclick: () => act("PUT", "/api/screen", { poll: p.id === onAir ? null : p.id }) }),
        LP.el("button", { type: "button", text: "Reset (new round)", onclick: () => confirm("Start a new, empty round?") && act("POST", `/api/polls/${id}/reset`) }),
        LP.el("button", { type: "button", text: "Download CSV", onclick: () => download(p.id) }),
        LP.el("button", { type: "button", text: "Delete", onclick: () => confirm("Delete this poll?") && act("DELETE", `/api/polls/${id}`) }));
      list.append(LP.el("div", { class: "poll-row" }, head,
        LP.el("p", { class: "muted", "data-turnout": p.id, text: voters }), res, actions));
    }
  }

  async function download(id) {
    const res = await fetch(`/api/polls/${encodeURIComponent(id)}/results.csv`, { headers: auth() });
    const blob = await res.blob();
    const a = LP.el("a", { href: URL.createObjectURL(blob), download: `${id}-results.csv` });
    document.body.append(a); a.click(); a.remove();
  }

  function setEditing(p) {
    editing = p ? p.id : null;
    $("editor-title").textContent = p ? `Edit draft: ${p.question}` : "New poll";
    $("create-submit").textContent = p ? "Save changes" : "Create draft";
    $("cancel-edit").hidden = !p;
  }

  function edit(p) {
    setEditing(p);
    $("q").value = p.question;
    $("kind").value = p.kind;
    $("options").value = (p.options || []).join("\n");
    $("max").value = p.max_choices || "";
    $("scale").value = p.scale || 5;
    $("vis").value = p.visibility;
    $("dur").value = p.duration_secs || "";
    $("create-status").textContent = "";
    $("editor").open = true;
    $("q").focus();
  }

  $("cancel-edit").addEventListener("click", () => { setEditing(null); $("create").reset(); });

  $("create").addEventListener("submit", async (e) => {
    e.preventDefault();
    const kind = $("kind").value;
    const def = { question: $("q").value, kind, visibility: $("vis").value };
    if (kind === "single" || kind === "multiple") def.options = $("options").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (kind === "multiple" && $("max").value) def.max_choices = Number($("max").value);
    if (kind === "rating") def.scale = Number($("scale").value);
    if ($("dur").value) def.duration_secs = Number($("dur").value);
    const r = editing
      ? await LP.api("PUT", `/api/polls/${encodeURIComponent(editing)}`, def, auth())
      : await LP.api("POST", "/api/polls", def, auth());
    const ok = r.status === 200 || r.status === 201;
    $("create-status").textContent = ok ? (editing ? "Saved." : "Created as a draft.") : (r.data && r.data.message) || `Failed (${r.status})`;
    $("create-status").className = `status ${ok ? "ok" : "bad"}`;
    if (ok) { setEditing(null); $("create").reset(); refresh(); }
  });

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await signIn($("token").value.trim())) start();
    else $("login-error").textContent = "That token is not right.";
  });

  function start() {
    $("login").hidden = true;
    $("console").hidden = false;
    refresh();
    LP.follow({
      connection(ok) { $("conn").textContent = ok ? "live" : "connection lost — reconnecting"; },
      poll() { refresh(); },
      screen(s) { onAir = s.poll; render(); },
      results(r) {
        results.set(r.poll, r);
        const box = document.querySelector(`[data-results="${CSS.escape(r.poll)}"]`);
        const p = polls.find((x) => x.id === r.poll);
        if (box && p) { LP.renderResults(box, p, r); box.previousSibling.textContent = `${r.voters} ${r.voters === 1 ? "voter" : "voters"}`; }
      },
    });
  }

  (async () => {
    if (token && (await signIn(token))) start();
    else { $("login").hidden = false; $("token").focus(); }
  })();
})();
