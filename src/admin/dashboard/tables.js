// The tables: clients (with kick), sessions, subscriptions, routes, listeners (with their access
// rules). Each has a search box and a pager. Clients, sessions and subscriptions page on the
// server exactly as the API does (`?limit=&offset=&client_id=<prefix>`); routes and listeners
// come whole from the API and are filtered and paged here the same way.

import { del, get, itemUrl, withQuery } from "./api.js";
import { confirmDialog, el, fill, toast, when } from "./dom.js";

/** Rows per page. */
export const LIMIT = 25;

const yes = (v) => (v ? "yes" : "no");

/** Every table: how to fetch a page and how to draw a row. */
const TABLES = [
  {
    id: "clients",
    title: "Clients",
    search: "client id prefix",
    columns: ["client id", "username", "peer", "protocol", "keepalive", "clean", "connected at", ""],
    async page(offset, search) {
      const v = await get(withQuery("/api/v1/clients", { limit: LIMIT, offset, client_id: search }));
      return { total: v.total, rows: v.clients };
    },
    key: (c) => c.client_id,
    cells: (c, table) => [
      el("td", { class: "mono" }, c.client_id),
      el("td", {}, c.username ?? "–"),
      el("td", { class: "mono" }, c.peer),
      el("td", {}, c.protocol_level === 3 ? "3.1" : c.protocol_level === 4 ? "3.1.1" : String(c.protocol_level)),
      el("td", {}, `${c.keepalive}s`),
      el("td", {}, yes(c.clean_session)),
      el("td", {}, when(c.connected_at)),
      el(
        "td",
        {},
        el(
          "button",
          {
            type: "button",
            class: "danger kick",
            "aria-label": `kick ${c.client_id}`,
            onclick: () => kick(c.client_id, table),
          },
          "kick",
        ),
      ),
    ],
  },
  {
    id: "sessions",
    title: "Sessions",
    search: "client id prefix",
    columns: ["client id", "clean", "connected", "subscriptions", "inflight", "queued", "dropped", "awaiting rel", "created at"],
    async page(offset, search) {
      const v = await get(withQuery("/api/v1/sessions", { limit: LIMIT, offset, client_id: search }));
      return { total: v.total, rows: v.sessions };
    },
    key: (s) => s.client_id,
    cells: (s) =>
      s.error
        ? [el("td", { class: "mono" }, s.client_id), el("td", { colspan: "8", class: "error" }, s.error)]
        : [
            el("td", { class: "mono" }, s.client_id),
            el("td", {}, yes(s.clean_session)),
            el("td", {}, yes(s.connected)),
            el("td", {}, String((s.subscriptions || []).length)),
            el("td", {}, `${s.inflight}/${s.max_inflight}`),
            el("td", {}, String(s.mqueue_len)),
            el("td", {}, String(s.mqueue_dropped)),
            el("td", {}, String(s.awaiting_rel)),
            el("td", {}, when(s.created_at)),
          ],
  },
  {
    id: "subscriptions",
    title: "Subscriptions",
    search: "client id prefix",
    columns: ["client id", "topic filter", "qos"],
    async page(offset, search) {
      const v = await get(withQuery("/api/v1/subscriptions", { limit: LIMIT, offset, client_id: search }));
      const rows = [];
      for (const entry of v.subscriptions) {
        if (entry.error) rows.push({ client_id: entry.client_id, topic: `(${entry.error})`, qos: "–" });
        for (const sub of entry.subscriptions || []) rows.push({ client_id: entry.client_id, ...sub });
      }
      return { total: v.total, rows, unit: "sessions" };
    },
    key: (s) => `${s.client_id} ${s.topic}`,
    cells: (s) => [el("td", { class: "mono" }, s.client_id), el("td", { class: "mono" }, s.topic), el("td", {}, String(s.qos))],
  },
  {
    id: "routes",
    title: "Routes",
    search: "topic filter contains",
    columns: ["topic filter", "subscribers"],
    async page(offset, search) {
      const v = await get("/api/v1/routes");
      const all = v.routes.filter((r) => !search || r.topic.includes(search));
      return { total: all.length, rows: all.slice(offset, offset + LIMIT) };
    },
    key: (r) => r.topic,
    cells: (r) => [el("td", { class: "mono" }, r.topic), el("td", {}, String(r.subscribers))],
  },
  {
    id: "listeners",
    title: "Listeners",
    search: "listener id contains",
    columns: ["listener", "bound to", "acceptors", "connections", "access rules (first match wins)", "refused or closed"],
    async page(offset, search) {
      const v = await get("/api/v1/listeners");
      const all = v.listeners.filter((l) => !search || l.id.includes(search));
      return { total: all.length, rows: all.slice(offset, offset + LIMIT) };
    },
    key: (l) => l.id,
    cells: (l) => [
      el("td", { class: "mono" }, l.id),
      el("td", { class: "mono" }, l.bind || "–"),
      el("td", {}, String(l.acceptors)),
      el("td", {}, `${l.current_connections} / ${l.max_connections}`),
      el("td", { class: "mono" }, (l.access || []).map((rule, i) => [i ? el("br") : null, rule])),
      el(
        "td",
        {},
        Object.entries(l.shutdown_counts || {})
          .map(([reason, n]) => `${reason}=${n}`)
          .join(" ") || "–",
      ),
    ],
  },
];

async function kick(clientId, table) {
  const ok = await confirmDialog(
    "Kick this client?",
    `The connection of ${clientId} will be closed. A persistent session stays and queues for it.`,
    "kick",
  );
  if (!ok) return;
  try {
    await del(itemUrl("clients", clientId));
    toast(`kicked ${clientId}`);
  } catch (err) {
    toast(`kick ${clientId}: ${err.message}`, true);
  }
  // The connection closes a moment after the kick is accepted.
  for (const ms of [150, 600, 1500]) setTimeout(() => table.load(), ms);
}

class Table {
  constructor(spec) {
    this.spec = spec;
    this.offset = 0;
    this.search = el("input", {
      type: "search",
      placeholder: spec.search,
      "aria-label": `${spec.title}: ${spec.search}`,
      autocomplete: "off",
      spellcheck: "false",
    });
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.offset = 0;
        this.load();
      }, 250);
    });
    this.body = el("tbody");
    this.status = el("span", { class: "count" });
    this.prev = el("button", { type: "button", onclick: () => this.go(-LIMIT) }, "‹ prev");
    this.next = el("button", { type: "button", onclick: () => this.go(LIMIT) }, "next ›");
    this.panel = el(
      "div",
      { role: "tabpanel", id: `panel-${spec.id}`, "aria-labelledby": `tab-${spec.id}`, hidden: true },
      el("div", { class: "controls" }, el("label", {}, "Search ", this.search)),
      el(
        "table",
        { id: `table-${spec.id}` },
        el("thead", {}, el("tr", {}, spec.columns.map((c) => el("th", { scope: "col" }, c)))),
        this.body,
      ),
      el("div", { class: "table-pager" }, this.prev, this.status, this.next),
    );
  }

  go(delta) {
    this.offset = Math.max(0, this.offset + delta);
    this.load();
  }

  async load() {
    try {
      const { total, rows, unit } = await this.spec.page(this.offset, this.search.value.trim());
      if (this.offset > 0 && this.offset >= total) {
        this.offset = Math.max(0, total - LIMIT);
        return this.load();
      }
      const drawn = rows.map((row) =>
        el("tr", { dataset: { key: this.spec.key(row) } }, this.spec.cells(row, this)),
      );
      if (drawn.length === 0) {
        drawn.push(el("tr", {}, el("td", { colspan: String(this.spec.columns.length), class: "empty" }, "none")));
      }
      // Keep keyboard focus on the same row's button across the reload.
      const focused = document.activeElement;
      const keep = focused && this.body.contains(focused) ? focused.closest("tr")?.dataset.key : null;
      fill(this.body, drawn);
      if (keep) this.body.querySelector(`tr[data-key="${CSS.escape(keep)}"] button`)?.focus();
      const last = Math.min(total, this.offset + LIMIT);
      this.status.textContent = `${total === 0 ? 0 : this.offset + 1}–${last} of ${total}${unit ? ` ${unit}` : ""}`;
      this.prev.disabled = this.offset === 0;
      this.next.disabled = last >= total;
    } catch (err) {
      fill(this.body, el("tr", {}, el("td", { colspan: String(this.spec.columns.length), class: "error" }, err.message)));
    }
    return undefined;
  }
}

/** Builds the tab list and panels; returns a function that reloads the visible table. */
export function setUpTables(tablist, panels) {
  const tables = TABLES.map((spec) => new Table(spec));
  let current = tables[0];
  const tabs = tables.map((table, index) =>
    el(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${table.spec.id}`,
        "aria-controls": `panel-${table.spec.id}`,
        onclick: () => select(index),
        onkeydown: (event) => {
          const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
          if (step) {
            select((index + step + tables.length) % tables.length);
            tabs[tables.indexOf(current)].focus();
          }
        },
      },
      table.spec.title,
    ),
  );
  function select(index) {
    current = tables[index];
    tables.forEach((table, i) => {
      table.panel.hidden = i !== index;
      tabs[i].setAttribute("aria-selected", String(i === index));
      tabs[i].tabIndex = i === index ? 0 : -1;
    });
    current.load();
  }
  tablist.append(...tabs);
  panels.append(...tables.map((table) => table.panel));
  select(0);
  return () => current.load();
}
