// The billboard page: show the state from /state, then follow /events.
// EventSource reconnects by itself; every (re)connection begins with the full
// state, so nothing missed while disconnected stays missed.
//
// What plays: the item's own video file if it has one; else its YouTube video,
// but only once this browser has fetched the video's thumbnail (the network is
// there and the video exists); else its poster. Never a browser error page.
"use strict";

const $ = (id) => document.getElementById(id);
const PROBE_EVERY_MS = 5000;
const PROBE_TIMEOUT_MS = 3000;
// YouTube answers a video that does not exist with a 120x90 placeholder.
const PLACEHOLDER_WIDTH = 120;

let item = null;
let reachable = false;
let localFailed = false;

function mode() {
  if (!item) return "nothing";
  if (item.video && !localFailed) return "video";
  if (item.embed && reachable) return "embed";
  return "poster";
}

function setSrc(el, src) {
  if (src) {
    if (el.getAttribute("src") !== src) el.setAttribute("src", src);
  } else if (el.hasAttribute("src")) {
    el.removeAttribute("src");
    if (el.load) el.load();
  }
}

function render() {
  const now = mode();
  document.body.dataset.mode = now;
  document.body.dataset.reachable = reachable ? "1" : "0";
  const video = $("video");
  const local = $("local");
  setSrc($("poster"), item ? item.poster : null);
  $("poster").hidden = !item;
  setSrc(video, now === "embed" ? item.embed : null);
  video.hidden = now !== "embed";
  setSrc(local, now === "video" ? item.video : null);
  local.hidden = now !== "video";
  if (now === "video") local.play().catch(() => {});
  $("nothing").hidden = now !== "nothing";
}

function probe() {
  if (!item || !item.probe || (item.video && !localFailed)) return;
  const wanted = item.url;
  const img = new Image();
  let done = false;
  const finish = (ok) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    img.onload = img.onerror = null;
    if (item && item.url === wanted && ok !== reachable) {
      reachable = ok;
      render();
    }
  };
  const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
  img.onload = () => finish(img.naturalWidth > PLACEHOLDER_WIDTH);
  img.onerror = () => finish(false);
  img.referrerPolicy = "no-referrer";
  img.src = item.probe + "?t=" + Date.now(); // never the browser's cached answer
}

function apply(state) {
  if (!state || typeof state.seq !== "number") return;
  // Events can overtake a slow /state response: never go back in time, unless the
  // kiosk restarted (a new boot id), when its sequence numbers start again.
  const sameBoot = state.boot === document.body.dataset.boot;
  if (sameBoot && state.seq < Number(document.body.dataset.seq)) return;
  document.body.dataset.boot = state.boot;
  document.body.dataset.seq = String(state.seq);
  document.body.dataset.reader = state.reader || "below";
  document.body.dataset.nfc = state.nfc ? "1" : "0";
  $("privacy").textContent = state.privacy || "";
  $("shop").textContent = state.shop || "";
  const next = state.item;
  const changed = (item && item.url) !== (next && next.url);
  if (changed) {
    reachable = false; // until this video's thumbnail says otherwise
    localFailed = false;
  }
  item = next;
  // "Tap here" only while the tag holds this very link (tag_ready null: not known, trust it).
  $("tap").hidden = !(item && state.nfc && state.tag_ready !== false);
  $("qr-caption").textContent = state.nfc ? "No NFC? Scan the code." : "Scan the code to watch on your phone.";
  if (!item) {
    document.body.dataset.url = "";
    $("title").textContent = "";
    $("qr-box").hidden = true;
    render();
    return;
  }
  document.body.dataset.url = item.url;
  $("title").textContent = item.title;
  if (changed || $("qr").getAttribute("src") === null) {
    $("qr").setAttribute("src", "/qr.svg?seq=" + state.seq);
  }
  $("qr-box").hidden = false;
  render();
  if (changed) probe();
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

$("local").addEventListener("error", () => {
  if (mode() !== "video") return;
  // A file the browser cannot play: the YouTube video or the poster instead.
  localFailed = true;
  render();
  probe();
});

resync();
follow();
setInterval(probe, PROBE_EVERY_MS);
