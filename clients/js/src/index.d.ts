// Types of @sluice/client (src/index.js).

/** A delivery: `{event, op, data, seq}` (docs/api.md). */
export interface Frame {
  event: "model_created" | "model_updated" | "model_deleted" | "model_entered" | "model_left";
  /** The change's id (the `op` of its 202). */
  op: string;
  /** Consecutive per device. */
  seq: number;
  /** The document (created, entered), the patch operations (updated), or `{app, model, id, owner, version}` (deleted, left). */
  data: any;
}

export interface ResyncRequired {
  /** The device's last sequence number. */
  seq: number;
  /** Where the client asked to resume from: what came after it is no longer kept. */
  resume_from: number;
}

export interface Session {
  device: string | null;
  seq: number | null;
  /** Recent `op/event` keys: frames seen before are dropped. */
  ops: string[];
}

export interface ConnectOptions {
  /** Sluice's address: `http://host:port` (or `ws://host:port/v1/ws`). */
  url: string;
  /** An access token (JWT) for the device. */
  token?: string;
  /** Mints a fresh token: called before the current one expires (and at reconnects near expiry). */
  getToken?: () => Promise<string> | string;
  /** From `client.session()`: resume after a reload without a gap or a duplicate. */
  session?: Session;
  /** Reconnect delays in ms: initial * factor^attempt, at most max (jittered). */
  backoff?: { initial?: number; max?: number; factor?: number };
  /** Refresh the token this long before it expires (ms, default 60000). */
  refreshBeforeMs?: number;
  /** A subscribe or unsubscribe not answered within this fails (ms, default 15000). */
  requestTimeoutMs?: number;
}

export interface SubscribeOptions {
  /** One document. */
  id?: string;
  /** One user's documents. */
  user?: string;
  /** A filter (MongoDB query syntax, docs/filters.md). */
  filter?: Record<string, unknown>;
}

export class SluiceError extends Error {
  /** The server's error code (`invalid_filter`, `too_many_subscriptions`, ...), or `timeout`, `closed`, `logged_out`. */
  code: string;
}

export class Subscription {
  /** The channel the server named (`app:A:model:M`, ...). */
  channel: string;
  /** The matching documents when it started (again after a resync). */
  items: any[];
  /** A live delivery on this subscription's channel. */
  on(event: "event", listener: (frame: Frame) => void): () => void;
  /** A resync replaced `items` by a new snapshot. */
  on(event: "snapshot", listener: (items: any[]) => void): () => void;
  on(event: "error", listener: (error: Error) => void): () => void;
  off(event: string, listener: (...args: any[]) => void): void;
  unsubscribe(): Promise<void>;
}

export class SluiceClient {
  /** Resolves once the device is registered the first time; rejects if registration is refused. */
  readonly ready: Promise<SluiceClient>;
  readonly state: "connecting" | "open" | "closed";
  readonly device: string | null;
  /** The last sequence number received. */
  readonly seq: number | null;
  subscribe(model: string, options?: SubscribeOptions): Promise<Subscription>;
  /** What to keep to resume after a reload: pass it back as `connect({session})`. */
  session(): Session;
  close(): void;
  /** Every live delivery (after duplicates are dropped). */
  on(event: "event", listener: (frame: Frame) => void): () => void;
  /** What the device missed is gone: subscriptions start again from a snapshot; reload what you show. */
  on(event: "resync_required", listener: (data: ResyncRequired) => void): () => void;
  on(event: "open", listener: (data: { device: string; seq: number }) => void): () => void;
  on(event: "disconnected", listener: (data: { code: number; reason: string }) => void): () => void;
  on(event: "error", listener: (error: Error) => void): () => void;
  on(event: "close", listener: () => void): () => void;
  off(event: string, listener: (...args: any[]) => void): void;
}

/** Connects a device; reconnects by itself until `close()`. */
export function connect(options: ConnectOptions): SluiceClient;
