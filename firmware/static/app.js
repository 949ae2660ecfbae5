// The billboard page: show the state from /state, then follow /events.
// EventSource reconnects by itself; every (re)connection begins with the full
// state, so nothing missed while disconnected stays missed.
"use strict";

const $ = (id) => document.getElementById(id);

function apply(state) {
  if (!state || typeof state.seq !== "number") return;
  // Events can overtake a slow /state response: never go back in time, unless the
  // kiosk restarted (a new boot id), when its sequence numbers start again.
  const sameBoot = state.boot === document.body.dataset.boot;
  if (sameBoot && state.seq < Number(document.body.dataset.seq)) return;
  document.body.dataset.boot = state.boot;
  document.body.dataset.seq = String(state.seq);
  const item = state.item;
  const video = $("video");
  $("privacy").textContent = state.privacy || "";
  // "Tap here" only while the tag holds this very link (tag_ready null: not known, trust it).
  $("tap").hidden = !(item && state.nfc && state.tag_ready !== false);
  if (!item) {
    document.body.dataset.url = "";
    video.hidden = true;
    video.removeAttribute("src");
    $("nothing").hidden = false;
    $("nothing-text").textContent = "Nothing to show right now.";
    $("title").textContent = "";
    $("qr-box").hidden = true;
    return;
  }
  const changed = document.body.dataset.url !== item.url;
  document.body.dataset.url = item.url;
  $("title").textContent = item.title;
  if (item.embed) {
    // Only reload the player when the video really changes (no flicker on re-sync).
    if (video.getAttribute("src") !== item.embed) video.setAttribute("src", item.embed);
    video.hidden = false;
    $("nothing").hidden = true;
  } else {
    video.hidden = true;
    video.removeAttribute("src");
    $("nothing").hidden = false;
    $("nothing-title").textContent = item.title;
    $("nothing-text").textContent = item.url;
  }
  if (changed || $("qr").getAttribute("src") === null) {
    $("qr").setAttribute("src", "/qr.svg?seq=" + state.seq);
  }
  $("qr-box").hidden = false;
}

function connected(yes) {
  document.body.dataset.connected = yes ? "1" : "0";
  $("offline").hidden = yes;
}

function resync() {
  fetch("/state", { cache: "no-store" })
    .then((r) => (r.ok ? r.json() : null))
    .then(apply)
    .catch(() => {});
}

function follow() {
  const source = new EventSource("/events");
  source.addEventListener("state", (e) => {
    try { apply(JSON.parse(e.data)); } catch (err) { /* a torn event: the next one repairs it */ }
  });
  source.onopen = () => { connected(true); resync(); };
  source.onerror = () => {
    connected(false);
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. the server answered with an error): start again.
      setTimeout(follow, 2000);
    }
  };
}

resync();
follow();
