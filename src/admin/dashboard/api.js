// The admin API as the page uses it: JSON requests, the bearer token, and the event stream.
//
// The token rule: the page never puts the token in a URL or a cookie. When the API answers 401
// the page asks for the token (one prompt for every request that failed at once), keeps it in
// this tab's sessionStorage and sends it as an `Authorization: Bearer` header. Requests go with
// `credentials: "omit"`, so no cookie or HTTP auth travels with them either.
//
// EventSource cannot send a header, so the stream is read with fetch() and a ReadableStream and
// parsed here (Server-Sent Events: blocks separated by a blank line, `event:`, `id:`, `data:`).
// When it breaks it reconnects with `?since=<last seq seen>`, so no event is lost or seen twice
// while the broker still keeps it.

const TOKEN_KEY = "arbor.admin.token";
let token = sessionStorage.getItem(TOKEN_KEY) || "";
let prompt = null;
let asking = null;

/** Sets the function that asks the user for a token: async () => string | null. */
export function setTokenPrompt(ask) {
  prompt = ask;
}

/** Whether the page holds a token. */
export function hasToken() {
  return token !== "";
}

/** Forgets the token (the next 401 asks again). */
export function forgetToken() {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Asks for a token once for all the requests that are waiting for one; true if one was given. */
function askForToken() {
  if (!asking) {
    asking = (async () => {
      const given = prompt ? await prompt() : null;
      if (given) {
        token = given;
        sessionStorage.setItem(TOKEN_KEY, given);
      }
      return Boolean(given);
    })();
    asking.finally(() => {
      asking = null;
    });
  }
  return asking;
}

function headers(extra) {
  const all = { Accept: "application/json", ...extra };
  if (token) all.Authorization = `Bearer ${token}`;
  return all;
}

/** An error answer of the API: its status and its `error` text. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** One request; on 401 asks for the token and tries again. Resolves to the JSON answer. */
export async function request(method, path, body) {
  for (;;) {
    const init = {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      cache: "no-store",
      credentials: "omit",
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    if (response.status === 401) {
      if (await askForToken()) continue;
      throw new ApiError(401, "the admin API needs its token");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error) || response.statusText);
    }
    return data;
  }
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const del = (path) => request("DELETE", path);

/** `path?k=v&…` for the parameters that have a value. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** `/api/v1/actors/<path>/<action>`, each segment of the actor path encoded on its own. */
export function actorUrl(path, action) {
  return `/api/v1/actors/${path.split("/").map(encodeURIComponent).join("/")}/${action}`;
}

/** `/api/v1/<collection>/<id>` with the id as one segment. */
export function itemUrl(collection, id) {
  return `/api/v1/${collection}/${encodeURIComponent(id)}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows `/api/v1/events/stream` after `since`: `onEvent(event)` for each event in order,
 * `onLagged(missed)` when the server dropped some for us, `onState("live" | "reconnecting")`.
 * Returns a handle whose `advance(seq)` records events fetched some other way.
 */
export function followEvents({ since, onEvent, onLagged, onState }) {
  let last = since;
  let stopped = false;
  let controller = null;

  async function readOnce() {
    controller = new AbortController();
    const response = await fetch(withQuery("/api/v1/events/stream", { since: last }), {
      headers: headers({ Accept: "text/event-stream" }),
      cache: "no-store",
      credentials: "omit",
      signal: controller.signal,
    });
    if (response.status === 401) {
      await askForToken();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`event stream: HTTP ${response.status}`);
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        handleBlock(block);
      }
    }
  }

  function handleBlock(block) {
    let kind = "message";
    let data = null;
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) {
        const part = line.slice(5).replace(/^ /, "");
        data = data === null ? part : `${data}\n${part}`;
      }
    }
    if (data === null) return; // a keep-alive comment
    const payload = JSON.parse(data);
    // A broker that was started again numbers its events from 1: take them all.
    if (kind === "ready" && payload.last_seq < last) last = 0;
    else if (kind === "ready") return;
    else if (kind === "lagged") onLagged(payload.missed);
    else if (payload.seq > last) {
      last = payload.seq;
      onEvent(payload);
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await readOnce();
      } catch (err) {
        if (stopped) return;
      }
      onState("reconnecting");
      await sleep(1000);
    }
  })();

  return {
    advance(seq) {
      if (seq > last) last = seq;
    },
    get last() {
      return last;
    },
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}
