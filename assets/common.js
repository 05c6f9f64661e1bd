// Shared helpers for the three pages. Everything user-provided is inserted with textContent,
// never as HTML, so poll text can never become markup or script.
"use strict";
const LP = {
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
    if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty body */ }
    return { status: res.status, data, retryAfter: Number(res.headers.get("retry-after") || 0) };
  },
  // Follows /api/events; calls handlers.poll/results/screen, and handlers.connection(bool).
  follow(handlers) {
    let es;
    const open = () => {
      es = new EventSource("/api/events");
      es.onopen = () => handlers.connection && handlers.connection(true);
      es.onerror = () => handlers.connection && handlers.connection(false);
      for (const name of ["poll", "results", "screen"]) {
        es.addEventListener(name, (ev) => handlers[name] && handlers[name](JSON.parse(ev.data)));
      }
    };
    open();
    return () => { es.close(); open(); };
  },
  clockOffset: 0,
  countdown(el, closesAt) {
    clearInterval(el._timer);
    const tick = () => {
      const left = Math.max(0, Math.ceil((closesAt - (Date.now() + LP.clockOffset)) / 1000));
      el.textContent = closesAt ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left` : "";
      if (!left) clearInterval(el._timer);
    };
    if (closesAt) { tick(); el._timer = setInterval(tick, 250); } else el.textContent = "";
  },
  // Renders results into container: bars, a rating histogram with mean, or a word cloud.
  renderResults(container, poll, results) {
    if (!poll || !results) { container.replaceChildren(); container._key = null; return; }
    if (poll.kind === "wordcloud") {
      container._key = null;
      const words = results.words || [];
      const max = Math.max(1, ...words.map((w) => w[1]));
      const cloud = LP.el("div", { class: "words", "aria-label": "word cloud" });
      for (const [w, n] of words) {
        const s = LP.el("span", { text: w, title: `${n}` });
        s.style.fontSize = `${0.9 + 2.6 * (n / max)}em`;
        cloud.append(s);
      }
      container.replaceChildren(cloud, LP.el("p", { class: "sr-only", text: words.map(([w, n]) => `${w}: ${n}`).join(", ") }));
      return;
    }
    const labels = poll.kind === "rating" ? results.counts.map((_, i) => String(i + 1)) : poll.options;
    const key = `${poll.id}/${poll.round}/${labels.length}`;
    if (container._key !== key) {
      // Build the bars once per poll round; later updates only move them (smooth, no jumps).
      container._key = key;
      container._rows = labels.map((label) => {
        const fill = LP.el("span");
        const count = LP.el("span");
        const bar = LP.el("div", { class: "bar", role: "img" }, fill);
        return { label, fill, count, bar, li: LP.el("li", {}, LP.el("div", { class: "bar-label" }, LP.el("span", { text: label }), count), bar) };
      });
      container._mean = LP.el("p", { class: "turnout" });
      container.replaceChildren(LP.el("ul", { class: "bars" }, ...container._rows.map((r) => r.li)));
      if (poll.kind === "rating") container.append(container._mean);
    }
    const total = results.counts.reduce((a, b) => a + b, 0);
    const max = Math.max(1, ...results.counts);
    results.counts.forEach((n, i) => {
      const r = container._rows[i];
      const pct = total ? Math.round((100 * n) / total) : 0;
      r.count.textContent = `${n} · ${pct}%`;
      r.bar.setAttribute("aria-label", `${r.label}: ${n} votes, ${pct} percent`);
      requestAnimationFrame(() => { r.fill.style.width = `${(100 * n) / max}%`; });
    });
    container._mean.textContent = poll.kind === "rating" ? `Mean ${results.mean}` : "";
  },
};
