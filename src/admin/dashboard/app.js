// The dashboard's start: fetch the kept events and the tree, then follow the event stream. Each
// event goes to the timeline and the restarts chart and makes the tree redraw (batched: a
// one_for_all restart is a burst of events). Slower things are polled: the figures every
// second, the tree (for dynamic children's counts), faults, status and the visible table every
// few seconds.

import { followEvents, forgetToken, get, hasToken, setTokenPrompt, withQuery } from "./api.js";
import { Charts } from "./charts.js";
import { duration, toast } from "./dom.js";
import { setUpTables } from "./tables.js";
import { drawFaults, Timeline } from "./timeline.js";
import { TreeView } from "./tree.js";

const $ = (id) => document.getElementById(id);

/** Events that make their node flash in the tree. */
const FLASHING = new Set(["terminated", "restarted", "restart_failed", "gave_up", "fault"]);

/** How often the tree, faults, status and the visible table are fetched again. */
const POLL_MS = 5000;

let refused = false;

/** Asks for the admin token in the page's dialog; resolves to it, or null if cancelled. */
function askToken() {
  const dialog = $("token-dialog");
  const input = $("token-input");
  input.value = "";
  $("token-error").textContent = refused ? "That token was refused; try again." : "";
  refused = true;
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const token = dialog.returnValue === "ok" ? input.value.trim() : "";
        input.value = "";
        resolve(token || null);
        showTokenButton();
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
}

function showTokenButton() {
  const button = $("token-button");
  button.hidden = !hasToken();
}

function every(ms, task) {
  let running = false;
  setInterval(async () => {
    if (running) return; // a slow answer is not asked for again on top of itself
    running = true;
    try {
      await task();
    } catch {
      // The live indicator and the next round tell the story; no toast every second.
    } finally {
      running = false;
    }
  }, ms);
}

async function drawStatus() {
  const status = await get("/api/v1/status");
  $("status-node").textContent = status.node;
  $("status-version").textContent = status.version;
  $("status-uptime").textContent = duration(status.uptime_secs);
  $("status-root").textContent = status.broker_sup;
}

async function main() {
  setTokenPrompt(askToken);
  $("token-button").addEventListener("click", () => {
    forgetToken();
    refused = false;
    showTokenButton();
    toast("token forgotten: the next request asks for it");
  });

  const tree = new TreeView($("tree"));
  const timeline = new Timeline({
    body: document.querySelector("#timeline tbody"),
    scroll: $("timeline-scroll"),
    filter: $("timeline-filter"),
    kinds: $("timeline-kinds"),
    count: $("timeline-count"),
  });
  const charts = new Charts($("charts"));
  const faults = document.querySelector("#faults tbody");

  // The kept events first; the stream then starts right after the last of them.
  const kept = await get("/api/v1/events");
  refused = false;
  showTokenButton();
  for (const event of kept.events) charts.noteEvent(event);
  timeline.add(kept.events, false);
  await Promise.all([tree.refresh(), drawFaults(faults), drawStatus()]);
  const reloadTable = setUpTables($("tabs"), $("tab-panels"));

  let redraw = null;
  const refreshTreeSoon = () => {
    if (redraw) return;
    redraw = setTimeout(() => {
      redraw = null;
      tree.refresh().catch((err) => toast(`tree: ${err.message}`, true));
    }, 80);
  };
  const take = (events, fresh) => {
    timeline.add(events, fresh);
    let faulted = false;
    for (const event of events) {
      charts.noteEvent(event);
      if (FLASHING.has(event.event)) tree.flash(event.path);
      faulted ||= event.event === "fault";
    }
    if (faulted) drawFaults(faults).catch(() => {});
    refreshTreeSoon();
  };

  const live = $("live");
  const stream = followEvents({
    since: kept.last_seq,
    onEvent: (event) => take([event], true),
    onLagged: async (missed) => {
      toast(`the page fell ${missed} events behind; fetching them`);
      const caught = await get(withQuery("/api/v1/events", { since: stream.last }));
      const fresh = caught.events.filter((e) => e.seq > stream.last);
      if (fresh.length) stream.advance(fresh[fresh.length - 1].seq);
      take(fresh, true);
    },
    onState: (state) => {
      live.textContent = state === "live" ? "live" : "reconnecting…";
      live.className = state === "live" ? "live-on" : "live-off";
    },
  });

  every(1000, () => charts.sample());
  every(POLL_MS, () => Promise.all([tree.refresh(), drawFaults(faults), drawStatus(), reloadTable()]));
  document.body.dataset.ready = "true";
}

main().catch((err) => {
  toast(`The dashboard could not start: ${err.message}. Reload the page to try again.`, true);
  $("live").textContent = "not connected";
});
