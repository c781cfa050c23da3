#!/usr/bin/python3
"""The Modbus collector against pymodbus (an independent implementation).
Usage: modbus_test.py AGENT MODE
  values   every type and byte/word order read exactly over Modbus TCP; a dead unit id,
           an exception response and a counter reset are recorded; the healthy device
           keeps its schedule; the export verifies
  rtu      the same values with RTU framing over TCP
  restart  the server stopped and restarted: gaps while it is down, readings after
  serial   RTU on a serial line (a socat pseudo-terminal pair), 19200 8N1 (pymodbus cannot set parity on a pty)
  slow     a device answering after its timeout is recorded as gaps, while a device on
           another gateway keeps its schedule
  read     modbus-read prints raw registers beside decoded values, and names exceptions"""
import json
import pathlib
import subprocess
import sys
import time

from harness import Site, check, fail, track
from mqtt_harness import free_port

agent, mode = sys.argv[1], sys.argv[2]
server_py = str(pathlib.Path(__file__).with_name("modbus_server.py"))
EXPECT = {  # point -> (table, address, type, order, exact value)
    "u1.u32_abcd": ("holding", 0, "u32", "ABCD", "287454020"),
    "u1.u32_cdab": ("holding", 2, "u32", "CDAB", "287454020"),
    "u1.f32_abcd": ("holding", 4, "f32", "ABCD", "230.1"),
    "u1.f32_cdab": ("holding", 6, "f32", "CDAB", "230.1"),
    "u1.i16": ("holding", 8, "i16", "ABCD", "-1"),
    "u1.u64": ("holding", 10, "u64", "ABCD", "18446744073709551615"),
    "u1.f64": ("holding", 14, "f64", "ABCD", "1234.5678"),
    "u1.i32_badc": ("input", 0, "i32", "BADC", "-2"),
    "u1.u16": ("holding", 30, "u16", "ABCD", "12345"),
    "u1.i64_dcba": ("holding", 31, "i64", "DCBA", "-123456789012"),
    "u1.u32_badc": ("holding", 35, "u32", "BADC", "287454020"),
    "u1.u32_dcba": ("holding", 37, "u32", "DCBA", "287454020"),
    "u1.f32_badc": ("holding", 39, "f32", "BADC", "230.1"),
    "u1.f32_dcba": ("holding", 41, "f32", "DCBA", "230.1"),
    "u1.f64_cdab": ("holding", 43, "f64", "CDAB", "1234.5678"),
    "u1.i64_badc": ("holding", 47, "i64", "BADC", "-2"),
    "u1.coil0": ("coil", 0, "bool", "ABCD", "1"),
    "u1.coil1": ("coil", 1, "bool", "ABCD", "0"),
}


def start_server(port, rtu=False, serial="", delay=0.0):
    p = track(subprocess.Popen(["/usr/bin/python3", server_py, str(port)] + (["--rtu"] if rtu else []) +
                               (["--serial", serial] if serial else []) +
                               (["--delay", str(delay)] if delay else []),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)
    return p


def make_site(port, transport="tcp", serial=""):
    site = Site(agent, points=0)
    text = site.config.read_text()
    for pid in list(EXPECT) + ["u2.energy", "u9.energy", "u1.missing"]:
        kind = "cumulative" if pid.endswith("energy") else "gauge"
        text += f'[[points]]\nid = "{pid}"\nunit = "x"\nkind = "{kind}"\n'
    # The meter's identity register reads "ABCD"; the config says another meter.
    text += '[[points]]\nid = "u1.identity"\nunit = "-"\nmeter_serial = "XYZ-9"\n'
    where = (f'serial_device = "{serial}"\nbaud = 19200\nparity = "N"\n' if serial else
             f'host = "127.0.0.1"\nport = {port}\n')
    if transport == "tcp":
        where += "concurrency = 2\n"  # two connections, two requests in flight
    text += (f'[[sources.modbus]]\nname = "gw1"\ntransport = "{transport}"\n{where}'
             f'timeout_ms = 300\nretries = 1\n')
    text += '[[sources.modbus.devices]]\nname = "meter1"\nunit = 1\ninterval_ms = 500\n'
    for pid, (table, addr, typ, order, _) in EXPECT.items():
        text += (f'[[sources.modbus.devices.registers]]\npoint = "{pid}"\ntable = "{table}"\n'
                 f'address = {addr}\ntype = "{typ}"\norder = "{order}"\n')
        if typ == "string":
            text += "string_registers = 3\n"
    text += ('[[sources.modbus.devices.registers]]\npoint = "u1.identity"\naddress = 20\n'
             'type = "string"\nstring_registers = 3\n')
    text += ('[[sources.modbus.devices]]\nname = "counter"\nunit = 2\ninterval_ms = 200\n'
             '[[sources.modbus.devices.registers]]\npoint = "u2.energy"\naddress = 0\ntype = "u32"\n'
             '[[sources.modbus.devices]]\nname = "badaddress"\nunit = 1\ninterval_ms = 500\n'
             '[[sources.modbus.devices.registers]]\npoint = "u1.missing"\naddress = 500\n'
             '[[sources.modbus.devices]]\nname = "dead"\nunit = 9\ninterval_ms = 500\n'
             '[[sources.modbus.devices.registers]]\npoint = "u9.energy"\naddress = 0\ntype = "u32"\n')
    site.config.write_text(text)
    return site


def records(site):
    import sqlite3
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        return [json.loads(c) for (c,) in db.execute("SELECT canonical FROM records ORDER BY seq")]


port = free_port()
if mode in ("values", "rtu", "serial"):
    serial = ""
    if mode == "serial":
        import tempfile
        d = tempfile.mkdtemp(prefix="mrv-pty-")
        track(subprocess.Popen(["socat", f"pty,raw,echo=0,link={d}/server",
                                f"pty,raw,echo=0,link={d}/agent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        serial = f"{d}/agent"
    # The site (and its key) first: unit 2's counter resets 2 s after the server starts,
    # and the agent must have read it before (a sanitizer build starts slowly).
    site = make_site(port, {"values": "tcp", "rtu": "rtu-over-tcp", "serial": "rtu"}[mode], serial)
    if mode == "serial":
        start_server(port, serial=f"{d}/server")
    else:
        start_server(port, rtu=mode == "rtu")
    site.run("run", "--config", str(site.config), "--duration", "4")
    recs = records(site)
    by_point = {}
    for r in recs:
        by_point.setdefault(r["point"], []).append(r)
    for pid, (_, _, _, _, value) in EXPECT.items():
        good = [r for r in by_point.get(pid, []) if r["quality"] == "good"]
        check(len(good) >= 5, f"{pid}: {len(good)} good readings in 4 s at 500 ms, despite the dead unit")
        check({r["value"] for r in good} == {value}, f"{pid} = {value} exactly ({ {r['value'] for r in good} })")
        check(good[0]["source"].startswith("modbus:gw1/unit1/"), f"source {good[0]['source']}")
    if mode == "serial":
        check(True, "RTU on a serial line (pty) at 19200 8N1")
    if mode == "values":
        dead = by_point.get("u9.energy", [])
        check(dead and all(r["quality"] == "bad" and r["value"] == "" for r in dead),
              f"the dead unit's polls are gap records ({len(dead)}: {dead[0]['reason'] if dead else ''})")
        check(any("skipped" in r["reason"] for r in dead), "and the dead unit is backed off")
        miss = by_point.get("u1.missing", [])
        check(miss and all(r["quality"] == "bad" for r in miss) and
              any(r["reason"] == "exception response: illegal data address" for r in miss),
              "an exception response is a gap recorded by name")
        ident = by_point.get("u1.identity", [])
        check(len(ident) == 1 and ident[0]["reason"] ==
              "meter identity reads 'ABCD', configured meter_serial is 'XYZ-9'",
              f"a meter identity mismatch is recorded once ({len(ident)})")
        energy = by_point.get("u2.energy", [])
        back = [r for r in energy if "went backwards" in r["reason"]]
        check(len(back) == 1 and back[0]["quality"] == "uncertain" and int(back[0]["value"]) < 1000,
              f"a counter reset is recorded as read, with a reason that says so "
              f"({[(r['value'], r['reason']) for r in back]})")
    p = site.verify(site.export())
    check(p.returncode == 0, f"verify: {p.stdout.strip().splitlines()[0]}")
    p = site.run("status", "--config", str(site.config), check_rc=False)
    check("modbus      gw1" in p.stdout and "gaps" in p.stdout, "status shows the gateway's counters")
elif mode == "restart":
    server = start_server(port)
    site = make_site(port)
    proc = site.start()
    time.sleep(2)
    server.terminate()
    server.wait()
    time.sleep(2)
    start_server(port)
    time.sleep(2.5)
    proc.terminate()
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")
    u1 = [r for r in records(site) if r["point"] == "u1.u32_abcd"]
    outage = [r for r in u1 if r["quality"] == "bad"]
    check(len(outage) >= 2 and any("connect" in r["reason"] for r in outage),
          f"gaps while the server is down ({len(outage)}: {outage[0]['reason'] if outage else ''})")
    last = u1[-3:]
    check(all(r["quality"] == "good" and r["value"] == "287454020" for r in last),
          "readings resume by themselves after the restart")
elif mode == "slow":
    slow_port = free_port()
    start_server(port)
    start_server(slow_port, delay=0.5)
    site = make_site(port)
    text = site.config.read_text() + (
        f'[[points]]\nid = "slow.energy"\nunit = "x"\nkind = "cumulative"\n'
        f'[[sources.modbus]]\nname = "gw2"\nhost = "127.0.0.1"\nport = {slow_port}\n'
        f'timeout_ms = 200\nretries = 0\n'
        f'[[sources.modbus.devices]]\nname = "slow"\nunit = 1\ninterval_ms = 500\n'
        f'[[sources.modbus.devices.registers]]\npoint = "slow.energy"\naddress = 0\ntype = "u32"\n')
    site.config.write_text(text)
    site.run("run", "--config", str(site.config), "--duration", "4")
    recs = records(site)
    slow = [r for r in recs if r["point"] == "slow.energy"]
    check(slow and all(r["quality"] == "bad" for r in slow) and
          any(r["reason"].startswith("timeout after 200 ms") for r in slow),
          f"the slow device's polls are gaps ({len(slow)}: {slow[0]['reason'] if slow else ''})")
    fast = [r for r in recs if r["point"] == "u1.u32_abcd" and r["quality"] == "good"]
    check(len(fast) >= 7, f"the device on the other gateway kept its 500 ms schedule ({len(fast)} in 4 s)")
elif mode == "read":
    start_server(port)
    site = make_site(port)
    p = site.run("modbus-read", "--config", str(site.config), "--device", "meter1")
    check(p.returncode == 0, "modbus-read exits 0 when every register reads")
    check("u1.u32_cdab  reg 2  [0x3344 0x1122]  CDAB  = 287454020" in p.stdout,
          "raw registers beside the decoded value and the order used")
    check("u1.f32_abcd  reg 4  [0x4366 0x199A]  ABCD  = 230.1" in p.stdout, "f32 as the meter shows it")
    check("u1.coil0  bit 0  [1]  = 1" in p.stdout, "coils too")
    p = site.run("modbus-read", "--config", str(site.config), "--device", "badaddress", check_rc=False)
    check(p.returncode == 1 and "exception: illegal data address" in p.stdout,
          f"an exception is named and the exit code says so: {p.stdout.strip()}")
    p = site.run("modbus-read", "--config", str(site.config), "--device", "nope", check_rc=False)
    check(p.returncode == 2, "an unknown device is a usage error")
    silent_port = free_port()
    start_server(silent_port, delay=3.0)  # answers far past the 300 ms timeout
    silent = make_site(silent_port)
    t0 = time.time()
    p = silent.run("modbus-read", "--config", str(silent.config), "--device", "meter1",
                   check_rc=False, timeout=60)
    check(p.returncode == 1 and "timeout after 300 ms" in p.stdout and time.time() - t0 < 15,
          f"a silent device times out instead of hanging ({time.time() - t0:.1f} s)")
else:
    fail("unknown mode " + mode)
print("1 passed, 0 failed")
