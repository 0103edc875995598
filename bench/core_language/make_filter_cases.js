#!/usr/bin/env node
// Writes filter_cases.json: the queries and documents both filter benchmarks (ours and mingo's)
// evaluate. Deterministic; rerun only to change the mix.
"use strict";
let state = 42;
const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const statuses = ["open", "closed", "review", "blocked"];
const tags = ["red", "green", "blue", "urgent", "later"];
const docs = Array.from({ length: 200 }, (_, i) => ({
  id: `task-${i}`, title: `Task number ${i}`, status: pick(statuses), priority: 1 + Math.floor(rand() * 5),
  score: Math.floor(rand() * 1000) / 10, done: rand() < 0.3, tags: Array.from({ length: Math.floor(rand() * 4) }, () => pick(tags)),
  owner: { name: pick(["ann", "bob", "cid"]), team: pick(["core", "web", "ops"]) },
  items: Array.from({ length: Math.floor(rand() * 4) }, () => ({ sku: `s${Math.floor(rand() * 10)}`, qty: Math.floor(rand() * 10) })),
}));
const queries = [
  { status: "open" },
  { status: { $in: ["open", "review"] }, priority: { $gte: 3 } },
  { score: { $gt: 25, $lte: 75 } },
  { tags: "urgent" },
  { tags: { $all: ["red", "blue"] } },
  { "owner.team": "core", done: false },
  { items: { $elemMatch: { sku: "s3", qty: { $gt: 2 } } } },
  { $or: [{ status: "blocked" }, { priority: 5 }] },
  { title: { $regex: "^Task number 1", $options: "i" } },
  { status: { $nin: ["closed", "blocked"] }, tags: { $size: 2 } },
  { priority: { $mod: [2, 1] }, "owner.name": { $ne: "bob" } },
  { $and: [{ score: { $exists: true } }, { score: { $type: "number" } }, { done: { $not: { $eq: true } } }] },
];
require("fs").writeFileSync(__dirname + "/filter_cases.json", JSON.stringify({ queries, docs }, null, 0) + "\n");
