#!/usr/bin/python3
"""Render an HTML page in headless Chromium (Debian `chromium`) and check it: a screenshot
is written and not trivially small, the page logs nothing to the console, and every
--expect text is in the rendered DOM.

    chromium_check.py PAGE.html --screenshot OUT.png [--expect TEXT]...
    chromium_check.py http://127.0.0.1:PORT/PATH --screenshot OUT.png [--expect TEXT]...
    chromium_check.py https://NAME:TOKEN@127.0.0.1:PORT/PATH --ignore-certificate-errors ...
    chromium_check.py --self-test

A page file is served from its folder by a throwaway http.server on a free loopback port
(some sandboxes block file://); an http:// or https:// URL (a running agent's status page, a
registry's page with the credentials in the URL) is loaded as it is. Chromium 156 logs every console message of a page, of any
level, as `INFO:CONSOLE:<line>] "<text>", source: <url> (<line>)` with --enable-logging=stderr,
so the level is not visible: any console message from the page fails the check (the
report page has no script; an uncaught exception reads "Uncaught ..."). Exit 0 with a
one-line summary, or 1 with the reasons."""
import argparse
import functools
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TIMEOUT_S = 60
MIN_SCREENSHOT_BYTES = 10 * 1024
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    """An HTTP server for folder on 127.0.0.1 in a daemon thread; the caller shuts it down."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium(url, extra):
    """Run Chromium once with a fresh profile; returns (stdout, stderr)."""
    profile = tempfile.mkdtemp(prefix="mrv-chromium-")
    try:
        p = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                           capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S)
        return p.stdout, p.stderr
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_lines(stderr, url):
    """Chromium's log lines that are console output or uncaught errors of the page at url
    (which Chromium logs without the credentials in it)."""
    parts = urllib.parse.urlsplit(url)
    logged = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return [line for line in stderr.splitlines()
            if logged in line and ("CONSOLE" in line or "Uncaught" in line)]


def check(page, screenshot, expects, flags=()):
    """The list of problems with page (a file or an http:// URL; empty: it passed) and a
    summary of what was seen. flags: more Chromium flags."""
    screenshot = pathlib.Path(screenshot).resolve()
    if str(page).startswith(("http://", "https://")):
        server, url, name = None, str(page), str(page)
    else:
        page = pathlib.Path(page).resolve()
        if not page.is_file():
            return [f"no such page: {page}"], ""
        server = serve(page.parent)
        url, name = f"http://127.0.0.1:{server.server_address[1]}/{page.name}", page.name
    problems = []
    try:
        screenshot.unlink(missing_ok=True)
        chromium(url, [*flags, f"--screenshot={screenshot}", "--window-size=1280,2400", "--hide-scrollbars"])
        dom, stderr = chromium(url, [*flags, "--dump-dom", "--enable-logging=stderr", "--v=0"])
    except subprocess.TimeoutExpired:
        return [f"chromium did not finish within {TIMEOUT_S} s"], ""
    finally:
        if server:
            server.shutdown()
            server.server_close()
    size = screenshot.stat().st_size if screenshot.is_file() else 0
    if size < MIN_SCREENSHOT_BYTES:
        problems.append(f"screenshot {screenshot} is missing or too small ({size} bytes)")
    if "<html" not in dom:
        problems.append("no DOM was dumped")
    problems += [f"console: {line}" for line in console_lines(stderr, url)]
    problems += [f"expected text not in the DOM: {text!r}" for text in expects if text not in dom]
    return problems, f"{name}: DOM {len(dom)} chars, screenshot {size} bytes, {len(expects)} texts found"


def self_test():
    """The check must fail a page that logs a console error and throws, and pass a clean one."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mrv-chromium-check-"))
    try:
        filler = "".join(f"<p>Line {i}: the quick brown fox jumps over the lazy dog.</p>" for i in range(150))
        head = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>"
        (folder / "bad.html").write_text(
            head + filler + "<script>console.error('boom'); nosuchfn();</script></body></html>")
        (folder / "good.html").write_text(head + "<h1>all well</h1>" + filler + "</body></html>")
        bad, _ = check(folder / "bad.html", folder / "bad.png", [])
        good, summary = check(folder / "good.html", folder / "good.png", ["all well"])
        missing, _ = check(folder / "good.html", folder / "good.png", ["not on the page"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    failures = []
    if not any("boom" in p for p in bad):
        failures.append(f"console.error was not detected: {bad}")
    if not any("Uncaught" in p for p in bad):
        failures.append(f"an uncaught exception was not detected: {bad}")
    if good:
        failures.append(f"a clean page failed: {good}")
    if not any("not on the page" in p for p in missing):
        failures.append("a missing --expect text was not detected")
    return failures, "self-test: console error, uncaught exception and missing text detected; " + summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?")
    parser.add_argument("--screenshot")
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--ignore-certificate-errors", action="store_true",
                        help="for a server whose certificate is from a test CA")
    args = parser.parse_args()
    if args.self_test:
        problems, summary = self_test()
    elif args.page and args.screenshot:
        flags = ["--ignore-certificate-errors"] if args.ignore_certificate_errors else []
        problems, summary = check(args.page, args.screenshot, args.expect, flags)
    else:
        parser.error("PAGE and --screenshot are required (or --self-test)")
    for p in problems:
        print("FAIL:", p)
    if problems:
        sys.exit(1)
    print("ok:", summary)


if __name__ == "__main__":
    main()
