// Sluice's JavaScript client (DESIGN.md §11): one WebSocket per device, subscriptions that start
// from a snapshot and go on with live events, resumed without a gap (`resume_from`) after every
// reconnect, with exponential backoff; the access token refreshed before it expires; a frame seen
// before (same op and event) dropped; `resync_required` surfaced so the app can reload.
//
// Works in browsers (the global WebSocket) and in Node (the `ws` package when there is no global
// WebSocket).

const DEFAULTS = {
  backoff: { initial: 100, max: 10000, factor: 2 },
  refreshBeforeMs: 60000,
  requestTimeoutMs: 15000,
  rememberOps: 2000,
};

/** A minimal event emitter (browsers and Node alike). */
class Emitter {
  #listeners = new Map();
  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }
  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }
  emit(event, ...args) {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        fn(...args);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}

/** An error the server answered (`error {code, message}`, or a refused registration). */
export class SluiceError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.name = "SluiceError";
    this.code = code;
  }
}

/** The WebSocket URL of a Sluice address (`http://host:port` or `ws://host:port`). */
function wsUrl(url) {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/v1/ws";
  return u.toString();
}

/** The `exp` claim of a JWT, in ms since the epoch (null when it cannot be read). */
function expiryOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = typeof atob === "function" ? atob(payload) : Buffer.from(payload, "base64").toString();
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

let WebSocketImpl = globalThis.WebSocket;
async function webSocketClass() {
  if (!WebSocketImpl) WebSocketImpl = (await import("ws")).default;
  return WebSocketImpl;
}

/** The channels a delivery frame names (`metadata.channels`, per operation for an update). */
function channelsOf(frame) {
  const found = new Set();
  const visit = (d) => {
    for (const c of d?.metadata?.channels ?? []) found.add(c);
  };
  if (Array.isArray(frame.data)) frame.data.forEach(visit);
  else visit(frame.data);
  return found;
}

/**
 * One subscription: `items` is the snapshot it started from (again after a resync), then
 * `event` fires for every live delivery of its channel.
 */
export class Subscription extends Emitter {
  constructor(client, request) {
    super();
    this.client = client;
    this.request = request;
    this.channel = null;
    this.items = [];
    this.closed = false;
  }
  /** Ends the subscription on the server. */
  async unsubscribe() {
    this.closed = true;
    this.client._forget(this);
    if (this.channel) await this.client._request("unsubscribe", { channel: this.channel }, "unsubscribed");
  }
}

export class SluiceClient extends Emitter {
  #options;
  #socket = null;
  #token;
  #state = "connecting"; // connecting | open | closed
  #attempt = 0;
  #seq = null; // the last sequence number received
  #device = null;
  #ops = []; // recent (op, event) keys, oldest first
  #seen = new Set();
  #subscriptions = new Set();
  #pending = []; // requests awaiting their answer, in order: {answer, resolve, reject, timer}
  #outbox = []; // frames waiting for the connection
  #refreshTimer = null;
  #reconnectTimer = null;
  #ready;
  #settle; // {resolve, reject} of `ready`

  constructor(options) {
    super();
    if (!options?.url) throw new TypeError("connect: options.url is required");
    if (!options.token && !options.getToken) throw new TypeError("connect: options.token or options.getToken is required");
    this.#options = {
      ...DEFAULTS,
      ...options,
      backoff: { ...DEFAULTS.backoff, ...(options.backoff ?? {}) },
    };
    this.#token = options.token ?? null;
    const session = options.session;
    if (session) {
      this.#seq = session.seq ?? null;
      this.#device = session.device ?? null;
      for (const key of session.ops ?? []) this.#remember(key);
    }
    this.#ready = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.#ready.catch(() => {}); // surfaced through `ready` and the `error` event
    this.#open();
  }

  /** Resolves once the device is registered the first time. */
  get ready() {
    return this.#ready;
  }
  get state() {
    return this.#state;
  }
  get device() {
    return this.#device;
  }
  /** The last sequence number received (what a reconnect resumes after). */
  get seq() {
    return this.#seq;
  }

  /**
   * What to keep (e.g. in localStorage) to resume after the page reloads: pass it back as
   * `connect({session})`.
   */
  session() {
    return { device: this.#device, seq: this.#seq, ops: [...this.#ops] };
  }

  /**
   * Subscribes to `model` (optionally one document `id`, one `user`'s documents, a `filter`):
   * resolves with the subscription once the server answered, `items` holding the snapshot.
   */
  async subscribe(model, { id, user, filter } = {}) {
    const request = { model };
    if (id !== undefined) request.id = id;
    if (user !== undefined) request.user = user;
    if (filter !== undefined) request.filter = filter;
    const sub = new Subscription(this, request);
    const answer = await this._request("subscribe", request, "subscribed");
    sub.channel = answer.channel;
    sub.items = answer.items;
    this.#subscriptions.add(sub);
    return sub;
  }

  /** Closes the connection for good. */
  close() {
    this.#state = "closed";
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#reconnectTimer);
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new SluiceError("closed", "the client was closed"));
    }
    try {
      this.#socket?.close(1000);
    } catch {
      // already closed
    }
    this.emit("close");
  }

  // ----- internals ---------------------------------------------------------------------------

  _forget(sub) {
    this.#subscriptions.delete(sub);
  }

  /** Sends `event` and resolves with the data of the next answer named `answer`. */
  _request(event, data, answer) {
    return new Promise((resolve, reject) => {
      const pending = { event, data, answer, resolve, reject };
      pending.timer = setTimeout(() => {
        this.#pending = this.#pending.filter((p) => p !== pending);
        reject(new SluiceError("timeout", `no answer to ${event} within ${this.#options.requestTimeoutMs} ms`));
      }, this.#options.requestTimeoutMs);
      this.#pending.push(pending);
      if (this.#state === "open") this.#send(event, data);
    });
  }

  async #token_() {
    if (this.#options.getToken && (!this.#token || this.#expiresSoon(this.#token))) this.#token = await this.#options.getToken();
    return this.#token;
  }

  #expiresSoon(token) {
    const exp = expiryOf(token);
    return exp !== null && exp - Date.now() < this.#options.refreshBeforeMs;
  }

  async #open() {
    if (this.#state === "closed") return;
    this.#state = "connecting";
    let token;
    let WS;
    try {
      [token, WS] = await Promise.all([this.#token_(), webSocketClass()]);
    } catch (e) {
      this.emit("error", e);
      return this.#retry();
    }
    if (this.#state === "closed") return;
    const socket = new WS(wsUrl(this.#options.url));
    this.#socket = socket;
    socket.onopen = () => {
      const register = { token };
      if (this.#seq !== null) register.resume_from = this.#seq;
      this.#send("register", register);
    };
    socket.onmessage = (m) => this.#receive(typeof m.data === "string" ? m.data : m.data.toString());
    socket.onerror = () => {}; // onclose follows and reconnects
    socket.onclose = (e) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      clearTimeout(this.#refreshTimer);
      if (this.#state === "closed") return;
      this.#state = "connecting";
      this.emit("disconnected", { code: e.code, reason: e.reason });
      if (e.code === 4001) return this.#fail(new SluiceError("logged_out", "the device was logged out"));
      this.#retry();
    };
  }

  #retry() {
    if (this.#state === "closed") return;
    const { initial, max, factor } = this.#options.backoff;
    const delay = Math.min(max, initial * factor ** this.#attempt++);
    this.#reconnectTimer = setTimeout(() => this.#open(), delay * (0.5 + Math.random() / 2));
  }

  #fail(error) {
    this.#settle.reject(error);
    this.emit("error", error);
    this.close();
  }

  #send(event, data) {
    this.#socket.send(JSON.stringify({ event, data }));
  }

  #remember(key) {
    this.#seen.add(key);
    this.#ops.push(key);
    while (this.#ops.length > this.#options.rememberOps) this.#seen.delete(this.#ops.shift());
  }

  #receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.event) {
      case "register":
        return this.#registered(frame.data);
      case "resync_required":
        return this.#resync(frame.data);
      case "refresh_access_token":
        if (!frame.data?.success) this.emit("error", new SluiceError("refresh_failed", "the server refused the refreshed token"));
        return;
      case "error":
        return this.#answerError(frame.data);
      default:
        break;
    }
    const head = this.#pending[0];
    if (head && frame.event === head.answer) {
      this.#pending.shift();
      clearTimeout(head.timer);
      return head.resolve(frame.data);
    }
    if (typeof frame.seq !== "number") return;
    if (this.#seq === null || frame.seq > this.#seq) this.#seq = frame.seq;
    const key = `${frame.op}/${frame.event}`;
    if (frame.op !== undefined) {
      if (this.#seen.has(key)) return; // delivered before (a resume overlapping what we had)
      this.#remember(key);
    }
    this.emit("event", frame);
    const channels = channelsOf(frame);
    for (const sub of this.#subscriptions) if (channels.has(sub.channel)) sub.emit("event", frame);
  }

  #registered(data) {
    if (!data?.success) return this.#fail(new SluiceError(data?.error ?? "unauthorized", data?.message ?? "registration refused"));
    const first = this.#device === null || this.#state === "connecting";
    this.#device = data.device;
    if (this.#seq === null) this.#seq = data.seq;
    this.#state = "open";
    this.#attempt = 0;
    this.#scheduleRefresh();
    // Requests sent before the connection broke (or before it opened) are sent (again).
    for (const p of this.#pending) this.#send(p.event, p.data);
    this.#settle.resolve(this);
    if (first) this.emit("open", { device: this.#device, seq: this.#seq });
  }

  /** What the device missed is gone: every subscription starts again from a snapshot. */
  async #resync(data) {
    this.#seq = data.seq;
    this.emit("resync_required", data);
    for (const sub of [...this.#subscriptions]) {
      try {
        const answer = await this._request("subscribe", sub.request, "subscribed");
        sub.channel = answer.channel;
        sub.items = answer.items;
        sub.emit("snapshot", answer.items);
      } catch (e) {
        sub.emit("error", e);
      }
    }
  }

  #answerError(data) {
    const error = new SluiceError(data?.code ?? "error", data?.message);
    if (this.#state !== "open") {
      // Registration failed for want of the server's backends: try again later.
      if (error.code === "unavailable") this.#socket?.close();
      else this.emit("error", error);
      return;
    }
    const head = this.#pending.shift();
    if (head) {
      clearTimeout(head.timer);
      return head.reject(error);
    }
    this.emit("error", error);
  }

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.#options.getToken) return;
    const exp = expiryOf(this.#token);
    if (exp === null) return;
    const inMs = Math.max(0, exp - Date.now() - this.#options.refreshBeforeMs);
    this.#refreshTimer = setTimeout(async () => {
      try {
        this.#token = await this.#options.getToken();
        if (this.#state === "open") this.#send("refresh_access_token", { token: this.#token });
        this.#scheduleRefresh();
      } catch (e) {
        this.emit("error", e);
        this.#refreshTimer = setTimeout(() => this.#scheduleRefresh(), 1000);
      }
    }, inMs);
  }
}

/**
 * Connects a device: `url` (Sluice's address), `token` or `getToken` (an async function that
 * mints a fresh token: called before the current one expires), optional `session` (from
 * `client.session()`, to resume after a reload), `backoff` `{initial, max, factor}` in ms,
 * `refreshBeforeMs`, `requestTimeoutMs`.
 */
export function connect(options) {
  return new SluiceClient(options);
}
