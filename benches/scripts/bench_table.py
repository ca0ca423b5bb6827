#!/usr/bin/env python3
"""Turns the printed output of eoforge's benchmarks into the Markdown tables of docs/BENCHMARKS.md, ratio column
first, and writes a table into its marked block there. Python standard library only.

usage:
  bench_table.py table NAME OUTPUT_FILE      print the block body (table + notes) for benchmark NAME, read from
                                             the benchmark's captured stdout
  bench_table.py splice DOC NAME BODY_FILE   replace the lines between <!-- bench:NAME:begin --> and
                                             <!-- bench:NAME:end --> in DOC with BODY_FILE's text

NAME is one of shard-vs-python, loader-vs-python, cog-vs-gdal, preflight-s3, train-step, sr-10x, onnx-vs-python or
criterion-GROUP (a criterion benchmark group of benches/benches/*.rs, e.g. criterion-lzw_tile_512x512x4_i16).

Every ratio is a throughput ratio, eoforge / reference = reference time / eoforge time: higher is better.
Exit status 1, with the reason on stderr, when the output holds no complete table of that benchmark (a failed or
interrupted run); 2 on a usage error. Nothing is written in either case.
"""

import os
import re
import sys

NUM = r"\d+(?:\.\d+)?"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ParseError(Exception):
    pass


def cell(text):
    return str(text).replace("|", "\\|").strip()


def table(header, align, rows):
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(value, suffix=""):
    return f"**{value:.2f}×**{suffix}"


def verdict(value, target):
    return f"target ≥ {target:g}×: {'met' if value >= target else 'not met'}"


def grouped(value, digits=0):
    return f"{value:,.{digits}f}"


def search(pattern, text, what):
    m = re.search(pattern, text, re.MULTILINE)
    if not m:
        raise ParseError(f"no {what} in the output")
    return m


# --- benches/shard-vs-python.sh ---------------------------------------------------------------------------------
# Fixed-width rows "tool  patches  wall s  patches/s  MB/s  peak RSS MiB" for three runs, then
# "eoforge / python throughput: 6.80x (...)", "S3 / local throughput: 0.34x (...)" and "CPU during the S3 run: ...".
def shard_vs_python(text):
    row = re.compile(rf"^(?P<tool>\S.*?)\s+(?P<n>\d+)\s+(?P<wall>{NUM})\s+(?P<pps>{NUM})\s+(?P<mbs>{NUM})\s+(?P<rss>\d+)\s*$")
    runs = {}
    for line in text.splitlines():
        m = row.match(line)
        if not m:
            continue
        tool = m["tool"]
        key = ("local" if tool.startswith("eoforge-prep shard, local") else
               "python" if tool.startswith("python pool") else
               "s3" if tool.startswith("eoforge-prep shard, from S3") else None)
        if key:
            runs[key] = m
    missing = [k for k in ("local", "python", "s3") if k not in runs]
    if missing:
        raise ParseError(f"no row for {', '.join(missing)} in the output")
    wall = {k: float(m["wall"]) for k, m in runs.items()}
    found = re.search(r"eoforge / python throughput:\s*(" + NUM + ")x", text)
    vs_python = float(found[1]) if found else wall["python"] / wall["local"]
    found = re.search(r"S3 / local throughput:\s*(" + NUM + ")x", text)
    vs_local = float(found[1]) if found else wall["local"] / wall["s3"]
    ratios = {
        "local": ratio(vs_python, f" vs the Python pool ({verdict(vs_python, 5)})"),
        "python": "1 (the reference)",
        "s3": ratio(vs_local, f" vs eoforge from local files ({verdict(vs_local, 0.8)})"),
    }
    rows = []
    for key in ("local", "python", "s3"):
        m = runs[key]
        rss = grouped(float(m["rss"])) + (" (parent + workers, summed)" if key == "python" else "")
        rows.append([ratios[key], m["tool"], grouped(int(m["n"])), m["wall"], grouped(float(m["pps"])),
                     grouped(float(m["mbs"])), rss])
    out = table(["eoforge / reference, patches/s (higher is better)", "run", "patches", "wall s", "patches/s",
                 "MB/s", "peak RSS MiB"], ["---", "---", "---:", "---:", "---:", "---:", "---:"], rows)
    cpu = re.search(r"^CPU during the S3 run:.*$", text, re.MULTILINE)
    return out + (f"\n\n{cpu[0].strip()}" if cpu else "")


# --- benches/loader-vs-python.sh --------------------------------------------------------------------------------
# A Markdown table "| loader (N samples, batch 32, C cores) | samples/s | MB/s f32 | wall s | peak RSS MiB |" with an
# eoforge row and a Python row, then "eoforge / Python: 1.50x (target >= 5x): ...".
def loader_vs_python(text):
    header, eoforge, python = None, None, None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].startswith("loader"):
            header = cells
        elif cells[0].startswith("eoforge"):
            eoforge = cells
        elif cells[0].startswith("Python"):
            python = cells
    if not (header and eoforge and python) or not len(header) == len(eoforge) == len(python) == 5:
        raise ParseError("no complete loader table in the output")
    found = re.search(r"eoforge / Python:\s*(" + NUM + ")x", text)
    value = float(found[1]) if found else float(eoforge[1]) / float(python[1])
    rows = [[ratio(value, f" vs the Python reference ({verdict(value, 5)})")] + eoforge,
            ["1 (the reference)"] + python]
    return table(["eoforge / reference, samples/s (higher is better)"] + header,
                 ["---", "---", "---:", "---:", "---:", "---:"], rows)


# --- benches/cog-vs-gdal.sh -------------------------------------------------------------------------------------
# Fixed-width rows "size raw_MB codec tool wall_s MB/s peak_RSS_MiB", four per case (GDAL; eoforge whole command;
# "of which write stage"; "of which QC"), then one summary line per case:
# "10980x10980 lzw: eoforge whole run 2.08x GDAL throughput (write stage alone 2.85x); peak RSS 370 vs 1590 MiB".
def cog_vs_gdal(text):
    row = re.compile(rf"^(?P<label>\d+x\d+)\s+(?P<mb>\d+)\s+(?P<codec>lzw|zstd)\s+(?P<tool>.+?)\s+"
                     rf"(?P<wall>{NUM})\s+(?P<mbs>{NUM})\s+(?P<rss>\d+|-)\s*$")
    summary = re.compile(rf"^(?P<label>\d+x\d+) (?:class map )?(?P<codec>lzw|zstd): eoforge whole run "
                         rf"(?P<whole>{NUM})x GDAL throughput \(write stage alone (?P<write>{NUM})x\)")
    cases = {}
    for line in text.splitlines():
        m = row.match(line)
        if m:
            case = cases.setdefault((m["label"], m["codec"]), {"classes": False})
            tool = m["tool"].strip()
            if tool.startswith("gdal_translate"):
                case["gdal"] = m
                case["classes"] = "(classes)" in tool
            elif tool.startswith("eoforge-infer cog"):
                case["eoforge"] = m
            elif "write stage" in tool:
                case["write"] = m
            elif "QC" in tool:
                case["qc"] = m
            continue
        m = summary.match(line)
        if m and (m["label"], m["codec"]) in cases:
            cases[(m["label"], m["codec"])]["ratios"] = (float(m["whole"]), float(m["write"]))
    rows = []
    for (label, codec), case in cases.items():
        if not all(k in case for k in ("gdal", "eoforge", "write", "qc")):
            raise ParseError(f"incomplete rows for {label} {codec} in the output")
        g, e, w = float(case["gdal"]["wall"]), float(case["eoforge"]["wall"]), float(case["write"]["wall"])
        whole, write = case.get("ratios") or (g / e, g / w)
        width, height = (int(v) for v in label.split("x"))
        size = f"{width:,}²" if width == height else f"{width:,}×{height:,}"
        raster = f"{size} UInt8 class map" if case["classes"] else f"{size} × 4 Int16"
        rows.append([ratio(whole), ratio(write), raster, codec.upper(), case["gdal"]["wall"], case["eoforge"]["wall"],
                     case["write"]["wall"], case["qc"]["wall"], grouped(float(case["gdal"]["rss"])),
                     grouped(float(case["eoforge"]["rss"]))])
    if not rows:
        raise ParseError("no COG rows in the output")
    return table(["eoforge / GDAL, whole command (higher is better)", "write stage alone / GDAL", "raster", "codec",
                  "GDAL wall s", "eoforge wall s (whole)", "of which write s", "of which QC s", "GDAL peak RSS MiB",
                  "eoforge peak RSS MiB"], ["---", "---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:"],
                 rows)


# --- benches/preflight-s3.sh ------------------------------------------------------------------------------------
# A header "workers objects seconds HEAD/s", then one row of four numbers per worker count.
def preflight_s3(text):
    row = re.compile(rf"^(?P<workers>\d+)\s+(?P<objects>\d+)\s+(?P<seconds>{NUM})\s+(?P<heads>{NUM})\s*$")
    found = [m for m in map(row.match, text.splitlines()) if m]
    if not found:
        raise ParseError("no preflight rows in the output")
    base = float(found[0]["heads"])
    rows = []
    for i, m in enumerate(found):
        first = f"1 (the reference: {m['workers']} workers)" if i == 0 else ratio(float(m["heads"]) / base)
        rows.append([first, m["workers"], grouped(int(m["objects"])), m["seconds"], grouped(float(m["heads"]))])
    return table([f"HEAD/s relative to {found[0]['workers']} workers (higher is better)", "workers", "objects checked",
                  "seconds", "HEAD/s"], ["---", "---:", "---:", "---:", "---:"], rows)


# --- target/release/train-step ----------------------------------------------------------------------------------
# A Markdown table "| CPU, burn flex, N threads | seconds | reference (same run) | ratio |" whose ratio cells read
# "8.9x faster" (reference seconds / eoforge seconds), then a line on PyTorch.
def train_step(text):
    header, rows = None, []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].startswith("CPU"):
            header = cells
            continue
        if header is None or len(cells) != 4:
            continue
        name, seconds, reference, speed = cells
        found = re.match(r"(" + NUM + r")x faster", speed)
        ref_seconds = re.search(r"(" + NUM + r")\s*$", reference)
        if found and ref_seconds and float(seconds) > 0:
            first = ratio(float(ref_seconds[1]) / float(seconds))  # the printed ratio has one decimal only
        elif found:
            first = ratio(float(found[1]))
        elif "U-Net step" in name:
            first = "no reference in this run (PyTorch CPU, target ≥ 0.5×, is not installed)"
        else:
            first = "no reference in this run"
        rows.append([first, name, seconds, reference or "—"])
    if header is None or len(rows) < 2:
        raise ParseError("no train-step table in the output")
    out = table(["eoforge / reference, reference s ÷ eoforge s (higher is better)", header[0], "eoforge seconds",
                 "reference (same run)"], ["---", "---", "---:", "---"], rows)
    note = re.search(r"^PyTorch.*$", text, re.MULTILINE)
    return out + (f"\n\n{note[0].strip()}" if note else "")


# --- benches/sr-10x.sh -------------------------------------------------------------------------------------------
# "trained: …" and "  PSNR … vs bicubic …" lines, a header, then one row per model: name, wall s, output MB/s,
# windows/s, engine s, peak MiB, COG yes/NO, QC yes/NO, busy seconds per engine stage; the upsample row is the
# reference.
def sr_10x(text):
    row = re.compile(rf"^(?P<model>super-resolution \(trained\)|upsample \(engine reference\))\s+(?P<wall>{NUM})\s+"
                     rf"(?P<mbs>{NUM})\s+(?P<wps>{NUM})\s+(?P<engine>{NUM})\s+(?P<mib>\d+)\s+(?P<cog>yes|NO)\s+"
                     rf"(?P<qc>yes|NO)\s+(?P<busy>.*)$")
    found = {m["model"].split()[0]: m for m in map(row.match, text.splitlines()) if m}
    if set(found) != {"super-resolution", "upsample"}:
        raise ParseError("no sr-10x rows (trained network and upsample reference) in the output")
    trained = search(r"^trained: scale 10, (\d+) features, (\d+) blocks", text, "the trained network's line")
    sr, ref = found["super-resolution"], found["upsample"]
    name = f"super-resolution (trained, {trained[1]} features, {trained[2]} blocks)"
    rows = []
    for first, label, m in [(ratio(float(sr["mbs"]) / float(ref["mbs"])), name, sr),
                            ("reference", "`upsample` (engine, no network)", ref)]:
        rows.append([first, label, m["wall"], m["mbs"], m["engine"], m["mib"], m["cog"],
                     "passed" if m["qc"] == "yes" else "FAILED", m["busy"]])
    out = table(["SR / reference throughput (higher is better)", "model", "wall s", "output MB/s", "engine s",
                 "peak RSS MiB", "COG valid", "QC", "busy s per engine stage"],
                ["---", "---", "---:", "---:", "---:", "---:", "---", "---", "---"], rows)
    notes = [line.strip() for line in text.splitlines() if line.startswith(("trained:", "  PSNR", "output:"))]
    return out + ("\n\n" + " ".join(notes) if notes else "")


# --- benches/onnx-vs-python.sh ----------------------------------------------------------------------------------
# A header, then per model two rows "MODEL TOOL WALL_S PEAK_MIB COG" with TOOL eoforge or python (the
# TerraTorch-style reference), and a closing "scene: …" line.
def onnx_vs_python(text):
    row = re.compile(rf"^(?P<model>\S+)\s+(?P<tool>eoforge|python)\s+(?P<wall>{NUM})\s+(?P<mib>\d+)\s+(?P<cog>yes|NO)\s*$")
    found = {}
    for m in map(row.match, text.splitlines()):
        if m:
            found.setdefault(m["model"], {})[m["tool"]] = m
    models = [name for name, tools in found.items() if set(tools) == {"eoforge", "python"}]
    if not models:
        raise ParseError("no onnx-vs-python rows (eoforge and python per model) in the output")
    rows = []
    for name in models:
        e, p = found[name]["eoforge"], found[name]["python"]
        speed = float(p["wall"]) / float(e["wall"])
        memory = float(e["mib"]) / float(p["mib"])
        rows.append([ratio(speed), name, "`eoforge-infer predict --model FILE.onnx`", e["wall"], e["mib"],
                     f"{memory:.2f}× the reference's", e["cog"]])
        rows.append(["reference", name, "Python: rasterio → onnxruntime → numpy blend → rasterio → gdal_translate",
                     p["wall"], p["mib"], "", p["cog"]])
    out = table(["eoforge / reference throughput (higher is better; target ≥ 2× at ≤ ½ the memory)", "model", "tool",
                 "wall s", "peak RSS MiB", "memory", "COG valid"],
                ["---", "---", "---", "---:", "---:", "---", "---"], rows)
    notes = [line.strip() for line in text.splitlines() if line.startswith("scene:")]
    return out + ("\n\n" + " ".join(notes) if notes else "")


# --- cargo bench -p eoforge-benches (criterion) -----------------------------------------------------------------
# Per benchmark: "group/function" (alone on its line when longer than 23 characters, else followed on the same line
# by) "time:   [low mid high]", then "thrpt:  [low mid high]" when the group sets a throughput. A "change:" block
# compares with the previous run and is skipped (its values are percentages).
TIME = re.compile(r"time:\s+\[\s*(" + NUM + r")\s*(ps|ns|µs|us|ms|s)\s+(" + NUM + r")\s*(ps|ns|µs|us|ms|s)\s+("
                  + NUM + r")\s*(ps|ns|µs|us|ms|s)\s*\]")
THRPT = re.compile(r"^\s+thrpt:\s+\[\s*(" + NUM + r")\s*(\S+)\s+(" + NUM + r")\s*(\S+)\s+(" + NUM + r")\s*(\S+)\s*\]")
NS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def criterion_results(text):
    results, pending, last = {}, None, None
    for line in (ANSI.sub("", raw) for raw in text.splitlines()):
        m = TIME.search(line)
        head = line[: m.start()].strip() if m else ""
        if m and (head or pending) and not line.lstrip().startswith("change"):
            bench_id = head or pending
            results[bench_id] = {"time": f"{m[3]} {m[4]}", "ns": float(m[3]) * NS[m[4]], "thrpt": None}
            pending, last = None, bench_id
            continue
        t = THRPT.match(line)
        if t and last is not None and results[last]["thrpt"] is None:
            results[last]["thrpt"] = f"{t[3]} {t[4]}"
            continue
        last = None
        if re.fullmatch(r"[^\s:]+/\S+", line.strip()) and not line.startswith(" "):
            pending = line.strip()
    return results


def reference_of(group, function):
    """The function of the same group this one is compared with, or None."""
    if group.startswith("lzw_tile") and function.startswith("eoforge_"):
        return "weezl_" + function.removeprefix("eoforge_")
    if group.startswith("write_tiled") and function.endswith("_2threads"):
        return function.removesuffix("_2threads") + "_1threads"
    return None


def criterion(group, text):
    results = {k: v for k, v in criterion_results(text).items() if k.split("/", 1)[0] == group}
    if not results:
        raise ParseError(f"no criterion results of group {group} in the output")
    referenced = {reference_of(group, k.split("/", 1)[1]) for k in results}
    rows = []
    for bench_id, r in results.items():
        function = bench_id.split("/", 1)[1]
        ref = reference_of(group, function)
        if ref and f"{group}/{ref}" in results:
            first = ratio(results[f"{group}/{ref}"]["ns"] / r["ns"], f" vs {ref}")
        elif ref:
            first = f"{ref} not in this run"
        elif function in referenced:
            first = "1 (the reference)"
        else:
            first = "no reference in this group"
        rows.append([first, f"`{bench_id}`", r["time"], r["thrpt"] or "not printed"])
    return table(["speed-up vs reference, its time ÷ this time (higher is better)", "benchmark",
                  "time (criterion's estimate, the middle of [low mid high])", "throughput (middle)"],
                 ["---", "---", "---:", "---:"], rows)


PARSERS = {
    "shard-vs-python": shard_vs_python,
    "loader-vs-python": loader_vs_python,
    "cog-vs-gdal": cog_vs_gdal,
    "preflight-s3": preflight_s3,
    "train-step": train_step,
    "sr-10x": sr_10x,
    "onnx-vs-python": onnx_vs_python,
}


def body_for(name, text):
    text = ANSI.sub("", text)
    if name in PARSERS:
        return PARSERS[name](text)
    if name.startswith("criterion-"):
        return criterion(name.removeprefix("criterion-"), text)
    raise KeyError(name)


def splice(doc, name, body):
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ParseError(f"{doc} must hold exactly one {begin} followed by one {end}")
    start = text.index(begin) + len(begin)
    new = text[:start] + "\n" + body.strip("\n") + "\n" + text[text.index(end):]
    tmp = f"{doc}.partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, doc)


def main(argv):
    try:
        if len(argv) == 3 and argv[0] == "table":
            with open(argv[2], encoding="utf-8", errors="replace") as f:
                print(body_for(argv[1], f.read()))
        elif len(argv) == 4 and argv[0] == "splice":
            with open(argv[3], encoding="utf-8") as f:
                splice(argv[1], argv[2], f.read())
        else:
            print(__doc__.strip(), file=sys.stderr)
            return 2
    except KeyError as e:
        print(f"error: unknown benchmark {e}", file=sys.stderr)
        return 2
    except (ParseError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
