# ---------------------------------------------------------------------------
# The mhcc op library: one function per op of mhcc's IR op table (docs/ir.md).
# The generated forward below calls these functions, one line per IR value.
# The conformance test of mhcc (backend/conformance) runs exactly this code
# against mhcc's reference interpreter and float64 finite differences.
# Tensors of the IR type i32 are torch.long here (token ids, targets).
# ---------------------------------------------------------------------------
import itertools
import math

import torch
import torch.nn.functional as F


# leaves ---------------------------------------------------------------------

def op_const(value, dtype, device):
    """const: a scalar constant f32[]."""
    return torch.tensor(value, dtype=dtype, device=device)


def op_permutations(n, dtype, device):
    """permutations: the n! permutation matrices of size n x n, one per row
    as vec(P) (row-major, P[i, pi(i)] = 1), in lexicographic order of pi
    (row 0 the identity)."""
    rows = []
    for pi in itertools.permutations(range(n)):
        row = [0.0] * (n * n)
        for i, j in enumerate(pi):
            row[i * n + j] = 1.0
        rows.append(row)
    return torch.tensor(rows, dtype=dtype, device=device)


# elementwise (binary ops broadcast as in NumPy and PyTorch) ------------------

def op_neg(x):
    return -x


def op_exp(x):
    return torch.exp(x)


def op_log(x):
    return torch.log(x)


def op_sqrt(x):
    return torch.sqrt(x)


def op_square(x):
    return x * x


def op_sigmoid(x):
    return torch.sigmoid(x)


def op_tanh(x):
    return torch.tanh(x)


def op_relu(x):
    return torch.relu(x)


def op_add(a, b):
    return a + b


def op_sub(a, b):
    return a - b


def op_mul(a, b):
    return a * b


def op_div(a, b):
    return a / b


# reductions (keeping the reduced axes with size 1) and softmax ---------------

def op_sum(x, axes):
    return x.sum(dim=axes, keepdim=True)


def op_mean(x, axes):
    return x.mean(dim=axes, keepdim=True)


def op_max(x, axes):
    return torch.amax(x, dim=axes, keepdim=True)


def op_softmax(x):
    return torch.softmax(x, dim=-1)


def op_log_softmax(x):
    return torch.log_softmax(x, dim=-1)


# layout ---------------------------------------------------------------------

def op_reshape(x, shape):
    return x.reshape(shape)


def op_transpose(x, perm):
    """Result axis i is operand axis perm[i]."""
    return x.permute(perm)


def op_slice(x, axis, start, end):
    return x.narrow(axis, start, end - start)


def op_broadcast(x, shape):
    return x.expand(shape)


def op_concat(*xs, axis):
    return torch.cat(xs, dim=axis)


# products -------------------------------------------------------------------

def op_matmul(a, b, trans_b):
    """a [..., M, K] times b [K, N] or [..., K, N] ([N, K] or [..., N, K]
    with trans_b)."""
    if trans_b:
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


def op_matmul_concat(x, *ws):
    """matmul.concat (fused): x times the concatenated weights [w1 | w2 | ...]
    in one product (Q, K and V)."""
    return torch.matmul(x, torch.cat(ws, dim=1))


# index ----------------------------------------------------------------------

def op_gather(table, indices):
    """Row lookup: table [V, C], indices [...] -> [..., C]."""
    return table[indices]


def op_pick(x, indices):
    """x [..., V], indices [...] -> x[..., indices]."""
    return x.gather(-1, indices.unsqueeze(-1)).squeeze(-1)


# sequence -------------------------------------------------------------------

CAUSAL_MASK_VALUE = -1e9


def op_causal_mask(x):
    """x [..., T, T]: entries j > i become -1e9."""
    t = x.shape[-1]
    future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
    return x.masked_fill(future, CAUSAL_MASK_VALUE)


def _rope(x, base, offset):
    """Rotary position embedding, half-split convention: for i < D/2 the
    pair (x_i, x_{i+D/2}) at time index t is rotated by the angle
    (offset + t) * base^(-2i/D). The angles are computed in float64."""
    t, d = x.shape[-2], x.shape[-1]
    h = d // 2
    i = torch.arange(h, dtype=torch.float64, device=x.device)
    freq = torch.pow(torch.tensor(base, dtype=torch.float64, device=x.device), -2.0 * i / d)
    pos = torch.arange(t, dtype=torch.float64, device=x.device) + offset
    ang = pos[:, None] * freq[None, :]
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    a, b = x[..., :h], x[..., h:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


def op_rope(x, base):
    return _rope(x, base, 0)


def op_rope_at(x, pos, base):
    """rope.at: rope at positions pos, pos+1, ... (pos an i32 scalar)."""
    return _rope(x, base, int(pos))


def op_attention(q, k, v, scale, causal):
    """attention (fused): softmax(causal_mask(q k^T scale)) v, with
    PyTorch's autograd as the backward."""
    s = torch.matmul(q, k.transpose(-1, -2))
    if scale != 1:
        s = s * scale
    if causal:
        s = op_causal_mask(s)
    return torch.matmul(torch.softmax(s, dim=-1), v)


def op_attention_cached(q, k, v, k_cache, v_cache, length, scale):
    """attention.cached (forward only): the new positions len ... len+T-1
    attend to the first len cached keys and to the new keys up to their own
    position."""
    n = int(length)
    t = q.shape[-2]
    keys = torch.cat([k_cache[..., :n, :], k], dim=-2)
    vals = torch.cat([v_cache[..., :n, :], v], dim=-2)
    s = torch.matmul(q, keys.transpose(-1, -2)) * scale
    future = torch.ones(t, n + t, dtype=torch.bool, device=q.device).triu(n + 1)
    s = s.masked_fill(future, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), vals)


# normalisation, activations, loss (fused ops; autograd is as good as a
# hand-written backward here) --------------------------------------------------

def op_rmsnorm(x, g, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * g


def op_layernorm(x, g, b, eps):
    """LayerNorm over the last axis with the biased variance (divided by C)."""
    c = x - x.mean(dim=-1, keepdim=True)
    return c / torch.sqrt((c * c).mean(dim=-1, keepdim=True) + eps) * g + b


GELU_SCALE = math.sqrt(2 / math.pi)
GELU_CUBIC = 0.044715


def op_gelu(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    inner = (x + x * x * x * GELU_CUBIC) * GELU_SCALE
    return x * 0.5 * (torch.tanh(inner) + 1)


def op_silu(x):
    return x * torch.sigmoid(x)


def op_cross_entropy(logits, targets):
    """The mean over every position of -log_softmax(logits)[target]."""
    v = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))


# hyper-connections (docs/hyperconnections.md) ----------------------------------

def _sinkhorn_iterates(logits, iters):
    """M0 = exp(L - max), then per round the column then the row
    normalisation: the 2*iters + 1 iterates."""
    m = torch.exp(logits - torch.amax(logits, dim=(-2, -1), keepdim=True))
    out = [m]
    for _ in range(iters):
        m = m / m.sum(dim=-2, keepdim=True)
        out.append(m)
        m = m / m.sum(dim=-1, keepdim=True)
        out.append(m)
    return out


class Sinkhorn(torch.autograd.Function):
    """sinkhorn (fused): Sinkhorn-Knopp on logits [..., n, n]. The forward
    keeps only its input; the backward recomputes the iterates and
    backpropagates through every half-step, as mhcc's CPU kernel does
    (SinkhornBwd): for a row step out = in * r (r = 1 / row sum),
    d in = r (g - sum_k g_k out_k) along the row, likewise for columns;
    finally dL = g * exp(L - max) (the shift by the max needs no term)."""

    @staticmethod
    def forward(ctx, logits, iters):
        ctx.save_for_backward(logits)
        ctx.iters = iters
        m = torch.exp(logits - torch.amax(logits, dim=(-2, -1), keepdim=True))
        for _ in range(iters):
            m = m / m.sum(dim=-2, keepdim=True)
            m = m / m.sum(dim=-1, keepdim=True)
        return m

    @staticmethod
    def backward(ctx, g):
        (logits,) = ctx.saved_tensors
        its = _sinkhorn_iterates(logits.detach(), ctx.iters)
        for k in range(2 * ctx.iters, 0, -1):
            inp, out = its[k - 1], its[k]
            axis = -2 if k % 2 == 1 else -1  # odd iterates come from a column step
            r = 1 / inp.sum(dim=axis, keepdim=True)
            g = r * (g - (g * out).sum(dim=axis, keepdim=True))
        return g * its[0], None


def op_sinkhorn(logits, iters):
    return Sinkhorn.apply(logits, iters)


def op_hc_coeffs(x, phi, alpha, bias, n, eps, res=None):
    """hc.coeffs (fused): m = (x phi) / sqrt(mean(x^2) + eps), then
    [sigmoid(a0 m_pre + b_pre) | 2 sigmoid(a1 m_post + b_post) | a2 m_res + b_res]."""
    m = torch.matmul(x, phi) / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps)
    pre = torch.sigmoid(m[..., :n] * alpha[0:1] + bias[:n])
    post = torch.sigmoid(m[..., n:2 * n] * alpha[1:2] + bias[n:2 * n]) * 2
    rest = m[..., 2 * n:] * alpha[2:3] + bias[2 * n:]
    return torch.cat([pre, post, rest], dim=-1)


def op_hc_read(h_pre, x):
    """hc.read (fused): u = sum_j h_pre[..., j] X[..., j, :]."""
    return torch.matmul(h_pre.unsqueeze(-2), x).squeeze(-2)


def op_hc_write(h_res, x, h_post, y):
    """hc.write (fused): X'[..., i, :] = sum_j h_res[..., i, j] X[..., j, :]
    + h_post[..., i] y."""
    return torch.matmul(h_res, x) + h_post.unsqueeze(-1) * y.unsqueeze(-2)


# mixture of experts ----------------------------------------------------------

def op_moe_topk(x, k):
    """Indices of the k largest entries of every row, in descending order of
    value, ties to the lower index, NaN below every number (two stable
    sorts: by value, then NaN last)."""
    value = torch.where(torch.isnan(x), torch.full_like(x, -math.inf), x)
    order = torch.sort(value, dim=-1, descending=True, stable=True).indices
    nan_last = torch.sort(torch.isnan(x).gather(-1, order).to(torch.int8), dim=-1, stable=True).indices
    return order.gather(-1, nan_last)[..., :k]


# Under data parallelism the experts' load is that of the global batch:
# train.py sets MOE_GLOBAL_LOAD under torchrun, and op_moe_load then sums
# the counts and slots over the processes. Each process's auxiliary loss
# f·P (f global, P its own) then averages, in value and in gradient, to the
# one-process loss of the global batch, and the selection biases move by
# the global load on every process alike.
MOE_GLOBAL_LOAD = False


def op_moe_load(idx, experts, dtype):
    """Each expert's share of the routing slots idx [..., k]."""
    counts = torch.bincount(idx.reshape(-1), minlength=experts)
    if MOE_GLOBAL_LOAD and torch.distributed.is_available() and torch.distributed.is_initialized():
        both = torch.cat([counts, torch.tensor([idx.numel()], dtype=counts.dtype, device=counts.device)])
        torch.distributed.all_reduce(both)
        return both[:-1].to(dtype) / int(both[-1])
    return counts.to(dtype) / idx.numel()


def op_moe_experts(x, idx, gates, w1, w3, w2, act):
    """Routed experts: sum_j gates[t, j] * FFN_idx[t, j](x[t]) with the gated
    FFN (act(u w1_e^T) * (u w3_e^T)) w2_e; the tokens of each expert go
    through its weights together, as the Go kernel groups them."""
    c, k = x.shape[-1], idx.shape[-1]
    fx, fi, fg = x.reshape(-1, c), idx.reshape(-1, k), gates.reshape(-1, k)
    out = torch.zeros_like(fx)
    f = op_silu if act == "silu" else op_gelu
    for e in range(w1.shape[0]):
        tok, slot = (fi == e).nonzero(as_tuple=True)
        if tok.numel() == 0:
            continue
        u = fx[tok]
        h = f(u @ w1[e].t()) * (u @ w3[e].t())
        out = out.index_add(0, tok, (h @ w2[e]) * fg[tok, slot].unsqueeze(-1))
    return out.reshape(x.shape)
