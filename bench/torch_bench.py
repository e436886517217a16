#!/usr/bin/env python3
"""PyTorch eager CPU reference for `mhcc bench` (docs/performance.md).

Trains the architecture of examples/bench/*.mhc in PyTorch eager mode on CPU
with the same shapes, optimizer (AdamW, clip 1.0) and step definition
(forward + backward + clip + optimizer step), and prints the median step time
and tokens/s. Not part of the test suite.

    apt-get install -y python3-torch
    /usr/bin/python3 bench/torch_bench.py --dim 512 --layers 4 --heads 8 --batch 8 --streams 1
    /usr/bin/python3 bench/torch_bench.py --dim 512 --layers 4 --heads 8 --batch 8 --streams 4

Architecture (the mhcc lowering, docs/hyperconnections.md): byte vocabulary 256, context
128, token embedding, `layers` blocks of [RMSNorm -> causal attention with
RoPE] and [RMSNorm -> MLP 4d with tanh GELU], final RMSNorm, tied head, mean
cross-entropy. --streams 1 is the plain pre-norm residual; --streams n > 1 is
mHC: n streams, per sublayer one projection x.phi / rms(x), sigmoid /
2 sigmoid / Sinkhorn (20 iterations) coefficients, read H_pre.X, write
H_res.X + H_post y; collapse = sum of the streams.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.g = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.g


def rope(x, base=10000.0):
    # x: [B, H, T, dh]
    T, dh = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, dh, 2, dtype=torch.float32) / dh)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o = nn.Linear(d, d, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        q, k = rope(q), rope(k)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(C // self.h)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        p = s.masked_fill(mask, float("-inf")).softmax(-1)
        y = (p @ v).transpose(1, 2).reshape(B, T, C)
        return self.o(y)


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w1 = nn.Linear(d, 4 * d, bias=False)
        self.w2 = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        return self.w2(F.gelu(self.w1(x), approximate="tanh"))


def sinkhorn(logits, iters):
    m = torch.exp(logits - logits.amax(dim=(-1, -2), keepdim=True))
    for _ in range(iters):
        m = m / m.sum(-2, keepdim=True)  # columns
        m = m / m.sum(-1, keepdim=True)  # rows
    return m


class Sublayer(nn.Module):
    """norm + body with a plain residual (n = 1) or an mHC connection."""

    def __init__(self, d, body, n, k, sinkhorn_iters=20):
        super().__init__()
        self.norm, self.body, self.n, self.iters = RMSNorm(d), body, n, sinkhorn_iters
        if n > 1:
            w = n * n + 2 * n
            self.phi = nn.Parameter(torch.randn(n * d, w) * 0.02)
            bias = torch.zeros(w)
            bias[:n] = -3.0
            bias[k % n] = 3.0
            bias[2 * n:] = (6 * torch.eye(n) - 3).flatten()
            self.bias = nn.Parameter(bias)
            self.alpha = nn.Parameter(torch.full((3,), 0.01))

    def forward(self, x):
        if self.n == 1:
            return x + self.body(self.norm(x))
        B, T, n, C = x.shape
        flat = x.reshape(B, T, n * C)
        m = (flat @ self.phi) * torch.rsqrt(flat.pow(2).mean(-1, keepdim=True) + 1e-6)
        a = self.alpha
        pre = torch.sigmoid(a[0] * m[..., :n] + self.bias[:n])
        post = 2 * torch.sigmoid(a[1] * m[..., n:2 * n] + self.bias[n:2 * n])
        res = sinkhorn((a[2] * m[..., 2 * n:] + self.bias[2 * n:]).view(B, T, n, n), self.iters)
        u = (pre.unsqueeze(-1) * x).sum(-2)
        y = self.body(self.norm(u))
        return res @ x + post.unsqueeze(-1) * y.unsqueeze(-2)


class Model(nn.Module):
    def __init__(self, vocab, d, layers, heads, n):
        super().__init__()
        self.n = n
        self.embed = nn.Embedding(vocab, d)
        nn.init.normal_(self.embed.weight, std=0.02)
        subs = []
        for b in range(layers):
            subs.append(Sublayer(d, Attention(d, heads), n, 2 * b))
            subs.append(Sublayer(d, MLP(d), n, 2 * b + 1))
        self.subs = nn.ModuleList(subs)
        self.norm = RMSNorm(d)

    def forward(self, tokens, targets):
        x = self.embed(tokens)
        if self.n > 1:
            x = x.unsqueeze(-2).expand(-1, -1, self.n, -1).contiguous()
        for s in self.subs:
            x = s(x)
        if self.n > 1:
            x = x.sum(-2)
        logits = self.norm(x) @ self.embed.weight.t()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    model = Model(256, args.dim, args.layers, args.heads, args.streams)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randint(0, 256, (args.batch, args.context), generator=g),
                torch.randint(0, 256, (args.batch, args.context), generator=g)) for _ in range(4)]
    times, cpu = [], []
    for i in range(args.warmup + args.steps):
        tok, tgt = batches[i % len(batches)]
        c0, t0 = time.process_time(), time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(tok, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t1, c1 = time.perf_counter(), time.process_time()
        if i >= args.warmup:
            times.append(t1 - t0)
            cpu.append(c1 - c0)
    med = statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__} eager CPU, {torch.get_num_threads()} threads: dim {args.dim}, "
          f"{args.layers} layers, {args.streams} streams, B={args.batch} T={args.context}, {params:,} params")
    print(f"median step {med * 1000:.1f} ms (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}), "
          f"CPU {statistics.median(cpu) * 1000:.1f} ms, {args.batch * args.context / med:,.0f} tokens/s, "
          f"last loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
