// Shared helpers for the three pages. Everything user-provided is inserted with textContent,
// never as HTML, so poll text can never become markup or script.
"use strict";
const LP = {
  // Languages of the attendee and projector pages (one message file each in /assets/i18n/).
  languages: ["en", "de", "fr", "es", "pt", "ar"],
  rtl: ["ar"],
  lang: "en",
  messages: {},
  fallback: {},
  // The page's language: ?lang=xx, else the browser's first supported language, else English.
  pickLanguage() {
    // A page may fix its language (the organiser console is English).
    if (document.documentElement.dataset.lang) return document.documentElement.dataset.lang;
    const asked = new URLSearchParams(location.search).get("lang");
    const wanted = [asked, ...(navigator.languages || [navigator.language])].filter(Boolean);
    for (const w of wanted) {
      const base = String(w).toLowerCase().split("-")[0];
      if (LP.languages.includes(base)) return base;
    }
    return "en";
  },
  async loadMessages() {
    const get = async (l) => { try { const r = await fetch(`/assets/i18n/${l}.json`); return r.ok ? await r.json() : {}; } catch (_) { return {}; } };
    LP.lang = LP.pickLanguage();
    // The projector may be told its language by the organiser (serve --language); ?lang= wins.
    if (document.documentElement.dataset.page === "screen" && !new URLSearchParams(location.search).get("lang")) {
      try {
        const info = await (await fetch("/api/info")).json();
        if (info.language && LP.languages.includes(info.language)) LP.lang = info.language;
      } catch (_) { /* the browser's language then */ }
    }
    LP.fallback = await get("en");
    LP.messages = LP.lang === "en" ? LP.fallback : await get(LP.lang);
    document.documentElement.lang = LP.lang;
    document.documentElement.dir = LP.rtl.includes(LP.lang) ? "rtl" : "ltr";
    LP.translate(document);
  },
  // The message for key in the page's language (English if missing), with {name} replaced by
  // vars (numbers formatted for the language); a message with plural forms picks by vars.n.
  t(key, vars) {
    let m = LP.messages[key] !== undefined ? LP.messages[key] : LP.fallback[key];
    if (m === undefined) return key;
    vars = vars || {};
    if (typeof m === "object") {
      const forms = m;
      const cat = new Intl.PluralRules(LP.lang).select(Number(vars.n) || 0);
      m = forms[cat] !== undefined ? forms[cat] : forms.other;
    }
    return m.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined ? `{${k}}` : typeof vars[k] === "number" ? LP.num(vars[k]) : String(vars[k])));
  },
  num(n, opts) { return new Intl.NumberFormat(LP.lang, opts).format(n); },
  pct(share) { return LP.num(share, { style: "percent", maximumFractionDigits: 0 }); },
  // Fills elements marked data-i18n="key" (text) and data-i18n-attr="attr:key,…" (attributes).
  translate(root) {
    for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = LP.t(e.dataset.i18n);
    for (const e of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of e.dataset.i18nAttr.split(",")) {
        const [attr, key] = pair.split(":");
        e.setAttribute(attr.trim(), LP.t(key.trim()));
      }
    }
  },
  el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  },
  async api(method, path, body, headers) {
    const opts = { method, headers: Object.assign({}, headers || {}), credentials: "same-origin" };
    if (body !== undefined) opts.body = JSON.stringify(body);
    // State-changing requests are JSON (the server refuses other types, against forged forms).
    if (method !== "GET") opts.headers["content-type"] = "application/json";
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty body */ }
    return { status: res.status, data, retryAfter: Number(res.headers.get("retry-after") || 0) };
  },
  // Follows /api/events; calls handlers.poll/results/screen/stats (and any other event name a
  // handler is given for), and handlers.connection(bool). Feature scripts add listeners with
  // LP.on(name, fn) before or after; they survive reconnects.
  listeners: {},
  on(name, fn) {
    (LP.listeners[name] = LP.listeners[name] || []).push(fn);
    if (LP._es) LP._es.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
  },
  follow(handlers, query) {
    let es;
    let retry = 1000;
    const open = () => {
      es = new EventSource(`/api/events${query ? `?${query}` : ""}`);
      LP._es = es;
      es.onopen = () => { retry = 1000; if (handlers.connection) handlers.connection(true); };
      es.onerror = () => {
        if (handlers.connection) handlers.connection(false);
        // The browser retries network drops by itself, but gives up for good after an HTTP error
        // (a restarting server, a captive portal): then start over after a pause.
        // A full server answers 503 busy: waits grow (2 s doubling to 60 s, with jitter) so a
        // room of phones does not come back all at once.
        if (es.readyState === EventSource.CLOSED) {
          es.close();
          retry = Math.min(retry * 2, 60000);
          setTimeout(open, retry / 2 + Math.random() * retry / 2);
        }
      };
      for (const name of Object.keys(handlers)) {
        if (name !== "connection") es.addEventListener(name, (ev) => handlers[name](JSON.parse(ev.data)));
      }
      for (const [name, fns] of Object.entries(LP.listeners)) {
        for (const fn of fns) es.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
      }
    };
    open();
    // A page left for another (kept frozen in the back/forward cache) must not keep its stream:
    // browsers allow only a few connections per server, and frozen streams would use them up.
    window.addEventListener("pagehide", () => es.close());
    window.addEventListener("pageshow", (e) => { if (e.persisted) open(); });
    return () => { es.close(); open(); };
  },
  // Projector views other than the poll ("qa", "leaderboard"): feature scripts register
  // LP.views[name] = { show(container), hide() } and the screen calls them.
  views: {},
  clockOffset: 0,
  // Resolves once the page's messages are loaded; pages start from it.
  ready: null,
  // Shows the time left until closesAt; the element keeps its height when there is no timer,
  // so nothing below it jumps when a countdown ends.
  countdown(el, closesAt) {
    clearInterval(el._timer);
    const tick = () => {
      const left = Math.max(0, Math.ceil((closesAt - (Date.now() + LP.clockOffset)) / 1000));
      el.textContent = LP.t("time_left", { time: `${LP.num(Math.floor(left / 60))}:${LP.num(left % 60, { minimumIntegerDigits: 2 })}` });
      el.classList.toggle("ending", left <= 10);
      if (!left) clearInterval(el._timer);
    };
    if (closesAt) { tick(); el._timer = setInterval(tick, 250); } else { el.textContent = "\u00a0"; el.classList.remove("ending"); }
  },
  // A paused poll's time left, standing still.
  pausedTime(el, remainingMs) {
    clearInterval(el._timer);
    const left = Math.ceil((remainingMs || 0) / 1000);
    el.textContent = LP.t("paused_left", { time: `${LP.num(Math.floor(left / 60))}:${LP.num(left % 60, { minimumIntegerDigits: 2 })}` });
    el.classList.remove("ending");
  },
  // Results hidden from this viewer come as a results object with only "voters".
  hidden(results) { return !!results && !results.counts && !results.words; },
  plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; },
  // Renders results into container: bars, a rating histogram with its mean, or a word cloud.
  // Bars and columns are built once per poll round; later updates only resize them, so they
  // glide (CSS transitions) instead of jumping. Bars are a share of voters (not of the leader),
  // each option has its own colour, and the leader is marked.
  // With showOptions (the projector) hidden results still list the options, without counts.
  renderResults(container, poll, results, hiddenText, showOptions) {
    if (!poll || !results) { container.replaceChildren(); container._key = null; return; }
    if (LP.hidden(results)) return LP.renderHidden(container, results, hiddenText, showOptions ? poll : null);
    if (poll.kind === "wordcloud") return LP.renderWords(container, results.words || []);
    const rating = poll.kind === "rating";
    const counts = results.counts || [];
    const labels = rating ? counts.map((_, i) => LP.num(i + 1)) : poll.options;
    const key = `${poll.id}/${poll.round}/${poll.kind}/${labels.join("\u0000")}`;
    if (container._key !== key) {
      container._key = key;
      container._rows = labels.map((label, i) => {
        const fill = LP.el("span", { class: `fill c${i % 12}` });
        const count = LP.el("span", { class: "count" });
        const item = rating
          ? LP.el("div", { class: "col", role: "img" }, count, LP.el("div", { class: "col-bar" }, fill), LP.el("span", { class: "col-label", text: label }))
          : LP.el("li", {}, LP.el("div", { class: "bar-label", "aria-hidden": "true" }, LP.el("span", { class: "opt", dir: "auto", text: label }), count), LP.el("div", { class: "bar" }, fill));
        // A list item keeps its role; screen readers get one sentence per option instead of the bar.
        const said = rating ? null : LP.el("span", { class: "sr-only" });
        if (said) item.prepend(said);
        return { label, fill, count, item, said };
      });
      const items = container._rows.map((r) => r.item);
      container._mean = LP.el("p", { class: "mean" });
      if (rating) {
        const ends = poll.labels && poll.labels.length === 2
          ? LP.el("div", { class: "ends" }, LP.el("span", { dir: "auto", text: poll.labels[0] }), LP.el("span", { dir: "auto", text: poll.labels[1] }))
          : null;
        container.replaceChildren(...[container._mean, LP.el("div", { class: "histogram" }, ...items), ends].filter(Boolean));
      } else container.replaceChildren(LP.el("ul", { class: `bars n${Math.min(labels.length, 20)}` }, ...items));
    }
    const voters = results.voters || 0;
    const max = Math.max(0, ...counts);
    // The leader is marked when it leads: not when half the options or more share the top.
    const tied = counts.filter((n) => n === max).length;
    const marked = max > 0 && tied * 2 < Math.max(counts.length, 3);
    counts.forEach((n, i) => {
      const r = container._rows[i];
      if (!r) return;
      const share = voters ? n / voters : 0;
      r.count.textContent = rating ? LP.num(n) : `${LP.num(n)} · ${LP.pct(share)}`;
      const said = LP.t("bar_label", { label: rating ? LP.t("rated", { label: r.label }) : r.label, votes: LP.t("votes", { n }), pct: LP.pct(share) });
      if (r.said) r.said.textContent = said; else r.item.setAttribute("aria-label", said);
      r.item.classList.toggle("lead", marked && n === max);
      requestAnimationFrame(() => { r.fill.style[rating ? "height" : "width"] = `${100 * share}%`; });
    });
    if (rating) {
      container._mean.textContent = results.mean != null && voters ? LP.t("average", { mean: LP.num(results.mean, { minimumFractionDigits: 1, maximumFractionDigits: 1 }), max: labels.length }) : LP.t("no_ratings");
    }
  },
  renderHidden(container, results, text, poll) {
    const options = poll && poll.options && poll.options.length ? poll.options : null;
    const key = options ? `hidden/${poll.id}/${options.join("\u0000")}` : "hidden";
    if (container._key !== key) {
      container._key = key;
      container._n = LP.el("span", { class: "answered-n" });
      container._label = LP.el("span", { class: "answered-label" });
      container._note = LP.el("span", { class: "answered-note" });
      const list = options ? LP.el("ol", { class: "options-only" }, ...options.map((o, i) => LP.el("li", { class: `c${i % 12}` }, LP.el("span", { class: "opt", dir: "auto", text: o })))) : null;
      container.replaceChildren(...[LP.el("div", { class: `answered${options ? " with-options" : ""}`, role: "status" }, container._n, container._label, container._note), list].filter(Boolean));
    }
    container._n.textContent = LP.num(results.voters || 0);
    container._label.textContent = LP.t("answers_so_far", { n: results.voters || 0 });
    container._note.textContent = text || LP.t("hidden_for_now");
  },
  renderWords(container, words) {
    container._key = null;
    const max = Math.max(1, ...words.map((w) => w[1]));
    const cloud = LP.el("div", { class: "words", "aria-hidden": "true" });
    words.forEach(([w, n], i) => {
      const s = LP.el("span", { class: `w c${i % 12}`, dir: "auto", title: LP.t("votes", { n }) }, w, n > 1 ? LP.el("small", { text: LP.num(n) }) : null);
      s.style.fontSize = `${0.8 + 2.2 * Math.sqrt(n / max)}em`;
      cloud.append(s);
    });
    if (!words.length) cloud.append(LP.el("span", { class: "muted", text: LP.t("no_words") }));
    container.replaceChildren(cloud, LP.el("p", { class: "sr-only", text: words.map(([w, n]) => `${w}: ${LP.t("votes", { n })}`).join(", ") }));
  },
  // Largest font size (px, between min and max) at which box's content fits inside box.
  fit(box, min, max) {
    let lo = min, hi = max, best = min;
    const fits = () => box.scrollHeight <= box.clientHeight + 1 && box.scrollWidth <= box.clientWidth + 1;
    for (let i = 0; i < 14 && hi - lo > 0.5; i++) {
      const mid = (lo + hi) / 2;
      box.style.fontSize = `${mid}px`;
      if (fits()) { best = mid; lo = mid; } else hi = mid;
    }
    box.style.fontSize = `${best}px`;
    return best;
  },
};
LP.ready = LP.loadMessages();
