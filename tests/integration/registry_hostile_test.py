#!/usr/bin/python3
"""Attacks on the real mrv-registry (issue 14), each followed by legitimate traffic that
must still work, and a look at what the registry stored: nothing unverified.
Usage: registry_hostile_test.py AGENT MODE (the registry is <build>/registry/mrv-registry)
  http-framing     before any credential: a chunked trailer over 64 KiB, two
                   Content-Lengths, a 9 KB header, HTTP/0.9, bare LF, garbage: a JSON
                   error or a closed connection, never a dead registry
  api-edges        HEAD, Content-Type on every write, a bundle of a site without its
                   configs, from > to: documented 4xx answers
  deadlines        idle_timeout_ms and header_timeout_ms enforced on a silent TCP
                   connection, a TLS connection with no request, an idle keep-alive and a
                   half-sent request; slowloris on max_connections cannot lock agents out
  memory           bodies before authentication cost nothing; authenticated bodies
                   together stay within max_body_bytes_total
  signatures       a record with an empty signature (Ed25519 and ECDSA), a first batch
                   at seq 5: refused, nothing stored or served
  checkpoint-only  a checkpoint-only agent uploads exactly once to a site configured for
                   it; forged unsigned records (a 2^40 jump, garbage before and after the
                   agent's own) are never proven and never stop the agent
  damaged-site     one site's store damaged: the registry starts, names it, serves the
                   others; a declared break restarts cleanly
  config-files     check-config reads what start reads: empty, world-readable and FIFO
                   token files, readable keys; a FIFO never blocks start
  nested           a site's credential posts a deeply nested report, a deeply nested
                   record line and a line of millions of values: refused, every site
                   still served"""
import hashlib
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from harness import check, fail, sanitized, track, wait_closed
from upload_harness import (SITE, Pki, Registry, UploadSite, check_exactly_once, free_port, journal_lines,
                            new_token, plain_site, record_line, registry_binary, registry_serves, write_private)

agent, mode = sys.argv[1], sys.argv[2]
work = tempfile.TemporaryDirectory(prefix="mrv-hostile-")
W = pathlib.Path(work.name)
FAST = "timeout_ms = 2000\nbackoff_min_ms = 200\nbackoff_max_ms = 1000"
SANITIZED = sanitized(registry_binary(agent))


# ---------------------------------------------------------------------------- raw HTTP

def tls_socket(reg, timeout=10):
    raw = socket.create_connection(("127.0.0.1", reg.port), timeout=timeout)
    return reg.context().wrap_socket(raw, server_hostname="127.0.0.1")


def exchange(reg, data, timeout=10, chunks=None):
    """Sends raw bytes over TLS (then `chunks`, if any) and reads until the registry
    closes or `timeout`: (status or 0, body bytes, closed by the registry)."""
    s = tls_socket(reg, timeout)
    got, closed = b"", False
    try:
        s.sendall(data)
        for c in chunks or []:
            s.sendall(c)
        while True:
            more = s.recv(65536)
            if not more:
                closed = True
                break
            got += more
    except (socket.timeout, TimeoutError):
        pass
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        closed = True
    finally:
        s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body, closed


def json_error(body):
    try:
        j = json.loads(body)
        return j if isinstance(j, dict) and "error" in j and "check" in j and "message" in j else None
    except ValueError:
        return None


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0




def registry(extra="", sites=None, **kw):
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, sites or {SITE: {"token": token}}, extra=extra, **kw)
    return reg, pki, token


# ---------------------------------------------------------------------------- modes

def http_framing():
    reg, pki, token = registry()
    host = f"Host: 127.0.0.1:{reg.port}\r\n".encode()
    # 1. A chunked body with a 70 KiB trailer field, no credential.
    trailer = b"X-Pad: " + b"a" * (70 * 1024) + b"\r\n"
    st, body, closed = exchange(reg, b"POST /v1/sites/it-site/records HTTP/1.1\r\n" + host +
                                b"Transfer-Encoding: chunked\r\nContent-Type: application/x-ndjson\r\n\r\n"
                                b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n")
    check(st in (400, 401, 431) and closed, f"a 70 KiB chunked trailer before any credential: {st}, closed")
    registry_serves(reg, token, "after the chunked trailer")
    # The same with a credential: the trailer is refused, not thrown.
    st, body, closed = exchange(reg, b"POST /v1/sites/it-site/records HTTP/1.1\r\n" + host +
                                f"Authorization: Bearer {token}\r\n".encode() +
                                b"Transfer-Encoding: chunked\r\nContent-Type: application/x-ndjson\r\n\r\n"
                                b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n")
    check(st in (400, 431) and json_error(body) and closed,
          f"... and with a site's credential: {st} {body[:100]!r}")
    registry_serves(reg, token, "after the authenticated chunked trailer")
    # 2. Malformed requests: each a JSON error, then the connection is closed.
    cases = {
        "two Content-Lengths": b"POST /v1/sites/it-site/records HTTP/1.1\r\n" + host +
                               b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        "a 9 KB header": b"GET /v1/sites/it-site HTTP/1.1\r\n" + host + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n",
        "HTTP/0.9": b"GET /v1/sites/it-site\r\n",
        "bare LF line ends": b"GET /v1/sites/it-site HTTP/1.1\n" + host.replace(b"\r\n", b"\n") + b"\n",
        "garbage": b"\x16\x03\x01\x00\xff" + os.urandom(200) + b"\r\n\r\n",
        "a negative Content-Length": b"POST /v1/sites/it-site/records HTTP/1.1\r\n" + host +
                                     b"Content-Length: -1\r\n\r\n",
    }
    for what, data in cases.items():
        st, body, closed = exchange(reg, data)
        err = json_error(body)
        check(st in (400, 431) and err and closed, f"{what}: {st} with a JSON error, then closed ({body[:90]!r})")
    registry_serves(reg, token, "after the malformed requests")
    info = registry_serves(reg, token, "at the end")
    check(info.get("held_through") == 0 and info.get("unproven_records") == 0, "nothing was stored")


def api_edges():
    reg, pki, token = registry(extra='')
    site = plain_site(agent, SITE, points=2, interval_ms=50)
    site.run("run", "--config", str(site.config), "--duration", "0.5")
    def expect(resp, status, error, what):
        st, data, js = resp
        check(st == status and isinstance(js, dict) and js.get("error") == error,
              f"{what}: {status} {error} (got {st} {data[:160]!r})")
    # Content-Type on every write.
    pem = site.public_pem.read_bytes()
    expect(reg.request("PUT", f"/v1/sites/{SITE}/keys", pem, {"Content-Type": "text/plain"}, token=token),
           415, "unsupported_media_type", "a key as text/plain")
    text = b'[site]\nid = "x"\n'
    expect(reg.request("PUT", f"/v1/sites/{SITE}/configs/{hashlib.sha256(text).hexdigest()}", text,
                       {"Content-Type": "application/json"}, token=token),
           415, "unsupported_media_type", "a config as application/json")
    expect(reg.request("POST", f"/v1/sites/{SITE}/checkpoints", b"x\n", {"Content-Type": "application/json"},
                       token=token), 415, "unsupported_media_type", "a checkpoint as application/json")
    st, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", pem, {"Content-Type": "application/x-pem-file"}, token=token)
    check(st == 200, "the key as application/x-pem-file is registered")
    # HEAD answers as GET would, without a body.
    get = reg.request("GET", f"/v1/sites/{SITE}", token=token)
    conn_status, head_body, _ = reg.request("HEAD", f"/v1/sites/{SITE}", token=token)
    check(conn_status == 200 and head_body == b"" and get[0] == 200, f"HEAD is answered 200 with no body ({conn_status})")
    # A GET with a body, an unknown method.
    expect(reg.request("GET", f"/v1/sites/{SITE}", b"x" * 10, token=token), 400, "bad_request", "a GET with a body")
    expect(reg.request("DELETE", f"/v1/sites/{SITE}/records", token=token), 405, "method_not_allowed", "DELETE")
    # Queries out of order.
    expect(reg.request("GET", f"/v1/sites/{SITE}/records?from_seq=10&to_seq=1", token=token), 400, "bad_request",
           "from_seq > to_seq")
    expect(reg.request("GET", f"/v1/sites/{SITE}/records?from_seq=-1&to_seq=1", token=token), 400, "bad_request",
           "a negative from_seq")
    # A bundle: from > to; then a site whose records name a config it never uploaded.
    lines = journal_lines(site, 1, 20)
    st, data, _ = reg.post_records(SITE, lines, token=token)
    check(st == 200, f"records 1..20 are stored ({data[:100]!r})")
    from upload_harness import sign_note, site_root
    st, data, _ = reg.request("POST", f"/v1/sites/{SITE}/checkpoints", sign_note(site, 20, site_root(site, 20)).encode(),
                              {"Content-Type": "text/plain"}, token=token)
    check(st == 200, f"a checkpoint at 20 is stored ({data[:100]!r})")
    reg.stop()
    key = W / "registry" / "registry.key"
    subprocess.run([agent, "keygen", "--out", str(key)], check=True, capture_output=True)
    reg.config.write_text(reg.config.read_text().replace("[tls]", f'[bundle]\nkey_file = "{key}"\n[tls]', 1))
    reg.start()
    expect(reg.request("GET", f"/v1/sites/{SITE}/bundle?from=2000&to=1000", token=token), 400, "bad_request",
           "a bundle with from > to")
    expect(reg.request("GET", f"/v1/sites/{SITE}/bundle?from=0&to=99999999999999", token=token), 409, "incomplete",
           "a bundle of records whose config was never uploaded")
    check(reg.proc.poll() is None, "the registry runs on")
    # Site ids "a/b" and "a_b" keep their records apart.
    reg.stop()
    tokens = {sid: new_token()[0] for sid in ("a/b", "a_b")}
    twin = Registry(agent, W / "twins", pki, {sid: {"token": t} for sid, t in tokens.items()})
    for sid, t in tokens.items():
        s = plain_site(agent, sid, points=2, interval_ms=50)
        s.run("run", "--config", str(s.config), "--duration", "0.3")
        path = f"/v1/sites/{sid.replace('/', '%2F')}"
        s1, _, _ = twin.request("PUT", f"{path}/keys", s.public_pem.read_bytes(),
                                {"Content-Type": "application/x-pem-file"}, token=t)
        s2, data, _ = twin.request("POST", f"{path}/records", "".join(l + "\n" for l in journal_lines(s, 1, 5)).encode(),
                                   {"Content-Type": "application/x-ndjson"}, token=t)
        check(s1 == 200 and s2 == 200, f"site '{sid}' stores its records 1..5 ({s2} {data[:100]!r})")
    files = sorted(p.name for p in (W / "twins" / "regdata" / "sites").glob("*.db"))
    check(files == ["a%2Fb.db", "a_b.db"], f"each has a file of its own: {files}")


def deadlines():
    # idle_timeout_ms only (header_timeout_ms at its default of 10 s).
    reg, pki, token = registry(extra="idle_timeout_ms = 250\nmax_connections = 16")
    silent = socket.create_connection(("127.0.0.1", reg.port))
    tls_quiet = tls_socket(reg)
    keep = tls_socket(reg)
    keep.sendall(f"GET /v1/sites/{SITE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    keep.settimeout(5)
    first = keep.recv(65536)
    check(first.startswith(b"HTTP/1.1 200"), "a keep-alive request is answered")
    half = tls_socket(reg)
    half.sendall(b"GET /v1/sites/it-site HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
    for what, sock, limit in (("a silent TCP connection", silent, 2), ("a TLS connection that sends nothing", tls_quiet, 2),
                              ("an idle keep-alive", keep, 2), ("a half-sent request line and headers", half, 12)):
        took = wait_closed(sock, 20)
        check(took is not None and took <= limit, f"{what} is closed by the registry ({took and round(took, 2)} s)")
        sock.close()
    # The whole request within request_timeout_ms of its first byte: headers, then body.
    reg.stop()
    reg.config.write_text(reg.config.read_text().replace("idle_timeout_ms = 250",
                                                         "idle_timeout_ms = 5000\nheader_timeout_ms = 1000\n"
                                                         "request_timeout_ms = 3000"))
    reg.start()
    body_half = tls_socket(reg)
    t0 = time.time()
    body_half.sendall(f"POST /v1/sites/{SITE}/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n".encode() + b"{" * 10)
    drip = tls_socket(reg)
    drip.sendall(b"GET /v1/sites/it-site HTTP/1.1\r\n")
    for _ in range(8):  # a header byte every 0.25 s: never idle, never done
        time.sleep(0.25)
        try:
            drip.sendall(b"X")
        except OSError:
            break
    took = wait_closed(drip, 10)
    check(took is not None and time.time() - t0 <= 3, f"headers sent a byte at a time are cut at header_timeout_ms "
                                                       f"({round(time.time() - t0, 2)} s after the first)")
    took = wait_closed(body_half, 10)
    check(took is not None and time.time() - t0 <= 5, f"a body still unsent at request_timeout_ms is cut "
                                                       f"({round(time.time() - t0, 2)} s)")
    # Slowloris: 16 connections (max_connections) each sending a byte every 0.3 s keep no
    # agent out: the new connection takes the place of the one waiting longest.
    reg.stop()
    reg.config.write_text(reg.config.read_text().replace("header_timeout_ms = 1000\n", "")
                          .replace("request_timeout_ms = 3000", ""))
    reg.start()
    stop = threading.Event()
    cut = []

    def drip(i):
        try:
            s = tls_socket(reg)
            s.sendall(b"GET /v1/sites/it-site HTTP/1.1\r\n")
            while not stop.is_set():
                s.sendall(b"X")
                time.sleep(0.3)
        except OSError:
            cut.append(i)

    threads = [threading.Thread(target=drip, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    time.sleep(2)
    served = 0
    for _ in range(5):
        t0 = time.time()
        st, _, _ = reg.request("GET", f"/v1/sites/{SITE}", token=token, timeout=10)
        served += st == 200 and time.time() - t0 < 5
    stop.set()
    check(served == 5, f"with 16 slow connections holding max_connections = 16, an agent is served 5 times of 5 "
                       f"({len(cut)} slow connections were cut to make room)")
    for t in threads:
        t.join(timeout=5)
    registry_serves(reg, token, "after the slowloris")


def memory():
    reg, pki, token = registry(extra="max_body_bytes = 16777216\nmax_connections = 64")
    pid = reg.proc.pid
    time.sleep(0.5)
    before = rss_kib(pid)
    # 12 connections at once, each sending a 16 MiB body with no credential.
    payload = os.urandom(1 << 20)
    answers = []
    peaks = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peaks.append(rss_kib(pid))
            time.sleep(0.05)

    def post_unauthenticated():
        s = tls_socket(reg, timeout=30)
        try:
            s.sendall(f"POST /v1/sites/{SITE}/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                      f"Content-Length: {16 << 20}\r\n\r\n".encode())
            for _ in range(16):
                s.sendall(payload)
        except OSError:
            pass  # answered and closed early
        try:
            answers.append(s.recv(4096)[:12])
        except OSError:
            answers.append(b"")
        s.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    posters = [threading.Thread(target=post_unauthenticated, daemon=True) for _ in range(12)]
    for t in posters:
        t.start()
    for t in posters:
        t.join(timeout=60)
    stop.set()
    sampler.join()
    peak = max(peaks)
    check(SANITIZED or peak - before < 20 * 1024, f"12 unauthenticated 16 MiB bodies: RSS {before // 1024} MiB -> {peak // 1024} MiB")
    check(all(a.startswith(b"HTTP/1.1 401") for a in answers if a), f"each was answered 401 ({answers[:3]})")
    reg.stop()
    reg.config.write_text(reg.config.read_text().replace("max_connections = 64",
                                                         "max_connections = 64\nmax_body_bytes_total = 33554432"))
    reg.start()
    pid = reg.proc.pid
    time.sleep(0.5)
    before = rss_kib(pid)
    # Authenticated: 6 bodies of 16 MiB at once; at most 2 (32 MiB) are held.
    socks = []
    for _ in range(6):
        s = tls_socket(reg, timeout=60)
        s.sendall(f"POST /v1/sites/{SITE}/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: application/x-ndjson\r\nContent-Length: {16 << 20}\r\n\r\n".encode())
        socks.append(s)
    stop.clear()
    peaks.clear()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def send(s):
        try:
            for _ in range(16):
                s.sendall(payload)
        except OSError:
            pass

    senders = [threading.Thread(target=send, args=(s,), daemon=True) for s in socks]
    for t in senders:
        t.start()
    for t in senders:
        t.join(timeout=60)
    statuses = []
    for s in socks:
        s.settimeout(30)
        try:
            statuses.append(int(s.recv(4096).split(b" ")[1]))
        except (OSError, IndexError, ValueError):
            statuses.append(0)
        s.close()
    stop.set()
    sampler.join()
    held = (max(peaks) - before) // 1024
    check(SANITIZED or held < 3 * 32, f"6 authenticated 16 MiB bodies at once: RSS grew by {held} MiB (budget 32 MiB of bodies, "
                         f"plus decoding)")
    check(all(st in (400, 503) for st in statuses), f"each was answered (not gzip, not records) or told to retry: {statuses}")
    registry_serves(reg, token, "after the memory attacks")


def signatures():
    reg, pki, token = registry()
    for alg in ("ed25519", "ecdsa-p256"):
        site = plain_site(agent, SITE, algorithm=alg, points=2, interval_ms=50)
        site.run("run", "--config", str(site.config), "--duration", "0.5")
        if alg == "ecdsa-p256":  # a fresh registry: this key may register while no records are held
            reg.stop()
            reg.wipe()
            reg.start()
        st, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", site.public_pem.read_bytes(),
                               {"Content-Type": "application/x-pem-file"}, token=token)
        check(st == 200, f"{alg}: the key is registered")
        lines = journal_lines(site, 1, 10)
        rec = json.loads(lines[2])
        rec["signature"] = ""
        forged = lines[:2] + [json.dumps(rec, separators=(",", ":"))] + lines[3:]
        st, data, js = reg.post_records(SITE, forged, token=token)
        check(st == 422 and js.get("error") == "bad_signature" and js.get("seq") == 3,
              f"{alg}: a record with \"signature\": \"\" is refused 422 bad_signature at seq 3 ({st} {data[:120]!r})")
        info = reg.site_info(SITE, token)
        check(info["held_through"] == 0 and reg.max_seq() == (0, 0), f"{alg}: nothing was stored")
        st, data, js = reg.post_records(SITE, lines[4:], token=token)
        check(st == 409 and js.get("error") == "gap" and js.get("held_through") == 0,
              f"{alg}: a first batch that starts at seq 5 is 409 gap, held_through 0 ({st} {data[:100]!r})")
        st, data, js = reg.post_records(SITE, lines, token=token)
        check(st == 200 and js.get("last_seq") == 10, f"{alg}: the genuine records 1..10 are stored")
        st, data, _ = reg.request("GET", f"/v1/sites/{SITE}/records?from_seq=1&to_seq=100", token=token)
        check(st == 200 and [json.loads(l) for l in data.decode().splitlines()] == [json.loads(l) for l in lines],
              f"{alg}: exactly the genuine records are served")


def make_unsigned_jump(line, seq):
    """A chain-segment record at `seq`, unsigned (alg checkpoint), after the record `line`:
    what a holder of the site's token, not its key, can make."""
    rec = json.loads(json.loads(line)["record"])
    rec.update({"type": "chain-segment", "seq": seq, "prev": json.loads(line)["hash"], "point": "", "value": "",
                "unit": "", "quality": "bad", "reason": "new chain segment: forged", "source": "agent",
                "time_source": "agent", "alg": "checkpoint"})
    canonical = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
    return record_line(seq, canonical, hashlib.sha256(canonical).digest(), b"")


def drain_proven(site, reg, token, seconds, what):
    """Runs the agent without new readings until the registry holds every record of its
    journal, proven by a checkpoint; stops it and returns its status."""
    site.set_interval(3_600_000)
    starts = site.log_tail(10**9).count(" running: ")
    p = site.start()
    deadline = time.time() + seconds
    while site.log_tail(10**9).count(" running: ") == starts and time.time() < deadline:
        time.sleep(0.1)  # signals are handled once it runs
    while time.time() < deadline:
        info = reg.site_info(site.site_id, token)
        if site.last_seq() > 0 and info["held_through"] == site.last_seq() and info["unproven_records"] == 0:
            st = site.status()
            site.stop(p)
            return st
        if p.poll() is not None:
            fail(f"the agent exited {p.returncode}{what}: {site.log_tail()}")
        time.sleep(0.5)
    fail(f"the registry does not hold all {site.last_seq()} records proven within {seconds} s{what}: "
         f"{reg.site_info(site.site_id, token)}\n{site.log_tail()}")


def checkpoint_only():
    pki = Pki(W / "pki")
    token = new_token()[0]
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    # A site not configured checkpoint-only refuses unsigned records, and an unsigned jump.
    plain = plain_site(agent, SITE, points=2, interval_ms=50, extra_signing='mode = "checkpoint"')
    plain.run("run", "--config", str(plain.config), "--duration", "0.5")
    s1, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", plain.public_pem.read_bytes(),
                           {"Content-Type": "application/x-pem-file"}, token=token)
    s2, data, js = reg.post_records(SITE, journal_lines(plain, 1, 5), token=token)
    check(s1 == 200 and s2 == 422 and js.get("error") == "bad_signature",
          f"a site not configured checkpoint-only refuses unsigned records ({s2} {data[:140]!r})")
    genesis = record_line(0, b"{}", bytes(32), b"")  # make_unsigned_jump links to its hash
    s3, data, js = reg.post_records(SITE, [make_unsigned_jump(genesis, 1 << 40)], token=token)
    info = reg.site_info(SITE, token)
    check(s3 == 422 and info["held_through"] == 0 and reg.max_seq() == (0, 0),
          f"... and an unsigned jump to seq 2^40: {s3}, held_through {info['held_through']}")
    # Configured checkpoint-only: an agent that signs checkpoints only uploads exactly once.
    reg.stop()
    reg.wipe()  # a new site: its key may register
    reg.config.write_text(reg.config.read_text().replace(f'id = "{SITE}"\n', f'id = "{SITE}"\ncheckpoint_only = true\n'))
    reg.start()
    site = UploadSite(agent, pki, reg.url, token=token, points=10, interval_ms=20, upload_extra=FAST,
                      extra_signing='mode = "checkpoint"\ncheckpoint_interval_ms = 500')
    p = site.start()
    time.sleep(4)
    site.stop(p)
    drain_proven(site, reg, token, 60, " (checkpoint-only)")
    n = check_exactly_once(site, reg, token=token)
    # Forgeries with the site's token, not its key: an unsigned jump to seq 2^40.
    jump = make_unsigned_jump(journal_lines(site, n, n)[0], 1 << 40)
    s2, data, js = reg.post_records(SITE, [jump], token=token)
    info = reg.site_info(SITE, token)
    check(s2 == 200 and info["held_through"] == n and info["unproven_through"] == 1 << 40,
          f"an unsigned jump to 2^40 is taken as unproven only: held_through stays {info['held_through']}")
    st, data, _ = reg.request("GET", f"/v1/sites/{SITE}/records?from_seq={n}&to_seq={(1 << 40) + 1}", token=token)
    check(st == 200 and len(data.decode().splitlines()) == 1, "... and is not served")
    site.set_interval(20)
    p = site.start()
    time.sleep(3)
    site.stop(p)
    st = drain_proven(site, reg, token, 60, " (after a forged jump)")
    check(not st.get("upload", {}).get("stopped"), "the agent's stream is not stopped by the forgery")
    n2 = check_exactly_once(site, reg, token=token)
    check(n2 > n, f"the agent's records {n + 1}..{n2} are proven")
    # Garbage over the agent's unproven records, posted while it uploads: the agent's next
    # batch or checkpoint finds it, the agent resends, its own records are proven.
    site.set_interval(20)
    p = site.start()
    deadline = time.time() + 30
    forged = 0
    while time.time() < deadline and forged < 3:
        info = reg.site_info(SITE, token)
        if info["unproven_through"] > info["held_through"] + 5:
            held = info["held_through"]
            s3, _, _ = reg.post_records(SITE, [make_unsigned_jump(journal_lines(site, held, held)[0], held + 1)],
                                        token=token)
            forged += s3 == 200
            time.sleep(0.5)
        time.sleep(0.02)
    time.sleep(2)
    site.stop(p)
    st = drain_proven(site, reg, token, 60, " (after garbage over unproven records)")
    check(forged == 3, "the forger replaced the agent's unproven records 3 times")
    check(not st.get("upload", {}).get("stopped"), "the agent's stream is still not stopped")
    check_exactly_once(site, reg, token=token)


def damaged_site():
    pki = Pki(W / "pki")
    tok_a, tok_b = new_token()[0], new_token()[0]
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": tok_a}, "other-site": {"token": tok_b}})
    a = plain_site(agent, SITE, points=2, interval_ms=20)
    a.run("run", "--config", str(a.config), "--duration", "0.5")
    st, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", a.public_pem.read_bytes(),
                           {"Content-Type": "application/x-pem-file"}, token=tok_a)
    st2, _, _ = reg.post_records(SITE, journal_lines(a, 1, 20), token=tok_a)
    check(st == 200 and st2 == 200, "site A holds records 1..20")
    reg.stop()
    db = reg.db_path("other-site")
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not an SQLite file" * 100)
    reg.start()
    time.sleep(0.5)
    check(reg.proc.poll() is None, "the registry starts with one site's store damaged")
    log = reg.log_tail(10**6)
    check("other-site" in log and str(db) in log, "its log names the site and the file")
    st, data, js = reg.request("GET", "/v1/sites/other-site", token=tok_b)
    check(st == 503 and js and js.get("error") == "unavailable", f"the damaged site answers 503 unavailable ({st})")
    info = reg.site_info(SITE, tok_a)
    check(info["held_through"] == 20, "the other site is served as before")
    st, _, _ = reg.post_records(SITE, journal_lines(a, 21, 30), token=tok_a)
    check(st == 200, "... and takes new records")
    # A declared break (the agent's journal rolled back, a chain segment after a skip):
    # the registry stores it, then starts again, twice.
    held = a.records()[-1][0]
    st, _, _ = reg.post_records(SITE, journal_lines(a, 31, held), token=tok_a)
    old = a.dir / "old.db"
    shutil.copy(a.journal, old)
    a.run("run", "--config", str(a.config), "--duration", "0.5")
    shutil.copy(old, a.journal)
    for suffix in ("-wal", "-shm"):
        pathlib.Path(str(a.journal) + suffix).unlink(missing_ok=True)
    a.run("run", "--config", str(a.config), "--duration", "0.5")
    rows = journal_lines(a, held + 1, 10**9)
    kinds = [json.loads(json.loads(l)["record"])["type"] for l in rows]
    check(st == 200 and kinds and kinds[0] == "chain-segment" and json.loads(rows[0])["seq"] > held + 1,
          f"the agent declared a break after a skip: seq {held} then seq {json.loads(rows[0])['seq']}")
    st, data, _ = reg.post_records(SITE, rows, token=tok_a)
    check(st == 200, f"the registry stores the declared break and what follows ({data[:100]!r})")
    for n in (1, 2):
        reg.stop()
        reg.start()
        time.sleep(0.3)
        info = reg.site_info(SITE, tok_a)
        check(reg.proc.poll() is None and info["held_through"] == json.loads(rows[-1])["seq"],
              f"restart {n}: the registry starts and holds through seq {info['held_through']}")


def config_files():
    reg_bin = registry_binary(agent)
    pki = Pki(W / "pki")
    d = W / "cfg"
    d.mkdir()
    pki.copy_to(d, pki.ca, pki.server, pki.server_key)
    base = (f'listen = "127.0.0.1:{free_port()}"\ndata_dir = "data"\n[tls]\ncert_file = "server.pem"\n'
            f'key_file = "server.key"\n[[sites]]\nid = "{SITE}"\ntoken_file = "token"\n')
    config = d / "registry.toml"
    config.write_text(base)

    def check_config():
        return subprocess.run([reg_bin, "--config", str(config), "--check-config"], capture_output=True, text=True,
                              timeout=10)

    token = d / "token"
    write_private(token, b"s3cret\n")
    p = check_config()
    check(p.returncode == 0, f"a good config passes check-config ({p.stderr.strip()})")
    for what, mode_bits, data in (("an empty token file", 0o600, b""), ("a token file of one empty line", 0o600, b"\n"),
                                  ("a world-readable token file", 0o666, b"s3cret\n")):
        token.unlink()
        token.write_bytes(data)
        token.chmod(mode_bits)
        p = check_config()
        check(p.returncode != 0 and "token" in p.stderr, f"check-config refuses {what}: {p.stderr.strip()[:120]}")
    token.unlink()
    write_private(token, b"s3cret\n")
    (d / "server.key").chmod(0o644)
    p = check_config()
    check(p.returncode != 0 and "server.key" in p.stderr, f"check-config refuses a TLS key others can read: "
                                                          f"{p.stderr.strip()[:120]}")
    (d / "server.key").chmod(0o600)
    bundle_key = d / "bundle.key"
    subprocess.run([agent, "keygen", "--out", str(bundle_key)], check=True, capture_output=True)
    bundle_key.chmod(0o666)
    config.write_text(base.replace("[tls]", '[bundle]\nkey_file = "bundle.key"\n[tls]'))
    p = check_config()
    check(p.returncode != 0 and "bundle.key" in p.stderr, f"check-config refuses a bundle key others can read: "
                                                          f"{p.stderr.strip()[:120]}")
    empty_hash = hashlib.sha256(b"").hexdigest()
    config.write_text(base.replace('token_file = "token"', f'token_sha256 = "{empty_hash}"'))
    p = check_config()
    check(p.returncode == 2 and "registry.toml:8" in p.stderr and "SHA-256 of an empty token" in p.stderr,
          f"check-config refuses the SHA-256 of an empty token, naming file:line: {p.stderr.strip()[:200]}")
    start = subprocess.run([reg_bin, "--config", str(config)], capture_output=True, text=True, timeout=10)
    check(start.returncode == 2 and "SHA-256 of an empty token" in start.stderr, "and the registry does not start on it")
    config.write_text(base)
    token.unlink()
    os.mkfifo(token, 0o600)
    t0 = time.time()
    p = check_config()
    check(p.returncode != 0 and "regular file" in p.stderr and time.time() - t0 < 5,
          f"check-config refuses a FIFO as token file at once: {p.stderr.strip()[:120]}")
    proc = track(subprocess.Popen([reg_bin, "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
    try:
        rc = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("the registry blocks at start on a FIFO token file")
    check(rc != 0 and "regular file" in proc.stderr.read(), f"the registry refuses a FIFO token file at start (exit {rc})")


def nested():
    reg, pki, token = registry()
    pid = reg.proc.pid
    before = rss_kib(pid)
    # A signature member, so the report is serialised (its canonical bytes) before checks.
    report = ('{"format":"mrv-report/1","signature":{"algorithm":"ed25519","key_id":"00","value":""},"x":'
              + "[" * 200_000 + "]" * 200_000 + "}").encode()
    st, data, js = reg.request("POST", f"/v1/sites/{SITE}/reports", report, {"Content-Type": "application/json"},
                               token=token)
    check(st == 400 and js and js.get("error") == "malformed", f"a 400 KB report nested 200,000 deep: {st} {data[:120]!r}")
    registry_serves(reg, token, "after the nested report")
    deep = '{"seq":1,"x":' + "[" * 1_000_000 + "]" * 1_000_000 + "}"
    st, data, js = reg.post_records(SITE, [deep], token=token)
    check(st == 400 and js and js.get("error") == "malformed", f"a record line nested 1,000,000 deep: {st} {data[:120]!r}")
    flood = '{"seq":1,"x":[' + ",".join(["0"] * 8_000_000) + "]}"
    peaks, stop = [], threading.Event()
    sampler = threading.Thread(target=lambda: [peaks.append(rss_kib(pid)) or time.sleep(0.01)
                                               for _ in iter(stop.is_set, True)], daemon=True)
    sampler.start()
    st, data, js = reg.post_records(SITE, [flood], token=token)
    stop.set()
    sampler.join()
    peak = max(peaks)
    check(st == 400 and js and js.get("error") == "malformed", f"a record line of 8 million values: {st} {data[:120]!r}")
    check(SANITIZED or peak - before < 64 * 1024,
          f"... decoded without a tree of them: RSS {before // 1024} MiB -> {peak // 1024} MiB")
    info = registry_serves(reg, token, "at the end")
    check(info["held_through"] == 0, "nothing was stored")


MODES = {"http-framing": http_framing, "api-edges": api_edges, "deadlines": deadlines, "memory": memory,
         "signatures": signatures, "checkpoint-only": checkpoint_only, "damaged-site": damaged_site,
         "config-files": config_files, "nested": nested}
MODES[mode]()
