// modelship dashboard: charts (plotly.js from the plotly package), self-refreshing data pages, the upload flow.
"use strict";

(function () {
  function drawCharts(root) {
    if (typeof window.Plotly === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = JSON.parse(el.getAttribute("data-chart"));
      window.Plotly.newPlot(el, spec.data, spec.layout, { displaylogo: false, responsive: true });
    });
  }

  // Data pages refetch themselves and swap <main>, so filters, scroll position and the sidebar stay put.
  function startRefresh() {
    var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (!seconds) return;
    var status = document.getElementById("refresh-status");
    window.setInterval(function () {
      if (document.hidden) return;
      fetch(window.location.href, { headers: { "X-Dashboard-Refresh": "1" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
          var main = document.getElementById("main");
          if (!fresh || !main) return;
          if (typeof window.Plotly !== "undefined") {
            main.querySelectorAll("[data-chart]").forEach(function (el) { window.Plotly.purge(el); });
          }
          main.innerHTML = fresh.innerHTML;
          drawCharts(main);
          if (status) status.textContent = "updated " + new Date().toLocaleTimeString();
        })
        .catch(function (err) {
          if (status) status.textContent = "refresh failed: " + err.message;
        });
    }, seconds * 1000);
  }

  function percent(value) {
    return value === null || value === undefined ? "-" : (value * 100).toFixed(1) + "%";
  }

  function showPrediction(card, prediction) {
    card.classList.remove("pending");
    card.classList.add("done");
    card.querySelector(".mc-class").textContent = prediction.predicted_class;
    card.querySelector(".mc-version").textContent = prediction.model_version;
    card.querySelector(".mc-bar").style.width = Math.max(0, Math.min(1, prediction.confidence || 0)) * 100 + "%";
    card.querySelector(".mc-conf").textContent = percent(prediction.confidence);
    var ms = prediction.latency_ms;
    card.querySelector(".mc-latency").textContent = ms >= 100 ? ms.toFixed(0) + " ms" : ms.toFixed(1) + " ms";
  }

  function cardFor(container, name) {
    var found = null;
    container.querySelectorAll(".model-card").forEach(function (card) {
      if (card.getAttribute("data-model") === name) found = card;
    });
    if (found) return found;
    var card = document.createElement("article");
    card.className = "card model-card pending";
    card.setAttribute("data-model", name);
    card.innerHTML = '<h3></h3><p class="muted">version <span class="mc-version">?</span></p><p class="mc-class">waiting…</p>' +
      '<div class="conf"><div class="conf-bar mc-bar" style="width: 0%"></div><span class="mc-conf">-</span></div>' +
      '<p class="muted">latency <span class="mc-latency">-</span></p>';
    card.querySelector("h3").textContent = name;
    container.appendChild(card);
    return card;
  }

  function startUpload() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var expected = JSON.parse(form.getAttribute("data-models") || "[]");
    var status = document.getElementById("upload-status");
    var result = document.getElementById("upload-result");
    var cards = document.getElementById("model-cards");
    var button = document.getElementById("upload-submit");
    var preview = document.getElementById("upload-preview");
    var previewUrl = null;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = document.getElementById("upload-file").files[0];
      if (!file) return;
      button.disabled = true;
      status.textContent = "uploading…";
      cards.querySelectorAll(".model-card").forEach(function (card) {
        card.className = "card model-card pending";
        card.querySelector(".mc-class").textContent = "waiting…";
        card.querySelector(".mc-bar").style.width = "0%";
        card.querySelector(".mc-conf").textContent = "-";
        card.querySelector(".mc-latency").textContent = "-";
      });
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(file);
      preview.src = previewUrl;
      result.hidden = false;
      var body = new FormData();
      body.append("file", file);
      fetch("/api/images?source=dashboard", { method: "POST", body: body })
        .then(function (response) {
          return response.json().then(function (doc) {
            if (!response.ok) throw new Error(doc.detail || "HTTP " + response.status);
            return doc;
          });
        })
        .then(function (accepted) {
          document.getElementById("upload-id").textContent = "image " + accepted.id;
          status.textContent = "scoring with " + (expected.length || "every") + " image model(s)…";
          poll(accepted.id, Date.now() + 60000);
        })
        .catch(function (err) {
          status.textContent = "upload failed: " + err.message;
          button.disabled = false;
        });
    });

    function poll(id, deadline) {
      fetch("/api/images/" + encodeURIComponent(id), { cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (image) {
          var seen = {};
          (image.predictions || []).forEach(function (p) {
            seen[p.model_name] = true;
            showPrediction(cardFor(cards, p.model_name), p);
          });
          var missing = expected.filter(function (name) { return !seen[name]; });
          if (image.status === "failed") {
            status.textContent = "failed: " + (image.error || "unknown reason");
            button.disabled = false;
          } else if (missing.length === 0 && (image.predictions || []).length > 0) {
            status.textContent = "done: " + image.predictions.length + " prediction(s)";
            button.disabled = false;
          } else if (Date.now() > deadline) {
            status.textContent = "still waiting for " + missing.join(", ") + " (status " + image.status + ")";
            button.disabled = false;
          } else {
            window.setTimeout(function () { poll(id, deadline); }, 400);
          }
        })
        .catch(function (err) {
          status.textContent = "could not read the image's predictions: " + err.message;
          button.disabled = false;
        });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    startRefresh();
    startUpload();
  });
})();
