// A real `sluice serve` for the client's tests: its own data directory and port, tokens minted
// with `sluice token`, HTTP writes with fetch.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectTcp, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");
export const SLUICE = process.env.SLUICE_BIN ?? join(ROOT, "build/bin/sluice");

async function freePort() {
  return new Promise((ok) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export class Sluice {
  static async start(configText) {
    const s = new Sluice();
    s.dir = mkdtempSync(join(tmpdir(), "sluice-js-"));
    s.data = join(s.dir, "data");
    s.config = null;
    if (configText) {
      s.config = join(s.dir, "sluice.toml");
      writeFileSync(s.config, configText);
    }
    s.port = await freePort();
    s.url = `http://127.0.0.1:${s.port}`;
    await s.run();
    return s;
  }

  args(...rest) {
    return [...rest, "--data", this.data, ...(this.config ? ["--config", this.config] : [])];
  }

  async run() {
    this.log = "";
    this.proc = spawn(SLUICE, this.args("serve", "--listen", `127.0.0.1:${this.port}`), { stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout.on("data", (d) => (this.log += d));
    this.proc.stderr.on("data", (d) => (this.log += d));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`sluice serve exited: ${this.log}`);
      try {
        if ((await fetch(this.url + "/healthz")).ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sluice serve did not start: ${this.log}`);
  }

  /** SIGTERM; resolves with the exit code. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.proc?.exitCode;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    return exited;
  }

  async restart() {
    const code = await this.stop();
    if (code !== 0) throw new Error(`sluice serve exited with ${code}: ${this.log}`);
    await this.run();
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  token(user = "alice", device = "dev-1", ttl = 3600) {
    return execFileSync(SLUICE, this.args("token", "--app", "demo", "--user", user, "--device", device, "--ttl", String(ttl)))
      .toString()
      .trim();
  }

  async write(method, path, body, token = this.token("writer", "writer-dev")) {
    const r = await fetch(`${this.url}/v1/apps/demo/models/${path}?wait=1`, {
      method,
      headers: { Authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  }
}

/** Resolves with the next `n` values `emitter` fires as `event` (rejects after `ms`). */
export function next(emitter, event, n = 1, ms = 20000) {
  return new Promise((resolveAll, reject) => {
    const got = [];
    const timer = setTimeout(() => {
      off();
      reject(new Error(`only ${got.length} of ${n} '${event}' within ${ms} ms`));
    }, ms);
    const off = emitter.on(event, (v) => {
      got.push(v);
      if (got.length === n) {
        clearTimeout(timer);
        off();
        resolveAll(got);
      }
    });
  });
}

/** A TCP relay to Sluice that the test can cut, as a network would, and restore. */
export class Relay {
  static async start(target) {
    const r = new Relay();
    r.target = target;
    r.port = await freePort();
    r.url = `http://127.0.0.1:${r.port}`;
    r.sockets = new Set();
    await r.restore();
    return r;
  }

  async restore() {
    this.server = createServer((client) => {
      const upstream = connectTcp(this.target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise((ok) => this.server.listen(this.port, "127.0.0.1", ok));
  }

  /** Drops every connection and accepts none until `restore`. */
  async cut() {
    const closed = new Promise((ok) => this.server.close(ok));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
