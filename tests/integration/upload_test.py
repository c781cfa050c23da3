#!/usr/bin/python3
"""The agent's uploader against the real mrv-registry (docs/registry-api.md).
Usage: upload_test.py AGENT MODE (the registry is <build>/registry/mrv-registry)
  exactly-once-100k  over 100,000 records collected and uploaded at once: the registry
                     holds exactly the journal's records, byte for byte
  registry-restart   the registry stopped for 10 s mid-stream: the agent keeps collecting,
                     says why it cannot upload, and delivers everything once after
  proxy-faults       bad answers from a fake registry (500, 503, garbage, a cut response,
                     a wrong receipt) move no cursor; then connections cut, dropped after
                     the registry stored a batch, and stalled: everything arrives once
  kill9-uploads      kill -9 of the agent six times while it uploads a backlog
  rejections         hand-made requests: each bad one is refused with its documented
                     error and stores nothing
  mtls               a client certificate instead of a token; one from another CA fails
  batch-too-large    batches over the registry's record and body limits: 413, the agent
                     sends smaller batches, everything arrives once
  refusal-stops      a 409 conflict stops the stream, loudly, without a loop of resends
  registry-restore   the registry restored from an older backup, under a running agent
                     (409 gap) and while it is down (held_through at start): it
                     resends from held_through, everything arrives once"""
import base64
import gzip
import hashlib
import json
import os
import pathlib
import random
import re
import secrets
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives import serialization

from fault_proxy import FakeRegistry, FaultProxy
from harness import bundle_verifier, check, fail
import upload_harness
from upload_harness import (OTHER, SITE, Pki, Registry, UploadSite, Watch, check_exactly_once,
                            free_port, journal_lines, new_token, sign_note, site_root)

agent, mode = sys.argv[1], sys.argv[2]
work = tempfile.TemporaryDirectory(prefix="mrv-upload-")
W = pathlib.Path(work.name)

# Quick retries so that faults cost seconds, not minutes.
FAST = "timeout_ms = 2000\nbackoff_min_ms = 200\nbackoff_max_ms = 1000"


def wait_for(predicate, seconds, what, proc=None, site=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            fail(f"the agent exited {proc.returncode} while waiting for {what}: "
                 f"{site.log_tail() if site else ''}")
        if predicate():
            return True
        time.sleep(0.25)
    fail(f"not within {seconds} s: {what}" + (f"\n{site.log_tail()}" if site else ""))


def key_id(site):
    der = serialization.load_pem_public_key(site.public_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def check_key_registered(registry, site, token=None, cert=None):
    status, data, keys = registry.request("GET", f"/v1/sites/{site.site_id}/keys", token=token, cert=cert)
    ids = [k.get("key_id") for k in keys or []]
    check(status == 200 and key_id(site) in ids, f"the registry lists the agent's key {key_id(site)[:12]}…")


def check_final_status(site, n, clean=True):
    """clean: no error left either (not behind a faulty proxy, where a checkpoint posted
    after the last receipt may still meet a fault)."""
    up = site.status().get("upload", {})
    check(up.get("cursor") == n and up.get("lag_records") == 0 and up.get("stopped") is False
          and (up.get("last_error") == "" or not clean) and isinstance(up.get("uploaded_records"), int),
          f"status: cursor {up.get('cursor')}, lag 0, not stopped, no error "
          f"(uploaded_records {up.get('uploaded_records')}, last_error {up.get('last_error')!r})")


# ---------------------------------------------------------------------------- modes

def exactly_once_100k():
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    site = UploadSite(agent, pki, reg.url, token=token, points=1000, interval_ms=100)
    watch = Watch(site, reg)
    t0 = time.time()
    p = site.start()
    wait_for(lambda: site.last_seq() >= 100_000, 120, "100,000 records collected", p, site)
    mid = site.cursor()
    check(mid > 0, f"{site.last_seq()} records collected in {time.time() - t0:.0f} s, "
                   f"{mid} already receipted while collecting")
    site.stop(p)
    site.drain(150, " (draining the backlog)")
    watch.finish()
    n = check_exactly_once(site, reg, token=token)
    check(n >= 100_000, f"{n} records delivered exactly once in {time.time() - t0:.0f} s")
    info = reg.site_info(SITE, token)
    check(info.get("held_through") == n and info.get("records") == n,
          f"GET /v1/sites/{SITE}: held_through {info.get('held_through')}, records {info.get('records')}")
    check_key_registered(reg, site, token=token)
    check_final_status(site, n)
    # Each record's signature is checked once; the registry says what that cost when it
    # stops (bench/registry_load.sh reads this line).
    check(reg.stop() == 0, "the registry exits 0 on SIGTERM")
    m = re.search(r"checked (\d+) signatures in ([\d.]+) s of CPU time \((\d+) per CPU-second\), ([\d.]+)% of",
                  reg.log_path.read_text())
    check(m is not None and int(m[1]) == n and float(m[2]) > 0 and 0 < float(m[4]) <= 100,
          f"at its stop the registry logs the signatures it checked: {m[0] if m else reg.log_tail()}")


def registry_restart():
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    site = UploadSite(agent, pki, reg.url, token=token, points=50, interval_ms=100, upload_extra=FAST)
    watch = Watch(site, reg)
    p = site.start()
    wait_for(lambda: site.cursor() > 500, 60, "the first receipts", p, site)
    rc = reg.stop()
    check(rc == 0, f"the registry exits 0 on SIGTERM (got {rc})")
    down_seq, down_cursor = site.last_seq(), site.cursor()
    errors, stopped = set(), False
    t0 = time.time()
    while time.time() - t0 < 10:
        up = site.status().get("upload", {})
        if up.get("last_error"):
            errors.add(up["last_error"])
        stopped = stopped or bool(up.get("stopped"))
        time.sleep(0.5)
    check(p.poll() is None, "the agent keeps running while the registry is down")
    check(site.last_seq() > down_seq + 2000,
          f"it keeps collecting: journal last_seq {down_seq} -> {site.last_seq()} in the outage")
    check(bool(errors), f"status names the outage in last_error: {sorted(errors)[:2]}")
    check(not stopped, "a transport failure does not stop the stream (it is retried)")
    check(site.cursor() <= reg.max_seq()[1], "no cursor moved without the registry")
    reg.start()
    restart_seq = site.last_seq()
    wait_for(lambda: site.cursor() >= restart_seq, 60, "the backlog of the outage receipted", p, site)
    check(site.cursor() >= restart_seq,
          f"after the restart the cursor passed {restart_seq} (was {down_cursor} at the outage)")
    site.stop(p)
    site.drain(120, " (after the registry restart)")
    watch.finish()
    n = check_exactly_once(site, reg, token=token)
    check_final_status(site, n)


def proxy_faults():
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    fake = FakeRegistry(pki.server, pki.server_key)
    site = UploadSite(agent, pki, fake.url, token=token, points=20, interval_ms=100,
                      upload_extra=FAST + "\nbatch_max_records = 500")

    # 1. A registry whose every answer to an upload is bad.
    p = site.start()
    wait_for(lambda: all(fake.served.get(a, 0) >= 1 for a in fake.answers), 45,
             f"the fake registry served each bad answer (served: {fake.served})", p, site)
    time.sleep(2)
    check(p.poll() is None, f"the agent survives every bad answer (served {fake.served})")
    st = site.status()
    up = st.get("upload", {})
    check(up.get("cursor") == 0 and st.get("journal", {}).get("upload_cursor") == 0 and site.cursor() == 0,
          f"no bad answer moved the cursor (status cursor {up.get('cursor')})")
    check(bool(up.get("last_error")), f"status says what went wrong: {up.get('last_error')!r}")
    posts = fake.record_posts()
    journal = {json.loads(l)["seq"]: json.loads(l) for l in site.lines(1, 10**9)}
    well_formed = True
    for headers, lines in posts:
        seqs = [l.get("seq") for l in lines]
        if (not (headers.get("Authorization") == f"Bearer {token}"
                 and headers.get("Content-Type", "").startswith("application/x-ndjson")
                 and seqs and seqs[0] == 1 and seqs == list(range(1, len(seqs) + 1))
                 and all(journal.get(l.get("seq")) == l for l in lines))):
            well_formed = False
    check(posts and well_formed, f"all {len(posts)} uploads were well formed: bearer token, NDJSON, "
                                 f"seq 1 onwards (the cursor never moved), lines as in the journal")
    site.stop(p)
    fake.close()

    # 2. The real registry behind a proxy that cuts, drops and stalls connections.
    drops = []  # (registry's last seq, agent's cursor) when a response was dropped

    def on_event(m, what):
        if m == "drop-response" and what.startswith("dropped"):
            drops.append((reg.max_seq()[1], site.cursor()))

    proxy = FaultProxy(reg.port, stall_s=3.0, pass_s=3.0, on_event=on_event)
    site.set_url(f"https://127.0.0.1:{proxy.port}")
    watch = Watch(site, reg)
    p = site.start()
    faults = ("cut-request", "drop-response", "stall", "stall-response")
    wait_for(lambda: all(proxy.fired(m) >= 2 for m in faults + ("pass",))
             and any(h > c for h, c in drops), 120,
             "every fault twice, and a stored batch's receipt dropped", p, site)
    check(p.poll() is None, "the agent runs on through every network fault")
    site.stop(p)
    site.drain(150, " (through the faulty proxy)")
    watch.finish()
    for m in faults + ("pass",):
        outcomes = sorted({w for mm, w in proxy.events if mm == m and w != "idle"})
        check(proxy.fired(m) >= 2, f"{m}: {proxy.fired(m)} connections ({'; '.join(outcomes[:2])})")
    gave_up = [w for m, w in proxy.events if m in ("stall", "stall-response") and "client gave up" in w]
    check(gave_up, f"the agent's timeout_ms ends a silent connection before the proxy does: {gave_up[:1]}")
    stored_first = [(h, c) for h, c in drops if h > c]
    h, c = (stored_first or [(0, 0)])[0]
    check(stored_first, f"{len(stored_first)} of {len(drops)} dropped responses were receipts of batches "
                        f"the registry had stored (e.g. registry through {h}, agent's cursor {c}); "
                        f"resent, they were receipted again and stored once")
    n = check_exactly_once(site, reg, token=token)
    check_final_status(site, n, clean=False)
    proxy.close()


def kill9_uploads():
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    # A backlog first: collected while the registry's address answers nothing.
    site = UploadSite(agent, pki, f"https://127.0.0.1:{free_port()}", token=token, points=40,
                      interval_ms=10, upload_extra=FAST + "\nbatch_max_records = 1000")
    site.run("run", "--config", str(site.config), "--duration", "8")
    backlog = site.last_seq()
    check(backlog > 15_000 and site.cursor() == 0, f"a backlog of {backlog} records, none uploaded")
    site.set_url(reg.url)  # and it keeps collecting at 4,000 a second: always a backlog
    watch = Watch(site, reg)
    rng = random.Random(20261125)
    kills, lagging, ahead = 6, 0, 0
    for i in range(kills):
        p = site.start()
        time.sleep(rng.uniform(0.5, 3.0))
        if p.poll() is not None:
            fail(f"the agent exited {p.returncode} before kill {i + 1}: {site.log_tail()}")
        cursor = site.cursor()
        held = reg.max_seq()[1]
        last = site.last_seq()
        p.send_signal(signal.SIGKILL)
        p.wait()
        lagging += cursor < last
        ahead += held > cursor  # stored, its receipt not yet in the journal: resent after
        check(p.returncode == -signal.SIGKILL,
              f"kill {i + 1}: cursor {cursor}, registry through {held}, journal {last}")
    check(lagging == kills and 0 < site.cursor(), f"all {kills} kills came with records still to upload")
    print(f"info: {ahead} of {kills} kills came after the registry stored a batch the journal "
          f"had no receipt for")
    site.drain(150, " (after the kills)")
    watch.finish()
    n = check_exactly_once(site, reg, token=token)
    check_final_status(site, n)


def mtls():
    pki = Pki(W / "pki")
    reg = Registry(agent, W / "registry", pki, {SITE: {"cn": SITE}})  # no token: certificates only
    site = UploadSite(agent, pki, reg.url, auth="mtls", points=20, interval_ms=50, upload_extra=FAST)
    check(not (site.dir / "token").exists() and "token_file" not in site.config.read_text(),
          "the agent has no token, only its client certificate")
    watch = Watch(site, reg)
    p = site.start()
    wait_for(lambda: site.cursor() > 1000, 60, "receipts over mutual TLS", p, site)
    time.sleep(3)
    site.stop(p)
    site.drain(90, " (mutual TLS)")
    watch.finish()
    cert = (site.dir / f"client-{SITE}.pem", site.dir / f"client-{SITE}.key")
    n = check_exactly_once(site, reg, cert=cert)
    check_key_registered(reg, site, cert=cert)
    check_final_status(site, n)

    # The same agent with a certificate from another CA: refused at the handshake.
    rogue_cert, rogue_key = pki.issue("rogue-client", SITE, rogue=True)
    os.replace(rogue_cert, cert[0])
    os.replace(rogue_key, cert[1])
    p = site.start()
    errors = set()
    t0 = time.time()
    while time.time() - t0 < 6:
        err = site.status().get("upload", {}).get("last_error")
        if err:
            errors.add(err)
        time.sleep(0.5)
    check(p.poll() is None, "with a client certificate from another CA the agent keeps running")
    check(site.cursor() == n and reg.max_seq()[1] == n,
          f"nothing more is receipted or stored (cursor {site.cursor()}, registry {reg.max_seq()[1]})")
    check(any("unknown ca" in e.lower() or "handshake" in e.lower() for e in errors),
          f"status says the handshake failed: {sorted(errors)[:1]}")
    site.stop(p)


# ---------------------------------------------------------------------------- rejections

def plain_site(site_id, **kw):
    return upload_harness.plain_site(agent, site_id, **kw)


def rejections():
    pki = Pki(W / "pki")
    tok_a, _ = new_token()
    tok_b, _ = new_token()
    tok_r, _ = new_token()
    reg = Registry(agent, W / "registry", pki,
                   {SITE: {"token": tok_a, "cn": SITE}, OTHER: {"token": tok_b, "cn": OTHER}},
                   readers={"verifier": tok_r},
                   extra="max_body_bytes = 1048576\nmax_batch_records = 1000")
    a = plain_site(SITE, points=10, interval_ms=10)
    a.run("run", "--config", str(a.config), "--duration", "2")
    b2 = plain_site(SITE, points=2, interval_ms=50)  # same site id, another key
    b2.run("run", "--config", str(b2.config), "--duration", "0.5")
    o = plain_site(OTHER, points=2, interval_ms=50)
    o.run("run", "--config", str(o.config), "--duration", "0.5")
    check(len(a.records()) >= 1200, f"site A's journal holds {len(a.records())} records to post by hand")
    A = lambda x, y: journal_lines(a, x, y)  # noqa: E731

    held = {"n": 0}

    def unchanged(site=SITE, token=tok_a):
        n = held["n"] if site == SITE else held.get(site, 0)
        info = reg.site_info(site, token)
        count, top = reg.max_seq(site)
        check(info.get("held_through") == n and info.get("records") == n and count == n and top == n,
              f"  ... {site} holds through {n}, no more: held_through {info.get('held_through')}, "
              f"{count} rows")

    def expect(resp, status, error, what, check_name=None, seq=None):
        st, data, js = resp
        js = js if isinstance(js, dict) else {}
        ok = (st == status and js.get("error") == error and isinstance(js.get("check"), str)
              and (check_name is None or js.get("check") == check_name)
              and (seq is None or js.get("seq") == seq))
        check(ok, f"{what}: {status} {error}" + (f" check {check_name}" if check_name else "")
              + (f" seq {seq}" if seq else "") + f" (got {st} {data[:240]!r})")
        return js

    def put_key(site, token):
        return reg.request("PUT", f"/v1/sites/{site.site_id}/keys", site.public_pem.read_bytes(),
                           {"Content-Type": "application/x-pem-file"}, token=token)

    # Credentials.
    expect(reg.post_records(SITE, A(1, 10)), 401, "unauthenticated", "no credential", "auth")
    expect(reg.post_records(SITE, A(1, 10), token="not-a-token"), 401, "unauthenticated",
           "an unknown token", "auth")
    unchanged()
    st, data, js = put_key(a, tok_a)
    check(st == 200 and js.get("key_id") == key_id(a) and js.get("algorithm") == "ed25519",
          f"site A registers its key: {data[:160]!r}")
    st, _, _ = put_key(o, tok_b)
    check(st == 200, "other-site registers its key")

    # (b) a key never registered; and records of another site.
    expect(reg.post_records(SITE, journal_lines(b2, 1, 10), token=tok_a), 422, "unknown_key",
           "(b) records signed by a key never registered", "key", seq=1)
    unchanged()
    # Its key registered at it-site too, so that only the site inside the records is wrong.
    st, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", o.public_pem.read_bytes(),
                           {"Content-Type": "application/x-pem-file"}, token=tok_a)
    check(st == 200, "other-site's key is also registered at it-site")
    expect(reg.post_records(SITE, journal_lines(o, 1, 10), token=tok_a), 422, "wrong_site",
           "records of other-site (key registered) posted to it-site", "site", seq=1)
    unchanged()

    # The good batch, twice: the same receipt, stored once.
    st, data, first = reg.post_records(SITE, A(1, 100), token=tok_a)
    last_hash = json.loads(A(100, 100)[0])["hash"]
    check(st == 200 and first == {"site": SITE, "first_seq": 1, "last_seq": 100, "records": 100,
                                  "last_hash": last_hash}, f"records 1..100 are receipted: {data[:200]!r}")
    held["n"] = 100
    st, data, again = reg.post_records(SITE, A(1, 100), token=tok_a)
    check(st == 200 and again == first, "sent again, they get the same receipt")
    unchanged()
    st, data, part = reg.post_records(SITE, A(91, 100), token=tok_a)
    check(st == 200 and part.get("last_seq") == 100, f"a resent tail 91..100 is receipted: {data[:120]!r}")
    unchanged()

    # (a) one signature byte changed.
    lines = A(101, 110)
    rec = json.loads(lines[4])
    sig = bytearray(base64.b64decode(rec["signature"]))
    sig[10] ^= 0x01
    rec["signature"] = base64.b64encode(bytes(sig)).decode()
    lines[4] = json.dumps(rec, separators=(",", ":"))
    expect(reg.post_records(SITE, lines, token=tok_a), 422, "bad_signature",
           "(a) a record with one signature byte changed", "signature", seq=105)
    unchanged()

    # A held seq sent with other bytes.
    lines = A(95, 105)
    rec = json.loads(lines[3])
    sig = bytearray(base64.b64decode(rec["signature"]))
    sig[0] ^= 0x80
    rec["signature"] = base64.b64encode(bytes(sig)).decode()
    lines[3] = json.dumps(rec, separators=(",", ":"))
    expect(reg.post_records(SITE, lines, token=tok_a), 409, "conflict",
           "a held seq (98) resent with other bytes", seq=98)
    unchanged()

    # (c) gaps: at the start of a batch, and inside one.
    js = expect(reg.post_records(SITE, A(102, 110), token=tok_a), 409, "gap",
                "(c) a batch that starts after held_through + 1", "seq")
    check(js.get("held_through") == 100, f"  ... and the answer names held_through 100: {js}")
    unchanged()
    expect(reg.post_records(SITE, A(101, 102) + A(104, 110), token=tok_a), 422, "chain",
           "(c) a batch that skips seq 103 inside", "chain", seq=104)
    unchanged()

    # (d) checkpoints. First a self-check of sign_note: the agent's own newest checkpoint,
    # rebuilt from the journal, is byte-identical (Ed25519 is deterministic).
    with sqlite3.connect(f"file:{a.journal}?mode=ro", uri=True) as db:
        size, note = db.execute("SELECT tree_size, note FROM checkpoints WHERE tree_size > 0 "
                                "ORDER BY id DESC LIMIT 1").fetchone()
    ms = int(note.splitlines()[3].split()[1])
    check(sign_note(a, size, site_root(a, size), ms) == note,
          f"the test's checkpoint signer reproduces the agent's own checkpoint at {size}")
    cp = lambda n: reg.request("POST", f"/v1/sites/{SITE}/checkpoints", n.encode(),  # noqa: E731
                               {"Content-Type": "text/plain"}, token=tok_a)
    good = sign_note(a, 100, site_root(a, 100))
    st, data, js = cp(good)
    check(st == 200 and js.get("tree_size") == 100 and js.get("root") == base64.b64encode(site_root(a, 100)).decode(),
          f"a true checkpoint at 100 is accepted: {data[:160]!r}")
    expect(cp(sign_note(a, 100, secrets.token_bytes(32))), 409, "fork",
           "(d) a checkpoint signed by the site's key over another root", "checkpoint")
    expect(cp(sign_note(a, 60, secrets.token_bytes(32))), 409, "fork",
           "(d) a forked checkpoint at an older size", "checkpoint")
    expect(cp(sign_note(a, 150, site_root(a, 150))), 409, "records_missing",
           "a true checkpoint beyond held_through", "checkpoint")
    info = reg.site_info(SITE, tok_a)
    latest = info.get("latest_checkpoint") or {}
    st, _, cps = reg.request("GET", f"/v1/sites/{SITE}/checkpoints?min_size=0&max_size=1000000", token=tok_a)
    check(latest.get("tree_size") == 100 and latest.get("note") == good and st == 200
          and [c.get("note") for c in cps or []] == [good],
          "  ... and only the true checkpoint is kept")
    unchanged()

    # (e) writing another site's records; readers read but do not write.
    expect(reg.post_records(OTHER, journal_lines(o, 1, 10), token=tok_a), 403, "forbidden",
           "(e) site A's token posting to other-site", "auth")
    unchanged(OTHER, tok_b)
    st, _, _ = reg.request("GET", f"/v1/sites/{OTHER}", token=tok_a)
    check(st == 403, f"site A's token cannot read other-site either ({st})")
    expect(reg.post_records(SITE, A(101, 110), token=tok_r), 403, "forbidden",
           "a reader's token posting records", "auth")
    unchanged()
    st, data, _ = reg.request("GET", f"/v1/sites/{SITE}/records?from_seq=1&to_seq=10", token=tok_r)
    check(st == 200 and data.decode().splitlines() and
          [json.loads(l) for l in data.decode().splitlines()] == [json.loads(l) for l in A(1, 10)],
          "a reader reads the records, exact")
    st, data, js = reg.post_records(OTHER, journal_lines(o, 1, 10), token=tok_b)
    check(st == 200 and js.get("last_seq") == 10, "other-site's own token posts its records")
    held[OTHER] = 10
    unchanged(OTHER, tok_b)

    # (f) size limits and malformed bodies.
    # Headers first, the body only if no answer comes: a registry answers 413 on the
    # Content-Length alone. (Sent at once, the body can make the closing registry reset the
    # connection and lose its answer: the batch-too-large mode holds the agent to that.)
    answer = reg.request_headers_first("POST", f"/v1/sites/{SITE}/records", secrets.token_bytes(1048576 + 1),
                                       {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
                                       token=tok_a)
    expect(answer, 413, "too_large", "(f) a body over max_body_bytes", "size")
    unchanged()
    bomb = gzip.compress(b"\n" * (4 * 1048576 + 4096))
    expect(reg.request("POST", f"/v1/sites/{SITE}/records", bomb,
                       {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, token=tok_a),
           413, "too_large", f"(f) a {len(bomb)}-byte body that inflates past 4 x max_body_bytes", "size")
    unchanged()
    expect(reg.post_records(SITE, A(101, 1101), token=tok_a), 413, "too_large",
           "(f) 1001 records over max_batch_records 1000", "size")
    unchanged()
    expect(reg.request("POST", f"/v1/sites/{SITE}/records", b"this is not gzip at all",
                       {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, token=tok_a),
           400, "malformed", "(f) a body that is not gzip", "format")
    unchanged()
    garbage = A(101, 102)[0] + "\n{\"seq\":102,\"record\":\n%%% garbage %%%\n"
    expect(reg.request("POST", f"/v1/sites/{SITE}/records", garbage.encode(),
                       {"Content-Type": "application/x-ndjson"}, token=tok_a),
           400, "malformed", "(f) garbage lines after a good one", "format")
    unchanged()
    st, data, _ = reg.post_records(SITE, [A(102, 102)[0], A(101, 101)[0]], token=tok_a)
    check(st == 400, f"seqs out of order are malformed ({st} {data[:120]!r})")
    unchanged()
    expect(reg.request("POST", f"/v1/sites/{SITE}/records", "\n".join(A(101, 102)).encode(),
                       {"Content-Type": "text/plain"}, token=tok_a),
           415, "unsupported_media_type", "records as text/plain")
    unchanged()

    # (g) client certificates.
    rogue = pki.issue("rogue-it-site", SITE, rogue=True)
    try:
        st, data, _ = reg.post_records(SITE, A(101, 110), cert=rogue)
        fail(f"(g) a client certificate from another CA got an HTTP answer: {st} {data[:160]!r}")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        check(True, f"(g) a client certificate from another CA fails the TLS handshake: {e}")
    unchanged()
    other_cert = pki.issue("client-other", OTHER)
    expect(reg.post_records(SITE, A(101, 110), cert=other_cert), 403, "forbidden",
           "(g) other-site's valid certificate posting to it-site", "auth")
    unchanged()
    st, data, js = reg.post_records(SITE, A(101, 110), cert=pki.issue("client-it", SITE))
    check(st == 200 and js.get("first_seq") == 101 and js.get("last_seq") == 110,
          f"it-site's own certificate posts 101..110: {data[:120]!r}")
    held["n"] = 110
    unchanged()
    got = reg.read_records(SITE, 1, 110, token=tok_a)
    check([json.loads(l) for l in A(1, 110)] == got, "the registry holds exactly records 1..110 of site A")


def batch_too_large():
    """A registry with small limits refuses the agent's batches with 413, and the agent
    sends smaller ones until they fit: first over max_batch_records (answered after the
    body is read), then over max_body_bytes (answered before the body is read)."""
    pki = Pki(W / "pki")
    token, _ = new_token()
    defaults = ("max_body_bytes = 16777216", "max_batch_records = 100000")
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}}, extra="\n".join(defaults))
    base = reg.config.read_text()
    site = UploadSite(agent, pki, f"https://127.0.0.1:{free_port()}", token=token, points=20,
                      interval_ms=10, upload_extra=FAST)
    for default, limit, what in ((defaults[1], "max_batch_records = 200", "more records than max_batch_records"),
                                 (defaults[0], "max_body_bytes = 65536", "a body over max_body_bytes")):
        site.set_url(f"https://127.0.0.1:{free_port()}")  # a backlog first: nothing answers
        site.set_interval(10)
        site.run("run", "--config", str(site.config), "--duration", "3")
        check(site.last_seq() - site.cursor() > 5000,
              f"a backlog of {site.last_seq() - site.cursor()} records (batches of up to 5,000)")
        reg.stop()
        reg.config.write_text(base.replace(default, limit))
        reg.start()
        site.set_url(reg.url)
        log_from = len(site.log_tail(10**9))
        st = site.drain(60, f" (batches of {what})")
        told = [l for l in site.log_tail(10**9)[log_from:].splitlines() if "413" in l or "too large" in l]
        check(told, f"{what}: the agent met 413 and said so: {told[:1]}")
        check(st.get("upload", {}).get("stopped") is False, f"{what}: a 413 does not stop the stream")
        n = check_exactly_once(site, reg, token=token, read_step=200)
        check_final_status(site, n)


def refusal_stops():
    """A refusal that no resend can cure (409 conflict: the registry holds another history
    for these seqs) stops the stream: said in status and in the log, not sent again and
    again; collecting goes on."""
    pki = Pki(W / "pki")
    token, _ = new_token()
    # Another journal of the same site (another key) got its records 1..100 in first. Both
    # keys are pinned: an unpinned site takes no new key once it holds records.
    first = plain_site(SITE, points=10, interval_ms=10)
    first.run("run", "--config", str(first.config), "--duration", "1")
    site = UploadSite(agent, pki, "https://127.0.0.1:1", token=token, points=20, interval_ms=100, upload_extra=FAST)
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token, "keys": [first.public_pem, site.public_pem]}})
    site.set_url(reg.url)
    st, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", first.public_pem.read_bytes(),
                           {"Content-Type": "application/x-pem-file"}, token=token)
    st2, data, _ = reg.post_records(SITE, journal_lines(first, 1, 100), token=token)
    check(st == 200 and st2 == 200, f"the registry holds another history's records 1..100 ({st2} {data[:80]!r})")
    p = site.start()
    deadline = time.time() + 30
    while site.status().get("upload", {}).get("stopped") is not True:
        if time.time() > deadline or p.poll() is not None:
            refused = [l for l in reg.log_tail(10**7).splitlines() if "POST /v1/sites/it-site/records" in l]
            fail(f"status does not show the stream stopped within 30 s (agent exit code {p.poll()}): "
                 f"{site.status().get('upload')}; the registry refused {len(refused)} posts, the last: "
                 f"{refused[-1:]}")
        time.sleep(0.5)
    time.sleep(5)  # time enough for a loop of resends to show
    up = site.status().get("upload", {})
    posts = reg.log_tail(10**6).count("POST /v1/sites/it-site/records from")
    check(p.poll() is None, "the agent keeps running")
    check("409" in up.get("last_error", "") and "conflict" in up.get("last_error", ""),
          f"last_error names the refusal: {up.get('last_error')!r} (stopped_reason {up.get('stopped_reason')!r})")
    check(posts <= 2, f"the refused batch is not sent again and again ({posts} refused posts in the registry log)")
    check(site.cursor() == 0 and reg.max_seq()[1] == 100, "nothing was receipted or stored")
    before = site.last_seq()
    time.sleep(1.5)
    check(site.last_seq() > before, "collecting goes on")
    site.stop(p)
    crit = [l for l in site.log_tail(10**6).splitlines() if " CRIT " in l]
    check(crit, f"the agent's log says it loudly: {crit[:1]}")


def registry_restore():
    """The registry restored from an older backup: a running agent meets 409 gap, a
    starting one reads held_through; either goes back and resends from there, and the
    registry ends with everything, once."""
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    site = UploadSite(agent, pki, reg.url, token=token, points=20, interval_ms=10, upload_extra=FAST)
    p = site.start()
    wait_for(lambda: site.cursor() > 3000, 60, "the first receipts", p, site)
    site.stop(p)
    site.drain(60, " (before the backup)")
    reg.stop()
    backup = W / "backup"
    reg.backup(backup)
    at_backup = reg.max_seq()[1]
    reg.start()
    site.set_interval(10)
    p = site.start()
    wait_for(lambda: site.cursor() > at_backup + 5000, 60, "5,000 more receipts after the backup", p, site)
    # The registry is restored under the running agent: its next post meets 409 gap.
    reg.stop()
    reg.restore(backup)
    cursor = site.cursor()
    reg.start()
    check(at_backup < cursor, f"the registry restored holds through {at_backup}; the agent's cursor was at {cursor}")
    wait_for(lambda: site.last_seq() > cursor + 4000, 30, "new records after the restore", p, site)
    wait_for(lambda: "the registry holds only through seq" in site.log_tail(10**7), 30,
             "the agent's next post after the restore", p, site)
    site.stop(p)
    upload_lines = [l for l in site.log_tail(10**7).splitlines() if "upload" in l]
    check("gap" in reg.log_tail(10**6) and "the registry holds only through seq" in site.log_tail(10**7),
          f"the running agent met 409 gap and went back to resend: {upload_lines[-3:]}")
    # Restored again, now while the agent is down: it sees the loss at start (GET).
    reg.stop()
    reg.restore(backup)
    reg.start()
    site.drain(90, " (after the registry lost records)")
    n = check_exactly_once(site, reg, token=token)
    check(site.log_tail(10**7).count("the registry holds only through seq") >= 2,
          "at start, the agent compared the registry's held_through with its cursor and resent")
    check_final_status(site, n)


def registry_bundle():
    """A verifier (a reader credential) downloads a bundle from the registry; both verifiers
    accept it with the site's key pinned and the registry's key given as such, and refuse
    it without the registry's key; a reader may not write."""
    pki = Pki(W / "pki")
    token, _ = new_token()
    reader, _ = new_token()
    registry_key = W / "registry.key"
    subprocess.run([agent, "keygen", "--out", str(registry_key)], check=True, capture_output=True)
    registry_pub = W / "registry.pub"
    subprocess.run(["openssl", "pkey", "-in", str(registry_key), "-pubout", "-out", str(registry_pub)], check=True)
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}}, readers={"verifier": reader},
                   extra=f'[bundle]\nkey_file = "{registry_key}"')
    site = UploadSite(agent, pki, reg.url, token=token, points=5, interval_ms=20)
    p = site.start()
    wait_for(lambda: site.cursor() > 1000, 60, "1,000 records receipted", p, site)
    site.stop(p)
    site.drain(60)
    status, body, _ = reg.request("GET", f"/v1/sites/{SITE}/bundle?from=0&to=99999999999999", token=reader)
    check(status == 200 and body[:2] == b"\x1f\x8b", f"a reader downloads a bundle: HTTP {status}, {len(body)} bytes")
    bundle = W / "registry-bundle.tar.gz"
    bundle.write_bytes(body)
    site_pub = str(site.public_pem)
    for name, cmd in (("mrv-agent verify", [agent, "verify"]),
                      ("verify_bundle.py", ["/usr/bin/python3", bundle_verifier()])):
        ok = subprocess.run(cmd + [str(bundle), "--public-key", site_pub, "--registry-key", str(registry_pub)],
                            capture_output=True, text=True)
        check(ok.returncode == 0 and "VALID" in ok.stdout, f"{name}: VALID with the registry's key given "
                                                           f"(exit {ok.returncode}) {ok.stdout[-300:]}")
        bad = subprocess.run(cmd + [str(bundle), "--public-key", site_pub], capture_output=True, text=True)
        check(bad.returncode == 1 and "registry" in bad.stdout, f"{name}: INVALID without it, naming the registry "
                                                                f"(exit {bad.returncode})")
    status, _, j = reg.request("POST", f"/v1/sites/{SITE}/checkpoints", body=b"x", token=reader)
    check(status == 403 and j and j.get("error") == "forbidden", f"a reader may not write: HTTP {status} {j}")


MODES = {"exactly-once-100k": exactly_once_100k, "registry-restart": registry_restart,
         "proxy-faults": proxy_faults, "kill9-uploads": kill9_uploads, "rejections": rejections,
         "mtls": mtls, "batch-too-large": batch_too_large, "refusal-stops": refusal_stops,
         "registry-restore": registry_restore, "registry-bundle": registry_bundle}

if mode not in MODES:
    fail(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
t_start = time.time()
MODES[mode]()
print(f"{mode}: passed in {time.time() - t_start:.0f} s")
