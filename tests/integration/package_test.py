#!/usr/bin/python3
"""Installs the built .debs as an operator would, into a fresh Debian 12 root.

usage: package_test.py BUILD_DIR            (takes BUILD_DIR/packages/*_<arch>.deb)
       package_test.py AGENT_DEB REGISTRY_DEB

Builds nothing. Checks the packages' contents and control files (files, conffiles,
Depends on every shared library the binaries need), then in a debootstrap'ed Debian 12
minbase root (with systemd, as a real install has it):
`apt-get install ./mrv-agent_*.deb ./mrv-registry_*.deb` resolving Depends from the
mirror; the system users, state folders and first-install signing key (owner, mode);
check-config on every shipped config; systemd-analyze verify and security on the units
against the installed binaries; the root booted by systemd-nspawn (systemd as PID 1, no
network) running mrv-agent.service: start, readings stored, reload, stop, journal
priorities; the demo config run as the mrv-agent user and its stored readings in
`status --json`; an upgrade to a bumped version with an edited conffile; a purge and
reinstall that keep the key and the journal.

The root is made once and cached as a tarball ($MRV_PACKAGE_CACHE, else
$XDG_CACHE_HOME/mrv-agent, else ~/.cache/mrv-agent), with the downloaded .debs beside it.
Mirror: $MRV_DEBIAN_MIRROR (default http://deb.debian.org/debian). Exit 0 on success,
77 (skipped) when the mirror cannot be reached, 1 on a failure. Needs root (chroot,
mount), debootstrap and systemd-nspawn (systemd-container). MRV_KEEP_ROOT=1 keeps the root for a look afterwards.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

MIRROR = os.environ.get("MRV_DEBIAN_MIRROR", "http://deb.debian.org/debian").rstrip("/")
SUITE = "bookworm"
SKIP = 77
CACHE = os.environ.get("MRV_PACKAGE_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mrv-agent")
# Bump this when the cached root's recipe changes, so an old tarball is not reused.
ROOT_TARBALL = os.path.join(CACHE, f"{SUITE}-minbase-systemd-v1.tar")
# The libraries the agent links, by their Debian 12 runtime package.
EXPECTED_AGENT_DEPENDS = ["libc6", "libstdc++6", "libgcc-s1", "libssl3", "libsqlite3-0",
                          "libpaho-mqttpp3-1", "libpaho-mqtt1.3", "zlib1g", "libmuparser2v5",
                          "adduser"]
EXPECTED_REGISTRY_DEPENDS = ["libc6", "libstdc++6", "libssl3", "libsqlite3-0", "adduser"]

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("text", True)
    kw.setdefault("capture_output", True)
    try:
        return subprocess.run(cmd, **kw)
    except subprocess.CalledProcessError as e:
        sys.stderr.write(f"command failed ({e.returncode}): {' '.join(cmd)}\n{e.stdout}\n{e.stderr}\n")
        raise


def find_debs(args):
    if len(args) == 2 and all(a.endswith(".deb") for a in args):
        return args
    if len(args) != 1:
        sys.exit(__doc__)
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    debs = []
    for name in ("mrv-agent", "mrv-registry"):
        found = glob.glob(os.path.join(args[0], "packages", f"{name}_*_{arch}.deb"))
        if not found:
            sys.exit(f"no {name}_*_{arch}.deb in {args[0]}/packages: run cpack -G DEB there first")
        debs.append(max(found, key=os.path.getmtime))  # the newest, if versions changed
    return debs


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field]).stdout.strip()


def depends_names(deb):
    names = set()
    for alt in deb_field(deb, "Depends").split(","):
        for choice in alt.split("|"):
            names.add(re.sub(r"\s*\(.*\)", "", choice).strip().split(":")[0])
    return names


def needed_packages(binary):
    """The Debian packages (on this machine) that hold each DT_NEEDED library of binary."""
    needed = re.findall(r"^\s+NEEDED\s+(\S+)$", run(["objdump", "-p", binary]).stdout, re.M)
    resolved = dict(re.findall(r"^\s+(\S+) => (\S+)", run(["ldd", binary]).stdout, re.M))
    pkgs = {}
    for lib in needed:
        path = resolved.get(lib, lib)
        owner = ""
        for candidate in (path, os.path.realpath(path), re.sub(r"^/usr/lib/", "/lib/", path),
                          re.sub(r"^/lib/", "/usr/lib/", path)):
            owner = subprocess.run(["dpkg", "-S", candidate], text=True, capture_output=True).stdout
            if owner:
                break
        pkgs[lib] = owner.split(":")[0] if owner else None
    return pkgs


def check_package(deb, name, files, expected_depends, work):
    print(f"== {os.path.basename(deb)}: {os.path.getsize(deb) / 1e6:.1f} MB")
    check(deb_field(deb, "Package") == name, f"{name}: Package field")
    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = {line.split()[5].lstrip(".") for line in listing.splitlines()}
    for f in files:
        check(f in paths, f"{name}: ships {f}")
    etc = sorted(p for p in paths if p.startswith("/etc/") and not p.endswith("/"))
    ctrl = os.path.join(work, name + "-control")
    run(["dpkg-deb", "-e", deb, ctrl])
    conffiles = open(os.path.join(ctrl, "conffiles")).read().split() \
        if os.path.exists(os.path.join(ctrl, "conffiles")) else []
    check(sorted(conffiles) == etc and etc, f"{name}: every file under /etc is a conffile: {conffiles}")
    for script in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctrl, script)
        check(os.path.exists(p) and os.access(p, os.X_OK), f"{name}: {script} is executable")
    depends = deb_field(deb, "Depends")
    print(f"      Depends: {depends}")
    names = depends_names(deb)
    for pkg in expected_depends:
        check(pkg in names, f"{name}: Depends on {pkg}")
    # Every library the binary needs comes from a package it depends on.
    root = os.path.join(work, name + "-root")
    run(["dpkg-deb", "-x", deb, root])
    binary = os.path.join(root, "usr/bin", name)
    check("not stripped" not in run(["file", "-b", binary]).stdout, f"{name}: binary is stripped")
    print(f"      /usr/bin/{name}: {os.path.getsize(binary) / 1e6:.1f} MB")
    for lib, pkg in needed_packages(binary).items():
        check(pkg is not None and pkg in names, f"{name}: needs {lib} from {pkg}, in Depends")


def mirror_reachable():
    try:
        with urllib.request.urlopen(f"{MIRROR}/dists/{SUITE}/Release", timeout=20) as r:
            return r.status == 200
    except OSError as e:
        print(f"mirror {MIRROR}: {e}")
        return False


def make_root_tarball():
    """debootstrap a minbase root (plus systemd, for systemd-analyze) and cache it."""
    if os.path.exists(ROOT_TARBALL):
        return
    if shutil.which("debootstrap") is None:
        sys.exit("debootstrap is not installed (apt-get install debootstrap)")
    os.makedirs(CACHE, exist_ok=True)
    build = tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE)
    os.chmod(build, 0o755)  # the root folder of the root
    t = time.monotonic()
    print(f"== debootstrap {SUITE} minbase from {MIRROR} (once; cached in {ROOT_TARBALL})", flush=True)
    r = subprocess.run(["debootstrap", "--variant=minbase", "--include=systemd", SUITE, build, MIRROR],
                       text=True, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        shutil.rmtree(build, ignore_errors=True)
        if not mirror_reachable():
            print(f"SKIP: debootstrap cannot reach {MIRROR}")
            sys.exit(SKIP)
        sys.exit("debootstrap failed")
    tmp = ROOT_TARBALL + ".tmp"
    run(["tar", "-C", build, "--numeric-owner", "-cf", tmp, "."])
    os.replace(tmp, ROOT_TARBALL)
    shutil.rmtree(build, ignore_errors=True)
    print(f"      made in {time.monotonic() - t:.0f} s, {os.path.getsize(ROOT_TARBALL) / 1e6:.0f} MB")


class Root:
    """A fresh root from the cached tarball, with /proc and /dev, and the apt cache."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mrv-package-root-", dir="/var/tmp")
        self.mounts = []
        run(["tar", "-C", self.dir, "--numeric-owner", "-xf", ROOT_TARBALL])
        os.chmod(self.dir, 0o755)  # mkdtemp made it 0700: the service users must get in
        self.mount_all()
        shutil.copy("/etc/resolv.conf", self.path("/etc/resolv.conf"))
        security = MIRROR + "-security" if MIRROR.endswith("/debian") else None
        with open(self.path("/etc/apt/sources.list"), "w") as f:
            f.write(f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\n")
            if security:
                f.write(f"deb {security} {SUITE}-security main\n")
        # Keep downloaded .debs for the next run; no daemons are started in here.
        with open(self.path("/etc/apt/apt.conf.d/01keep"), "w") as f:
            f.write('Binary::apt::APT::Keep-Downloaded-Packages "true";\n'
                    'APT::Sandbox::User "root";\n')  # the cache folder is the host's
        with open(self.path("/usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(self.path("/usr/sbin/policy-rc.d"), 0o755)

    def mount_all(self):
        self.mount(["-t", "proc", "proc"], "proc")
        self.mount(["--bind", "/dev"], "dev")
        self.mount(["--bind", "/dev/pts"], "dev/pts")
        archives = os.path.join(CACHE, "apt-archives")
        os.makedirs(os.path.join(archives, "partial"), exist_ok=True)
        self.mount(["--bind", archives], "var/cache/apt/archives")

    def unmount_all(self):
        for target in reversed(self.mounts):
            if subprocess.run(["umount", target]).returncode != 0:
                subprocess.run(["umount", "-l", target])
        self.mounts = []

    def mount(self, args, where):
        target = self.path("/" + where)
        os.makedirs(target, exist_ok=True)
        run(["mount", *args, target])
        self.mounts.append(target)

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def sh(self, script, check=True, user=None):
        cmd = ["chroot", self.dir, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
               "DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8"]
        if user:
            cmd += ["runuser", "-u", user, "--"]
        return run(cmd + ["sh", "-ec", script], check=check)

    def close(self):
        self.unmount_all()
        # Never delete through a mount that is still there (the host's /dev, the cache).
        mounted = [line.split()[1] for line in open("/proc/self/mounts")
                   if line.split()[1].startswith(self.dir + "/")]
        if mounted:
            print(f"still mounted, so not deleted: {self.dir} ({', '.join(mounted)})")
        elif os.environ.get("MRV_KEEP_ROOT"):
            print(f"kept the root in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def stat(root, path):
    out = root.sh(f"stat -c '%U:%G %a' {path}").stdout.split()
    return out[0], out[1]


def sha256(root, path):
    with open(root.path(path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def bump_version(deb, work, suffix):
    """A copy of deb with version <v><suffix>: an upgrade to a newer package."""
    tree = os.path.join(work, "bump-" + os.path.basename(deb))
    run(["dpkg-deb", "-R", deb, tree])
    control = os.path.join(tree, "DEBIAN", "control")
    text = open(control).read()
    version = re.search(r"^Version: (\S+)$", text, re.M).group(1)
    open(control, "w").write(text.replace(f"Version: {version}", f"Version: {version}{suffix}"))
    out = os.path.join(work, os.path.basename(deb).replace(f"_{version}_", f"_{version}{suffix}_"))
    run(["dpkg-deb", "--root-owner-group", "-b", tree, out])
    return out, version + suffix


PROBE = r"""#!/bin/sh
# Runs in the booted root (probe.service): drives mrv-agent.service, then powers off.
out=/root/probe; mkdir -p $out
for i in $(seq 1 120); do
  case "$(systemctl show -P ActiveState mrv-agent)" in active|failed) break ;; esac
  sleep 0.5
done
systemctl show mrv-agent -p ActiveState -p SubState -p MainPID -p NRestarts -p Type -p WatchdogUSec >$out/started
sleep 4
runuser -u mrv-agent -- mrv-agent status --config /etc/mrv-agent/agent.toml --json >$out/status.json 2>&1
systemctl reload mrv-agent >$out/reload 2>&1; echo $? >$out/reload.rc
sleep 2
systemctl show mrv-agent -p ActiveState -p MainPID -p NRestarts >$out/reloaded
systemctl stop mrv-agent
systemctl show mrv-agent -p ActiveState -p ExecMainStatus -p Result >$out/stopped
journalctl -u mrv-agent -o json --no-pager >$out/journal.json
systemctl poweroff
"""


def props(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def boot_check(root, work):
    """Boots the root with systemd-nspawn (systemd as PID 1, no network) and runs
    mrv-agent.service as installed: hardening, ExecStartPre, reload, stop, journal."""
    if shutil.which("systemd-nspawn") is None:
        check(False, "systemd-nspawn is installed (apt-get install systemd-container)")
        return
    # A config that runs with no hardware: the demo's, with the service's key and journal.
    root.sh("sed -e 's#^key_file = .*#key_file = \"/etc/mrv-agent/agent.key\"#'"
            " -e 's#^path = .*#path = \"/var/lib/mrv-agent/journal.db\"#'"
            " /etc/mrv-agent/demo.toml > /etc/mrv-agent/agent.toml")
    # The agent tells systemd READY=1 once it links libsystemd (sd_notify); until then the
    # notify unit is tried as Type=exec without a watchdog.
    binary = os.path.join(work, "mrv-agent-root", "usr/bin/mrv-agent")
    if "libsystemd.so" not in run(["objdump", "-p", binary]).stdout:
        print("      note: mrv-agent does not link libsystemd (no sd_notify): booting the unit as Type=exec")
        os.makedirs(root.path("/etc/systemd/system/mrv-agent.service.d"), exist_ok=True)
        with open(root.path("/etc/systemd/system/mrv-agent.service.d/no-notify.conf"), "w") as f:
            f.write("[Service]\nType=exec\nWatchdogSec=0\n")
    with open(root.path("/root/probe.sh"), "w") as f:
        f.write(PROBE)
    with open(root.path("/etc/systemd/system/probe.service"), "w") as f:
        f.write("[Unit]\nAfter=mrv-agent.service\n[Service]\nType=oneshot\nExecStart=/bin/sh /root/probe.sh\n"
                "[Install]\nWantedBy=multi-user.target\n")
    root.sh("systemctl enable mrv-agent.service probe.service 2>/dev/null")
    os.remove(root.path("/usr/sbin/policy-rc.d"))
    root.unmount_all()
    try:
        t = time.monotonic()
        r = subprocess.run(["systemd-nspawn", "-q", "-D", root.dir, "--boot", "--register=no", "--keep-unit",
                            "--private-network"], text=True, capture_output=True, timeout=300)
        print(f"      booted, probed and powered off in {time.monotonic() - t:.0f} s")
    except subprocess.TimeoutExpired:
        r = None
    finally:
        root.mount_all()
        with open(root.path("/usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(root.path("/usr/sbin/policy-rc.d"), 0o755)
    probe = root.path("/root/probe")
    if not check(r is not None and os.path.exists(os.path.join(probe, "stopped")),
                 "the root boots with systemd-nspawn and the probe runs"):
        if r is not None:
            sys.stderr.write(r.stdout[-4000:] + r.stderr[-2000:])
        return
    read = lambda name: open(os.path.join(probe, name)).read()
    started = props(read("started"))
    check(started.get("ActiveState") == "active" and started.get("SubState") == "running"
          and started.get("NRestarts") == "0", f"mrv-agent.service starts and runs hardened: {started}")
    try:
        status = json.loads(read("status.json"))
        check(status["journal"]["records"] > 0 and status["chain"]["intact"],
              f"the service stored {status['journal']['records']} records in /var/lib/mrv-agent/journal.db")
    except (ValueError, KeyError):
        check(False, f"status --json of the service's journal: {read('status.json')[:300]}")
    reloaded = props(read("reloaded"))
    check(read("reload.rc").strip() == "0" and reloaded.get("ActiveState") == "active"
          and reloaded.get("MainPID") == started.get("MainPID") and reloaded.get("NRestarts") == "0",
          f"systemctl reload succeeds and the same process runs on: {read('reload').strip()} {reloaded}")
    stopped = props(read("stopped"))
    check(stopped.get("ExecMainStatus") == "0" and stopped.get("Result") == "success",
          f"systemctl stop: the agent exits 0: {stopped}")
    entries = [json.loads(line) for line in read("journal.json").splitlines() if line.strip()]
    agent = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "mrv-agent" and e.get("_PID") != "1"]
    messages = [str(e.get("MESSAGE", "")) for e in agent]
    check(agent and not any(re.match(r"<\d>", m) for m in messages)
          and {e.get("PRIORITY") for e in agent} <= {"0", "1", "2", "3", "4", "5", "6", "7"}
          and any(e.get("PRIORITY") == "6" for e in agent),
          f"the agent logs to the journal with priorities ({len(agent)} entries, priorities "
          f"{sorted({e.get('PRIORITY') for e in agent})})")
    bad = [m for e, m in zip(agent, messages) if e.get("PRIORITY") in ("0", "1", "2", "3")]
    check(not bad, f"no errors in the service's log: {bad[:3]}")
    shutil.rmtree(root.path("/etc/systemd/system/mrv-agent.service.d"), ignore_errors=True)
    root.sh("systemctl disable mrv-agent.service probe.service 2>/dev/null")


def in_chroot(debs, work):
    root = Root()
    try:
        t = time.monotonic()
        os.makedirs(root.path("/tmp/debs"))
        for d in debs:
            shutil.copy(d, root.path("/tmp/debs/"))
        inside = " ".join("/tmp/debs/" + os.path.basename(d) for d in debs)
        r = root.sh("apt-get update -qq", check=False)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            if not mirror_reachable():
                print(f"SKIP: the chroot cannot reach {MIRROR}")
                sys.exit(SKIP)
            check(False, "apt-get update in the chroot")
            return
        r = root.sh(f"apt-get install -y -q --no-install-recommends {inside}", check=False)
        print(r.stderr.strip())
        if not check(r.returncode == 0, "apt-get install ./mrv-agent_*.deb ./mrv-registry_*.deb resolves Depends"):
            sys.stderr.write(r.stdout[-4000:])
            return
        print(f"      installed in {time.monotonic() - t:.0f} s")

        # Users, folders, the key.
        for user in ("mrv-agent", "mrv-registry"):
            pw = root.sh(f"getent passwd {user}").stdout.strip().split(":")
            check(int(pw[2]) < 1000 and pw[5] == f"/var/lib/{user}" and pw[6].endswith("nologin"),
                  f"{user} is a system user, home /var/lib/{user}, no login: {':'.join(pw)}")
            check(stat(root, f"/var/lib/{user}") == (f"{user}:{user}", "750"),
                  f"/var/lib/{user} is {user}:{user} 0750")
        key = "/etc/mrv-agent/agent.key"
        check(stat(root, key) == ("mrv-agent:mrv-agent", "600"), f"{key} made on install, mrv-agent 0600: {stat(root, key)}")
        pub = open(root.path("/etc/mrv-agent/agent.pub")).read()
        check(pub.startswith("-----BEGIN PUBLIC KEY-----") and pub.rstrip().endswith("-----END PUBLIC KEY-----"),
              "/etc/mrv-agent/agent.pub is the public key in PEM")
        conffiles = root.sh("dpkg-query -W -f='${Conffiles}' mrv-agent").stdout
        check("/etc/mrv-agent/agent.toml" in conffiles, "dpkg records /etc/mrv-agent/agent.toml as a conffile")

        # Every shipped config passes check-config, as the service's user would run it.
        for cfg in sorted(glob.glob(root.path("/etc/mrv-agent/*.toml"))):
            inside_cfg = "/etc/mrv-agent/" + os.path.basename(cfg)
            r = root.sh(f"mrv-agent check-config --config {inside_cfg}", user="mrv-agent", check=False)
            check(r.returncode == 0, f"check-config {inside_cfg}: {(r.stdout + r.stderr).strip()}")
        # The registry's shipped config is only read (its TLS files are the operator's).
        r = root.sh("mrv-registry --config /etc/mrv-registry/registry.toml --check-config",
                    user="mrv-registry", check=False)
        print(f"      mrv-registry --check-config (exit {r.returncode}): {(r.stdout + r.stderr).strip()[:300]}")

        # The units against the installed binaries and a real systemd unit tree.
        for unit in ("mrv-agent", "mrv-registry"):
            r = root.sh(f"systemd-analyze verify /lib/systemd/system/{unit}.service", check=False)
            check(r.returncode == 0 and not r.stderr.strip(),
                  f"systemd-analyze verify {unit}.service {(r.stdout + r.stderr).strip()}")
            r = root.sh(f"systemd-analyze security --offline=true /lib/systemd/system/{unit}.service", check=False)
            score = re.search(r"Overall exposure level for \S+: (\S+) (\S+)", r.stdout)
            check(score is not None and float(score.group(1)) <= 2.5,
                  f"systemd-analyze security {unit}.service: exposure "
                  f"{score.group(1) + ' ' + score.group(2) if score else r.stdout[-300:]} (at most 2.5)")

        # The unit under a real systemd (PID 1 in a container), the service's own journal.
        boot_check(root, work)

        # The demo, as the service's user: a key of its own, readings stored and signed.
        root.sh("mrv-agent keygen --out /var/lib/mrv-agent/demo-agent.key >/dev/null", user="mrv-agent")
        r = root.sh("mrv-agent run --config /etc/mrv-agent/demo.toml --duration 5", user="mrv-agent", check=False)
        check(r.returncode == 0, f"demo run exits 0 {r.stderr.strip()[-500:] if r.returncode else ''}")
        status = json.loads(root.sh("mrv-agent status --config /etc/mrv-agent/demo.toml --json",
                                    user="mrv-agent").stdout)
        records = status["journal"]["records"]
        check(records >= 5 and status["chain"]["intact"],
              f"demo stored {records} signed records, chain intact")
        check(status["points"] and all(p.get("value") and p.get("quality") == "good" for p in status["points"]),
              f"demo has a good reading for every point: {[(p['id'], p.get('value')) for p in status['points']]}")
        check(stat(root, "/var/lib/mrv-agent/demo-journal.db")[0] == "mrv-agent:mrv-agent",
              "the demo journal is owned by mrv-agent")

        # Upgrade: an edited conffile and the key survive a newer package.
        key_hash = sha256(root, key)
        with open(root.path("/etc/mrv-agent/agent.toml"), "a") as f:
            f.write("# edited by the operator\n")
        bumped = []
        for d in debs:
            path, version = bump_version(d, work, "+upgradetest1")
            shutil.copy(path, root.path("/tmp/debs/"))
            bumped.append("/tmp/debs/" + os.path.basename(path))
        r = root.sh(f"apt-get install -y -q --no-install-recommends {' '.join(bumped)}", check=False)
        check(r.returncode == 0, f"upgrade to {version} {r.stderr.strip()[-500:] if r.returncode else ''}")
        check(root.sh("dpkg-query -W -f='${Version}' mrv-agent").stdout == version, f"mrv-agent {version} installed")
        check(open(root.path("/etc/mrv-agent/agent.toml")).read().endswith("# edited by the operator\n"),
              "the edited /etc/mrv-agent/agent.toml is kept on upgrade")
        check(sha256(root, key) == key_hash and stat(root, key) == ("mrv-agent:mrv-agent", "600"),
              "the signing key is kept on upgrade (same bytes, owner, mode)")
        r = root.sh("mrv-agent run --config /etc/mrv-agent/demo.toml --duration 2", user="mrv-agent", check=False)
        after = json.loads(root.sh("mrv-agent status --config /etc/mrv-agent/demo.toml --json",
                                   user="mrv-agent").stdout)
        check(r.returncode == 0 and after["journal"]["records"] > records and after["chain"]["intact"],
              f"the demo journal goes on after the upgrade: {records} -> {after['journal']['records']} records")

        # Purge keeps the journal and the key; a reinstall does not replace the key.
        r = root.sh("apt-get purge -y -q mrv-agent", check=False)
        check(r.returncode == 0, "apt-get purge mrv-agent")
        check(not os.path.exists(root.path("/etc/mrv-agent/agent.toml")), "purge removes the conffiles")
        check(os.path.exists(root.path(key)) and os.path.exists(root.path("/var/lib/mrv-agent/demo-journal.db")),
              "purge keeps the signing key and the journal")
        r = root.sh(f"apt-get install -y -q --no-install-recommends {bumped[0]}", check=False)
        check(r.returncode == 0 and sha256(root, key) == key_hash,
              "a reinstall after purge keeps the existing key")
        check(os.path.exists(root.path("/etc/mrv-agent/agent.toml")), "a reinstall after purge brings the conffiles back")
    finally:
        root.close()


def main():
    if os.geteuid() != 0:
        sys.exit("package_test.py needs root (debootstrap, chroot, mount)")
    agent_deb, registry_deb = find_debs(sys.argv[1:])
    work = tempfile.mkdtemp(prefix="mrv-package-test-")
    try:
        check_package(agent_deb, "mrv-agent",
                      ["/usr/bin/mrv-agent", "/lib/systemd/system/mrv-agent.service",
                       "/etc/mrv-agent/agent.toml", "/etc/mrv-agent/demo.toml",
                       "/usr/share/doc/mrv-agent/examples/demo.toml",
                       "/usr/share/doc/mrv-agent/examples/site.example.toml",
                       "/usr/share/doc/mrv-agent/operations.md"],
                      EXPECTED_AGENT_DEPENDS, work)
        check_package(registry_deb, "mrv-registry",
                      ["/usr/bin/mrv-registry", "/lib/systemd/system/mrv-registry.service",
                       "/etc/mrv-registry/registry.toml",
                       "/usr/share/doc/mrv-registry/examples/registry.toml"],
                      EXPECTED_REGISTRY_DEPENDS, work)
        t = time.monotonic()
        make_root_tarball()
        in_chroot([agent_deb, registry_deb], work)
        print(f"== chroot part: {time.monotonic() - t:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = not failures
    print(f"{'all checks passed' if passed else str(len(failures)) + ' check(s) failed: ' + '; '.join(failures)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
