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
      es.onerror = () => {
        if (handlers.connection) handlers.connection(false);
        // The browser retries network drops by itself, but gives up for good after an HTTP error
        // (a restarting server, a captive portal): then start over after a pause.
        if (es.readyState === EventSource.CLOSED) { es.close(); setTimeout(open, 2000); }
      };
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
  // Renders results into container: bars, a rating histogram with its mean, or a word cloud.
  // Bars and columns are built once per poll round; later updates only resize them, so they
  // glide (CSS transitions) instead of jumping.
  renderResults(container, poll, results) {
    if (!poll || !results) { container.replaceChildren(); container._key = null; return; }
    if (poll.kind === "wordcloud") return LP.renderWords(container, results.words || []);
    const rating = poll.kind === "rating";
    const counts = results.counts || [];
    const labels = rating ? counts.map((_, i) => String(i + 1)) : poll.options;
    const key = `${poll.id}/${poll.round}/${poll.kind}/${labels.length}`;
    if (container._key !== key) {
      container._key = key;
      container._rows = labels.map((label) => {
        const fill = LP.el("span");
        const count = LP.el("span", { class: "count" });
        const item = rating
          ? LP.el("div", { class: "col", role: "img" }, count, LP.el("div", { class: "col-bar" }, fill), LP.el("span", { class: "col-label", text: label }))
          : LP.el("li", { role: "img" }, LP.el("div", { class: "bar-label" }, LP.el("span", { text: label }), count), LP.el("div", { class: "bar" }, fill));
        return { label, fill, count, item };
      });
      const items = container._rows.map((r) => r.item);
      container._mean = LP.el("p", { class: "mean" });
      if (rating) container.replaceChildren(container._mean, LP.el("div", { class: "histogram" }, ...items));
      else container.replaceChildren(LP.el("ul", { class: "bars" }, ...items));
    }
    const total = counts.reduce((a, b) => a + b, 0);
    const max = Math.max(1, ...counts);
    counts.forEach((n, i) => {
      const r = container._rows[i];
      const pct = total ? Math.round((100 * n) / total) : 0;
      r.count.textContent = rating ? String(n) : `${n} · ${pct}%`;
      r.item.setAttribute("aria-label", `${rating ? `rated ${r.label}` : r.label}: ${n} ${n === 1 ? "vote" : "votes"}, ${pct} percent`);
      r.item.classList.toggle("lead", n > 0 && n === max);
      requestAnimationFrame(() => { r.fill.style[rating ? "height" : "width"] = `${(100 * n) / max}%`; });
    });
    if (rating) {
      container._mean.textContent = results.mean != null ? `Average ${results.mean.toFixed(1)} / ${labels.length}` : "No ratings yet";
    }
  },
  renderWords(container, words) {
    container._key = null;
    const max = Math.max(1, ...words.map((w) => w[1]));
    const cloud = LP.el("div", { class: "words", "aria-hidden": "true" });
    for (const [w, n] of words) {
      const s = LP.el("span", { text: w, title: `${n}` });
      s.style.fontSize = `${0.8 + 2.4 * Math.sqrt(n / max)}em`;
      s.style.opacity = String(0.55 + 0.45 * (n / max));
      cloud.append(s);
    }
    if (!words.length) cloud.append(LP.el("span", { class: "muted", text: "No words yet" }));
    container.replaceChildren(cloud, LP.el("p", { class: "sr-only", text: words.map(([w, n]) => `${w}: ${n}`).join(", ") }));
  },
};
