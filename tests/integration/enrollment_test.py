#!/usr/bin/python3
"""Enrollment at run time (docs/registry-api.md §8), end to end on the real mrv-registry with
the real `mrv-registry enroll` client and agent-made records: an admin enrolls a site and a
reader, suspends and resumes them, rotates and revokes a key from a seq on, removes the
site, all without a restart; the audit log's hash chain is checked here with hashlib, a
restart replays it, and what must be refused is: a site or reader acting as admin, an admin
reading or writing site data, records and checkpoints signed by a revoked key from its seq,
a suspended credential, an enrolled id reused, malformed actions, an audit file edited by
hand (the registry will not start).
On PostgreSQL ([database] in registry.toml), the server is started here and killed (-9) and
restarted between two admin actions: the registry reconnects, and no action is lost.
Usage: enrollment_test.py AGENT [sqlite|postgres] (the registry is <build>/registry/mrv-registry)"""
import base64
import hashlib
import json
import pathlib
import signal
import sqlite3
import subprocess
import sys
import tempfile


from harness import check, fail
from upload_harness import (Pki, Registry, journal_lines, new_token, plain_site, registry_binary,
                            sign_note, site_root, write_private)

agent = sys.argv[1]
engine = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
work = tempfile.TemporaryDirectory(prefix="mrv-enroll-")
W = pathlib.Path(work.name)
pki = Pki(W / "pki")
admin_token, admin_hash = new_token()
reader_token = new_token()[0]
static_token = new_token()[0]
database = ""
pg = None
if engine == "postgres":
    from postgres import Postgres
    W.chmod(0o755)
    pg = Postgres(W).start()
    database = f'[database]\nurl = "{pg.url}"\n'
COSIGNER = "registry.test/mrv"
cosign_key = W / "cosign.key"
subprocess.run([agent, "keygen", "--out", str(cosign_key)], check=True, capture_output=True)
reg = Registry(agent, W / "registry", pki, {"static-site": {"token": static_token}},
               extra=f'[[admins]]\nname = "ops"\ntoken_sha256 = "{admin_hash}"\n' + database +
               f'[cosign]\nkey_file = "{cosign_key}"\nname = "{COSIGNER}"\n')
write_private(W / "admin-token", (admin_token + "\n").encode())
BINARY = registry_binary(agent)


def enroll(*args, expect=0):
    p = subprocess.run([BINARY, "enroll", "--url", reg.url, "--ca-file", str(pki.ca), "--token-file",
                        str(W / "admin-token"), *args], capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        fail(f"mrv-registry enroll {' '.join(args)} exited {p.returncode}, not {expect}: {p.stderr}{p.stdout}")
    return p


def action(body, token=admin_token):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return reg.request("POST", "/v1/admin/actions", data, {"Content-Type": "application/json"}, token=token)


def refused(resp, status, what):
    st, data, js = resp
    check(st == status and isinstance(js, dict) and "error" in js, f"{what}: refused {status} (got {st} {data[:200]!r})")


def post(site_id, token, lines):
    return reg.request("POST", f"/v1/sites/{site_id}/records", "".join(l + "\n" for l in lines).encode(),
                       {"Content-Type": "application/x-ndjson"}, token=token)


def put_key(site_id, token, pem_path):
    return reg.request("PUT", f"/v1/sites/{site_id}/keys", pathlib.Path(pem_path).read_bytes(),
                       {"Content-Type": "application/x-pem-file"}, token=token)


def key_id(pem_path):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(pem_path), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def audit_entries(token=admin_token):
    st, data, _ = reg.request("GET", "/v1/audit", token=token)
    check(st == 200, f"GET /v1/audit answers 200 ({st})")
    return data.decode().splitlines()


# --- a site enrolled at run time, with its key pinned; its token made by the client
site = plain_site(agent, "pv-7", points=2, interval_ms=50)
site.run("run", "--config", str(site.config), "--duration", "0.6")
out = enroll("add-site", "pv-7", "--token-out", str(W / "pv-7.token"), "--key", str(site.public_pem))
entry = json.loads(out.stdout)
check(entry["seq"] == 1 and entry["actor"] == "ops" and entry["action"]["action"] == "add_site",
      f"add-site is audit entry 1 by 'ops': {out.stdout.strip()[:160]}")
token = (W / "pv-7.token").read_text().strip()
check(len(token) == 64 and (W / "pv-7.token").stat().st_mode & 0o077 == 0, "the client wrote a 256-bit token only its owner reads")
check(token not in out.stdout and hashlib.sha256(token.encode()).hexdigest() == entry["action"]["token_sha256"],
      "only the token's hash went to the registry")
check(put_key("pv-7", token, site.public_pem)[0] == 200, "the enrolled site registers its pinned key, no restart")
other = plain_site(agent, "pv-7", points=1, interval_ms=50)
refused(put_key("pv-7", token, other.public_pem), 403, "a key not pinned")
lines = journal_lines(site, 1, 10)
st, data, js = post("pv-7", token, lines[:6])
check(st == 200 and js["last_seq"] == 6, f"it uploads records 1..6 ({st} {data[:120]!r})")

# --- a reader enrolled at run time reads it; sites and readers are not admins
enroll("add-reader", "tpe-1", "--token-sha256", hashlib.sha256(reader_token.encode()).hexdigest())
check(reg.request("GET", "/v1/sites/pv-7", token=reader_token)[0] == 200, "the enrolled reader reads the site")
for who, t in (("site", token), ("reader", reader_token), ("static site", static_token)):
    refused(action({"action": "suspend", "site": "pv-7"}, token=t), 403, f"an admin action with a {who}'s credential")
    refused(reg.request("GET", "/v1/admin/roster", token=t), 403, f"the roster with a {who}'s credential")
refused(reg.request("GET", "/v1/audit", token=token), 403, "a site reads the audit log")
refused(reg.request("GET", "/v1/sites/pv-7", token=admin_token), 403, "an admin reads a site's data")
refused(post("pv-7", admin_token, lines[6:]), 403, "an admin writes a site's records")
refused(action({"action": "suspend", "site": "pv-7"}, token="not-a-token"), 401, "an unknown credential")

# --- suspend and resume
enroll("suspend", "--site", "pv-7")
refused(post("pv-7", token, lines[6:8]), 403, "a suspended site's upload")
check(reg.request("GET", "/v1/sites/pv-7", token=reader_token)[0] == 200, "readers still read a suspended site")
enroll("suspend", "--site", "pv-7", expect=1)
enroll("resume", "--site", "pv-7")
check(post("pv-7", token, lines[6:8])[2]["last_seq"] == 8, "resumed, it uploads 7..8")
enroll("suspend", "--reader", "tpe-1")
refused(reg.request("GET", "/v1/sites/pv-7", token=reader_token), 403, "a suspended reader")
if pg:
    pg.restart(signal.SIGKILL)  # the database lost mid-stream: the next action reconnects
enroll("resume", "--reader", "tpe-1")

# --- revoke the key from seq 10: 9 is accepted, 10 is not, nor a checkpoint of size 10
kid = key_id(site.public_pem)
enroll("revoke-key", "--site", "pv-7", kid, "--from-seq", "10", "--reason", "laptop stolen")
st, data, js = post("pv-7", token, lines[8:10])
check(st == 422 and js["error"] == "key_revoked" and js["seq"] == 10, f"record 10 by the revoked key: 422 key_revoked ({data[:160]!r})")
check(reg.site_info("pv-7", reader_token)["held_through"] == 8, "nothing of that batch is stored")
check(post("pv-7", token, lines[8:9])[2]["last_seq"] == 9, "record 9, before the revocation's seq, is accepted")
note9 = sign_note(site, 9, site_root(site, 9))
check(reg.request("POST", "/v1/sites/pv-7/checkpoints", note9.encode(), {"Content-Type": "text/plain"}, token=token)[0] == 200,
      "a checkpoint of tree size 9 by the key is accepted")
refused(reg.request("POST", "/v1/sites/pv-7/checkpoints", sign_note(site, 10, site_root(site, 10)).encode(),
                    {"Content-Type": "text/plain"}, token=token), 422, "a checkpoint of tree size 10 by the revoked key")
keys = json.loads(reg.request("GET", "/v1/sites/pv-7/keys", token=reader_token)[1])
check(keys[0]["key_id"] == kid and keys[0]["revoked_from_seq"] == 10, "GET keys shows the revocation's seq")
st, page, _ = reg.request("GET", "/v1/sites/pv-7/page", token=reader_token)
check(st == 200 and b"from seq 10" in page, "the verifiers' page shows the key revoked from seq 10")
enroll("revoke-key", "--site", "pv-7", kid, "--from-seq", "12", expect=1)

# --- rotate on the static site: the agent goes on with a new key
static = plain_site(agent, "static-site", points=2, interval_ms=50)
static.run("run", "--config", str(static.config), "--duration", "0.4")
check(put_key("static-site", static_token, static.public_pem)[0] == 200 and
      post("static-site", static_token, journal_lines(static, 1, 4))[0] == 200, "the static site uploads 1..4")
held = reg.site_info("static-site", static_token)["held_through"]
new_key = static.dir / "agent2.key"
new_pub = static.dir / "agent2.pub"
static.run("keygen", "--out", str(new_key))
subprocess.run(["openssl", "pkey", "-in", str(new_key), "-pubout", "-out", str(new_pub)], check=True)
refused(put_key("static-site", static_token, new_pub), 403, "a new key before it is pinned (the site holds records)")
with sqlite3.connect(f"file:{static.journal}?mode=ro", uri=True) as db:
    last = db.execute("SELECT max(seq) FROM records").fetchone()[0]
enroll("rotate-key", "--site", "static-site", key_id(static.public_pem), str(new_pub), "--from-seq", str(last + 1))
static.config.write_text(static.config.read_text().replace('key_file = "agent.key"', 'key_file = "agent2.key"'))
static.run("run", "--config", str(static.config), "--duration", "0.4")
check(put_key("static-site", static_token, new_pub)[0] == 200, "the rotated-in key registers")
with sqlite3.connect(f"file:{static.journal}?mode=ro", uri=True) as db:
    now = db.execute("SELECT max(seq) FROM records").fetchone()[0]
st, data, js = post("static-site", static_token, journal_lines(static, held + 1, now))
check(st == 200 and now > last + 2 and js["last_seq"] == now,
      f"records by the old key through {last}, then by the new one, are accepted ({st} {data[:160]!r})")

# --- malformed and conflicting actions; nothing of them is kept
before = len(audit_entries())
for body, status, what in (
        (b"[]", 400, "not an object"), (b"{", 400, "not JSON"), (b"[" * 5000, 400, "nested 5,000 deep"),
        ({"action": "explode", "site": "x"}, 400, "an unknown verb"),
        ({"action": "add_site", "site": "x", "token_sha256": "ab"}, 400, "a short hash"),
        ({"action": "add_site", "site": "x y", "token_sha256": "ab" * 32}, 400, "a bad id"),
        ({"action": "add_site", "site": "x", "token_sha256": "ab" * 32, "admin": True}, 400, "an unknown member"),
        ({"action": "add_site", "site": "x"}, 400, "no credential"),
        ({"action": "suspend", "site": "x", "reader": "y"}, 400, "two subjects"),
        ({"action": "revoke_key", "site": "pv-7", "key_id": kid, "from_seq": 0}, 400, "from_seq 0"),
        ({"action": "pin_key", "site": "pv-7", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n"}, 400, "a bad PEM"),
        ({"action": "add_site", "site": "pv-7", "token_sha256": "ab" * 32}, 409, "an id enrolled already"),
        ({"action": "add_site", "site": "x", "token_sha256": hashlib.sha256(token.encode()).hexdigest()}, 409,
         "another site's credential"),
        ({"action": "add_reader", "reader": "r", "token_sha256": admin_hash}, 409, "the admin's credential"),
        ({"action": "remove", "site": "static-site"}, 409, "removing a site of registry.toml"),
        ({"action": "suspend", "site": "nope"}, 404, "an unknown site")):
    refused(action(body), status, what)
refused(reg.request("POST", "/v1/admin/actions", b"{}" + b" " * 70000, {"Content-Type": "application/json"},
                    token=admin_token), 413, "a body over 64 KiB")
check(len(audit_entries()) == before, "no refused action reached the audit log")

# --- remove: the credential is void, the records stay readable, the id is not reused
enroll("remove", "--site", "pv-7")
refused(post("pv-7", token, lines[9:10]), 401, "a removed site's token")
check(reg.site_info("pv-7", reader_token)["held_through"] == 9, "a removed site's records stay readable")
refused(action({"action": "add_site", "site": "pv-7", "token_sha256": "cd" * 32}), 409, "re-enrolling a removed id")
roster = json.loads(enroll("roster").stdout)
states = {s["site"]: s["state"] for s in roster["sites"]}
check(states == {"pv-7": "removed", "static-site": "active"}, f"the roster: {states}")

# --- the audit log: readers fetch it; each line links to the one before by SHA-256
entries = audit_entries(reader_token)
prev = "0" * 64
for i, line in enumerate(entries, 1):
    e = json.loads(line)
    check(e["seq"] == i and e["prev"] == prev and json.dumps(e, sort_keys=True, separators=(",", ":")) == line,
          f"audit entry {i} ({e['action']['action']}) links to the one before and is canonical")
    prev = hashlib.sha256(line.encode()).hexdigest()
verbs = [json.loads(l)["action"]["action"] for l in entries]
check(verbs == ["add_site", "add_reader", "suspend", "resume", "suspend", "resume", "revoke_key", "rotate_key", "remove"],
      f"every action done, in order: {verbs}")
check(json.loads(entries[6])["action"]["reason"] == "laptop stolen", "the revocation's reason is kept")


def by_hand(head, log):
    """docs/registry-api.md §8.2 by hand with the OpenSSL command line: the head names the
    log's last entry, its key ID is the registry's, its signature holds."""
    d = W / "by-hand"
    d.mkdir(exist_ok=True)
    (d / "head.txt").write_bytes(head)
    (d / "audit.ndjson").write_text(log)
    pub = subprocess.run(["openssl", "pkey", "-in", str(cosign_key), "-pubout"], check=True, capture_output=True).stdout
    (d / "cosigner.pub").write_bytes(pub)
    script = f"""set -e
cd {d}
sed '/^$/q' head.txt | head -n -1 > note.txt
tail -n 1 head.txt > line.txt
test "$(sed -n 2p note.txt)" = "$(wc -l < audit.ndjson)"
test "$(sed -n 3p note.txt)" = "$(tail -n 1 audit.ndjson | tr -d '\\n' | openssl dgst -sha256 -binary | base64)"
test "$({{ printf '%s\\n\\x04' "$(cut -d' ' -f2 line.txt)"; openssl pkey -pubin -in cosigner.pub -outform DER | tail -c 32; }} |
  sha256sum | head -c 8)" = "$(cut -d' ' -f3 line.txt | base64 -d | head -c 4 | xxd -p)"
cut -d' ' -f3 line.txt | base64 -d > blob.bin
T=$((16#$(tail -c +5 blob.bin | head -c 8 | xxd -p)))
printf 'cosignature/v1\\ntime %d\\n' "$T" > message.txt
cat note.txt >> message.txt
tail -c 64 blob.bin > sig.bin
openssl pkeyutl -verify -pubin -inkey cosigner.pub -rawin -in message.txt -sigfile sig.bin
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    return r.returncode == 0 and "Signature Verified Successfully" in r.stdout, (r.stdout + r.stderr)[-300:]


# --- the log's head, cosigned: a reader can show what the registry said its log was
st, head, _ = reg.request("GET", "/v1/audit/head", token=reader_token)
last_hash = base64.b64encode(hashlib.sha256(entries[-1].encode()).digest()).decode()
check(st == 200 and head.decode().startswith(f"{COSIGNER}/audit\n{len(entries)}\n{last_hash}\n\n\u2014 {COSIGNER} "),
      f"GET /v1/audit/head names entry {len(entries)} and its line's SHA-256: {head[:200]!r}")
log_text = "".join(l + "\n" for l in entries)
ok, out = by_hand(head, log_text)
check(ok, f"by hand with openssl: it names the log's last entry and its cosignature verifies ({out})")
older_hash = base64.b64encode(hashlib.sha256(entries[-2].encode()).digest()).decode()
older = head.replace(f"\n{len(entries)}\n{last_hash}\n".encode(), f"\n{len(entries) - 1}\n{older_hash}\n".encode(), 1)
for what, h, t in (("the note moved to the entry before (seq and hash)", older, "".join(l + "\n" for l in entries[:-1])),
                   ("a log with its last entry changed", head, log_text.replace('"action":"remove"', '"action":"suspend"')),
                   ("a signature bit flipped", head[:-3] + bytes([head[-3] ^ 1]) + head[-2:], log_text)):
    check(not by_hand(h, t)[0], f"by hand: the head refused with {what}")
refused(reg.request("GET", "/v1/audit/head", token=static_token), 403, "a site reads the audit log's head")

# --- a restart replays the log: the same roster, the revocation still in force
reg.stop()
reg.start()
check(json.loads(enroll("roster").stdout) == roster, "after a restart the roster is the same")
refused(post("pv-7", token, lines[9:10]), 401, "after a restart the removed site's token is still void")
check(reg.request("GET", "/v1/sites/pv-7", token=reader_token)[0] == 200, "the enrolled reader still reads")

# --- the log is append-only in its database, and a hand-edited one stops the registry
reg.stop()
audit_db = reg.dir / "regdata" / "audit.db"
edit = "UPDATE audit SET line = replace(line, 'laptop stolen', 'routine') WHERE seq = 7"
if pg:
    check(not audit_db.exists(), "on PostgreSQL there is no audit.db")
    try:
        pg.psql("DELETE FROM audit WHERE seq = 3")
        fail("DELETE on the audit table went through")
    except RuntimeError as e:
        check("append-only" in str(e), f"DELETE is refused by the table's trigger ({str(e).strip()})")
    pg.psql("ALTER TABLE audit DISABLE TRIGGER audit_no_change; " + edit)
else:
    with sqlite3.connect(audit_db) as db:
        try:
            db.execute("DELETE FROM audit WHERE seq = 3")
            fail("DELETE on the audit table went through")
        except sqlite3.DatabaseError as e:
            check("append-only" in str(e), f"DELETE is refused by the table's trigger ({e})")
        db.execute("DROP TRIGGER audit_no_update")
        db.execute(edit)
p = subprocess.run([BINARY, "--config", str(reg.config)], capture_output=True, text=True, timeout=30)
check(p.returncode == 1 and "audit seq 8" in p.stderr,
      f"an edited entry 7 stops the registry, naming seq 8 whose link it broke: {p.stderr.strip()[-200:]}")
if pg:
    pg.stop()
print(f"enrollment ({engine}): all checks passed")
