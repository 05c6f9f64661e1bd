// The organiser console's word moderation and quiz players panels (assets/words.js,
// assets/players.js), below the Q&A panel.
"use strict";
(() => {
  const auth = () => {
    const token = sessionStorage.getItem("livepoll-admin");
    return token ? { authorization: `Bearer ${token}` } : {};
  };
  const { panel, refresh } = LP.wordsPanel(auth);
  const players = LP.playersPanel(auth);
  LP.on("poll", () => players.refresh());
  document.head.append(LP.el("link", { rel: "stylesheet", href: "/assets/words.css" }));
  LP.ready.then(() => {
    const host = document.getElementById("console");
    if (host) host.append(panel, players.panel);
    refresh();
    players.refresh();
    if (host) new MutationObserver(() => { if (host.dataset.loaded === "true") { refresh(); players.refresh(); } }).observe(host, { attributes: true, attributeFilter: ["data-loaded"] });
  });
})();
