#!/usr/bin/env python3
"""Reads the raw results under bench/results/ and writes summary.json: the figures and ratios the
issues ask for, printed as a table too."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")


def load(name):
    path = out / name
    return json.loads(path.read_text()) if path.exists() else None


def medians(gbench):
    return {b["run_name"]: b for b in gbench["benchmarks"] if b.get("aggregate_name") == "median"}


summary = {}
core = load("core_language.json")
if core:
    m = medians(core)
    ns_per_eval = 1e9 / m["BM_FilterMix"]["items_per_second"]
    summary["filter"] = {"sluice_ns_per_evaluation": ns_per_eval}
    mingo = load("mingo_filter.json")
    if mingo:
        summary["filter"]["mingo_ns_per_evaluation"] = mingo["ns_per_evaluation"]
        summary["filter"]["speedup_vs_mingo"] = mingo["ns_per_evaluation"] / ns_per_eval
    routing = {}
    for n in (1000, 10000, 100000):
        b = m[f"BM_RouteOneChange/{n}"]
        routing[str(n)] = {"us_per_change": b["real_time"], "matches_per_change": b["matches_per_change"],
                           "ns_per_match": b["real_time"] * 1000 / max(b["matches_per_change"], 1)}
    routing["growth_per_change_1k_to_100k"] = routing["100000"]["us_per_change"] / routing["1000"]["us_per_change"]
    routing["growth_per_match_1k_to_100k"] = routing["100000"]["ns_per_match"] / routing["1000"]["ns_per_match"]
    summary["routing"] = routing
    summary["patch"] = {k: m[k]["items_per_second"] for k in m if k.startswith("BM_Patch")}

for extra in sorted(out.glob("summary_*.json")):
    summary[extra.stem[len("summary_"):]] = json.loads(extra.read_text())

(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
