#!/usr/bin/python3
"""Writes merkle.json: RFC 9162 §2.1 Merkle tree vectors for trees of size 1..9, from a
naive recursive implementation of the RFC's definitions (MTH, PATH, PROOF), independent
of the C++ code. The leaves are the Certificate Transparency test leaves, and the roots
of sizes 1..8 are checked against the published CT test vectors."""
import hashlib, json, pathlib

LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f", "70717273"]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def k_of(n):  # the largest power of two smaller than n
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = k_of(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m, d):
    if len(d) <= 1:
        return []
    k = k_of(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def main():
    data = [bytes.fromhex(x) for x in LEAVES]
    out = {"leaves_hex": LEAVES, "trees": []}
    for n in range(1, len(data) + 1):
        d = data[:n]
        root = mth(d).hex()
        if n in CT_ROOTS:
            assert root == CT_ROOTS[n], (n, root)
        out["trees"].append({
            "size": n,
            "root": root,
            "inclusion": [[p.hex() for p in path(i, d)] for i in range(n)],
            "consistency": {str(m): [p.hex() for p in subproof(m, d, True)] for m in range(1, n + 1)},
        })
    path_out = pathlib.Path(__file__).parent / "merkle.json"
    path_out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
