"""Calls a gradient compiled by dl on NumPy arrays, through ctypes.

Build the library first (see README.md):

    dl build --shared examples/python/regression.dl -o libregression.so
    python3 examples/python/gradient.py ./libregression.so

The inputs are passed as pointers into the NumPy arrays (no copy); the
result buffer, allocated by the dl runtime, is copied once into a NumPy
array and freed with dl_free.
"""

import ctypes
import sys

import numpy as np

c_double_p = ctypes.POINTER(ctypes.c_double)
c_int64 = ctypes.c_int64


def load(path):
    lib = ctypes.CDLL(path)
    lib.dl_last_error.restype = ctypes.c_char_p
    lib.dl_free.argtypes = [ctypes.c_void_p]
    lib.loss_grad.restype = ctypes.c_int32
    # loss_grad(w, w_dim0, x, x_dim0, x_dim1, y, y_dim0, &out, &out_dim0)
    lib.loss_grad.argtypes = [
        c_double_p, c_int64,
        c_double_p, c_int64, c_int64,
        c_double_p, c_int64,
        ctypes.POINTER(c_double_p), ctypes.POINTER(c_int64),
    ]
    return lib


def as_input(a):
    """A C-contiguous float64 array (no copy when `a` already is one)."""
    return np.ascontiguousarray(a, dtype=np.float64)


def loss_grad(lib, w, x, y):
    w, x, y = as_input(w), as_input(x), as_input(y)
    out = c_double_p()
    size = c_int64()
    status = lib.loss_grad(
        w.ctypes.data_as(c_double_p), w.shape[0],
        x.ctypes.data_as(c_double_p), x.shape[0], x.shape[1],
        y.ctypes.data_as(c_double_p), y.shape[0],
        ctypes.byref(out), ctypes.byref(size),
    )
    if status != 0:
        raise RuntimeError(lib.dl_last_error().decode())
    try:
        return np.ctypeslib.as_array(out, shape=(size.value,)).copy()
    finally:
        lib.dl_free(out)


def main():
    lib = load(sys.argv[1] if len(sys.argv) > 1 else "./libregression.so")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = x @ np.array([2.0, -3.0, 0.5]) + 0.01 * rng.standard_normal(200)
    w = np.zeros(3)

    g = loss_grad(lib, w, x, y)
    expected = 2.0 / len(y) * x.T @ (x @ w - y)
    print("gradient:", g)
    assert np.allclose(g, expected, rtol=1e-12, atol=0.0), (g, expected)

    # Gradient descent with the compiled gradient.
    for _ in range(200):
        w -= 0.1 * loss_grad(lib, w, x, y)
    print("fitted weights:", w)
    assert np.allclose(w, [2.0, -3.0, 0.5], atol=0.01)

    # A run-time error comes back as an exception, with its location.
    try:
        loss_grad(lib, w, x, y[:10])
    except RuntimeError as e:
        print("error:", e)
    else:
        raise AssertionError("a size mismatch should fail")


if __name__ == "__main__":
    main()
