#!/usr/bin/python3
"""Hostile bundles and configs (issue 14): each attack is refused by `mrv-agent verify` and by
docs/verify_bundle.py alike, with an error naming the entry and line, never a crash; each
limit of docs/verification.md §6 holds at its value and refuses one past it; and a genuine
bundle still verifies. Usage: hostile_input_test.py AGENT MODE"""
import gzip
import hashlib
import json
import os
import pathlib
import subprocess
import sys

from bundle_tools import (expect_both, fix_manifest, nested_json, read_members, tar_bytes, tar_entry,
                          ustar_header, verify_both, write_bundle)
from harness import Site, check, fail, sanitized

agent, mode = sys.argv[1], sys.argv[2]
MAX_LINE = 1 << 20
MAX_WHOLE = 64 << 20
MAX_WHOLE_TOTAL = 128 << 20
MAX_TOML = 4 << 20
MAX_VALUES = 1 << 20


def genuine_site(**kw):
    site = Site(agent, interval_ms=20, points=2, **kw)
    site.run("run", "--config", str(site.config), "--duration", "1.0")
    return site, site.bundle()


SANITIZED = sanitized(agent)


def peak_rss_kib(args):
    """Runs args; (exit code, its peak resident memory in KiB) from wait4."""
    pid = os.posix_spawn(args[0], args, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss


def with_config(members, text):
    """The members with one more config (after keys.json), named by its SHA-256."""
    items = list(members.items())
    return dict(items[:3] + [("configs/%s.toml" % hashlib.sha256(text).hexdigest(), text)] + items[3:])


def whole_bytes(members):  # what the verifiers read whole (docs/verification.md §6)
    return sum(len(v) for k, v in members.items() if k.startswith("configs/") or
               k in ("manifest.json", "manifest.sig", "keys.json", "checkpoints.json", "report.json"))


def comment_config(length, mark=b"x"):
    """A TOML file of `length` bytes that is one comment."""
    return b"#" + mark * (length - 2) + b"\n"


def with_filler(site, members, total):
    """The members and configs of comment text (4 MiB each, the last one shorter) that
    bring what is read whole to `total` bytes, the manifest listing them and signed again."""
    length = 2
    for _ in range(5):
        trial = dict(members)
        full, rest = divmod(length, MAX_TOML)
        for i in range(full):
            trial = with_config(trial, comment_config(MAX_TOML, b"%x" % i))
        trial = fix_manifest(with_config(trial, comment_config(max(rest, 2), b"y")), site.key)
        if whole_bytes(trial) == total:
            return trial
        length += total - whole_bytes(trial)
    fail("the filler configs' length does not settle")


def no_crash(site, bundle, what, word, text):
    """Both exit 1 (a crash would be a negative code), naming the kind and the place."""
    expect_both(site, bundle, 1, what, word=word, text=text)


if mode == "deep-json":
    # JSON from the bundle nesting 200,000 levels overflowed the agent's stack (nlohmann's
    # copies and dump recurse). Every entry read as JSON is bounded at 64 levels.
    site, bundle = genuine_site()
    members = read_members(bundle)
    d = site.dir
    deep = nested_json(200_000)
    cps = members["checkpoints.json"].decode().rstrip("\n")
    note = json.loads(cps)["checkpoints"][-1]["note"]
    attacks = {
        "since.consistency": ("checkpoints.json", (cps[:-1] + ',"since":{"note":%s,"consistency":%s}}'
                                                   % (json.dumps(note), deep)).encode(), "checkpoints"),
        "right": ("checkpoints.json", cps.replace('"right":[]', '"right":' + deep, 1).encode(), "checkpoints"),
        "a gaps.ndjson line": ("gaps.ndjson", (nested_json(170_000, kind="object") + "\n").encode(), "gaps"),
        "keys.json": ("keys.json", deep.encode(), "keys"),
        "a records.ndjson line": ("records.ndjson", members["records.ndjson"] + (deep + "\n").encode(), "chain"),
    }
    for what, (name, data, kind) in attacks.items():
        m = dict(members)
        m[name] = data
        no_crash(site, write_bundle(m, d / "deep.tar.gz"), f"{what} nesting 200,000 levels", kind,
                 "nested deeper than 64 levels")
    # report.json: 120,000 arrays (240 KB) inside a report (parse_signed_report, which the
    # registry also runs on uploaded reports).
    m = dict(members)
    report = {"format": "mrv-report/1", "signature": {"algorithm": "ed25519", "key_id": "k", "value": "v"}}
    items = list(m.items())
    m = dict(items[:5] + [("report.json", (json.dumps(report)[:-1] + ',"x":' + nested_json(120_000) + "}").encode())]
             + items[5:])
    no_crash(site, write_bundle(m, d / "deep.tar.gz"), "a report.json nesting 120,000 arrays", "report",
             "nested deeper than 64 levels")
    # The record inside a line (its own JSON string).
    m = dict(members)
    m["records.ndjson"] += (json.dumps({"seq": 99999, "record": deep, "hash": "0" * 64, "signature": ""}) +
                            "\n").encode()
    no_crash(site, write_bundle(m, d / "deep.tar.gz"), "a record nesting 200,000 levels", "chain",
             "nested deeper than 64 levels")
    # At the limit: keys.json nesting 64 levels (an extra member both ignore) verifies;
    # 65 is refused. The manifest is signed again with the site's key.
    for depth, code in ((64, 0), (65, 1)):
        keys = json.loads(members["keys.json"])
        keys[0]["extra"] = json.loads(nested_json(depth - 2))  # the array and the key object: 2 levels
        m = dict(members)
        m["keys.json"] = json.dumps(keys).encode()
        out = write_bundle(m, d / f"keys{depth}.tar.gz", key_file=site.key)
        if code == 0:
            expect_both(site, out, 0, "keys.json nesting exactly 64 levels")
        else:
            expect_both(site, out, 1, "keys.json nesting 65 levels", word="keys", text="nested deeper than 64 levels")
    expect_both(site, bundle, 0, "the genuine bundle")

elif mode == "deep-toml":
    # A config with a 100,000-part table header (or 100,000 nested inline arrays)
    # overflowed toml++'s stack in check-config and in mrv-registry --check-config.
    site = Site(agent, points=1)
    registry = pathlib.Path(agent).parents[1] / "registry" / "mrv-registry"
    base = site.config.read_text()
    header = "[" + ".".join(["a"] * 100_000) + "]\nx = 1\n"
    arrays = "deep = " + "[" * 100_000 + "]" * 100_000 + "\n"
    for what, text in (("a 100,000-part table header", base + header),
                       ("100,000 nested inline arrays", base + arrays)):
        cfg = site.dir / "deep.toml"
        cfg.write_text(text)
        line = text.count("\n", 0, text.index(header if "[a." in text else arrays)) + 1
        p = site.run("check-config", "--config", str(cfg), check_rc=False)
        check(p.returncode == 1 and f"deep.toml:{line}: TOML nested deeper than 64 levels" in p.stderr,
              f"check-config refuses {what}: exit {p.returncode}, {p.stderr.strip()[:200]}")
        # mrv-registry exits 2 on every config error (registry/src/main.cpp), this one too
        p = subprocess.run([str(registry), "--config", str(cfg), "--check-config"], capture_output=True, text=True,
                           timeout=60)
        check(p.returncode == 2 and f"deep.toml:{line}: TOML nested deeper than 64 levels" in p.stderr + p.stdout,
              f"mrv-registry --check-config refuses {what}: exit {p.returncode}, {(p.stderr + p.stdout).strip()[:200]}")
    # At the limit: a header of 63 parts (its table at depth 64) gets past the guard (and
    # is then an unknown key); 64 parts are refused.
    for parts, nested in ((63, False), (64, True)):
        cfg = site.dir / f"limit{parts}.toml"
        cfg.write_text(base + "[" + ".".join(["a"] * parts) + "]\n")
        p = site.run("check-config", "--config", str(cfg), check_rc=False)
        said = "nested deeper than 64 levels" in p.stderr
        check(p.returncode == 1 and said == nested and (nested or "unknown key" in p.stderr),
              f"a header of {parts} parts: {p.stderr.strip()[:160]}")
    p = site.run("check-config", "--config", str(site.config), check_rc=False)
    check(p.returncode == 0, "the genuine config still passes check-config")
    # A config inside a bundle: both verifiers refuse it as a configs failure.
    site.run("run", "--config", str(site.config), "--duration", "0.5")
    members = with_config(read_members(site.bundle()), header.encode())
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 1,
                "a bundle config with a 100,000-part header", word="configs", text="nested deeper than 64 levels")

elif mode == "long-line":
    # A 256 KiB bundle whose records.ndjson is one 256 MiB line took 268 MB to verify; a
    # 2 MB one ended in std::bad_alloc. Lines are capped at 1 MiB, so memory stays flat.
    site, bundle = genuine_site()
    members = read_members(bundle)
    d = site.dir
    for size_mib in (256, 2048):
        out = d / f"line{size_mib}.tar.gz"
        with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            m = dict(members)
            del m["records.ndjson"]
            head = tar_bytes({k: v for k, v in m.items() if k in ("manifest.json", "manifest.sig", "keys.json")
                              or k.startswith("configs/") or k == "checkpoints.json"}, end=b"")
            gz.write(head + ustar_header("records.ndjson", size_mib << 20))
            block = b"x" * (1 << 20)
            for _ in range(size_mib):
                gz.write(block)
            gz.write(tar_entry("gaps.ndjson", m["gaps.ndjson"]) + tar_entry("quarantine.ndjson", b"") + bytes(1024))
        code, rss = peak_rss_kib([agent, "verify", str(out), "--public-key", str(site.public_pem)])
        check(code == 1 and (SANITIZED or rss < 64 << 10),
              f"a {out.stat().st_size // 1024} KiB bundle with a {size_mib} MiB line: exit {code}, peak RSS {rss // 1024} MiB")
        print(f"measured: {out.stat().st_size} bytes, {size_mib} MiB line: mrv-agent verify peak RSS {rss} KiB")
        no_crash(site, out, f"a {size_mib} MiB line", "chain", "records.ndjson line 1: longer than 1048576 bytes")
    # At the limit: a line of exactly 1 MiB is read (and is no record line); one byte more is refused.
    for length, refused in ((MAX_LINE, False), (MAX_LINE + 1, True)):
        m = dict(members)
        m["gaps.ndjson"] = b"{" + b" " * (length - 2) + b"}\n"
        (ac, ao), (pc, po) = verify_both(site, write_bundle(m, d / "l.tar.gz"))
        said = [("longer than 1048576 bytes" in o) for o in (ao, po)]
        check(ac == pc == 1 and said == [refused, refused],
              f"a gaps.ndjson line of {length} bytes: {'refused as too long' if refused else 'read'} by both")
    expect_both(site, bundle, 0, "the genuine bundle")

elif mode == "entry-limits":
    # Entries read whole: 64 MiB each, 128 MiB together; at the limit the bundle verifies.
    site, bundle = genuine_site()
    members = read_members(bundle)
    d = site.dir
    cps = members["checkpoints.json"]
    for size, code in ((MAX_WHOLE, 0), (MAX_WHOLE + 1, 1)):
        m = dict(members)
        m["checkpoints.json"] = cps + b" " * (size - len(cps))  # JSON allows trailing whitespace
        out = write_bundle(m, d / "w.tar.gz", key_file=site.key)
        if code == 0:
            expect_both(site, out, 0, "a checkpoints.json of exactly 64 MiB")
        else:
            expect_both(site, out, 1, "a checkpoints.json of 64 MiB + 1", word="manifest", text="larger than 67108864 bytes")
    for extra, code in ((0, 0), (1, 1)):
        m = dict(members)
        m["checkpoints.json"] = cps + b" " * (MAX_WHOLE - len(cps))
        out = write_bundle(with_filler(site, m, MAX_WHOLE_TOTAL + extra), d / "t.tar.gz", fix=False)
        if code == 0:
            expect_both(site, out, 0, "entries read whole of exactly 128 MiB together")
        else:
            expect_both(site, out, 1, "entries read whole of 128 MiB + 1", word="manifest",
                        text="more than 134217728 bytes together")

    # A configs/ file: 4 MiB (toml++ and tomllib hold every value).
    for size, code in ((MAX_TOML, 0), (MAX_TOML + 1, 1)):
        out = write_bundle(with_config(dict(members), comment_config(size)), d / "c.tar.gz", key_file=site.key)
        if code == 0:
            expect_both(site, out, 0, "a configs/ file of exactly 4 MiB")
        else:
            expect_both(site, out, 1, "a configs/ file of 4 MiB + 1", word="configs", text="larger than 4194304 bytes")

elif mode == "json-values":
    # 64 MiB of "0,0,0,..." in checkpoints.json (74 KB gzipped) took 1.1 GiB in mrv-agent
    # verify and 2.7 GiB in verify_bundle.py: a JSON text holds at most 1,048,576 values.
    site, bundle = genuine_site()
    members = read_members(bundle)
    d = site.dir
    bomb = dict(members)
    bomb["checkpoints.json"] = b'{"left":[' + b"0," * ((MAX_WHOLE >> 1) - 10) + b'0]}'
    out = write_bundle(bomb, d / "bomb.tar.gz")
    code, rss = peak_rss_kib([agent, "verify", str(out), "--public-key", str(site.public_pem)])
    check(code == 1 and (SANITIZED or rss < 256 << 10), f"a {out.stat().st_size // 1024} KiB bundle with 32 million values: "
                                         f"exit {code}, peak RSS {rss // 1024} MiB")
    no_crash(site, out, "a checkpoints.json of 32 million values", "checkpoints", "JSON holds more than 1048576 values")
    cps = members["checkpoints.json"].decode().rstrip()
    bare = cps.replace(" ", "")
    base = 1 + bare.count(",") + bare.count("[") + bare.count("{") - bare.count("[]") - bare.count("{}")
    for values, code in ((MAX_VALUES, 0), (MAX_VALUES + 1, 1)):
        zeros = values - base - 1  # ,"x":[0,...]: a member and its elements
        m = dict(members)
        m["checkpoints.json"] = (cps[:-1] + ',"x":[' + ",".join(["0"] * zeros) + "]}").encode()
        out = write_bundle(m, d / "v.tar.gz", key_file=site.key)
        if code == 0:
            expect_both(site, out, 0, "a checkpoints.json of exactly 1,048,576 JSON values")
        else:
            expect_both(site, out, 1, "a checkpoints.json of 1,048,577 JSON values", word="checkpoints",
                        text="JSON holds more than 1048576 values")

elif mode == "gzip-tail":
    # Bytes after the gzip member: garbage, zeros, or a second member whose tar holds an
    # edited records.ndjson, which gzip -d appends to the archive: GNU tar -i extracts the
    # edited records over the genuine ones.
    site, bundle = genuine_site()
    members = read_members(bundle)
    d = site.dir
    data = bundle.read_bytes()
    edited = dict(members)
    edited["records.ndjson"] = members["records.ndjson"].replace(b'\\"value\\":\\"', b'\\"value\\":\\"9', 1)
    second = gzip.compress(tar_bytes({"records.ndjson": edited["records.ndjson"]}), mtime=0)
    cases = {"32 bytes of garbage": bytes(range(1, 33)), "32 zero bytes": bytes(32),
             "a second gzip member with edited records": second}
    for what, tail in cases.items():
        out = d / "tail.tar.gz"
        out.write_bytes(data + tail)
        if "second" in what:
            x = d / "x"
            x.mkdir(exist_ok=True)
            subprocess.run(["tar", "-xzif", str(out), "-C", str(x)], check=True)
            check((x / "records.ndjson").read_bytes() == edited["records.ndjson"],
                  "tar -xzif (reading on past the end blocks, as for concatenated archives) extracts the "
                  "second member's edited records.ndjson over the genuine one")
        no_crash(site, out, f"a bundle followed by {what}", "manifest", "after the end of the gzip stream")
    expect_both(site, bundle, 0, "the genuine bundle")

elif mode == "tar-tricks":
    # Archives that tar programs read differently from a ustar reader: both verifiers refuse each.
    site, bundle = genuine_site()
    members = read_members(bundle)
    d = site.dir
    fix_manifest(members, site.key)
    edited = members["records.ndjson"].replace(b'\\"value\\":\\"', b'\\"value\\":\\"9', 1)
    body = b"".join(tar_entry(n, v) for n, v in members.items())
    pax = b"23 path=records.ndjson\n"  # the length counts itself
    gnu_long = b"records.ndjson\0"
    cases = {
        # tar extracts the later copy over the earlier one
        "records.ndjson twice": (body + tar_entry("records.ndjson", edited) + bytes(1024), "appears twice"),
        # GNU tar -i and other readers go on past the end blocks
        "an entry after the end-of-archive blocks": (body + bytes(1024) + tar_entry("records.ndjson", edited)
                                                     + bytes(1024), "data after the end-of-archive zero block"),
        # a pax 'path' names the next entry records.ndjson for pax readers only
        "a pax header renaming an entry": (body.replace(tar_entry("quarantine.ndjson", members["quarantine.ndjson"]),
                                                        tar_entry("PaxHeader", pax, typeflag=b"x") +
                                                        tar_entry("quarantine.ndjson", members["quarantine.ndjson"]))
                                           + bytes(1024), "no pax or GNU headers"),
        # tarfile applied pax headers silently: verify_bundle.py accepted this, the agent did not
        "a pax header repeating a name": (body.replace(tar_entry("quarantine.ndjson", members["quarantine.ndjson"]),
                                                       tar_entry("PaxHeader", b"26 path=quarantine.ndjson\n",
                                                                 typeflag=b"x") +
                                                       tar_entry("quarantine.ndjson", members["quarantine.ndjson"]))
                                          + bytes(1024), "no pax or GNU headers"),
        "a GNU long-name header": (body + tar_entry("././@LongLink", gnu_long, typeflag=b"L") +
                                   tar_entry("quarantine2", b"") + bytes(1024), "no pax or GNU headers"),
        # old GNU headers keep times where ustar has the name prefix
        "a GNU 'ustar  ' magic": (body.replace(tar_entry("gaps.ndjson", members["gaps.ndjson"]),
                                               tar_entry("gaps.ndjson", members["gaps.ndjson"], magic=b"ustar  \0"))
                                  + bytes(1024), "not a POSIX ustar header"),
        "one end-of-archive block": (body + bytes(512), "one zero block, not two"),
    }
    for what, (tar, text) in cases.items():
        out = d / "trick.tar.gz"
        out.write_bytes(gzip.compress(tar, mtime=0))
        no_crash(site, out, what, "manifest", text)
    # Out of order: gaps.ndjson before records.ndjson (each verifier streams in §4's order).
    items = list(members.items())
    names = [k for k, _ in items]
    i, j = names.index("records.ndjson"), names.index("gaps.ndjson")
    items[i], items[j] = items[j], items[i]
    out = write_bundle(dict(items), d / "order.tar.gz", key_file=site.key)
    no_crash(site, out, "gaps.ndjson before records.ndjson", "manifest", "order of")
    expect_both(site, write_bundle(members, d / "again.tar.gz", fix=False), 0, "the genuine bundle, re-packed")
else:
    fail(f"unknown mode {mode}")
print("passed")
