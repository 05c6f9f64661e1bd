// The organiser console's word moderation panel (assets/words.js), below the Q&A panel.
"use strict";
(() => {
  const auth = () => {
    const token = sessionStorage.getItem("livepoll-admin");
    return token ? { authorization: `Bearer ${token}` } : {};
  };
  const { panel, refresh } = LP.wordsPanel(auth);
  document.head.append(LP.el("link", { rel: "stylesheet", href: "/assets/words.css" }));
  LP.ready.then(() => {
    const host = document.getElementById("console");
    if (host) host.append(panel);
    refresh();
    if (host) new MutationObserver(() => { if (host.dataset.loaded === "true") refresh(); }).observe(host, { attributes: true, attributeFilter: ["data-loaded"] });
  });
})();
