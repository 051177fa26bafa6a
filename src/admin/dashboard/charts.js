// Overview charts, plain SVG: the page samples `GET /api/v1/metrics` and `GET /api/v1/stats`
// every second and keeps the last WINDOW seconds. Counters become rates (the difference between
// two samples over the time between them); gauges are drawn as they are. Restarts per second
// come from the event stream instead (`restarted` events by the second they happened), so that
// chart covers the last minutes at once, from the events the broker kept.

import { get } from "./api.js";
import { compact, el, fill } from "./dom.js";

/** Seconds shown. */
export const WINDOW = 300;

const SVG = "http://www.w3.org/2000/svg";

const CHARTS = [
  { id: "messages", title: "messages / s", keys: ["in", "out"] },
  { id: "connections", title: "connections", keys: ["connections"] },
  { id: "sessions", title: "sessions", keys: ["sessions"] },
  { id: "drops", title: "queue drops / s", keys: ["drops"] },
  { id: "restarts", title: "restarts / s", keys: ["restarts"] },
];

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export class Charts {
  constructor(container) {
    this.container = container;
    /** second → { in, out, connections, sessions, drops } */
    this.samples = new Map();
    /** second → restarts counted in it */
    this.restarts = new Map();
    this.previous = null;
    this.cards = new Map();
    for (const chart of CHARTS) {
      const now = el("span", { class: "now" }, "–");
      const plot = svg("svg", { viewBox: `0 0 ${WINDOW} 100`, preserveAspectRatio: "none", role: "img" });
      const peak = el("span", {}, "max –");
      const legend =
        chart.keys.length > 1
          ? chart.keys.map((key, i) => el("span", { class: `key${i}` }, key))
          : [el("span", {}, "last 5 min")];
      const card = el(
        "figure",
        { class: "chart", id: `chart-${chart.id}`, "aria-label": chart.title },
        el("h3", {}, chart.title, now),
        plot,
        el("div", { class: "legend" }, legend, peak),
      );
      container.append(card);
      this.cards.set(chart.id, { chart, now, plot, peak, card });
    }
  }

  /** Counts a `restarted` event in the second it happened. */
  noteEvent(event) {
    if (event.event !== "restarted") return;
    const second = Math.floor(event.at_ms / 1000);
    this.restarts.set(second, (this.restarts.get(second) || 0) + 1);
  }

  /** Takes one sample of the broker's figures and draws every chart. */
  async sample() {
    const [metrics, stats] = await Promise.all([get("/api/v1/metrics"), get("/api/v1/stats")]);
    const now = Date.now();
    const current = {
      at: now,
      received: metrics["messages/received"] || 0,
      sent: metrics["messages/sent"] || 0,
      dropped: stats["mqueue/dropped"] || 0,
    };
    const point = {
      connections: stats["connections/count"] || 0,
      sessions: stats["sessions/count"] || 0,
    };
    const before = this.previous;
    if (before && now > before.at) {
      const secs = (now - before.at) / 1000;
      // A counter that went down means the broker restarted its metrics: no rate for that step.
      const rate = (a, b) => (a >= b ? (a - b) / secs : 0);
      point.in = rate(current.received, before.received);
      point.out = rate(current.sent, before.sent);
      point.drops = rate(current.dropped, before.dropped);
    }
    this.previous = current;
    const second = Math.floor(now / 1000);
    this.samples.set(second, point);
    this.prune(second);
    this.draw(second);
  }

  prune(second) {
    for (const map of [this.samples, this.restarts]) {
      for (const key of map.keys()) if (key <= second - WINDOW) map.delete(key);
    }
  }

  draw(second) {
    for (const { chart, now, plot, peak, card } of this.cards.values()) {
      const series = chart.keys.map((key) => this.series(key, second));
      const max = Math.max(1, ...series.flat().filter((p) => p !== null).map((p) => p[1]));
      const top = max * 1.15;
      const lines = series.map((points, i) =>
        svg("polyline", {
          class: `s${i}`,
          points: points
            .filter((p) => p !== null)
            .map(([x, y]) => `${x},${(100 - (y / top) * 100).toFixed(2)}`)
            .join(" "),
        }),
      );
      const grid = [25, 50, 75].map((y) => svg("line", { class: "grid", x1: 0, x2: WINDOW, y1: y, y2: y }));
      fill(plot, grid, lines);
      const latest = series.map((points) => {
        const last = points.filter((p) => p !== null).pop();
        return last ? compact(last[1]) : "–";
      });
      now.textContent = latest.join(" / ");
      card.dataset.now = now.textContent;
      peak.textContent = `max ${compact(max)}`;
    }
  }

  /** [x, value] per second of the window for `key` (null where there is no sample). */
  series(key, second) {
    const points = [];
    for (let x = 0; x < WINDOW; x += 1) {
      const at = second - WINDOW + 1 + x;
      if (key === "restarts") {
        points.push([x, this.restarts.get(at) || 0]);
      } else {
        const sample = this.samples.get(at);
        points.push(sample && sample[key] !== undefined ? [x, sample[key]] : null);
      }
    }
    return points;
  }
}
