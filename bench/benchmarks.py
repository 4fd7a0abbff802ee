"""The benchmarks of this folder: for each, its dl file, the objective and
gradient entry points (both take the arguments of the generated data
file), and the work of one objective call for GFLOP/s or GB/s figures."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DL = os.path.join(ROOT, "target", "release", "dl")


def matmul_flops(p):
    return 2.0 * p["n"] ** 3


def lse_bytes(p):
    return 8.0 * p["n"]


# name -> (file, objective entry, gradient entry, (unit, work function) or None)
BENCHMARKS = {
    "gmm": ("gmm.dl", "gmm_objective", "gmm_gradient", None),
    "lstm": ("lstm.dl", "lstm_objective", "lstm_gradient", None),
    "ba": ("ba.dl", "ba_sqerror", "ba_gradient", None),
    "logsumexp": ("logsumexp.dl", "lse", "lse_gradient", ("GB/s", lse_bytes)),
    "mlp": ("mlp.dl", "mlp_loss", "mlp_gradient", None),
    "matmul": ("matmul.dl", "product", "product_gradient", ("GFLOP/s", matmul_flops)),
    "llsq": ("llsq.dl", "llsq_objective", "llsq_gradient", None),
    "ode": ("ode.dl", "ode_objective", "ode_gradient", None),
}

# The benchmarks of the native-code issue's table (gradient/primal <= 3 on
# the first four).
SCALAR_TARGETS = ["gmm", "lstm", "ba", "mlp"]


def data_path(name, size):
    return os.path.join(HERE, "data", f"{name}_{size}.json")
