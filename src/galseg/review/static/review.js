// galseg review: the reviewer's page. Plain JavaScript, no build step.
// The server knows which source is on which side; this page only ever sees "A" (left)
// and "B" (right), and only this reviewer's own state.
"use strict";

(() => {
  const token = document.querySelector('meta[name="review-token"]').content;
  const LABELS = {left: "A better", right: "B better", both_good: "Both good", both_bad: "Both bad"};
  const KEYS = {"1": "left", a: "left", "2": "right", b: "right",
                "3": "both_good", g: "both_good", "4": "both_bad", x: "both_bad"};
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (selector) => document.querySelector(selector);
  const $$ = (selector) => Array.from(document.querySelectorAll(selector));

  let state = null;      // {n_pairs, n_done, position, last}
  let item = null;       // {position, width, height, image, outlines: {A, B}}
  let busy = false;
  let zoomSide = null;

  async function api(path, body) {
    const options = {credentials: "same-origin", cache: "no-store", headers: {}};
    if (body !== undefined) {
      options.method = "POST";
      options.headers = {"Content-Type": "application/json", "X-Review-Token": token};
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.error || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function say(text, kind) {
    const message = $("#message");
    message.textContent = text;
    message.className = kind || "";
  }

  function drawOutlines(svg, paths, width, height) {
    svg.setAttribute("viewBox", `-0.5 -0.5 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren();
    for (const cls of ["halo", "line"]) {
      for (const flat of paths) {
        let d = "";
        for (let k = 0; k < flat.length; k += 2) d += (k ? " L" : "M") + flat[k] + " " + flat[k + 1];
        const path = document.createElementNS(SVG, "path");
        path.setAttribute("d", d + " Z");
        path.setAttribute("class", cls);
        svg.appendChild(path);
      }
    }
  }

  function showFrame(frame, side) {
    const img = frame.querySelector("img");
    img.width = item.width;
    img.height = item.height;
    if (img.getAttribute("src") !== item.image) img.src = item.image;
    frame.style.aspectRatio = `${item.width} / ${item.height}`;
    drawOutlines(frame.querySelector("svg"), item.outlines[side], item.width, item.height);
  }

  function setProgress() {
    const done = state.n_done, total = state.n_pairs;
    $("#progress-text").textContent = state.position === null
      ? `${done} of ${total} done` : `pair ${state.position} of ${total} · ${done} done`;
    $("#progress-bar").style.width = `${total ? (100 * done) / total : 0}%`;
  }

  async function show(newState) {
    // the pair first, then the progress: "pair k" is only said once pair k is shown
    if (newState.position !== null && (!item || item.position !== newState.position)) {
      item = await api(`/api/item/${newState.position}`);
    }
    state = newState;
    setProgress();
    for (const button of $$(".undo")) button.disabled = !state.last;
    if (state.position === null) {
      closeZoom();
      $("#review").hidden = true;
      $("#done").hidden = false;
      return;
    }
    for (const panel of $$(".panel")) showFrame(panel.querySelector(".frame"), panel.dataset.side);
    if (zoomSide) showZoom(zoomSide);
    $("#done").hidden = true;
    $("#review").hidden = false;
    if (state.position < state.n_pairs) new Image().src = `/img/${state.position + 1}.png`;
  }

  async function act(work) {
    if (busy || !state) return;
    busy = true;
    document.body.classList.add("busy");
    try {
      await work();
    } catch (error) {
      if (error.status === 409) {
        say(`${error.message}. Showing where you are now.`, "error");
        await show(await api("/api/state")).catch(() => {});
      } else if (error.status === 403) {
        say("This page has no valid review link any more: open your link again.", "error");
      } else {
        say(`Not saved (${error.message}); your earlier choices are safe. Try again.`, "error");
      }
    } finally {
      busy = false;
      document.body.classList.remove("busy");
    }
  }

  function choose(choice) {
    if (!state || state.position === null) return;
    return act(async () => {
      const position = state.position;
      await show(await api("/api/choice", {position, choice}));
      say(`Pair ${position}: “${LABELS[choice]}” saved.`);
    });
  }

  function undo() {
    if (!state || !state.last) return;
    return act(async () => {
      const last = state.last;
      await show(await api("/api/undo", {position: last.position}));
      say(`Undone: pair ${last.position} was “${LABELS[last.choice]}”. Choose again.`);
    });
  }

  function toggleOutlines() {
    document.body.classList.toggle("no-outlines");
  }

  // ------------------------------------------------------------------ zoom
  function showZoom(side) {
    zoomSide = side;
    showFrame($("#zoom-frame"), side);
    for (const button of $$("[data-zoom]")) {
      button.setAttribute("aria-pressed", String(button.dataset.zoom === side));
    }
  }

  function openZoom(side, event) {
    const rect = event.currentTarget.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width;
    const fy = (event.clientY - rect.top) / rect.height;
    const zoom = $("#zoom");
    zoom.hidden = false;
    showZoom(side);
    const scroll = $("#zoom-scroll");
    // At least 2.5 times the panel, and at least as large as the window allows.
    const fit = Math.min(scroll.clientWidth / item.width, scroll.clientHeight / item.height);
    const scale = Math.max(fit, (2.5 * rect.width) / item.width);
    const frame = $("#zoom-frame");
    frame.style.width = `${Math.round(scale * item.width)}px`;
    frame.style.height = `${Math.round(scale * item.height)}px`;
    scroll.scrollLeft = fx * scale * item.width - scroll.clientWidth / 2;
    scroll.scrollTop = fy * scale * item.height - scroll.clientHeight / 2;
  }

  function closeZoom() {
    zoomSide = null;
    $("#zoom").hidden = true;
  }

  // ------------------------------------------------------------------ events
  for (const button of $$("[data-choice]")) {
    button.addEventListener("click", () => choose(button.dataset.choice));
  }
  for (const button of $$(".undo")) button.addEventListener("click", undo);
  for (const panel of $$(".panel")) {
    panel.querySelector(".frame").addEventListener("click", (event) => {
      if (item) openZoom(panel.dataset.side, event);
    });
  }
  for (const button of $$("[data-zoom]")) {
    button.addEventListener("click", () => showZoom(button.dataset.zoom));
  }
  $("#zoom-outlines").addEventListener("click", toggleOutlines);
  $("#zoom-close").addEventListener("click", closeZoom);
  $("#zoom-frame").addEventListener("click", closeZoom);

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.metaKey || event.repeat) return;
    const key = event.key.toLowerCase();
    if (event.ctrlKey) {
      if (key === "z") { event.preventDefault(); undo(); }
      return;
    }
    if (zoomSide) {
      if (key === "escape") closeZoom();
      else if (key === "a" || key === "1" || key === "arrowleft") showZoom("A");
      else if (key === "b" || key === "2" || key === "arrowright") showZoom("B");
      else if (key === "o") toggleOutlines();
      else return;
      event.preventDefault();
      return;
    }
    if (KEYS[key]) choose(KEYS[key]);
    else if (key === "u" || key === "backspace") undo();
    else if (key === "o") toggleOutlines();
    else return;
    event.preventDefault();
  });

  api("/api/state").then(show).catch((error) => {
    say(error.status === 403 ? "This page needs your review link: open it again."
                             : `Could not load the review (${error.message}). Reload the page.`, "error");
  });
})();
