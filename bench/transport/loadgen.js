#!/usr/bin/env node
// Load generator for the transport benchmarks; drives Sluice or the Node `ws` peer the same way.
//
//   loadgen.js fanout  --target sluice|node --url http://127.0.0.1:PORT --sockets N --rounds R [--secret S] [--pid P]
//     N sockets subscribe to one model; each round one change is written and must reach all N.
//     Prints {deliveries_per_second, rss_per_idle_connection_bytes, ...}.
//   loadgen.js e2e --url http://127.0.0.1:PORT --writers K --subscribers M --seconds T --secret S [--ws-hosts H:P,...] [--model M]
//     K keep-alive HTTP writers create documents as fast as accepted; M sockets receive them.
//     Prints accepted changes/s, deliveries/s and accept-to-receipt latency percentiles.
//   loadgen.js subs --url http://127.0.0.1:PORT --secret S --devices D --per-device N --writes W [--rounds R] [--writers K]
//     D sockets (devices), each with N equality-filtered subscriptions on one model (filter
//     {"k": "<device>-<j>"}, each its own channel); then R rounds of W creates from K keep-alive
//     writers, each document matching exactly one subscription (spread over every device and
//     subscription). Checks that each is delivered once, as model_created naming exactly that
//     channel. Prints the subscribe rate and, for the median round, writes/s (accepted) and
//     deliveries/s (first write of the round to its last delivery), and latency percentiles.
//   loadgen.js latency --url http://127.0.0.1:PORT --subscribers M --seconds T --secret S [--warmup W] [--rate R]
//     One writer alternates POST (create) and PATCH of the document it just created, each waiting
//     for its 202 before the next; M sockets subscribed to the model receive every change. For each
//     (change, socket) it measures, on this process's monotonic clock, the time from sending the
//     HTTP request to the socket receiving the frame, and from receiving the 202 to the frame.
//     Without --rate the writer sends its next request as soon as the 202 arrives (closed loop: the
//     machine is saturated, so the figures include queueing). With --rate R it sends at R writes/s
//     on a fixed schedule and measures from the scheduled time, so a slow answer counts against
//     every write it delayed (no coordinated omission).
"use strict";
const http = require("http");
const crypto = require("crypto");
const fs = require("fs");
const WebSocket = require("ws");

const args = process.argv.slice(2);
const mode = args[0];
const opt = (name, fallback) => {
  const i = args.indexOf("--" + name);
  return i >= 0 ? args[i + 1] : fallback;
};
const url = new URL(opt("url"));
const secret = opt("secret", "");
// Where devices connect: the server itself, or (distributed shape) the websocket instances,
// `--ws-hosts host:port,host:port` taken in turn.
const wsHosts = (opt("ws-hosts", "") || url.host).split(",");
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const b64 = (x) => Buffer.from(x).toString("base64url");
function token(user, device) {
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ app: "demo", sub: user, device, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = crypto.createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

function post(path, body, auth, method = "POST") {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: url.hostname, port: url.port, path, method, agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...(auth ? { authorization: `Bearer ${auth}` } : {}) } },
      (res) => { res.resume(); res.on("end", () => resolve(res.statusCode)); });
    req.on("error", reject);
    req.end(data);
  });
}

const rss = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Opens sockets in batches (a burst of 10k handshakes overruns the accept backlog).
async function openSockets(n, make, onMessage) {
  const sockets = [];
  for (let i = 0; i < n; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 200); j++) batch.push(make(j));
    sockets.push(...(await Promise.all(batch)));
  }
  sockets.forEach((s, i) => s.on("message", (m) => onMessage(i, m)));
  return sockets;
}

function sluiceSocket(i, model) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${wsHosts[i % wsHosts.length]}/v1/ws?token=${token("bench", "dev-" + i)}`, { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("open", () => ws.send(JSON.stringify({ event: "subscribe", data: { model } })));
    const ready = (m) => {
      if (JSON.parse(m).event === "subscribed") { ws.off("message", ready); resolve(ws); }
    };
    ws.on("message", ready);
  });
}

function nodeSocket() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${url.host}/`, { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("open", () => resolve(ws));
  });
}

async function fanout() {
  const target = opt("target");
  const n = Number(opt("sockets", 10000));
  const rounds = Number(opt("rounds", 20));
  const pid = Number(opt("pid", 0));
  const model = "fan" + Date.now();
  const before = pid ? rss(pid) : 0;
  let received = 0;
  let roundDone = null;
  const sockets = await openSockets(n, (i) => (target === "sluice" ? sluiceSocket(i, model) : nodeSocket()), () => {
    if (++received === n && roundDone) roundDone();
  });
  await sleep(1000);
  const idle = pid ? rss(pid) : 0;
  const writer = target === "sluice" ? token("writer", "writer-dev") : null;
  const doc = { title: "fan-out", body: "x".repeat(200) };
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    received = 0;
    const done = new Promise((resolve) => (roundDone = resolve));
    const status = target === "sluice"
      ? await post(`/v1/apps/demo/models/${model}`, { ...doc, r }, writer)
      : await post("/broadcast", JSON.stringify({ event: "model_created", data: { ...doc, r } }));
    if (status !== 202) throw new Error(`write answered ${status}`);
    await done;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  sockets.forEach((s) => s.terminate());
  console.log(JSON.stringify({ target, sockets: n, rounds, seconds, deliveries_per_second: (n * rounds) / seconds,
    rss_idle_bytes: idle, rss_before_bytes: before, rss_per_idle_connection_bytes: pid ? (idle - before) / n : null }));
}

async function e2e() {
  const writers = Number(opt("writers", 4));
  const subscribers = Number(opt("subscribers", 50));
  const seconds = Number(opt("seconds", 10));
  const model = opt("model", "e2e" + Date.now());
  const latencies = [];
  let deliveries = 0;
  const sockets = await openSockets(subscribers, (i) => sluiceSocket(i, model), (i, m) => {
    const msg = JSON.parse(m);
    if (msg.event !== "model_created") return;
    deliveries++;
    if (i === 0) latencies.push(Date.now() - msg.data.created_at);
  });
  let accepted = 0;
  let stop = false;
  const t0 = Date.now();
  const loops = Array.from({ length: writers }, async (_, w) => {
    const t = token("w" + w, "wdev" + w);
    while (!stop) {
      if ((await post(`/v1/apps/demo/models/${model}`, { w, title: "e2e" }, t)) === 202) accepted++;
    }
  });
  await sleep(seconds * 1000);
  stop = true;
  await Promise.all(loops);
  const elapsed = (Date.now() - t0) / 1000;
  const expected = accepted * subscribers;
  const deadline = Date.now() + 60000;
  while (deliveries < expected && Date.now() < deadline) await sleep(50);
  const drained = (Date.now() - t0) / 1000;
  sockets.forEach((s) => s.terminate());
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(JSON.stringify({ writers, subscribers, seconds: elapsed, accepted_per_second: accepted / elapsed,
    deliveries_per_second: deliveries / drained, delivered_all: deliveries >= expected,
    latency_ms: { p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1] } }));
}

// Sends every subscribe of one device at once and resolves with their channels, in order (one
// socket answers in order).
function subscribeAll(ws, model, filters) {
  return new Promise((resolve, reject) => {
    const channels = [];
    const onMessage = (m) => {
      const msg = JSON.parse(m);
      if (msg.event === "error") return reject(new Error(`subscribe refused: ${JSON.stringify(msg.data)}`));
      if (msg.event !== "subscribed") return;
      channels.push(msg.data.channel);
      if (channels.length === filters.length) { ws.off("message", onMessage); resolve(channels); }
    };
    ws.on("message", onMessage);
    for (const filter of filters) ws.send(JSON.stringify({ event: "subscribe", data: { model, filter } }));
  });
}

async function subs() {
  const devices = Number(opt("devices", 100));
  const perDevice = Number(opt("per-device", 10));
  const writes = Number(opt("writes", 5000));
  const rounds = Number(opt("rounds", 3));
  const writers = Number(opt("writers", 8));
  const model = "subs" + Date.now();
  const key = (d, j) => `sd${d}-${j}`;
  const sockets = await Promise.all(Array.from({ length: devices }, (_, d) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${url.host}/v1/ws?token=${token("bench", "sd" + d)}`, { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("open", () => resolve(ws));
  })));
  const s0 = process.hrtime.bigint();
  // Every device subscribes at once; each one's subscribes are pipelined on its socket.
  const channels = await Promise.all(sockets.map((ws, d) =>
    subscribeAll(ws, model, Array.from({ length: perDevice }, (_, j) => ({ k: key(d, j) })))));
  const subscribeSeconds = Number(process.hrtime.bigint() - s0) / 1e9;
  const expectedChannel = new Map();
  channels.forEach((list, d) => list.forEach((c, j) => expectedChannel.set(key(d, j), c)));
  if (new Set(expectedChannel.values()).size !== devices * perDevice) throw new Error("channels are not distinct");

  // Write n goes to device n % devices, subscription (n / devices * 7919) % perDevice: every device
  // gets the same share, spread over its subscriptions.
  const target = (n) => key(n % devices, (Math.floor(n / devices) * 7919) % perDevice);
  const total = writes * rounds;
  let delivered = 0, wrong = 0, lastDelivery = 0n;
  const sentAt = new Array(total);
  const seen = new Uint8Array(total);
  const latencies = [];
  let roundEnd = writes, roundDone = null;
  sockets.forEach((ws, d) => ws.on("message", (m) => {
    const msg = JSON.parse(m);
    if (msg.seq === undefined) return;
    const k = msg.data && msg.data.k;
    const ok = msg.event === "model_created" && typeof k === "string" && k.startsWith(`sd${d}-`) &&
      msg.data.metadata.channels.length === 1 && msg.data.metadata.channels[0] === expectedChannel.get(k);
    if (!ok || seen[msg.data.n]) { wrong++; return; }
    seen[msg.data.n] = 1;
    latencies.push(Number(process.hrtime.bigint() - sentAt[msg.data.n]) / 1e6);
    lastDelivery = process.hrtime.bigint();
    if (++delivered === roundEnd && roundDone) roundDone();
  }));

  // Several rounds on the same subscriptions; the median round is reported (the machine is shared).
  const perRound = [];
  let next = 0;
  for (let r = 0; r < rounds; r++) {
    roundEnd = (r + 1) * writes;
    const done = new Promise((resolve) => (roundDone = resolve));
    const first = delivered;
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: writers }, async (_, w) => {
      const t = token("w" + w, "wdev" + w);
      while (next < roundEnd) {
        const n = next++;
        sentAt[n] = process.hrtime.bigint();
        const status = await post(`/v1/apps/demo/models/${model}`, { n, k: target(n) }, t);
        if (status !== 202) throw new Error(`write answered ${status}`);
      }
    }));
    const writeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await Promise.race([done, sleep(120000)]);
    const deliverySeconds = Number(lastDelivery - t0) / 1e9;
    perRound.push({ writes_per_second: writes / writeSeconds, deliveries_per_second: (delivered - first) / deliverySeconds });
  }
  // A late duplicate or a stray frame would show up here.
  await sleep(500);
  sockets.forEach((s) => s.terminate());
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const median = (k) => perRound.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(rounds / 2)];
  console.log(JSON.stringify({ devices, subscriptions_per_device: perDevice, subscriptions: devices * perDevice,
    subscribe_seconds: subscribeSeconds, subscriptions_per_second: (devices * perDevice) / subscribeSeconds,
    writes_per_round: writes, rounds, writers, writes_per_second: median("writes_per_second"),
    deliveries_per_second: median("deliveries_per_second"), per_round: perRound, deliveries: delivered,
    delivered_all: delivered === total, wrong_or_duplicate: wrong,
    latency_ms: { p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1] } }));
}

const percentiles = (xs) => {
  xs.sort((a, b) => a - b);
  const at = (p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  const r = (x) => Math.round(x * 1000) / 1000;
  return { samples: xs.length, p50: r(at(50)), p90: r(at(90)), p99: r(at(99)), max: r(xs[xs.length - 1]) };
};

async function latency() {
  const subscribers = Number(opt("subscribers", 100));
  const seconds = Number(opt("seconds", 10));
  const warmup = Number(opt("warmup", 50));  // writes left out of the figures
  const rate = Number(opt("rate", 0));  // writes/s on a fixed schedule; 0: closed loop
  const model = "lat" + Date.now();
  const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms, monotonic
  // key "created:ID" / "updated:ID" -> {sent, accepted, n}
  const writes = new Map();
  const fromRequest = [];
  const from202 = [];
  let deliveries = 0;
  let early = 0;  // frames that arrived before their 202
  const sockets = await openSockets(subscribers, (i) => sluiceSocket(i, model), (i, m) => {
    const at = now();
    const msg = JSON.parse(m);
    let key;
    if (msg.event === "model_created") key = "created:" + msg.data.id;
    else if (msg.event === "model_updated") key = "updated:" + msg.data[0].metadata.id;
    else return;
    const w = writes.get(key);
    if (!w) return;
    deliveries++;
    if (w.measured) {
      fromRequest.push(at - w.sent);
      if (w.accepted === undefined) { early++; w.pending.push(at); } else from202.push(at - w.accepted);
    }
  });
  await sleep(500);
  const t = token("writer", "writer-dev");
  const toAccept = [];
  let count = 0;
  const t0 = Date.now();
  const scheduleStart = now();
  while (Date.now() - t0 < seconds * 1000) {
    const id = "d" + (count >> 1);
    const create = count % 2 === 0;
    const key = (create ? "created:" : "updated:") + id;
    let sent = now();
    if (rate > 0) {
      // Scheduled time of this write; if the writer is behind, it sends at once and still counts
      // from the schedule.
      const due = scheduleStart + (count * 1000) / rate;
      if (due > sent) await sleep(due - sent);
      sent = due;
    }
    const w = { sent, accepted: undefined, measured: count >= warmup, pending: [] };
    writes.set(key, w);
    const status = create
      ? await post(`/v1/apps/demo/models/${model}`, { id, title: "latency", n: 0 }, t)
      : await post(`/v1/apps/demo/models/${model}/${id}`, [{ op: "replace", path: "/n", value: count }], t, "PATCH");
    w.accepted = now();
    if (status !== 202) throw new Error(`write ${key} answered ${status}`);
    if (w.measured) {
      toAccept.push(w.accepted - w.sent);
      for (const at of w.pending) from202.push(at - w.accepted);
    }
    count++;
  }
  const elapsed = (Date.now() - t0) / 1000;
  const expected = count * subscribers;
  const deadline = Date.now() + 30000;
  while (deliveries < expected && Date.now() < deadline) await sleep(20);
  sockets.forEach((s) => s.terminate());
  console.log(JSON.stringify({ writers: 1, subscribers, writes: count, seconds: elapsed, writes_per_second: count / elapsed,
    pacing: rate > 0 ? `${rate} writes/s on a fixed schedule, measured from the scheduled send` : "closed loop: next request on each 202",
    delivered_all: deliveries >= expected, measured_from: "request sent (and 202 received), client clock, loopback",
    request_to_202_ms: percentiles(toAccept), request_to_device_ms: percentiles(fromRequest),
    accepted_to_device_ms: percentiles(from202), frames_before_their_202: early }));
}

({ fanout, e2e, subs, latency }[mode] || e2e)().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
