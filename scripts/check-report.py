#!/usr/bin/env python3
"""Open an HTML report in a real headless browser (Chromium through its WebDriver, chromedriver) and check that it
renders: the page loads, has its title and sections, and every image loads with a non-zero size. Saves a
screenshot. Standard library only.

usage: check-report.py REPORT.html SCREENSHOT.png [--chromium PATH] [--chromedriver PATH] [--require-ok]
Prints a JSON summary; exit status 0 when the report renders with every image loaded, 1 otherwise.
--require-ok also reads report.json beside the page: the job must have passed (every stage, every product's QC)
and the trained model must beat the trivial baseline on every metric.
"""
import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)["value"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:2000]}") from None


INSPECT = """
const images = Array.from(document.images).map(i => ({
  src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
  shown: i.getBoundingClientRect().width}));
return {
  ready: document.readyState,
  title: document.title,
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
  verdict: (document.getElementById('verdict') || {}).textContent || null,
  tables: document.querySelectorAll('table').length,
  images: images,
  height: document.documentElement.scrollHeight,
};
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("screenshot")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--require-ok", action="store_true")
    args = parser.parse_args()
    report = os.path.abspath(args.report)
    if not os.path.isfile(report):
        print(f"error: {report}: no such report", file=sys.stderr)
        return 1
    port = free_port()
    profile = tempfile.mkdtemp(prefix="eoforge-report-browser-")
    log = open(os.path.join(profile, "chromedriver.log"), "w")
    driver = subprocess.Popen([args.chromedriver, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    session = None
    try:
        for _ in range(300):
            try:
                if call(base, "GET", "/status").get("ready"):
                    break
            except (OSError, RuntimeError):
                pass
            if driver.poll() is not None:
                raise RuntimeError(f"chromedriver exited with {driver.returncode}")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": args.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", f"--user-data-dir={profile}/chrome"]}}}}
        session = call(base, "POST", "/session", caps)["sessionId"]
        call(base, "POST", f"/session/{session}/url", {"url": "file://" + report})
        # Navigation returns after the load event; images are part of it. Wait for visible state, not a sleep.
        for _ in range(600):
            state = call(base, "POST", f"/session/{session}/execute/sync", {"script": INSPECT, "args": []})
            if state["ready"] == "complete" and all(i["complete"] for i in state["images"]):
                break
            time.sleep(0.05)
        height = min(int(state["height"]), 16000)
        call(base, "POST", f"/session/{session}/window/rect", {"width": 1400, "height": height})
        png = base64.b64decode(call(base, "GET", f"/session/{session}/screenshot"))
        with open(args.screenshot, "wb") as f:
            f.write(png)
    finally:
        if session:
            try:
                call(base, "DELETE", f"/session/{session}")
            except (OSError, RuntimeError):
                pass
        driver.terminate()
        driver.wait(timeout=30)
        log.close()
    broken = [i["src"] for i in state["images"] if not i["complete"] or i["width"] == 0 or i["height"] == 0]
    summary = {"report": report, "title": state["title"], "verdict": state["verdict"], "sections": state["headings"],
               "tables": state["tables"], "images": len(state["images"]), "broken_images": broken,
               "screenshot": os.path.abspath(args.screenshot), "screenshot_bytes": len(png)}
    problems = []
    if args.require_ok:
        with open(os.path.join(os.path.dirname(report), "report.json")) as f:
            data = json.load(f)
        summary["metrics"] = data["metrics"]
        if not data["ok"]:
            problems.append("the job did not pass (a stage failed or a product failed QC)")
        if not data["metrics"]:
            problems.append("no metrics")
        for m in data["metrics"]:
            if not m["model"] > m["baseline"]:
                problems.append(f"{m['name']}: model {m['model']:.3f} does not beat the baseline {m['baseline']:.3f}")
        summary["problems"] = problems
    print(json.dumps(summary, indent=2))
    ok = not problems and state["ready"] == "complete" and state["images"] and not broken and state["title"] and png[:8] == b"\x89PNG\r\n\x1a\n"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
