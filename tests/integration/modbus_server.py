#!/usr/bin/python3
"""A pymodbus 3.0 server with known values of every type and byte/word order, for the
Modbus integration tests. Usage: modbus_server.py PORT [--rtu] [--serial DEVICE] [--reset-after S]
(--serial: RTU on a serial line, e.g. one end of a socat pty pair, instead of TCP)
Unit 1 (holding registers, zero-based):
  0-1 u32 ABCD 287454020   2-3 u32 CDAB 287454020   4-5 f32 ABCD 230.1   6-7 f32 CDAB 230.1
  8 i16 -1   10-13 u64 ABCD 18446744073709551615   14-17 f64 ABCD 1234.5678   20-22 "ABCD"
  input registers 0-1 i32 BADC -2; coils 0-7 = 1,0,1,0,0,1,0,1
Unit 2: holding 0-1 u32 counter, +10 every 0.1 s, reset to 5 after --reset-after seconds.
Other unit ids are not served."""
import argparse
import asyncio
import struct

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer


def words(fmt, value, order="ABCD"):
    raw = struct.pack(">" + fmt, value)
    ws = [raw[i:i + 2] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):
        ws = ws[::-1]
    if order in ("BADC", "DCBA"):
        ws = [w[::-1] for w in ws]
    return [int.from_bytes(w, "big") for w in ws]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--rtu", action="store_true")
    ap.add_argument("--serial", default="")
    ap.add_argument("--delay", type=float, default=0.0, help="answer every request this late (s)")
    ap.add_argument("--reset-after", type=float, default=2.0)
    a = ap.parse_args()
    hr = [0] * 100
    hr[0:2] = words("I", 0x11223344)
    hr[2:4] = words("I", 0x11223344, "CDAB")
    hr[4:6] = words("f", 230.1)
    hr[6:8] = words("f", 230.1, "CDAB")
    hr[8] = 0xFFFF
    hr[10:14] = words("Q", 2**64 - 1)
    hr[14:18] = words("d", 1234.5678)
    hr[20:23] = [0x4142, 0x4344, 0x2000]
    hr[30] = 12345                                     # u16
    hr[31:35] = words("q", -123456789012, "DCBA")      # i64 DCBA
    hr[35:37] = words("I", 0x11223344, "BADC")         # u32 BADC
    hr[37:39] = words("I", 0x11223344, "DCBA")         # u32 DCBA
    hr[39:41] = words("f", 230.1, "BADC")              # f32 BADC
    hr[41:43] = words("f", 230.1, "DCBA")              # f32 DCBA
    hr[43:47] = words("d", 1234.5678, "CDAB")          # f64 CDAB
    hr[47:51] = words("q", -2, "BADC")                 # i64 BADC
    ir = [0] * 10
    ir[0:2] = words("i", -2, "BADC")
    unit1 = ModbusSlaveContext(zero_mode=True, hr=ModbusSequentialDataBlock(0, hr),
                               ir=ModbusSequentialDataBlock(0, ir),
                               co=ModbusSequentialDataBlock(0, [1, 0, 1, 0, 0, 1, 0, 1]),
                               di=ModbusSequentialDataBlock(0, [0] * 8))
    unit2 = ModbusSlaveContext(zero_mode=True, hr=ModbusSequentialDataBlock(0, [0] * 10),
                               ir=ModbusSequentialDataBlock(0, [0] * 10),
                               co=ModbusSequentialDataBlock(0, [0] * 8),
                               di=ModbusSequentialDataBlock(0, [0] * 8))
    if a.delay:  # a slow device: every read waits (the whole server, which is only this device)
        import time
        for unit in (unit1, unit2):
            plain = unit.getValues
            unit.getValues = lambda fc, addr, count=1, plain=plain: (time.sleep(a.delay), plain(fc, addr, count))[1]
    context = ModbusServerContext(slaves={1: unit1, 2: unit2}, single=False)

    async def counter():
        value, t = 1000, 0.0
        while True:
            await asyncio.sleep(0.1)
            t += 0.1
            value = 5 if abs(t - a.reset_after) < 0.05 else value + 10
            unit2.setValues(3, 0, words("I", value))

    async def run():
        asyncio.create_task(counter())
        if a.serial:
            await StartAsyncSerialServer(context=context, framer=ModbusRtuFramer, port=a.serial,
                                         baudrate=19200, parity="N", stopbits=1, bytesize=8)
            return
        kw = {"framer": ModbusRtuFramer} if a.rtu else {}
        await StartAsyncTcpServer(context=context, address=("127.0.0.1", a.port),
                                  allow_reuse_address=True, **kw)

    asyncio.run(run())


if __name__ == "__main__":
    main()
