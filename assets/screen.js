// The projector: the poll on air with live animated results, QR code, countdown, turnout; an
// idle screen with the event's title between polls. Text and results shrink to fit any
// projector (1280×720 to 4K) instead of overflowing. A screen signed in as the organiser
// (admin cookie, or opened with #token=…) can step through the agenda with N/P and reveal with R.
"use strict";
LP.ready.then(() => {
  const $ = (id) => document.getElementById(id);
  const polls = new Map();
  const results = new Map();
  let onAir = null;
  let view = "poll";
  let shownView = null;
  let hideHere = false; // H: results hidden on this screen, for the current poll only
  let joined = 0;
  let fitKey = null;
  let admin = false;
  let shownQr = null;
  let everConnected = false;

  const params = new URLSearchParams(location.search);
  const savedTheme = (() => { try { return localStorage.getItem("livepoll-theme"); } catch (_) { return null; } })();
  const setTheme = (t) => { document.body.classList.toggle("light", t === "light"); try { localStorage.setItem("livepoll-theme", t); } catch (_) { /* private mode */ } };
  setTheme(params.get("theme") || savedTheme || "dark");

  async function signIn() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      history.replaceState(null, "", location.pathname + location.search);
      await adminSession(decodeURIComponent(m[1]));
    }
    await loadInfo();
  }

  // Signs this screen in with the organiser's token (kept for this tab only, to sign in again
  // after a server restart).
  async function adminSession(token) {
    const r = await LP.api("POST", "/api/admin/session", undefined, { authorization: `Bearer ${token}` }).catch(() => null);
    if (r && r.status === 204) sessionStorage.setItem("livepoll-admin", token);
    // Streams opened before the cookie existed see hidden results as an attendee would.
    if (r && r.status === 204 && reconnect) reconnect();
    return !!(r && r.status === 204);
  }

  // The join details as the server has them now: asked at start and after every reconnection,
  // so a restart with another URL, title or event code reaches an open screen without a reload.
  async function loadInfo() {
    let info = await LP.api("GET", "/api/info").catch(() => null);
    const token = sessionStorage.getItem("livepoll-admin");
    if (info && info.data && info.data.code_required && !info.data.admin && token && await adminSession(token)) {
      info = await LP.api("GET", "/api/info").catch(() => null);
    }
    if (info && info.data) {
      for (const e of document.querySelectorAll(".join-url")) e.textContent = info.data.join_url.replace(/^https?:\/\//, "");
      $("title").textContent = info.data.title || LP.t("join_in");
      document.title = LP.t("screen_title", { title: info.data.title || "livepoll" });
      LP.clockOffset = info.data.now - Date.now();
      admin = !!info.data.admin;
      showCode(info.data);
      // A new QR code once the one shown is out of date: it carries the code (only a signed-in
      // screen gets that one), or the server now has another URL or code.
      const qr = info.data.qr_url || info.data.join_url;
      if (qr !== shownQr && (shownQr !== null || qr !== info.data.join_url)) {
        for (const img of document.querySelectorAll("img[src^='/qr.svg']")) img.src = `/qr.svg?t=${Date.now()}`;
      }
      shownQr = qr;
    }
    render();
    loadNext();
  }

  // The event code beside the QR code (and on the full-screen QR code). Only a signed-in screen
  // learns it (and gets the QR code that carries it); any other screen says how to show it.
  function showCode(info) {
    const code = info.event_code;
    $("join-code").hidden = !code;
    $("code-hint").hidden = !(info.code_required && !code);
    for (const e of document.querySelectorAll("#qr-full .join-code")) e.hidden = !code;
    if (!code) return;
    const shown = /^\d{6}$/.test(code) ? `${code.slice(0, 3)} ${code.slice(3)}` : code;
    for (const e of document.querySelectorAll(".event-code")) e.textContent = shown;
  }

  // What Next will present, for a signed-in screen: said after each step and in the help.
  async function loadNext() {
    if (!admin) { $("help-next").hidden = true; return null; }
    const s = await LP.api("GET", "/api/screen").catch(() => null);
    if (!s || s.status !== 200) return null;
    let text = LP.t("next_end");
    if (s.data.next) {
      const p = polls.get(s.data.next) || (await LP.api("GET", `/api/polls/${encodeURIComponent(s.data.next)}`).catch(() => ({ data: null }))).data;
      const order = (await LP.api("GET", "/api/agenda").catch(() => ({ data: null }))).data;
      const n = order && order.order ? order.order.indexOf(s.data.next) + 1 : 0;
      text = LP.t("next_up", { n, question: p ? p.question : s.data.next });
    }
    $("help-next").textContent = text;
    $("help-next").hidden = false;
    return text;
  }

  // The projector is the room's view: it shows results when someone in the room who has not
  // voted may see them, whatever session this browser holds (the console shows everything).
  function roomSees(p) {
    return p.revealed || p.visibility === "always" || (p.state === "closed" && p.visibility !== "never");
  }

  function turnout(p, r) {
    if (!r) return "";
    return `${LP.t("voters", { n: r.voters })}${p.state === "closed" ? LP.t("voting_closed_suffix") : ""}`;
  }

  function fitAll(force) {
    const stage = $("stage");
    if (stage.hidden) { LP.fit($("idle"), 16, window.innerHeight * 0.07); return; }
    const k = `${onAir}/${window.innerWidth}x${window.innerHeight}/${$("question").textContent.length}/${$("results").childElementCount}`;
    const results = $("results");
    const overflows = () => results.scrollHeight > results.clientHeight + 1;
    if (force || k !== fitKey) {
      fitKey = k;
      // The question takes what the results leave: with many options it gets smaller, so
      // every option stays on the screen.
      let max = window.innerHeight * 0.075;
      for (let i = 0; i < 8; i++) {
        LP.fit($("question"), 14, max);
        if (LP.fit(results, 10, window.innerHeight * 0.1) > 10.5 || !overflows() || max <= 14) break;
        max = Math.max(14, max * 0.75);
      }
      return;
    }
    LP.fit(results, 10, window.innerHeight * 0.1);
  }

  // A view other than the poll takes the stage; the QR code stays beside it.
  function renderView() {
    const other = view !== "poll" && LP.views[view] ? view : null;
    if (shownView !== other) {
      if (shownView && LP.views[shownView].hide) LP.views[shownView].hide();
      shownView = other;
      if (other) LP.views[other].show($("view"));
    }
    $("view").hidden = !other;
    document.body.dataset.view = other || "poll";
    return !!other;
  }

  function render() {
    if (renderView()) { $("stage").hidden = true; $("idle").hidden = true; document.body.classList.remove("idle"); return; }
    const p = onAir && polls.get(onAir);
    $("stage").hidden = !p;
    $("idle").hidden = !!p;
    document.body.classList.toggle("idle", !p);
    $("joined").textContent = joined ? LP.t("joined", { n: joined }) : "";
    if (!p) { LP.countdown($("countdown"), null); fitAll(true); return; }
    $("question").textContent = p.question;
    LP.countdown($("countdown"), p.state === "open" ? p.closes_at : null);
    const r0 = results.get(p.id);
    const r = r0 && r0.round === p.round ? r0 : null;
    const shown = r && (hideHere || !roomSees(p)) ? { poll: r.poll, round: r.round, voters: r.voters } : r;
    LP.renderResults($("results"), p, shown, hideHere ? LP.t("hidden_here") : LP.t("hidden_for_now"), p.kind !== "quiz");
    if (p.kind === "quiz" && LP.quiz) LP.quiz.decorate($("results"), p, shown);
    // With results hidden the big "N answers so far" already says how many answered.
    $("turnout").textContent = shown && LP.hidden(shown) ? (p.state === "closed" ? LP.t("voting_closed_suffix").replace(/^\s*·\s*/, "") : "") : turnout(p, r);
    fitAll(false);
  }

  const reconnect = LP.follow({
    // The room sees a quiet note, never an alarm; the console says it plainly.
    connection(ok) {
      $("live").hidden = false;
      $("live").textContent = ok ? LP.t("live") : LP.t("reconnecting");
      $("live").className = ok ? "live" : "live lost";
      if (ok && everConnected) loadInfo();
      if (ok) everConnected = true;
    },
    screen(s) {
      if (s.now) LP.clockOffset = s.now - Date.now();
      if (onAir !== s.poll) hideHere = false;
      onAir = s.poll;
      view = s.view || "poll";
      render();
      loadNext();
    },
    poll(p) {
      if (p.deleted) polls.delete(p.id); else polls.set(p.id, p);
      if (p.id === onAir) render();
    },
    results(r) { results.set(r.poll, r); if (r.poll === onAir) render(); },
    stats(s) { joined = s.joined; if (!onAir) render(); },
  }, "page=screen");
  signIn();
  window.addEventListener("resize", () => fitAll(true));

  function say(text) {
    $("presenter").textContent = text;
    $("presenter").hidden = false;
    clearTimeout(say._t);
    say._t = setTimeout(() => { $("presenter").hidden = true; }, 2500);
  }

  async function adminCall(path) {
    const token = sessionStorage.getItem("livepoll-admin");
    const r = await LP.api("POST", path, undefined, token ? { authorization: `Bearer ${token}` } : {}).catch(() => ({ status: 0 }));
    if (r.status === 401) say(LP.t("sign_in_first"));
    else if (r.status >= 400 || r.status === 0) say((r.data && r.data.message) || LP.t("did_not_work"));
    else if (path.startsWith("/api/screen/")) { const next = await loadNext(); if (next) say(next); }
    return r;
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (k === "escape") { $("help").hidden = true; $("qr-full").hidden = true; }
    else if (k === "?") $("help").hidden = !$("help").hidden;
    else if (k === "q") $("qr-full").hidden = !$("qr-full").hidden;
    else if (k === "h") { hideHere = !hideHere; render(); }
    else if (k === "t") setTheme(document.body.classList.contains("light") ? "dark" : "light");
    else if (k === "n" || k === "arrowright" || k === "pagedown") adminCall("/api/screen/next");
    else if (k === "p" || k === "arrowleft" || k === "pageup") adminCall("/api/screen/previous");
    else if (k === "r" && onAir) adminCall(`/api/polls/${encodeURIComponent(onAir)}/reveal`);
    else if (k === "f") document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen();
    else return;
    e.preventDefault();
  });
});
