#!/usr/bin/env python3
"""Deterministic inputs for the benchmarks of this folder.

`gen.py [--out DIR] [NAME[:SIZE]...]` writes DIR/NAME_SIZE.json (default DIR is
bench/data), each a JSON array of the arguments that the benchmark's
objective and gradient entry points both take. Inputs come from a seeded
generator, so every run (and every system compared) sees the same numbers.
Only the standard library is used.
"""
import argparse
import json
import math
import os
import random

# name -> size -> parameters
SIZES = {
    "gmm": {"small": dict(d=2, k=5, n=1000), "medium": dict(d=10, k=25, n=1000), "large": dict(d=20, k=50, n=10000)},
    "lstm": {"small": dict(l=2, c=256, b=14), "medium": dict(l=2, c=1024, b=14), "large": dict(l=4, c=4096, b=14)},
    "ba": {"small": dict(nc=10, np=1000, no=5000), "medium": dict(nc=49, np=7776, no=31843),
           "large": dict(nc=200, np=50000, no=200000)},
    "logsumexp": {"small": dict(n=1000), "medium": dict(n=100_000), "large": dict(n=1_000_000)},
    "mlp": {"small": dict(n=64, d=32, h=64, c=10), "medium": dict(n=256, d=784, h=256, c=10),
            "large": dict(n=1024, d=784, h=1024, c=10)},
    "matmul": {"small": dict(n=64), "medium": dict(n=256), "large": dict(n=1024)},
    "llsq": {"small": dict(m=16, n=1024), "medium": dict(m=64, n=8192), "large": dict(m=256, n=32768)},
    "ode": {"small": dict(n=16, s=100), "medium": dict(n=64, s=1000), "large": dict(n=256, s=10000)},
}


def mat(rng, rows, cols, scale=1.0, shift=0.0):
    return [[shift + scale * rng.uniform(-1.0, 1.0) for _ in range(cols)] for _ in range(rows)]


def vec(rng, n, scale=1.0, shift=0.0):
    return [shift + scale * rng.uniform(-1.0, 1.0) for _ in range(n)]


def gmm(rng, d, k, n):
    icf_len = d + d * (d - 1) // 2
    return [vec(rng, k), mat(rng, k, d), mat(rng, k, icf_len, 0.5), mat(rng, n, d), 1.0, 0]


def lstm(rng, l, c, b):
    sequence = []
    for _ in range(c):
        hot = rng.randrange(b)
        sequence.append([1.0 if j == hot else 0.0 for j in range(b)])
    return [mat(rng, 2 * l, 4 * b, 0.5), mat(rng, 3, b, 0.5), mat(rng, 2 * l, b, 0.5), sequence]


def ba(rng, nc, np, no):
    cams = []
    for _ in range(nc):
        rot = vec(rng, 3, 0.1)
        centre = vec(rng, 3, 1.0)
        cams.append(rot + centre + [1.0 + 0.1 * rng.random()] + vec(rng, 2, 0.01) + vec(rng, 2, 0.01))
    # Points in front of the cameras.
    points = [[rng.uniform(-1, 1), rng.uniform(-1, 1), 5.0 + rng.uniform(0, 2)] for _ in range(np)]
    obs = [[i % nc, i % np] for i in range(no)]
    weights = [1.0 + 0.1 * rng.uniform(-1, 1) for _ in range(no)]
    features = mat(rng, no, 2, 0.5)
    return [cams, points, weights, features, obs]


def logsumexp(rng, n):
    return [vec(rng, n, 2.0)]


def mlp(rng, n, d, h, c):
    return [mat(rng, h, d, 1.0 / math.sqrt(d)), vec(rng, h, 0.1), mat(rng, c, h, 1.0 / math.sqrt(h)), vec(rng, c, 0.1),
            mat(rng, n, d), [rng.randrange(c) for _ in range(n)]]


def matmul(rng, n):
    return [mat(rng, n, n), mat(rng, n, n)]


def llsq(rng, m, n):
    return [vec(rng, m), n]


def ode(rng, n, s):
    return [[rng.uniform(0.0, 1.0) for _ in range(n)], s]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    parser.add_argument("which", nargs="*", help="NAME or NAME:SIZE (default: everything)")
    args = parser.parse_args()
    wanted = args.which or list(SIZES)
    os.makedirs(args.out, exist_ok=True)
    for item in wanted:
        name, _, only = item.partition(":")
        for size, params in SIZES[name].items():
            if only and size != only:
                continue
            path = os.path.join(args.out, f"{name}_{size}.json")
            if os.path.exists(path):
                continue
            rng = random.Random(f"{name}-{size}")
            data = globals()[name](rng, **params)
            with open(path, "w") as f:
                json.dump(data, f, separators=(",", ":"))
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
