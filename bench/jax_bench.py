#!/usr/bin/env python3
"""The benchmarks of this folder written in JAX the way a practised JAX user
writes them: vectorised, `jit`, float64, `value_and_grad`, loops as
`lax.scan` / `lax.fori_loop`.

Run as a server by bench/compare: it reads one JSON request per line on
stdin and answers one JSON line on stdout, so that one process serves every
measurement and the two systems can be interleaved.
  {"op": "value", "bench": B, "data": PATH}  -> {"objective": x, "gradient": [...flat]}
  {"op": "time", "bench": B, "data": PATH, "runs": N, "compile_runs": C}
      -> {"compile_ms", "primal_ms", "gradient_ms"} (medians over C compiles
         of primal and gradient together, and over N runs)
"""
import json
import math
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax.scipy.special import gammaln, logsumexp  # noqa: E402


# GMM (ADBench / GradBench)
def gmm_objective(alphas, means, icf, x, gamma, m):
    n, d = x.shape
    k = alphas.shape[0]
    log_diags = icf[:, :d]
    sum_qs = jnp.sum(log_diags, axis=1)
    rows, cols = jnp.tril_indices(d, -1)
    # tril_indices lists row by row; GradBench fills column by column.
    order = jnp.lexsort((rows, cols))
    lower = jnp.zeros((k, d, d)).at[:, rows[order], cols[order]].set(icf[:, d:])
    centered = x[None, :, :] - means[:, None, :]  # k n d
    qx = jnp.exp(log_diags)[:, None, :] * centered + jnp.einsum("kij,knj->kni", lower, centered)
    inner = alphas[:, None] + sum_qs[:, None] - 0.5 * jnp.sum(qx * qx, axis=2)
    lse = logsumexp(inner, axis=0)
    prior_n = d + m + 1
    prior_out = jnp.sum(0.5 * gamma * gamma * (jnp.sum(jnp.exp(2.0 * log_diags), axis=1)
                                               + jnp.sum(icf[:, d:] ** 2, axis=1)) - m * sum_qs)
    log_gamma_distrib = 0.25 * d * (d - 1) * math.log(math.pi) + sum(
        gammaln(0.5 * prior_n + 0.5 * (1.0 - j)) for j in range(1, d + 1))
    prior_c = prior_n * d * (jnp.log(gamma) - 0.5 * math.log(2.0)) - log_gamma_distrib
    return (-n * d * 0.5 * math.log(2.0 * math.pi) + jnp.sum(lse) - n * logsumexp(alphas)
            + prior_out - k * prior_c)


def gmm(data):
    alphas, means, icf, x, gamma, m = data
    args = (jnp.array(alphas), jnp.array(means), jnp.array(icf))
    rest = (jnp.array(x), float(gamma), int(m))
    return (lambda a, mu, q: gmm_objective(a, mu, q, *rest)), args


# LSTM (ADBench diagonal LSTM)
def lstm_objective(main_params, extra_params, state, sequence):
    layers = state.shape[0] // 2
    b = state.shape[1]

    def step(carry, pair):
        total, st = carry
        x_t, y_t = pair
        x = x_t * extra_params[0]
        new_rows = []
        for layer in range(layers):
            w, bias = main_params[2 * layer], main_params[2 * layer + 1]
            hidden, cell = st[2 * layer], st[2 * layer + 1]
            gates = jnp.concatenate([x, hidden, x, hidden]) * w + bias
            forget = jax.nn.sigmoid(gates[:b])
            ingate = jax.nn.sigmoid(gates[b:2 * b])
            outgate = jax.nn.sigmoid(gates[2 * b:3 * b])
            change = jnp.tanh(gates[3 * b:])
            cell = cell * forget + ingate * change
            hidden = outgate * jnp.tanh(cell)
            new_rows += [hidden, cell]
            x = hidden
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - logsumexp(ypred)
        return (total + jnp.dot(y_t, ynorm), jnp.stack(new_rows)), None

    (total, _), _ = lax.scan(step, (0.0, state), (sequence[:-1], sequence[1:]))
    return -total / ((sequence.shape[0] - 1) * b)


def lstm(data):
    main_params, extra_params, state, sequence = (jnp.array(v) for v in data)
    return (lambda mp, ep: lstm_objective(mp, ep, state, sequence)), (main_params, extra_params)


# Bundle adjustment
def rodrigues_rotate_point(rot, x):
    sqtheta = jnp.sum(rot * rot)
    safe = jnp.where(sqtheta != 0.0, sqtheta, 1.0)
    theta = jnp.sqrt(safe)
    w = rot / theta
    rotated = (x * jnp.cos(theta) + jnp.cross(w, x) * jnp.sin(theta)
               + w * (jnp.dot(w, x) * (1.0 - jnp.cos(theta))))
    return jnp.where(sqtheta != 0.0, rotated, x + jnp.cross(rot, x))


def project(cam, x):
    xcam = rodrigues_rotate_point(cam[0:3], x - cam[3:6])
    proj = xcam[0:2] / xcam[2]
    rsq = jnp.sum(proj * proj)
    distorted = proj * (1.0 + cam[9] * rsq + cam[10] * rsq * rsq)
    return distorted * cam[6] + cam[7:9]


def reproj_error(cam, x, w, feat):
    return (project(cam, x) - feat) * w


def ba_sqerror(cams, points, weights, features, obs):
    errs = jax.vmap(reproj_error)(cams[obs[:, 0]], points[obs[:, 1]], weights, features)
    return 0.5 * (jnp.sum(errs * errs) + jnp.sum((1.0 - weights * weights) ** 2))


def ba(data):
    cams, points, weights, features = (jnp.array(v) for v in data[:4])
    obs = jnp.array(data[4], dtype=jnp.int64)
    return (lambda c, p, w: ba_sqerror(c, p, w, features, obs)), (cams, points, weights)


def lse(data):
    return (lambda x: logsumexp(x)), (jnp.array(data[0]),)


def mlp_loss(w1, b1, w2, b2, x, labels):
    hidden = jax.nn.relu(x @ w1.T + b1)
    logits = hidden @ w2.T + b2
    picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    return -jnp.mean(picked - logsumexp(logits, axis=1))


def mlp(data):
    w1, b1, w2, b2, x = (jnp.array(v) for v in data[:5])
    labels = jnp.array(data[5], dtype=jnp.int64)
    return (lambda a, b, c, d: mlp_loss(a, b, c, d, x, labels)), (w1, b1, w2, b2)


def matmul(data):
    a, b = (jnp.array(v) for v in data)
    # The scalar whose gradient is the vjp of the product with a ones cotangent.
    return (lambda p, q: jnp.sum(p @ q)), (a, b)


def llsq_objective(x, n):
    t = -1.0 + jnp.arange(n) * 2.0 / (n - 1)
    powers = t[:, None] ** jnp.arange(x.shape[0])[None, :]
    r = jnp.sign(t) - powers @ x
    return 0.5 * jnp.sum(r * r)


def llsq(data):
    n = int(data[1])
    return (lambda x: llsq_objective(x, n)), (jnp.array(data[0]),)


def ode_objective(x, s):
    h = 2.0 / s

    def fun(y):
        return jnp.concatenate([x[:1], x[1:] * y[:-1]])

    def body(_, y):
        k1 = fun(y)
        k2 = fun(y + h / 2.0 * k1)
        k3 = fun(y + h / 2.0 * k2)
        k4 = fun(y + h * k3)
        return y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return jnp.sum(lax.fori_loop(0, s, body, jnp.zeros_like(x)))


def ode(data):
    s = int(data[1])
    return (lambda x: ode_objective(x, s)), (jnp.array(data[0]),)


BENCHES = {"gmm": gmm, "lstm": lstm, "ba": ba, "logsumexp": lse, "mlp": mlp, "matmul": matmul, "llsq": llsq,
           "ode": ode}


def flat(tree):
    return [float(v) for leaf in jax.tree_util.tree_leaves(tree) for v in jnp.ravel(leaf)]


def median_ms(f, args, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def serve():
    cache = {}
    for line in sys.stdin:
        req = json.loads(line)
        key = (req["bench"], req["data"])
        if key not in cache:
            with open(req["data"]) as f:
                data = json.load(f)
            cache[key] = BENCHES[req["bench"]](data)
        objective, args = cache[key]
        if req["op"] == "value":
            value, grads = jax.jit(jax.value_and_grad(objective, argnums=tuple(range(len(args)))))(*args)
            out = {"objective": float(value), "gradient": flat(grads)}
        else:
            # Each compile starts from a new function, so that no trace or
            # compilation cache of JAX answers it; the median is reported.
            compiles = []
            for _ in range(req.get("compile_runs", 1)):
                fresh = (lambda f: lambda *a: f(*a))(objective)
                primal = jax.jit(fresh)
                gradient = jax.jit(jax.value_and_grad(fresh, argnums=tuple(range(len(args)))))
                start = time.perf_counter()
                primal.lower(*args).compile()
                gradient_compiled = gradient.lower(*args).compile()
                compiles.append((time.perf_counter() - start) * 1e3)
            compiles.sort()
            compile_ms = compiles[len(compiles) // 2]
            jax.block_until_ready(primal(*args))
            jax.block_until_ready(gradient_compiled(*args))
            out = {"compile_ms": compile_ms, "primal_ms": median_ms(primal, args, req["runs"]),
                   "gradient_ms": median_ms(gradient_compiled, args, req["runs"])}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    serve()
