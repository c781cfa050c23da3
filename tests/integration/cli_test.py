#!/usr/bin/python3
"""CLI behaviour of the real binary: check-config on shipped and broken configs, keygen,
the key-file mode check, --help and usage exit codes. Usage: cli_test.py AGENT REPO MODE"""
import hashlib
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

from harness import Site, check, fail

agent, repo, mode = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]


def run(*args):
    return subprocess.run([agent, *args], capture_output=True, text=True, timeout=60)


if mode == "configs":
    configs = sorted((repo / "configs").glob("*.toml"))
    check(len(configs) > 0, "configs/ ships example configs")
    registry = pathlib.Path(agent).parent.parent / "registry" / "mrv-registry"
    for c in configs:
        if c.name.startswith("registry"):  # mrv-registry's own config, with the files it names made
            # as scripts/demo.sh makes them: check-config reads them as start does
            d = pathlib.Path(tempfile.mkdtemp(prefix="mrv-cli-"))
            shutil.copy(c, d / c.name)
            keys = d / "keys"
            keys.mkdir()
            run("keygen", "--out", str(keys / "demo-registry.key"))
            subprocess.run([repo / "scripts" / "make-test-certs.sh", str(keys)], check=True, capture_output=True)
            (keys / "server.pem").rename(keys / "demo-server.pem")
            (keys / "server.key").rename(keys / "demo-server.key")
            fd = os.open(keys / "demo-token", os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"a throwaway token\n")
            os.close(fd)
            p = subprocess.run([registry, "--config", str(d / c.name), "--check-config"], capture_output=True,
                               text=True, timeout=60)
            shutil.rmtree(d)
        else:
            p = run("check-config", "--config", str(c))
        check(p.returncode == 0, f"{c.name} is valid: {p.stdout.strip()} {p.stderr.strip()}")
        if "[monitoring]" in c.read_text():  # the period rules an example shows (issue 16)
            lines = p.stdout.splitlines()
            periods = [l for l in lines if l.startswith("period ")]
            check(any(l.startswith("crediting period: ") for l in lines), f"{c.name} states its crediting period")
            check(periods and "the first" in periods[0] and all("back to back after" in l for l in periods[1:]),
                  f"{c.name}: periods back to back, in local dates: {periods}")

elif mode == "config-errors":
    site = Site(agent)
    bad = site.dir / "bad.toml"
    bad.write_text(site.config.read_text().replace('unit = "kWh"', 'unit = 3', 1)
                   + '[journal2]\nx = 1\n')
    p = run("check-config", "--config", str(bad))
    check(p.returncode == 1, f"an invalid config exits 1 (got {p.returncode})")
    lines = p.stderr.strip().splitlines()
    unit_line = bad.read_text().splitlines().index("unit = 3") + 1
    check(any(l.startswith(f"{bad}:{unit_line}: points[0].unit: must be a string") for l in lines),
          f"the wrong type is named with file:line and key path: {lines}")
    check(any(l.startswith(f"{bad}:") and "journal2: unknown key" in l for l in lines),
          "the unknown table is named with file:line")
    check(lines[-1] == f"2 error(s) in {bad}", "every error is counted")
    p = run("check-config", "--config", str(site.dir / "missing.toml"))
    check(p.returncode == 1 and "cannot read config file" in p.stderr, "a missing file is an error")

elif mode == "keygen":
    site = Site(agent)
    for alg in ("ed25519", "ecdsa-p256"):
        key = site.dir / f"{alg}.key"
        p = run("keygen", "--out", str(key), "--algorithm", alg)
        check(p.returncode == 0, f"keygen {alg} succeeds")
        check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, f"{alg} key file is mode 0600")
        pem = p.stdout.split("key id:")[0]
        key_id = p.stdout.split("key id:")[1].split()[0]
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem.encode(),
                             capture_output=True, check=True).stdout
        check(hashlib.sha256(der).hexdigest() == key_id,
              f"{alg} key id is SHA-256 of the SPKI DER as openssl computes it")
        before = key.read_bytes()
        p = run("keygen", "--out", str(key), "--algorithm", alg)
        check(p.returncode == 1 and "refusing to overwrite" in p.stderr, "keygen refuses to overwrite")
        check(key.read_bytes() == before, "the existing key is untouched")

elif mode == "key-mode":
    site = Site(agent)
    os.chmod(site.key, 0o644)
    p = run("run", "--config", str(site.config), "--duration", "1")
    check(p.returncode == 1, f"run refuses a 0644 key (exit {p.returncode})")
    check("readable by group or others" in p.stderr and str(site.key) in p.stderr,
          "the error names the key file and the reason")
    check("PRIVATE KEY" not in p.stderr, "no key material is logged")

elif mode == "help":
    for sub in ("", "run", "check-config", "keygen", "status", "export", "verify"):
        p = run(*([sub] if sub else []), "--help")
        check(p.returncode == 0 and "Usage" in p.stdout, f"'{sub} --help' prints usage and exits 0")
    p = run("export", "--config")
    check(p.returncode == 2, f"a usage error exits 2 (got {p.returncode})")
    p = run("frobnicate")
    check(p.returncode == 2, "an unknown subcommand exits 2")
elif mode == "sigterm":
    import signal, time
    site = Site(agent, interval_ms=20, points=5)
    proc = site.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    check(proc.returncode == 0, f"SIGTERM stops the agent with exit 0 (got {proc.returncode})")
    check("signal 15: stopping" in err, "the stop is logged")
    stored = int(err.split("stopped: ")[1].split()[0])
    check(stored > 50 and stored == len(site.records()),
          f"every accepted reading was committed before exit ({stored})")
else:
    fail("unknown mode " + mode)
print("1 passed, 0 failed")
