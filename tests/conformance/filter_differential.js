#!/usr/bin/env node
// Differential test of the filter language against two independent MongoDB query implementations
// (mingo and sift). Generates random queries over every operator and random documents, keeps the
// (query, document) pairs on which both oracles agree, and requires `sluice filter` to give the
// same answer on every one of them.
//
//   node filter_differential.js path/to/sluice [--seed N] [--queries N] [--docs N]
"use strict";

const { spawnSync } = require("child_process");
const mingo = require("mingo");
const sift = require("sift").default;

const args = process.argv.slice(2);
const sluice = args[0];
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SEED = option("--seed", 20261122);
const QUERIES = option("--queries", 2500);
const DOCS = option("--docs", 40);

// mulberry32: small, seedable, good enough for test data.
let state = SEED >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const chance = (p) => rand() < p;
const int = (n) => Math.floor(rand() * n);

// Numbers are integers or have a fraction: JSON's 2.0 and 2 are one number in JavaScript.
const numbers = [0, 1, 2, 3, 5, 7, -1, 2.5, -3.5, 10, 100];
const strings = ["a", "b", "abc", "Abc", "xyz", "a\nb", "", "ba", "cab"];
const scalar = () => pick([() => pick(numbers), () => pick(strings), () => chance(0.5), () => null])();
const small_array = () => Array.from({ length: int(4) }, scalar);

function document() {
  const d = {};
  if (chance(0.8)) d.n = pick(numbers);
  if (chance(0.8)) d.s = pick(strings);
  if (chance(0.5)) d.b = chance(0.5);
  if (chance(0.3)) d.z = null;
  if (chance(0.6)) d.tags = small_array();
  if (chance(0.5)) d.o = { x: pick(numbers), y: pick(strings) };
  if (chance(0.5)) d.items = Array.from({ length: int(4) }, () => ({ x: pick(numbers), y: pick(strings) }));
  if (chance(0.2)) d.m = pick([scalar(), small_array(), { x: pick(numbers) }]);
  return d;
}

const fields = ["n", "s", "b", "z", "tags", "o", "o.x", "o.y", "items", "items", "items.x", "items.y", "items.0.x", "tags.1", "m", "missing"];
const typeNames = ["string", "number", "bool", "null", "array", "object", 2, 8, 10, 3, 4];
const regexes = ["^a", "b$", "a.c", "[ab]c", "x|y", "^$", "A", "c"];

// Every generated operator expression is tagged so coverage per operator can be reported.
function valueFor(field) {
  if (field.startsWith("s") || field.endsWith(".y")) return chance(0.8) ? pick(strings) : scalar();
  if (field.startsWith("n") || field.endsWith(".x")) return chance(0.8) ? pick(numbers) : scalar();
  if (field === "o") return chance(0.5) ? { x: pick(numbers), y: pick(strings) } : { y: pick(strings), x: pick(numbers) };
  if (field === "tags") return chance(0.3) ? small_array() : scalar();
  return scalar();
}

function operatorExpr(field, depth, used) {
  const op = pick(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$size", "$all", "$elemMatch", "$regex", "$mod", "$not", "implicit"]);
  used.add(op);
  switch (op) {
    case "implicit": return valueFor(field);
    case "$eq": case "$ne": return { [op]: valueFor(field) };
    case "$gt": case "$gte": case "$lt": case "$lte": {
      const e = { [op]: chance(0.8) ? pick(numbers) : pick(strings) };
      if (chance(0.3)) e[pick(["$lt", "$lte"])] = pick(numbers);
      return e;
    }
    case "$in": case "$nin": return { [op]: Array.from({ length: 1 + int(3) }, () => valueFor(field)) };
    case "$exists": return { $exists: chance(0.5) };
    case "$type": return { $type: pick(typeNames) };
    case "$size": return { $size: int(4) };
    // MongoDB's $all is the $and of equalities, so [null] matches a missing field; both oracles
    // require an array there. Null is left out of $all for that reason.
    case "$all": return { $all: Array.from({ length: 1 + int(2) }, () => { let v; do v = scalar(); while (v === null); return v; }) };
    case "$elemMatch":
      // The document form only on arrays of objects: MongoDB skips scalar elements there, both
      // oracles treat them as documents without fields.
      if (depth < 1 && field === "items" && chance(0.7)) return { $elemMatch: { x: operatorExpr(`${field}.x`, depth + 1, used) } };
      return { $elemMatch: { [pick(["$gt", "$lt", "$eq", "$ne"])]: pick(numbers) } };
    case "$regex": {
      const e = { $regex: pick(regexes) };
      if (chance(0.4)) e.$options = pick(["i", "m", "s", "im"]);
      return e;
    }
    case "$mod": used.modFields.add(field); return { $mod: [pick([2, 3, 5]), int(3)] };
    case "$not":
      if (depth < 1) {
        const inner = operatorExpr(field, depth + 1, used);
        if (inner !== null && typeof inner === "object" && !Array.isArray(inner) && Object.keys(inner).every((k) => k.startsWith("$")))
          return { $not: inner };
      }
      return { $not: { $gt: pick(numbers) } };
  }
}

function query(depth, used) {
  if (depth < 1 && chance(0.25)) {
    const op = pick(["$and", "$or", "$nor"]);
    used.add(op);
    return { [op]: Array.from({ length: 1 + int(3) }, () => query(depth + 1, used)) };
  }
  const q = {};
  for (let i = 0, n = 1 + int(2); i < n; i++) {
    const f = pick(fields);
    q[f] = operatorExpr(f, depth, used);
  }
  return q;
}

function oracle(fn) {
  try {
    return { ok: true, value: !!fn() };
  } catch (e) {
    return { ok: false };
  }
}

const docs = Array.from({ length: DOCS }, document);
// Where both oracles follow JavaScript rather than MongoDB we follow MongoDB and leave the case
// out: for $mod, MongoDB truncates fractional values and takes only numbers, where JavaScript's %
// keeps the fraction and turns null, booleans and "" into numbers.
function reach(value, path) {
  if (path.length === 0) return Array.isArray(value) ? [value, ...value] : [value];
  if (Array.isArray(value)) return /^\d+$/.test(path[0]) ? reach(value[Number(path[0])], path.slice(1)) : value.flatMap((e) => reach(e, path));
  if (value !== null && typeof value === "object") return reach(value[path[0]], path.slice(1));
  return [];
}
const jsOnlyMod = (d, modFields) => [...modFields].some((f) => reach(d, f.split(".")).some((v) =>
  v === null || typeof v === "boolean" || v === "" || (typeof v === "number" && !Number.isInteger(v))));
const docLines = docs.map((d) => JSON.stringify(d)).join("\n") + "\n";
const coverage = {};
let agreed = 0, disagreed = 0, skipped = 0, compared = 0, skippedMod = 0;
const mismatches = [];

for (let qi = 0; qi < QUERIES; qi++) {
  const used = new Set();
  used.modFields = new Set();
  const q = query(0, used);
  let mq, sq;
  try {
    mq = new mingo.Query(q);
    sq = sift(q);
  } catch (e) {
    skipped++;
    continue;
  }
  const expected = docs.map((d) => {
    if (used.modFields.size && jsOnlyMod(d, used.modFields)) { skippedMod++; return undefined; }
    const a = oracle(() => mq.test(d));
    const b = oracle(() => sq(d));
    if (!a.ok || !b.ok) return undefined;
    if (a.value !== b.value) { disagreed++; return undefined; }
    agreed++;
    return a.value;
  });
  if (expected.every((e) => e === undefined)) continue;
  const run = spawnSync(sluice, ["filter", JSON.stringify(q)], { input: docLines, encoding: "utf8" });
  if (run.status !== 0) {
    mismatches.push({ query: q, error: run.stderr.trim() });
    continue;
  }
  const got = run.stdout.trim().split("\n");
  expected.forEach((e, i) => {
    if (e === undefined) return;
    compared++;
    for (const op of used) {
      coverage[op] = coverage[op] || { true: 0, false: 0 };
      coverage[op][e]++;
    }
    if (String(e) !== got[i]) mismatches.push({ query: q, doc: docs[i], expected: e, got: got[i] });
  });
}

console.log(`seed ${SEED}: ${compared} (query, document) cases where mingo and sift agree (${disagreed} disagreements, ${skipped} queries an oracle rejected and ${skippedMod} JavaScript-only $mod cases were left out)`);
for (const [op, c] of Object.entries(coverage).sort()) console.log(`  ${op.padEnd(10)} true ${c.true}  false ${c.false}`);
const missing = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$size", "$all", "$elemMatch", "$regex", "$mod", "$not", "$and", "$or", "$nor", "implicit"]
  .filter((op) => !coverage[op] || coverage[op].true < 20 || coverage[op].false < 20);
if (missing.length) {
  console.log(`too few cases for: ${missing.join(" ")}`);
  process.exit(1);
}
if (mismatches.length) {
  console.log(`${mismatches.length} mismatches; first ones:`);
  for (const m of mismatches.slice(0, 15)) console.log(JSON.stringify(m));
  console.log(`${compared - mismatches.length} passed, ${mismatches.length} failed`);
  process.exit(1);
}
console.log(`all ${compared} cases agree`);
