#!/usr/bin/python3
"""Input limits of docs/limits.md on the real programs: each at its value (served) and
one past it (refused with the documented answer), then legitimate traffic still served.
Usage: limits_test.py AGENT MODE (the registry is <build>/registry/mrv-registry)
  registry-sizes        max_header_bytes, max_body_bytes, 4 x max_body_bytes inflated,
                        max_batch_records
  registry-connections  max_connections (the longest idle connection makes room), and
                        idle_timeout_ms, header_timeout_ms, request_timeout_ms met just in
                        time and missed
  registry-body-total   max_body_bytes_total: a body of the whole budget is taken at once;
                        a second one waits until the first is done (the 503 after
                        request_timeout_ms: unit test "limits: the body budget ...")
  agent-http            the agent's [http] max_request_bytes, max_connections,
                        idle_timeout_ms
  config-size           a config of 4 MiB passes check-config (agent and registry), one
                        byte more is refused naming the file
  mqtt-payload          a message of max_payload_bytes is stored, one byte more is
                        quarantined as oversized (real mosquitto)
  manifest-sig          a manifest.sig of 4,096 bytes verifies, 4,097 is refused (both
                        verifiers)
  record-line           a record line with extension members of 8 levels and 1,024
                        values verifies in both verifiers, 9 levels or 1,025 values are
                        not a record line in both
  uploader-response     a registry answer of 1 MiB is read, one of 1 MiB + 1 is a transport
                        error that moves no cursor and is retried"""
import gzip
import hashlib
import json
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from harness import Site, check, fail, wait_closed

agent, mode = sys.argv[1], sys.argv[2]
work = tempfile.TemporaryDirectory(prefix="mrv-limits-")
W = pathlib.Path(work.name)
FAST = "timeout_ms = 2000\nbackoff_min_ms = 200\nbackoff_max_ms = 1000"
MIB = 1 << 20


# ---------------------------------------------------------------------------- registry helpers

def registry(extra=""):
    from upload_harness import SITE, Pki, Registry, new_token
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}}, extra=extra)
    return reg, pki, token


def tls_socket(reg, timeout=10):
    raw = socket.create_connection(("127.0.0.1", reg.port), timeout=timeout)
    return reg.context().wrap_socket(raw, server_hostname="127.0.0.1")


def read_answer(sock, timeout=10):
    """(status or 0, body bytes, closed by the peer) of one answer with a Content-Length."""
    sock.settimeout(timeout)
    got, closed = b"", False
    try:
        while True:
            if b"\r\n\r\n" in got:
                head, _, body = got.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.lower().split(b"\r\n") if l.startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
            more = sock.recv(65536)
            if not more:
                closed = True
                break
            got += more
    except (socket.timeout, TimeoutError):
        pass
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        closed = True
    head, _, body = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body, closed


def exchange(reg, data, timeout=10):
    s = tls_socket(reg, timeout)
    try:
        s.sendall(data)
        return read_answer(s, timeout)
    finally:
        s.close()




def error_of(body):
    try:
        return json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None


def served(reg, token, what):
    from upload_harness import registry_serves
    return registry_serves(reg, token, what)


def get_request(token, pad=b"", keep_alive=False):
    from upload_harness import SITE
    return (f"GET /v1/sites/{SITE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n").encode() + \
        (b"X-Pad: " + pad + b"\r\n" if pad else b"") + b"\r\n"


def put_config(text_bytes):
    from upload_harness import SITE
    return f"/v1/sites/{SITE}/configs/{hashlib.sha256(text_bytes).hexdigest()}", {"Content-Type": "application/toml"}


def comment(length, mark=b"x"):
    """TOML text of `length` bytes that is one comment."""
    return b"#" + mark * (length - 2) + b"\n"


# ---------------------------------------------------------------------------- modes

def registry_sizes():
    from upload_harness import SITE, journal_lines, plain_site
    header_max, body_max, batch_max = 2048, 65536, 10
    reg, pki, token = registry(f"max_header_bytes = {header_max}\nmax_body_bytes = {body_max}\n"
                               f"max_batch_records = {batch_max}")
    # max_header_bytes: the header fields and the blank line that ends them (the request
    # line is held to it on its own, as Beast counts).
    start_line = len(get_request(token).split(b"\r\n")[0]) + 2
    base = len(get_request(token, b"x")) - 1 - start_line
    for size, want in ((header_max, 200), (header_max + 1, 431)):
        request = get_request(token, b"p" * (size - base))
        assert len(request) == start_line + size
        st, body, closed = exchange(reg, request)
        check(st == want and (want == 200 or error_of(body) == "too_large"),
              f"header fields of {size} bytes after the request line (max_header_bytes {header_max}): "
              f"{st} {body[:80]!r}")
    st, body, closed = exchange(reg, get_request(token).replace(b" HTTP/1.1", b"?x=" + b"q" * header_max + b" HTTP/1.1", 1))
    check(st == 431 and error_of(body) == "too_large", f"a request line over max_header_bytes: {st}")
    served(reg, token, "after the headers")
    # max_body_bytes: a config PUT of exactly that is stored; one byte more is 413 on its
    # declared length, before the body is read.
    for size, want in ((body_max, 200), (body_max + 1, 413)):
        text = comment(size)
        path, headers = put_config(text)
        st, data, js = reg.request_headers_first("PUT", path, text, headers, token=token)
        check(st == want and (want == 200 or (js or {}).get("error") == "too_large"),
              f"a body of {size} bytes (max_body_bytes {body_max}): {st} {data[:100]!r}")
    served(reg, token, "after the bodies")
    # Records: the site's key, then gzip bodies inflating to exactly 4 x max_body_bytes
    # (record lines and blank lines) and one byte more.
    site = plain_site(agent, SITE, points=10, interval_ms=20)
    site.run("run", "--config", str(site.config), "--duration", "1")
    st, _, _ = reg.request("PUT", f"/v1/sites/{SITE}/keys", site.public_pem.read_bytes(),
                           {"Content-Type": "application/x-pem-file"}, token=token)
    check(st == 200, "the site's key is registered")
    records_path = f"/v1/sites/{SITE}/records"
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    for first, extra, want in ((1, 0, 200), (6, 1, 413)):
        text = "".join(l + "\n" for l in journal_lines(site, first, first + 4)).encode()
        text += b"\n" * (4 * body_max + extra - len(text))
        body = gzip.compress(text)
        st, data, js = reg.request("POST", records_path, body, headers, token=token)
        check(st == want and (js or {}).get("error" if want == 413 else "last_seq") == ("too_large" if want == 413 else 5),
              f"records {first}..{first + 4} in a {len(body)}-byte body inflating to {len(text)} bytes "
              f"(4 x max_body_bytes = {4 * body_max}): {st} {data[:120]!r}")
    # max_batch_records: 10 lines are stored, 11 are 413 and nothing of them is kept.
    st, data, js = reg.post_records(SITE, journal_lines(site, 6, 5 + batch_max), token=token)
    check(st == 200 and js.get("records") == batch_max, f"{batch_max} records (max_batch_records): {st} {data[:100]!r}")
    st, data, js = reg.post_records(SITE, journal_lines(site, 16, 16 + batch_max), token=token)
    check(st == 413 and (js or {}).get("error") == "too_large",
          f"{batch_max + 1} records: {st} {data[:100]!r}")
    info = served(reg, token, "after the batches")
    check(info["held_through"] == 15, f"what was refused was not stored: held through {info['held_through']}")
    st, data, js = reg.post_records(SITE, journal_lines(site, 16, 15 + batch_max), token=token)
    check(st == 200, "the next batch within the limit is stored")
    # A read answers at most max_batch_records lines.
    st, data, _ = reg.request("GET", f"{records_path}?from_seq=1&to_seq=25", token=token)
    check(st == 200 and len(data.splitlines()) == batch_max,
          f"a read of 25 records answers max_batch_records ({len(data.splitlines())}) lines")


def registry_connections():
    max_conn = 4
    reg, pki, token = registry(f"max_connections = {max_conn}\nidle_timeout_ms = 1000\n"
                               "header_timeout_ms = 1500\nrequest_timeout_ms = 3000")
    # max_connections: 4 keep-alive connections, each served, stay open.
    conns = []
    for i in range(max_conn):
        s = tls_socket(reg)
        s.sendall(get_request(token, keep_alive=True))
        st, _, closed = read_answer(s)
        check(st == 200 and not closed, f"connection {i + 1} of {max_conn} is served and kept open")
        conns.append(s)
        time.sleep(0.05)
    for i, s in enumerate(conns):
        s.sendall(get_request(token, keep_alive=True))
        st, _, closed = read_answer(s)
        check(st == 200 and not closed, f"at max_connections, connection {i + 1} serves a second request")
    # One more: it is served, and the connection idle longest (the first) is cut for it.
    extra = tls_socket(reg)
    extra.sendall(get_request(token, keep_alive=True))
    st, _, closed = read_answer(extra)
    check(st == 200, f"connection {max_conn + 1} (past max_connections) is served: {st}")
    took = wait_closed(conns[0], 1)
    check(took is not None, "... and the connection idle longest was closed to make room")
    for i, s in enumerate(conns[1:], 2):
        s.sendall(get_request(token, keep_alive=True))
        st, _, closed = read_answer(s)
        check(st == 200, f"connection {i} still serves")
    for s in conns + [extra]:
        s.close()
    # idle_timeout_ms 1000: silent for 0.6 s then a request: served; silent for 1.5 s: closed.
    s = tls_socket(reg)
    time.sleep(0.6)
    s.sendall(get_request(token))
    st, _, _ = read_answer(s)
    check(st == 200, f"a request after 0.6 s of silence (idle_timeout_ms 1000) is served: {st}")
    s.close()
    s = tls_socket(reg)
    took = wait_closed(s, 3)
    check(took is not None and 0.9 <= took <= 2, f"a connection silent past idle_timeout_ms is closed "
                                                 f"after {took and round(took, 2)} s")
    s.close()
    # header_timeout_ms 1500: headers sent in 5 parts over 1.0 s: served; over 2.0 s: closed.
    for parts_gap, within in ((0.25, True), (0.5, False)):
        s = tls_socket(reg)
        request = get_request(token)
        pieces = [request[i * len(request) // 5:(i + 1) * len(request) // 5] for i in range(5)]
        t0 = time.time()
        closed_early = False
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(parts_gap)
            try:
                s.sendall(piece)
            except OSError:
                closed_early = True
                break
        st, _, closed = read_answer(s, 5)
        took = time.time() - t0
        if within:
            check(st == 200, f"headers sent in 5 parts over {4 * parts_gap} s (header_timeout_ms 1500): {st}")
        else:
            check(st == 0 and (closed or closed_early),
                  f"headers sent in 5 parts over {4 * parts_gap} s: closed without an answer ({took:.2f} s)")
        s.close()
    # request_timeout_ms 3000: a 4,000-byte body sent in parts until 2.0 s: stored; until 4.0 s: closed.
    for gap, within in ((0.5, True), (1.0, False)):
        text = comment(4000, b"%d" % int(gap * 10))
        path, headers = put_config(text)
        s = tls_socket(reg)
        head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
                f"Content-Type: application/toml\r\nContent-Length: {len(text)}\r\n\r\n").encode()
        t0 = time.time()
        s.sendall(head)
        closed_early = False
        for i in range(4):
            time.sleep(gap)
            try:
                s.sendall(text[i * 1000:(i + 1) * 1000])
            except OSError:
                closed_early = True
                break
        st, body, closed = read_answer(s, 5)
        took = time.time() - t0
        if within:
            check(st == 200, f"a body sent in 4 parts until {4 * gap} s (request_timeout_ms 3000) is stored: {st}")
        else:
            check(st == 0 and (closed or closed_early) and took < 5,
                  f"a body still unsent at request_timeout_ms is cut without an answer ({took:.2f} s)")
        s.close()
    served(reg, token, "after the deadlines")


def registry_body_total():
    reg, pki, token = registry("max_body_bytes = 1048576\nmax_body_bytes_total = 1048576\n"
                               "idle_timeout_ms = 5000\nheader_timeout_ms = 5000\nrequest_timeout_ms = 8000")
    # At the limit: one body of the whole budget is taken.
    text = comment(MIB)
    path, headers = put_config(text)
    st, data, _ = reg.request("PUT", path, text, headers, token=token)
    check(st == 200, f"a body of max_body_bytes_total (1 MiB) is stored: {st} {data[:80]!r}")
    # Past it: while a 1 MiB body is held half-sent, a second body (1 byte more than the
    # budget together) waits; it is stored once the first is done.
    first = comment(MIB, b"a")
    path1, _ = put_config(first)
    a = tls_socket(reg, 20)
    a.sendall((f"PUT {path1} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
               f"Content-Type: application/toml\r\nContent-Length: {len(first)}\r\n\r\n").encode() + first[:MIB // 2])
    time.sleep(0.3)
    second = b"#\n"  # a comment of 2 bytes
    path2, _ = put_config(second)
    b = tls_socket(reg, 20)
    b.sendall((f"PUT {path2} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
               f"Content-Type: application/toml\r\nContent-Length: {len(second)}\r\n\r\n").encode() + second)
    st, _, _ = read_answer(b, 1.5)
    check(st == 0, "a second body past max_body_bytes_total is not taken while the first holds the budget")
    t0 = time.time()
    a.sendall(first[MIB // 2:])
    st_a, _, _ = read_answer(a, 10)
    st_b, _, _ = read_answer(b, 10)
    check(st_a == 200 and st_b == 200,
          f"once the first is done ({st_a}), the waiting one is stored ({st_b}, {time.time() - t0:.2f} s later)")
    a.close()
    b.close()
    served(reg, token, "after the budget")


def agent_http():
    from mqtt_harness import free_port
    import http.client
    site = Site(agent, points=1)
    port = free_port()
    limit = 2048
    site.config.write_text(site.config.read_text() +
                           f'[http]\nlisten = "127.0.0.1:{port}"\nrequire_clock_sync = false\n'
                           f"max_connections = 3\nidle_timeout_ms = 1000\nmax_request_bytes = {limit}\n")
    proc = site.start()

    def raw(request, timeout=5):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request)
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    return data
                if not chunk:
                    return data
                data += chunk

    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        fail("the agent's listener is not up")

    def request_of(size):  # header fields (and the blank line) of `size` bytes after the request line
        fields = b"Host: x\r\nConnection: close\r\nX-Pad: \r\n\r\n"
        return b"GET /healthz HTTP/1.1\r\n" + fields.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (size - len(fields)))

    # Beast reads the header as it arrives over plain TCP and counts the request line
    # loosely: past the limit by up to about its length (23 bytes here) may still be read.
    for size, want in ((limit, b"HTTP/1.1 200"), (limit + 64, b"HTTP/1.1 431")):
        answer = raw(request_of(size))
        check(answer.startswith(want), f"header fields of {size} bytes (max_request_bytes {limit}): {answer[:30]!r}")
    answer = raw(b"GET /healthz?" + b"q" * limit + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 431"), f"a request line over max_request_bytes: {answer[:30]!r}")
    # max_connections 3: three connections open at once are each served.
    conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    time.sleep(0.2)
    for i, s in enumerate(conns):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(100).startswith(b"HTTP/1.1 200"), f"connection {i + 1} of 3 (max_connections) is served")
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = extra.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        got = b""
    check(got == b"", "a fourth connection is closed without an answer")
    extra.close()
    for s in conns:
        s.close()
    time.sleep(0.2)
    # idle_timeout_ms 1000: a request after 0.6 s of silence is served; silence past it is closed.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    time.sleep(0.6)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(s.recv(100).startswith(b"HTTP/1.1 200"), "a request after 0.6 s of silence (idle_timeout_ms 1000) is served")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.time()
    check(s.recv(100) == b"" and 0.9 <= time.time() - t0 <= 2.5,
          f"a silent connection is closed after {time.time() - t0:.2f} s")
    s.close()
    check(raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200"),
          "the listener serves on")
    proc.terminate()
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")


def config_size():
    from upload_harness import Pki, Registry, new_token, registry_binary, SITE
    limit = 4 * MIB
    site = Site(agent, points=1)
    base = site.config.read_bytes()
    for size, ok in ((limit, True), (limit + 1, False)):
        cfg = site.dir / "padded.toml"
        cfg.write_bytes(base + comment(size - len(base)))
        p = site.run("check-config", "--config", str(cfg), check_rc=False)
        said = f"{cfg}: larger than 4194304 bytes" in p.stderr
        check((p.returncode == 0) if ok else (p.returncode == 1 and said),
              f"mrv-agent check-config on a config of {size} bytes: exit {p.returncode} {p.stderr.strip()[:160]}")
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token}})
    reg.stop()
    base = reg.config.read_bytes()
    for size, ok in ((limit, True), (limit + 1, False)):
        cfg = reg.dir / "padded.toml"
        cfg.write_bytes(base + comment(size - len(base)))
        p = subprocess.run([registry_binary(agent), "--config", str(cfg), "--check-config"], capture_output=True,
                           text=True, timeout=60)
        out = p.stdout + p.stderr
        check((p.returncode == 0) if ok else (p.returncode == 2 and "larger than 4194304 bytes" in out),
              f"mrv-registry --check-config on a config of {size} bytes: exit {p.returncode} {out.strip()[:160]}")


def mqtt_payload():
    from mqtt_harness import Broker, MqttSite, publish_all, wait_connected
    limit = 1024
    broker = Broker(work.name)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}",
                    extra_sub=f'timestamp = "/ts"\nunit = "/unit"\nmax_payload_bytes = {limit}')
    proc = site.start()
    wait_connected(site.journal)
    pub = broker.publisher()

    def message(i, size):
        head = json.dumps({"value": f"{1000 + i}.5", "ts": 1767225600000 + i * 1000, "unit": "kWh", "pad": ""})
        text = head[:-2] + "x" * (size - len(head)) + '"}'
        assert len(text) == size
        return ("site/m1/energy", text.encode())

    publish_all(pub, [message(1, limit), message(2, limit + 1), message(3, 100)])
    check(site.wait_stored(2, 30), "the messages of max_payload_bytes and of 100 bytes are stored")
    time.sleep(2.5)  # the state file is rewritten every 2 s
    values = sorted(v for _, v, _, _ in site.readings())
    check(values == ["1001.5", "1003.5"], f"stored: {values}")
    bad = site.state()["mqtt"][0]["bad_inputs"]
    oversized = sum(v for k, v in bad.items() if k.endswith("/oversized"))
    check(oversized == 1 and sum(bad.values()) == 1, f"one message of max_payload_bytes + 1 is counted oversized: {bad}")
    out = site.dir / "quarantine.ndjson"
    site.run("export", "--config", str(site.config), "--from", "0", "--to", "99999999999999",
             "--out", str(out), "--quarantine")
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    check(len(rows) == 1 and rows[0]["reason"] == "oversized" and f"{limit + 1} bytes, limit {limit}" in rows[0].get("detail", json.dumps(rows[0])),
          f"... and quarantined with its size: {json.dumps(rows)[:300]}")
    proc.terminate()
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")


def manifest_sig():
    from bundle_tools import expect_both, read_members, write_bundle
    site = Site(agent, interval_ms=20, points=2)
    site.run("run", "--config", str(site.config), "--duration", "1.0")
    members = read_members(site.bundle())
    sig = members["manifest.sig"].rstrip(b"\n")
    for size, code in ((4096, 0), (4097, 1)):
        m = dict(members)
        m["manifest.sig"] = sig + b" " * (size - len(sig))  # JSON allows trailing whitespace
        out = write_bundle(m, site.dir / f"sig{size}.tar.gz", fix=False)
        if code == 0:
            expect_both(site, out, 0, "a manifest.sig of exactly 4,096 bytes")
        else:
            expect_both(site, out, 1, "a manifest.sig of 4,097 bytes", word="manifest", text="larger than 4096 bytes")


def record_line():
    from bundle_tools import expect_both, nested_json, read_members, write_bundle
    site = Site(agent, interval_ms=20, points=2)
    site.run("run", "--config", str(site.config), "--duration", "1.0")
    members = read_members(site.bundle())
    lines = members["records.ndjson"].decode().splitlines(keepends=True)
    line = lines[1].rstrip("\n")

    def with_line(text, name):
        m = dict(members)
        m["records.ndjson"] = "".join(lines[:1] + [text + "\n"] + lines[2:]).encode()
        return write_bundle(m, site.dir / name, key_file=site.key)

    # Nesting: the line object and 7 arrays inside it (8 levels) verify; 9 are refused.
    for depth, code in ((8, 0), (9, 1)):
        out = with_line(line[:-1] + ',"x":' + nested_json(depth - 1) + "}", f"nest{depth}.tar.gz")
        if code == 0:
            expect_both(site, out, 0, "a record line with an extension member, 8 levels in all")
        else:
            expect_both(site, out, 1, "a record line nesting 9 levels", word="chain", text="not a record line")
    # Values: 1 + the commas + the non-empty arrays and objects, strings skipped.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "0", line).replace(" ", "")
    base = 1 + bare.count(",") + bare.count("[") + bare.count("{") - bare.count("[]") - bare.count("{}")
    for values, code in ((1024, 0), (1025, 1)):
        out = with_line(line[:-1] + ',"x":[' + ",".join(["0"] * (values - base - 1)) + "]}", f"v{values}.tar.gz")
        if code == 0:
            expect_both(site, out, 0, "a record line of 1,024 JSON values")
        else:
            expect_both(site, out, 1, "a record line of 1,025 JSON values", word="chain", text="not a record line")


def uploader_response():
    import fault_proxy
    from upload_harness import SITE, Pki, UploadSite, new_token
    limit = MIB
    served_sizes = []

    def do_post(self):  # answers to record posts: first 1 MiB + 1 bytes, then exactly 1 MiB
        fake = self.server.fake
        body = self._body()
        fake.requests.append(("POST", self.path, self.headers, body))
        if not self.path.endswith("/records"):
            self._json(503, {"error": "busy", "check": "storage", "message": "fake: busy"})
            return
        lines = fault_proxy._lines(body, self.headers)
        receipt = json.dumps({"site": SITE, "first_seq": lines[0]["seq"], "last_seq": lines[-1]["seq"],
                              "records": len(lines), "last_hash": lines[-1]["hash"]}).encode()
        size = limit + 1 if not served_sizes else limit
        served_sizes.append(size)
        data = receipt + b" " * (size - len(receipt))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    fault_proxy._Handler.do_POST = do_post
    pki = Pki(W / "pki")
    token, _ = new_token()
    fake = fault_proxy.FakeRegistry(pki.server, pki.server_key)
    site = UploadSite(agent, pki, fake.url, token=token, points=2, interval_ms=100, upload_extra=FAST)
    p = site.start()
    deadline = time.time() + 30
    while time.time() < deadline and (len(served_sizes) < 2 or site.cursor() == 0):
        time.sleep(0.2)
    check(len(served_sizes) >= 2 and served_sizes[0] == limit + 1,
          f"the fake registry answered {limit + 1} bytes, then {limit} ({served_sizes[:3]})")
    posts = fake.record_posts()
    firsts = [lines[0]["seq"] for _, lines in posts[:2] if lines]
    check(len(firsts) == 2 and firsts[0] == firsts[1] == 1,
          f"the answer over 1 MiB moved no cursor: the batch was sent again from seq 1 ({firsts})")
    check(site.cursor() > 0, f"the receipt of exactly 1 MiB is read and moves the cursor (to {site.cursor()})")
    site.stop(p)
    fake.close()


MODES = {"registry-sizes": registry_sizes, "registry-connections": registry_connections,
         "registry-body-total": registry_body_total, "agent-http": agent_http, "config-size": config_size,
         "mqtt-payload": mqtt_payload, "manifest-sig": manifest_sig, "record-line": record_line, "uploader-response": uploader_response}
if mode not in MODES:
    fail(f"unknown mode {mode}")
MODES[mode]()
print("passed")
