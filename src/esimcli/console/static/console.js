// esimflow console: the Detail pop-up and the live migration view. No library, nothing fetched
// from anywhere but this console.
"use strict";

function openDetail(event) {
  const link = event.currentTarget;
  const dialog = document.getElementById("detail-dialog");
  if (!dialog || !dialog.showModal) return;  // no <dialog> support: the link opens the page
  event.preventDefault();
  fetch(link.dataset.detail, {credentials: "same-origin"})
    .then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    })
    .then((html) => {
      document.getElementById("detail-body").innerHTML = html;
      dialog.showModal();
    })
    .catch(() => { window.location.href = link.href; });
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "?";
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}

function show(section, status) {
  const formats = {
    rate: (v) => v.toFixed(2),
    duration: duration,
    percent: (v) => Math.round(v * 100) + "%",
  };
  section.querySelectorAll("[data-field]").forEach((element) => {
    const name = element.dataset.field;
    if (name === "bar") { element.setAttribute("width", status.percent); return; }
    if (name === "chart") { element.innerHTML = status.chart; return; }
    if (name === "live") {
      element.textContent = status.live ? "live from Temporal" : (status.problem || "from the migration store");
      return;
    }
    if (name === "canary") {
      element.textContent = status.canary_size
        ? `${status.canary_size} devices, ${status.canary_finished ? "finished" : "in progress"}` : "none";
      return;
    }
    if (name === "state") {
      element.textContent = status.state;
      element.className = "state state-" + status.state;
      return;
    }
    const value = status[name];
    const format = formats[element.dataset.format];
    element.textContent = value === null || value === undefined ? "" : format ? format(value) : value;
  });
  section.querySelectorAll("[data-count]").forEach((element) => {
    element.textContent = status.counts[element.dataset.count] || 0;
  });
}

function follow(section) {
  const url = section.dataset.statusUrl;
  const tick = () => {
    fetch(url, {credentials: "same-origin"})
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((status) => {
        show(section, status);
        if (!["completed", "cancelled", "aborted", "rejected"].includes(status.state) || status.live) {
          setTimeout(tick, 1000);
        }
      })
      .catch(() => setTimeout(tick, 5000));
  };
  setTimeout(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("a.detail[data-detail]").forEach((link) => link.addEventListener("click", openDetail));
  const migration = document.getElementById("migration");
  if (migration) follow(migration);
});
