// The live supervision tree: `GET /api/v1/tree`, drawn again whenever an event arrives (the app
// batches them) and every few seconds (a dynamic child's start is not an event, so counts move
// on their own). A node whose child was restarted or ended flashes.
//
// Static supervisors start expanded; dynamic (simple_one_for_one) ones start collapsed with
// their child count, since they may hold a hundred thousand children, and list a page of
// PAGE children when expanded (`GET /api/v1/tree?path=…&depth=1&limit=…`).

import { actorUrl, get, post, withQuery } from "./api.js";
import { confirmDialog, el, fill, toast } from "./dom.js";

/** Dynamic children per page. */
export const PAGE = 50;

const ACTIONS = {
  kill: {
    title: "Kill this actor?",
    text: (path) =>
      `${path} will be killed at once, without cleanup (OTP's exit(Pid, kill)). Its supervisor restarts it or not as its restart type and strategy say.`,
  },
  crash: {
    title: "Crash this actor?",
    text: (path) =>
      `${path} will end as if its handler had failed (an abnormal exit). Its supervisor restarts it or not as its restart type and strategy say.`,
  },
};

export class TreeView {
  constructor(container) {
    this.container = container;
    /** Static supervisors the user collapsed. */
    this.collapsed = new Set();
    /** Dynamic supervisors the user expanded, with the page shown. */
    this.pages = new Map();
    /** Paths to flash at the next drawing. */
    this.toFlash = new Set();
    this.root = null;
    this.dynamic = new Map();
  }

  /** Marks a path to flash when the tree is next drawn. */
  flash(path) {
    this.toFlash.add(path);
  }

  async refresh() {
    const root = await get("/api/v1/tree");
    const dynamic = new Map();
    await Promise.all(
      [...this.pages].map(async ([path, page]) => {
        try {
          const node = await get(withQuery("/api/v1/tree", { path, depth: 1, limit: (page + 1) * PAGE }));
          dynamic.set(path, node);
        } catch {
          this.pages.delete(path); // it is gone (its parent restarted it under a new incarnation)
        }
      }),
    );
    this.root = root;
    this.dynamic = dynamic;
    this.draw();
  }

  draw() {
    if (!this.root) return;
    // Keep keyboard focus on the same control across the redraw.
    const focused = document.activeElement;
    const keep =
      focused && this.container.contains(focused)
        ? { path: focused.closest("[data-path]")?.dataset.path, role: focused.dataset.role }
        : null;
    fill(this.container, el("ul", { role: "presentation" }, this.item(this.root, true)));
    for (const path of this.toFlash) {
      const row = this.container.querySelector(`.node[data-path="${CSS.escape(path)}"]`);
      if (row) {
        row.classList.remove("flash");
        void row.offsetWidth; // restart the animation
        row.classList.add("flash");
      }
    }
    this.toFlash.clear();
    if (keep && keep.path && keep.role) {
      const selector = `.node[data-path="${CSS.escape(keep.path)}"] [data-role="${keep.role}"]`;
      this.container.querySelector(selector)?.focus();
    }
  }

  item(node, isRoot) {
    const isSup = node.kind === "supervisor";
    const isDynamic = node.strategy === "simple_one_for_one";
    const expanded = isSup && (isDynamic ? this.pages.has(node.path) : !this.collapsed.has(node.path));
    const li = el("li", {
      role: "treeitem",
      "aria-expanded": isSup ? String(expanded) : undefined,
      "aria-label": node.id,
    });
    li.append(this.row(node, isSup, isDynamic, expanded, isRoot));
    if (!expanded) return li;
    const source = isDynamic ? this.dynamic.get(node.path) : node;
    if (!source) return li;
    let children = source.children || [];
    if (isDynamic) {
      const page = this.pages.get(node.path) || 0;
      children = children.slice(page * PAGE, (page + 1) * PAGE);
    }
    li.append(el("ul", { role: "group" }, children.map((child) => this.item(child, false))));
    if (isDynamic) li.append(this.pager(node, source));
    return li;
  }

  row(node, isSup, isDynamic, expanded, isRoot) {
    const restarts = node.restarts || 0;
    const parts = [];
    if (isSup) {
      parts.push(
        el(
          "button",
          {
            class: "toggle",
            type: "button",
            dataset: { role: "toggle" },
            "aria-label": `${expanded ? "collapse" : "expand"} ${node.id}`,
            onclick: () => this.toggle(node, isDynamic, expanded),
          },
          expanded ? "▾" : "▸",
        ),
      );
    } else {
      parts.push(el("span", { class: "spacer" }));
    }
    parts.push(el("span", { class: "id" }, node.id));
    if (isSup) {
      parts.push(el("span", { class: "meta" }, `${node.strategy} ${node.max_restarts}/${node.max_seconds}s`));
    } else {
      parts.push(el("span", { class: "meta" }, `worker${node.restart ? `, ${node.restart}` : ""}`));
    }
    parts.push(el("span", { class: `status status-${node.status}` }, node.status));
    if (!isRoot) {
      parts.push(
        el(
          "span",
          { class: `restarts${restarts ? " some" : ""}`, title: "times its supervisor restarted it" },
          `restarts ${restarts}`,
        ),
      );
    }
    if (isSup) {
      parts.push(el("span", { class: "count" }, `${node.child_count ?? 0} children`));
      if (node.child_restarts) {
        parts.push(el("span", { class: "performed", title: "restarts it performed" }, `performed ${node.child_restarts}`));
      }
    }
    const exit = node.last_exit || node.last_failure;
    if (exit) {
      parts.push(el("span", { class: "exit", title: node.last_failure || node.last_exit }, `last exit: ${exit}`));
    }
    // Last: `row` puts the actions beside the rest (an actor that is not running has none).
    if (!node.actor_id) {
      parts.push(null);
    } else {
      parts.push(
        el(
          "span",
          { class: "actions" },
          ["kill", "crash"].map((action) =>
            el(
              "button",
              {
                type: "button",
                class: "danger",
                dataset: { role: action, action },
                "aria-label": `${action} ${node.path}`,
                onclick: () => this.act(node.path, action),
              },
              action,
            ),
          ),
        ),
      );
    }
    const actions = parts.pop();
    return el(
      "div",
      { class: "node", dataset: { path: node.path, restarts: String(restarts) } },
      el("span", { class: "info" }, parts),
      actions,
    );
  }

  pager(node, source) {
    const page = this.pages.get(node.path) || 0;
    const total = source.child_count ?? 0;
    const first = total === 0 ? 0 : page * PAGE + 1;
    const last = Math.min(total, (page + 1) * PAGE);
    const go = (to) => {
      this.pages.set(node.path, to);
      this.refresh().catch((err) => toast(`tree: ${err.message}`, true));
    };
    return el(
      "div",
      { class: "pager", dataset: { path: node.path } },
      el("button", { type: "button", disabled: page === 0, onclick: () => go(page - 1), "aria-label": `previous children of ${node.id}` }, "‹ prev"),
      `${first}–${last} of ${total}`,
      el("button", { type: "button", disabled: last >= total, onclick: () => go(page + 1), "aria-label": `next children of ${node.id}` }, "next ›"),
    );
  }

  toggle(node, isDynamic, expanded) {
    if (isDynamic) {
      if (expanded) this.pages.delete(node.path);
      else this.pages.set(node.path, 0);
      this.refresh().catch((err) => toast(`tree: ${err.message}`, true));
    } else {
      if (expanded) this.collapsed.add(node.path);
      else this.collapsed.delete(node.path);
      this.draw();
    }
  }

  async act(path, action) {
    const { title, text } = ACTIONS[action];
    if (!(await confirmDialog(title, text(path), action))) return;
    try {
      const answer = await post(actorUrl(path, action));
      toast(`${action}: ${answer.path} (${answer.actor_id})`);
    } catch (err) {
      toast(`${action} ${path}: ${err.message}`, true);
    }
  }
}
