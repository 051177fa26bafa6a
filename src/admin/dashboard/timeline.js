// The timeline: the supervisors' events in the order they happened (their sequence numbers),
// filterable by path prefix and by kind, so a cascade (sm/0 killed → sm_sup stops sm/3, sm/2,
// sm/1 → starts sm/0..3 again) reads top to bottom. And the faults panel beside it.

import { get } from "./api.js";
import { clock, el, fill, isUnder } from "./dom.js";

/** Events kept in the page. */
export const KEEP = 2000;

/** The kinds "exits, restarts, faults" shows. */
const EXITS = new Set(["terminated", "restarted", "restart_failed", "gave_up", "fault"]);

/** What an event says beyond its kind and path. */
export function detail(event) {
  switch (event.event) {
    case "terminated":
      return event.reason;
    case "restart_failed":
      return `${event.reason} (trying again)`;
    case "restarted":
      return `restart ${event.restarts}`;
    case "gave_up":
      return `intensity ${event.max_restarts}/${event.max_seconds}s exceeded by ${event.child}: ${event.reason}`;
    case "fault":
      return `${event.action} (${event.rule})`;
    case "shut_down":
      return event.count ? `${event.count} children` : "";
    default:
      return "";
  }
}

export class Timeline {
  constructor({ body, scroll, filter, kinds, count }) {
    this.body = body;
    this.scroll = scroll;
    this.filter = filter;
    this.kinds = kinds;
    this.count = count;
    this.events = [];
    this.filter.addEventListener("input", () => this.draw());
    this.kinds.addEventListener("change", () => this.draw());
  }

  /** Adds events (in order); draws the ones that pass the filter. */
  add(events, fresh) {
    if (events.length === 0) return;
    const atBottom = this.scroll.scrollTop + this.scroll.clientHeight >= this.scroll.scrollHeight - 4;
    this.events.push(...events);
    const overflow = this.events.length - KEEP;
    if (overflow > 0) {
      this.events.splice(0, overflow);
      this.draw();
    } else {
      for (const event of events) {
        if (this.shows(event)) this.body.append(this.row(event, fresh));
      }
      this.counted();
    }
    if (atBottom) this.scroll.scrollTop = this.scroll.scrollHeight;
  }

  shows(event) {
    if (this.kinds.value === "exits" && !EXITS.has(event.event)) return false;
    return isUnder(event.path, this.filter.value.trim());
  }

  draw() {
    fill(this.body, this.events.filter((e) => this.shows(e)).map((e) => this.row(e, false)));
    this.counted();
    this.scroll.scrollTop = this.scroll.scrollHeight;
  }

  counted() {
    const shown = this.body.children.length;
    this.count.textContent =
      shown === this.events.length ? `${shown} events` : `${shown} of ${this.events.length} events shown`;
  }

  row(event, fresh) {
    const path = el(
      "button",
      {
        type: "button",
        class: "linkish",
        title: `show only ${event.path} and below`,
        onclick: () => {
          this.filter.value = event.path;
          this.draw();
        },
      },
      event.path,
    );
    return el(
      "tr",
      {
        class: fresh ? "new" : undefined,
        dataset: { seq: String(event.seq), event: event.event, path: event.path },
        title: event.supervisor ? `by ${event.supervisor}` : undefined,
      },
      el("td", {}, clock(event.at_ms)),
      el("td", {}, el("span", { class: `badge ev-${event.event}` }, event.event)),
      el("td", {}, path),
      el("td", {}, detail(event)),
    );
  }
}

/** The faults panel: the rules in force and how often each fired. */
export async function drawFaults(body) {
  const { rules } = await get("/api/v1/faults");
  if (!rules || rules.length === 0) {
    fill(
      body,
      el(
        "tr",
        {},
        el("td", { colspan: "2", class: "empty" }, "No rules in force (arbor run --fault <action>@<path-glob>[:<trigger>])."),
      ),
    );
    return;
  }
  fill(
    body,
    rules.map((rule) => el("tr", {}, el("td", { class: "mono" }, rule.spec), el("td", {}, String(rule.fired)))),
  );
}
