// The client against a real `sluice serve` (test/sluice.js): snapshot then live events routed by
// channel, filtered views, a server restart in the middle, duplicates dropped by op, a resync,
// token refresh before expiry, a refused subscription.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { connect, SluiceError } from "../src/index.js";
import { next, Relay, Sluice } from "./sluice.js";

describe("@sluice/client", () => {
  let sluice;
  before(async () => {
    sluice = await Sluice.start("[limits]\nresume_backlog = 5\n");
  });
  after(async () => {
    await sluice.close();
  });

  test("a subscription starts from its snapshot and gets its channel's events only", async () => {
    await sluice.write("POST", "task", { id: "t1", title: "first" });
    const client = connect({ url: sluice.url, token: sluice.token("ann", "phone") });
    try {
      await client.ready;
      assert.equal(client.device, "phone");
      const tasks = await client.subscribe("task");
      const notes = await client.subscribe("note");
      assert.equal(tasks.channel, "app:demo:model:task");
      assert.deepEqual(tasks.items.map((d) => d.id), ["t1"]);
      assert.deepEqual(notes.items, []);
      const taskEvents = next(tasks, "event", 2);
      const noteEvents = next(notes, "event", 1);
      await sluice.write("POST", "note", { id: "n1" });
      await sluice.write("PATCH", "task/t1", [{ op: "replace", path: "/title", value: "second" }]);
      await sluice.write("POST", "task", { id: "t2" });
      const [updated, created] = await taskEvents;
      assert.equal(updated.event, "model_updated");
      assert.equal(updated.data[0].value, "second");
      assert.equal(created.event, "model_created");
      assert.equal(created.data.id, "t2");
      const [note] = await noteEvents;
      assert.equal(note.data.id, "n1");
      assert.ok(created.seq > updated.seq);
    } finally {
      client.close();
    }
  });

  test("a filtered subscription sees documents enter and leave", async () => {
    const client = connect({ url: sluice.url, token: sluice.token("ann", "tablet") });
    try {
      const open = await client.subscribe("issue", { filter: { status: "open" } });
      const events = next(open, "event", 2);
      await sluice.write("POST", "issue", { id: "i1", status: "closed" });
      await sluice.write("PATCH", "issue/i1", [{ op: "replace", path: "/status", value: "open" }]);
      await sluice.write("PATCH", "issue/i1", [{ op: "replace", path: "/status", value: "closed" }]);
      assert.deepEqual((await events).map((f) => f.event), ["model_entered", "model_left"]);
    } finally {
      client.close();
    }
  });

  test("across a server restart it reconnects and resumes without a gap", async () => {
    const client = connect({ url: sluice.url, token: sluice.token("bob", "laptop"), backoff: { initial: 50, max: 500 } });
    try {
      const items = await client.subscribe("log");
      const all = [];
      items.on("event", (f) => all.push(f));
      const first = next(items, "event", 2);
      await sluice.write("POST", "log", { id: "l1" });
      await sluice.write("POST", "log", { id: "l2" });
      await first;
      const disconnected = next(client, "disconnected", 1);
      await sluice.restart();
      await disconnected;
      const rest = next(items, "event", 2);
      await sluice.write("POST", "log", { id: "l3" });
      await sluice.write("POST", "log", { id: "l4" });
      await rest;
      assert.deepEqual(all.map((f) => f.data.id), ["l1", "l2", "l3", "l4"]);
      const seqs = all.map((f) => f.seq);
      assert.deepEqual(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2, seqs[0] + 3]);
      assert.equal(client.state, "open");
    } finally {
      client.close();
    }
  });

  test("frames seen before are dropped by op when a session resumes from an older point", async () => {
    const token = sluice.token("cy", "desk");
    const one = connect({ url: sluice.url, token });
    const sub = await one.subscribe("memo");
    const got = next(sub, "event", 2);
    await sluice.write("POST", "memo", { id: "m1" });
    await sluice.write("POST", "memo", { id: "m2" });
    await got;
    const session = one.session();
    one.close();
    // The stored session is older than what was shown (saved before the last frames): resuming
    // from there replays m1 and m2, which the client recognises.
    const two = connect({ url: sluice.url, token, session: { ...session, seq: session.seq - 2 } });
    try {
      const seen = [];
      two.on("event", (f) => seen.push(f.data.id));
      await two.ready;
      const later = next(two, "event", 1);
      await sluice.write("POST", "memo", { id: "m3" });
      await later;
      assert.deepEqual(seen, ["m3"]);
    } finally {
      two.close();
    }
  });

  test("resync_required is surfaced and subscriptions start again from a snapshot", async () => {
    const relay = await Relay.start(sluice.port);
    const client = connect({ url: relay.url, token: sluice.token("dee", "kiosk"), backoff: { initial: 50, max: 200 } });
    try {
      const stock = await client.subscribe("stock");
      assert.deepEqual(stock.items, []);
      const disconnected = next(client, "disconnected", 1);
      await relay.cut();
      await disconnected;
      for (let i = 0; i < 8; i++) await sluice.write("POST", "stock", { id: `s${i}` }); // past the backlog of 5
      const resync = next(client, "resync_required", 1);
      const snapshot = next(stock, "snapshot", 1);
      await relay.restore();
      const [data] = await resync;
      assert.ok(data.seq >= data.resume_from + 8, JSON.stringify(data));
      const [items] = await snapshot;
      assert.equal(items.length, 8);
      assert.equal(stock.items.length, 8);
      const live = next(stock, "event", 1);
      await sluice.write("POST", "stock", { id: "s8" });
      assert.equal((await live)[0].data.id, "s8");
    } finally {
      client.close();
      await relay.cut();
    }
  });

  test("the token is refreshed before it expires and the connection lives on", async () => {
    let minted = 0;
    const client = connect({
      url: sluice.url,
      getToken: () => {
        minted++;
        return sluice.token("eve", "watch", 3);
      },
      refreshBeforeMs: 2000,
    });
    try {
      const sub = await client.subscribe("ping");
      await new Promise((r) => setTimeout(r, 4000)); // past the first token's expiry
      const got = next(sub, "event", 1);
      await sluice.write("POST", "ping", { id: "p1" });
      assert.equal((await got)[0].data.id, "p1");
      assert.ok(minted >= 2, `minted ${minted}`);
      assert.equal(client.state, "open");
    } finally {
      client.close();
    }
  });

  test("a refused subscription rejects with the server's code", async () => {
    const client = connect({ url: sluice.url, token: sluice.token("fay", "car") });
    try {
      await assert.rejects(client.subscribe("task", { filter: { n: { $near: 1 } } }), (e) => e instanceof SluiceError && e.code === "invalid_filter");
      const ok = await client.subscribe("task");
      assert.ok(Array.isArray(ok.items));
    } finally {
      client.close();
    }
  });

  test("a forged token makes ready reject", async () => {
    const client = connect({ url: sluice.url, token: "not.a.token", backoff: { initial: 10 } });
    await assert.rejects(client.ready, (e) => e instanceof SluiceError);
    assert.equal(client.state, "closed");
  });
});

test("the TypeScript types describe the API as the README uses it (tsc --strict)", () => {
  const root = new URL("..", import.meta.url).pathname;
  execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.json")], { stdio: "pipe" });
});
