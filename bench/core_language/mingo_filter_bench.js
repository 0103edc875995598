#!/usr/bin/env node
// mingo on the same queries and documents as core_language_bench's BM_FilterMix: queries compiled
// once (new Query), then every query tested against every document. Prints JSON.
"use strict";
const { Query } = require("mingo");
const { queries, docs } = require("./filter_cases.json");
const compiled = queries.map((q) => new Query(q));
let sink = 0;
const round = () => { for (const q of compiled) for (const d of docs) if (q.test(d)) sink++; };
for (let i = 0; i < 50; i++) round();  // warm up the JIT
const evaluations = queries.length * docs.length;
let rounds = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < 2e9) { round(); rounds++; elapsed = Number(process.hrtime.bigint() - start); }
const ns = elapsed / (rounds * evaluations);
console.log(JSON.stringify({ name: "mingo_filter_mix", ns_per_evaluation: ns, evaluations_per_second: 1e9 / ns, matches: sink / (rounds + 50) }));
