# ---------------------------------------------------------------------------
# The training script mhcc emitted beside model.py: it runs the train block of
# the .mhc file as ./train does (backend/runtime/train of mhcc): the same flags,
# AdamW parameter groups from the IR's decay attribute, schedules, global-norm
# clipping, evaluation windows, log lines, metrics.jsonl and mhcc checkpoints,
# and the same batch streams (Go's PCG generator is reproduced below).
#
#   python3 train.py [--steps N] [--data PATH] [--out DIR] [--seed N] [--resume] [--set PATH=VALUE]
#   torchrun --nproc_per_node=N train.py ...      (DDP; --fsdp for FSDP)
#   python3 train.py eval --ckpt CKPT [--data PATH] [--windows K] [--json]
# ---------------------------------------------------------------------------
import argparse
import copy
import json
import math
import os
import shutil
import signal
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402  (model.py beside this file)

CONFIG = json.loads(CONFIG_JSON)  # noqa: F821  (CONFIG_JSON is set above by mhcc)

def fail(msg):
    """A runtime failure: the message on stderr, exit code 3 (as ./train)."""
    print("error: " + msg, file=sys.stderr, flush=True)
    sys.exit(3)


# Go's math/rand/v2 PCG (and the few Rand methods mhcc's data sources use) ------

_M64 = (1 << 64) - 1
_MUL = (2549297995355413924 << 64) | 4865540595714422341
_INC = (6364136223846793005 << 64) | 1442695040888963407


class PCG:
    """Go's rand.NewPCG(hi, lo) with Uint64, IntN and Float64, bit for bit."""

    def __init__(self, hi, lo):
        self.state = ((hi & _M64) << 64) | (lo & _M64)

    def uint64(self):
        self.state = (self.state * _MUL + _INC) & ((1 << 128) - 1)
        hi, lo = self.state >> 64, self.state & _M64
        hi ^= hi >> 32
        hi = (hi * 0xda942042e4dd58b5) & _M64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & _M64

    def intn(self, n):
        if n & (n - 1) == 0:
            return self.uint64() & (n - 1)
        p = self.uint64() * n
        hi, lo = p >> 64, p & _M64
        if lo < n:
            thresh = ((1 << 64) - n) % n
            while lo < thresh:
                p = self.uint64() * n
                hi, lo = p >> 64, p & _M64
        return hi

    def float64(self):
        return (self.uint64() & ((1 << 53) - 1)) / float(1 << 53)

    def save(self):
        return M.pcg_bytes(self.state >> 64, self.state & _M64)

    def restore(self, b64):
        raw = __import__("base64").b64decode(b64)
        if len(raw) != 20 or raw[:4] != b"pcg:":
            raise ValueError("the data generator state in state.json is damaged")
        self.state = (int.from_bytes(raw[4:12], "big") << 64) | int.from_bytes(raw[12:20], "big")


# data: the sources of backend/runtime/data -------------------------------------

TRAIN, VAL = 0, 1
SPLIT_STREAMS = (0x7472_6169_6e5f_6d6b, 0x7661_6c5f_5f5f_6d6b)


class FileData:
    """Bytes of a text file (vocabulary 256) or little-endian uint16 tokens;
    the last val fraction is the validation split."""

    def __init__(self, path, fmt, vocab, val):
        if fmt in ("", "auto"):
            fmt = "bin" if path.lower().endswith(".bin") else "text"
        if not os.path.isfile(path):
            fail("data file %r: no such file" % path)
        raw = open(path, "rb").read()
        if not raw:
            fail("data file %r: file is empty" % path)
        if fmt == "text":
            toks, self.vocab = list(raw), 256
            self.name = "text %s" % json.dumps(path)
        elif fmt == "bin":
            if len(raw) % 2:
                fail("token file %r: %d bytes is not a whole number of uint16 tokens" % (path, len(raw)))
            toks = list(memoryview(raw).cast("H"))
            self.vocab = vocab
            bad = next((i for i, t in enumerate(toks) if t >= vocab), None)
            if bad is not None:
                fail("token file %r: token %d at position %d is outside the declared vocabulary of %d" % (path, toks[bad], bad, vocab))
            self.name = "tokens %s (uint16, vocab %d)" % (json.dumps(path), vocab)
        else:
            fail("data file %r: unknown format %r (want text or bin)" % (path, fmt))
        n_val = int(float(len(toks)) * val)
        if val > 0 and n_val == 0:
            n_val = 1
        cut = len(toks) - n_val
        self.splits = (toks[:cut], toks[cut:])
        self.val_fraction = val

    def check(self, T):
        for split, n in (("training", len(self.splits[0])), ("validation", len(self.splits[1]))):
            if (split == "training" or self.val_fraction > 0) and n < T + 1:
                fail("data %s: %s split has %d tokens, need at least %d for context %d" % (self.name, split, n, T + 1, T))

    def window(self, split, start, T):
        w = self.splits[split][start:start + T + 1]
        return w[:T], w[1:]

    def batch(self, split, rng, B, T):
        n = len(self.splits[split])
        rows = [self.window(split, rng.intn(n - T), T) for _ in range(B)]
        return [r[0] for r in rows], [r[1] for r in rows]


def _pick(cum, u):
    for i, c in enumerate(cum):
        if u < c:
            return i
    return len(cum) - 1


class MarkovData:
    """The synthetic Markov chain of ./train: the chain is the one mhcc built
    for the program's seed (a different --seed would need another chain)."""

    def __init__(self, chain):
        self.c = chain
        self.name, self.vocab = chain["name"], chain["vocab"]

    def loss_floor(self, T):
        return self.c["rate"]

    def batch(self, split, rng, B, T):
        c = self.c
        r = PCG(rng.uint64(), SPLIT_STREAMS[split])
        toks, tgts = [], []
        for _ in range(B):
            s = _pick(c["pi_cum"], r.float64())
            tok, tgt = [], []
            for _ in range(T):
                n = c["succ"][s][_pick(c["cum"][s], r.float64())]
                tok.append(c["tokens"][s])
                tgt.append(c["tokens"][n])
                s = n
            toks.append(tok)
            tgts.append(tgt)
        return toks, tgts


class RecallData:
    """The associative-recall task of ./train."""

    def __init__(self, vocab):
        if vocab < 4:
            fail("the recall task needs a vocabulary of at least 4 tokens, the model has %d" % vocab)
        self.vocab = vocab
        self.keys = min(vocab // 2, 32)
        self.values = min(vocab - self.keys, 32)
        self.name = "recall(vocab=%d, keys=%d, values=%d)" % (vocab, self.keys, self.values)

    def pairs(self, T):
        return max(1, min((T + 1) // 4, self.keys))

    def loss_floor(self, T):
        P, h = self.pairs(T), 0.0
        for j in range(1, T + 1):
            if j < 2 * P and j % 2 == 0:
                h += math.log(self.keys - j // 2)
            elif j < 2 * P:
                h += math.log(self.values)
            elif (j - 2 * P) % 2 == 0:
                h += math.log(P)
        return h / T

    def stream(self, rng, P, n):
        perm, vals, out = list(range(self.keys)), [0] * P, [0] * n
        for i in range(P):
            j = i + rng.intn(self.keys - i)
            perm[i], perm[j] = perm[j], perm[i]
            vals[i] = self.keys + rng.intn(self.values)
        for j in range(n):
            if j < 2 * P and j % 2 == 0:
                out[j] = perm[j // 2]
            elif j < 2 * P:
                out[j] = vals[j // 2]
            elif (j - 2 * P) % 2 == 0:
                q = rng.intn(P)
                out[j] = perm[q]
                if j + 1 < n:
                    out[j + 1] = vals[q]
        return out

    def batch(self, split, rng, B, T):
        g = PCG(rng.uint64(), SPLIT_STREAMS[split] ^ 0x7265_6361_6c6c)
        P = self.pairs(T)
        rows = [self.stream(g, P, T + 1) for _ in range(B)]
        return [r[:T] for r in rows], [r[1:] for r in rows]


class DyckData:
    """The nested-brackets task of ./train (data.Dyck): the same windows
    for the same generator state, draw for draw."""

    MAX_TYPES, MAX_DEPTH, OPEN = 8, 32, 0.5

    def __init__(self, vocab):
        if vocab < 2:
            fail("the dyck task needs a vocabulary of at least 2 tokens, the model has %d" % vocab)
        self.vocab = vocab
        self.types = min(vocab // 2, self.MAX_TYPES)
        self.name = "dyck(vocab=%d, types=%d, max_depth=%d)" % (vocab, self.types, self.MAX_DEPTH)

    def entropy(self, depth):
        log_k = math.log(self.types)
        if depth == 0:
            return log_k
        if depth == self.MAX_DEPTH:
            return 0.0
        p = self.OPEN
        return -p * math.log(p) - (1 - p) * math.log(1 - p) + p * log_k

    def loss_floor(self, T):
        prob = [0.0] * (self.MAX_DEPTH + 1)
        prob[0] = 1.0
        h = 0.0
        for j in range(T + 1):
            if j > 0:
                h += sum(p * self.entropy(d) for d, p in enumerate(prob))
            nxt = [0.0] * (self.MAX_DEPTH + 1)
            for d, p in enumerate(prob):
                if d == 0:
                    nxt[1] += p
                elif d == self.MAX_DEPTH:
                    nxt[d - 1] += p
                else:
                    nxt[d + 1] += p * self.OPEN
                    nxt[d - 1] += p * (1 - self.OPEN)
            prob = nxt
        return h / T

    def stream(self, rng, n):
        out, stack = [0] * n, []
        for j in range(n):
            depth = len(stack)
            opening = depth == 0 or (depth < self.MAX_DEPTH and rng.float64() < self.OPEN)
            if opening:
                t = rng.intn(self.types)
                stack.append(t)
                out[j] = t
            else:
                out[j] = self.types + stack.pop()
        return out

    def batch(self, split, rng, B, T):
        g = PCG(rng.uint64(), SPLIT_STREAMS[split] ^ 0x6479_636b)
        rows = [self.stream(g, T + 1) for _ in range(B)]
        return [r[:T] for r in rows], [r[1:] for r in rows]


def open_data(cfg, args, val):
    d = cfg["data"]
    path = args.data or (d["path"] if d["kind"] == "file" else "")
    if not path:
        task = args.task or d["task"] or "markov"
        if task == "recall":
            return RecallData(CONFIG["vocab"])
        if task == "dyck":
            return DyckData(CONFIG["vocab"])
        if task != "markov":
            fail("unknown synthetic task %r (want markov, recall or dyck)" % task)
        chain = CONFIG.get("markov")
        if chain is None or chain["seed"] != cfg["seed"]:
            fail("the synthetic Markov chain depends on the seed; this train.py carries the chain of seed %s; "
                             "emit again with `mhcc FILE.mhc --emit torch --set train.seed=%d`, or train on a file with --data"
                             % (chain and chain["seed"], cfg["seed"]))
        return MarkovData(chain)
    fmt = args.data_format or (d["format"] if d["kind"] == "file" else "")
    vocab = args.vocab or (d["vocab"] if d["kind"] == "file" else 0) or CONFIG["vocab"]
    src = FileData(path, fmt, vocab, val)
    src.check(CONFIG["context"])
    if src.vocab > CONFIG["vocab"]:
        fail("data %s has %d token ids but the model's vocab is %d" % (src.name, src.vocab, CONFIG["vocab"]))
    return src


def val_fraction(cfg):
    d = cfg["data"]
    return d["val"] if d["kind"] == "file" and d["val"] > 0 else 0.1


class Sampler:
    """Training windows: random offsets (from rng) or sequential."""

    def __init__(self, src, mode):
        if mode not in ("random", "sequential"):
            fail("unknown sampling %r (want random or sequential)" % mode)
        if mode == "sequential" and not isinstance(src, FileData):
            fail("sampling=sequential needs a data file; %s is generated" % src.name)
        self.src, self.mode, self.cursor = src, mode, 0

    def batch(self, rng, B, T):
        if self.mode == "random":
            return self.src.batch(TRAIN, rng, B, T)
        n, toks, tgts = len(self.src.splits[TRAIN]), [], []
        for _ in range(B):
            if self.cursor + T + 1 > n:
                self.cursor = 0
            a, b = self.src.window(TRAIN, self.cursor, T)
            toks.append(a)
            tgts.append(b)
            self.cursor += T
        return toks, tgts


def eval_windows(src, seed, B, T, k, split=VAL):
    """The first k windows of a file's split (window i: tokens [iT, iT+T)),
    or ceil(k/B) fixed synthetic validation batches."""
    if isinstance(src, FileData):
        n = max(0, (len(src.splits[split]) - 1) // T)
        if 0 < k < n:
            n = k
        return [src.window(split, i * T, T) for i in range(n)]
    rng = PCG(seed, 0x7661_6c)
    out = []
    for _ in range((k + B - 1) // B):
        a, b = src.batch(VAL, rng, B, T)
        out += list(zip(a, b))
    return out


# optimizers and schedules: backend/runtime/optim --------------------------------

class AdamW:
    """mhcc's AdamW: decoupled weight decay on the parameters whose IR param
    has decay=true, moments in float32 (moments=f64: float64), as ./train
    keeps them: each update is computed in float64, the new moments are
    rounded once into their precision and the step uses the rounded ones."""

    kind = "adamw"

    def __init__(self, named, o):
        self.named, self.o, self.step_count = named, o, 0
        dt = torch.float64 if o.get("moments") == "f64" else torch.float32
        self.m = {n: torch.zeros_like(p, dtype=dt) for n, p, _ in named}
        self.v = {n: torch.zeros_like(p, dtype=dt) for n, p, _ in named}

    @torch.no_grad()
    def step(self, lr):
        self.step_count += 1
        b1, b2 = self.o["betas"]
        eps, wd = self.o["eps"], self.o["weight_decay"]
        bc1 = 1 - b1 ** self.step_count
        bc2_sqrt = math.sqrt(1 - b2 ** self.step_count)
        size = lr / bc1
        for n, p, decay in self.named:
            g = p.grad.double()
            m, v = self.m[n], self.v[n]
            m.copy_(m.double() * b1 + g * (1 - b1))
            v.copy_(v.double() * b2 + g * g * (1 - b2))
            x = p.double() * (1 - lr * wd if decay else 1.0)
            x -= size * m.double() / (v.double().sqrt() / bc2_sqrt + eps)
            p.copy_(x)

    def buffers(self):
        out = []
        for n, _p, _d in self.named:
            out += [(n + ".exp_avg", self.m[n].cpu()), (n + ".exp_avg_sq", self.v[n].cpu())]
        return out

    def restore(self, tensors, meta):
        if meta.get("optimizer") != self.kind:
            fail("--resume: optimizer state is for %r, the run uses %r" % (meta.get("optimizer"), self.kind))
        self.step_count = int(meta["step"])
        for n, p, _d in self.named:
            self.m[n].copy_(tensors[n + ".exp_avg"].reshape(p.shape))
            self.v[n].copy_(tensors[n + ".exp_avg_sq"].reshape(p.shape))


class SGD:
    """mhcc's SGD (PyTorch semantics): L2 decay on decay=true parameters."""

    kind = "sgd"

    def __init__(self, named, o):
        self.named, self.o, self.step_count = named, o, 0
        self.buf = {n: torch.zeros_like(p, dtype=torch.float64) for n, p, _ in named}

    @torch.no_grad()
    def step(self, lr):
        self.step_count += 1
        mu, wd = self.o["momentum"], self.o["weight_decay"]
        for n, p, decay in self.named:
            x, g = p.double(), p.grad.double()
            if decay and wd:
                g = g + wd * x
            if mu > 0:
                b = self.buf[n]
                if self.step_count == 1:
                    b.copy_(g)
                else:
                    b.mul_(mu).add_(g)
                g = b
            p.copy_(x - lr * g)

    def buffers(self):
        return [(n + ".momentum_buffer", self.buf[n].cpu()) for n, _p, _d in self.named]

    def restore(self, tensors, meta):
        if meta.get("optimizer") != self.kind:
            fail("--resume: optimizer state is for %r, the run uses %r" % (meta.get("optimizer"), self.kind))
        self.step_count = int(meta["step"])
        for n, p, _d in self.named:
            self.buf[n].copy_(tensors[n + ".momentum_buffer"].reshape(p.shape))


def schedule(cfg, steps):
    s, lr = cfg["schedule"], cfg["optimizer"]["lr"]
    kind, warm = s["kind"], s["warmup"]
    if kind == "constant":
        return (lambda t: lr * max(t, 1) / warm if warm > 0 and max(t, 1) < warm else lr), "constant warmup %d" % warm
    if kind == "cosine":
        mf = s["min_lr"]

        def cosine(t):
            t = max(t, 1)
            if warm > 0 and t <= warm:
                return lr * t / warm
            if t >= steps or steps <= warm:
                return lr * mf
            return lr * (mf + (1 - mf) * 0.5 * (1 + math.cos(math.pi * (t - warm) / (steps - warm))))
        return cosine, "cosine warmup %d min_lr %g" % (warm, mf)
    if kind == "step":
        ms = list(zip(s["milestones"], s["factors"])) if s["milestones"] and len(s["milestones"]) == len(s["factors"]) else [(0.8, 0.316), (0.9, 0.1)]

        def step(t):
            t = max(t, 1)
            if warm > 0 and t <= warm:
                return lr * t / warm
            f = 1.0
            for at, fac in ms:
                if t > at * steps:
                    f = fac
            return lr * f
        return step, "step warmup %d, %s" % (warm, ", ".join("×%g at %g%%" % (f, 100 * a) for a, f in ms))
    fail("unknown schedule %r (want constant, cosine or step)" % kind)


# distributed -------------------------------------------------------------------

def world():
    """(rank, world size) under torchrun (gloo on CPU, nccl on GPU), else (0, 1)."""
    if "RANK" not in os.environ:
        return 0, 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def device_for(rank, args):
    if args.device:
        return torch.device(args.device)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def all_mean(x, n):
    """The mean over the processes of x (n: the world size; 1 for the sum)."""
    if not dist.is_initialized():
        return x
    t = torch.tensor([x], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t[0]) / n


def human(x):
    if x >= 1e9:
        return "%.2fG" % (x / 1e9)
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e3:
        return "%.1fk" % (x / 1e3)
    return "%.0f" % x


# the model under DDP or FSDP -----------------------------------------------------

def wrap(module, n, args, device):
    if n == 1:
        return module
    if args.fsdp:
        try:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        except Exception as e:  # noqa: BLE001
            fail("--fsdp: this PyTorch cannot import FSDP (%s); use DDP (the default)" % e)
        return FSDP(module, device_id=device if device.type == "cuda" else None, use_orig_params=True)
    from torch.nn.parallel import DistributedDataParallel as DDP
    return DDP(module, device_ids=[device] if device.type == "cuda" else None)


def full_params(wrapped, module, fsdp):
    """The full parameters (name, tensor) of the model, gathered under FSDP."""
    if fsdp:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        with FSDP.summon_full_params(wrapped):
            return [(n, module.get_parameter(n).detach().cpu().clone()) for n, *_ in module.PARAMS]
    return [(n, module.get_parameter(n).detach().cpu()) for n, *_ in module.PARAMS]


def outputs_of(wrapped, toks, tgts, device, bf16):
    """The module's outputs (a dict: "loss", and "ce", "aux_loss" and the
    experts' loads where the model has them) for one batch."""
    tokens = torch.tensor(toks, dtype=torch.long, device=device)
    targets = torch.tensor(tgts, dtype=torch.long, device=device)
    if bf16:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return wrapped(tokens, targets, outputs=True)
    return wrapped(tokens, targets, outputs=True)


def cross_entropy(out):
    """The cross-entropy of the outputs: the loss, less the auxiliary balance
    losses when it holds them (balance=aux), as ./train logs and evaluates it."""
    return out["ce"] if "ce" in out else out["loss"]


@torch.no_grad()
def mean_loss(wrapped, windows, B, device, bf16):
    total = 0.0
    for start in range(0, len(windows), B):
        chunk = windows[start:start + B]
        out = outputs_of(wrapped, [w[0] for w in chunk], [w[1] for w in chunk], device, bf16)
        total += float(cross_entropy(out)) * len(chunk)
    return total / len(windows)


# mixture of experts: the experts' load and the balancing -------------------------

class Balancer:
    """The experts' load of every mixture-of-experts sublayer over a step, and
    DeepSeek-V3's auxiliary-loss-free balancing, as ./train does both
    (backend/runtime/train/moe.go of mhcc): after the optimizer step each
    selection bias (a parameter no gradient or optimizer updates) moves by γ
    towards the mean load, b_e <- b_e + γ·sign(mean load - load_e), from the
    counts of the step's micro-batches together. Under torchrun the module's
    load outputs are those of the global batch (model.MOE_GLOBAL_LOAD), so every
    process moves its copy of the biases alike."""

    def __init__(self, layers, B, T):
        self.layers = layers
        self.slots = B * T  # tokens of one global micro-batch
        self.counts = [[0] * l["experts"] for l in layers]
        self.total = [0] * len(layers)

    def describe(self):
        parts = []
        for l in self.layers:
            d = "%s: %d of %d experts" % (l["path"], l["active"], l["experts"])
            if l["shared"] > 0:
                d += " + %d shared" % l["shared"]
            d += {"bias": ", selection bias γ=%g" % l["bias_rate"], "aux": ", auxiliary loss"}.get(l["balance"], ", no balancing")
            parts.append(d)
        return "; ".join(parts) + "; no capacity limit (no token is dropped)"

    def observe(self, out):
        """Adds the loads of a micro-batch: each output holds count/slots, so the
        counts are recovered exactly by rounding."""
        for i, l in enumerate(self.layers):
            n = self.slots * l["active"]
            for e, f in enumerate(out[l["load"]].detach().double().cpu().tolist()):
                self.counts[i][e] += int(math.floor(f * n + 0.5))
            self.total[i] += n

    @torch.no_grad()
    def finish(self, rec, module, wrapped, fsdp):
        """Writes the step's max and min load (relative to the mean) of every
        sublayer into rec, moves the selection biases and starts the next
        step's counts."""
        rec["moe_max_load"], rec["moe_min_load"] = [], []
        moves = []
        for i, l in enumerate(self.layers):
            c, total, E = self.counts[i], self.total[i], l["experts"]
            rec["moe_max_load"].append(max(c) * E / total)
            rec["moe_min_load"].append(min(c) * E / total)
            if l["bias"]:
                g = l["bias_rate"]
                # sign(mean - load_e), compared exactly: total/E against x
                moves.append((l["bias"], [g if total - x * E > 0 else -g if total - x * E < 0 else 0.0 for x in c]))
            self.counts[i] = [0] * E
            self.total[i] = 0
        if not moves:
            return
        ctx = _Null()
        if fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
            ctx = FSDP.summon_full_params(wrapped, writeback=True)
        with ctx:
            for name, delta in moves:
                p = module.get_parameter(name)
                p.add_(torch.tensor(delta, dtype=torch.float32).to(p.device, p.dtype))


# train --------------------------------------------------------------------------

def apply_set(cfg, items):
    for item in items or []:
        path, eq, value = item.partition("=")
        if not eq or not path.startswith("train."):
            fail("--set %s: train.py takes train settings (train.PATH=VALUE); "
                             "a model setting changes the module: emit it again with mhcc --emit torch --set %s" % (item, item))
        keys = path.split(".")[1:]
        node = cfg
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                fail("--set %s: unknown setting %s" % (item, path))
            node = node[k]
        k = keys[-1]
        if k not in node:
            fail("--set %s: unknown setting %s" % (item, path))
        if isinstance(node[k], dict):
            node, k = node[k], "kind"
        try:
            v = json.loads(value)
        except ValueError:
            v = value
        if k == "betas" and isinstance(v, list):
            v = [float(x) for x in v]
        node[k] = v


def train(args):
    cfg = copy.deepcopy(CONFIG["train"])
    apply_set(cfg, args.set)
    o = cfg["optimizer"]
    for flag, key in ((args.steps, "steps"), (args.seed, "seed")):
        if flag is not None:
            cfg[key] = flag
    if args.optimizer:
        o["kind"] = args.optimizer
    if args.momentum is not None:
        o["momentum"] = args.momentum
    if args.schedule:
        cfg["schedule"]["kind"] = args.schedule
    accum = max(args.accumulate or o["accumulate"], 1)
    ck_every = cfg["checkpoint"]["every"] if args.checkpoint_every is None else args.checkpoint_every
    keep = cfg["checkpoint"]["keep"] if args.keep is None else args.keep
    steps, seed, B, T = cfg["steps"], cfg["seed"], cfg["batch"], CONFIG["context"]
    out = args.out or os.path.join("runs", CONFIG["model"])
    rank, n = world()
    if B % n:
        fail("the batch of %d windows does not split over %d processes" % (B, n))
    device = device_for(rank, args)
    log = (lambda s: print(s, flush=True)) if rank == 0 else (lambda s: None)

    src = open_data(cfg, args, val_fraction(cfg))
    sampler = Sampler(src, args.sampling or cfg["data"]["sampling"] or "random")
    module = M.build(seed=seed).to(device)
    untrained = set(module.UNTRAINED)  # the selection biases: set by the balancing
    named = [(name, module.get_parameter(name), decay) for name, _s, _i, decay in module.PARAMS if name not in untrained]
    moe = Balancer(CONFIG["moe"], B, T) if CONFIG.get("moe") else None
    M.MOE_GLOBAL_LOAD = n > 1
    has_aux = "aux_loss" in module.OUTPUTS
    opt = (SGD if o["kind"] == "sgd" else AdamW)(named, o)
    lr_at, sched_desc = schedule(cfg, steps)
    rng = PCG(seed, M.TRAIN_STREAM)
    step, window = 0, {"loss_sum": 0.0, "steps": 0}
    evaluate = cfg["eval"]["every"] > 0
    val = eval_windows(src, seed, B, T, cfg["eval"]["batches"] * B) if evaluate else []
    evaluate = evaluate and len(val) > 0
    if rank == 0:
        os.makedirs(out, exist_ok=True)
        for name in os.listdir(out):
            if name.startswith(".ckpt-") and ".tmp-" in name:
                shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    if args.resume:
        cks = M.list_checkpoints(out)
        if not cks:
            log("--resume: no checkpoint in %s; starting from scratch" % out)
        else:
            tensors, _meta, (opt_tensors, opt_meta), st = M.read_checkpoint(cks[-1][1], with_optimizer=True)
            M.load_tensors(module, tensors, source=st["dir"])
            opt.restore(opt_tensors, opt_meta)
            rng.restore(st["rng"]["train"])
            if st["data"]["sampling"] != sampler.mode:
                fail("--resume: %s was written with sampling=%s, this run uses sampling=%s" % (st["dir"], st["data"]["sampling"], sampler.mode))
            sampler.cursor = st["data"]["cursor"]
            if st["seed"] != seed:
                log("note: continuing with the checkpoint's seed %d" % st["seed"])
                seed = st["seed"]
                if evaluate:
                    val = eval_windows(src, seed, B, T, cfg["eval"]["batches"] * B)
            step, window = st["step"], dict(st["log_window"])
            log("resuming from %s (step %d)" % (st["dir"], step))
    if step >= steps:
        log("nothing to do: the checkpoint is at step %d and the run has %d steps" % (step, steps))
        if n > 1:
            dist.destroy_process_group()
        return
    wrapped = wrap(module, n, args, device)
    nparams = sum(p.numel() for _n, p, _d in named)
    dec = [p.numel() for _n, p, d in named if d]
    nodec = [p.numel() for _n, p, d in named if not d]
    floor = src.loss_floor(T) if hasattr(src, "loss_floor") else None
    log("mhcc train.py: %s (%s), PyTorch %s on %s, %d process%s%s" % (CONFIG["model"], CONFIG["file"], torch.__version__, device,
                                                                  n, "es" if n > 1 else "", " (FSDP)" if args.fsdp and n > 1 else (" (DDP)" if n > 1 else "")))
    log("  %-10s %d | decay %d in %d tensors, no decay %d in %d" % ("params", nparams, sum(dec), len(dec), sum(nodec), len(nodec)))
    log("  %-10s %s, sampling %s" % ("data", src.name, sampler.mode))
    log("  %-10s %d × %d tokens%s" % ("batch", B, T, " × %d accumulated micro-batches" % accum if accum > 1 else ""))
    log("  %-10s %d" % ("steps", steps))
    log("  %-10s %s lr %.1e clip %g" % ("optimizer", opt.kind, o["lr"], o["clip"]))
    log("  %-10s %s" % ("schedule", sched_desc))
    if moe:
        log("  %-10s %s" % ("moe", moe.describe()))
    log("  %-10s %d" % ("seed", seed))
    log("  %-10s %s" % ("out", out))
    if floor is not None:
        log("  %-10s %.4f nats/token (the best achievable loss on this synthetic data)" % ("loss floor", floor))
    metrics_path = os.path.join(out, "metrics.jsonl")
    if rank == 0:
        if args.resume and os.path.exists(metrics_path):
            kept = [ln for ln in open(metrics_path) if ln.strip() and json.loads(ln).get("step", 0) <= step]
            open(metrics_path, "w").writelines(kept)
        metrics = open(metrics_path, "a" if args.resume else "w")
    last_ckpt, saved = None, step if args.resume and step else -1
    log_every = max(cfg["log"]["every"], 1)
    lo, hi = rank * B // n, (rank + 1) * B // n
    win_time, win_n0, total_time, start_step = 0.0, window["steps"], 0.0, step
    final_loss, val_loss = float("nan"), None

    def checkpoint(final=False):
        nonlocal last_ckpt, saved
        params = full_params(wrapped, module, args.fsdp and n > 1)
        if rank == 0:
            meta = {"format": "mhcc", "step": str(step), "model": CONFIG["model"], "ir_sha256": M.Model.IR_SHA256,
                    "config": CONFIG["settings"], "runtime": json.dumps({"steps": steps, "seed": seed, "batch": B, "context": T,
                                                                         "accumulate": accum, "optimizer": opt.kind, "schedule": sched_desc,
                                                                         "sampling": sampler.mode, "data": src.name, "writer": "train.py"})}
            state = {"seed": seed, "rng": {"train": rng.save()},
                     "data": {"name": src.name, "sampling": sampler.mode, "cursor": sampler.cursor},
                     "log_window": window, "optimizer": opt.kind}
            last_ckpt = M.save_checkpoint(_Params(module, params), out, step=step, seed=seed, metadata=meta, state=state,
                                          optimizer={"kind": opt.kind, "step": opt.step_count, "buffers": opt.buffers()})
            if not final:
                log("checkpoint %s" % last_ckpt)
            if keep > 0:
                for _s, d in M.list_checkpoints(out)[:-keep]:
                    shutil.rmtree(d, ignore_errors=True)
        saved = step

    stop = []
    if n == 1:  # under torchrun the agent forwards signals to every rank
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.append(True))
    while step < steps:
        t0 = time.perf_counter()
        step += 1
        loss_sum = aux_sum = 0.0
        for micro in range(accum):
            toks, tgts = sampler.batch(rng, B, T)
            sync = micro == accum - 1 or n == 1
            ctx = wrapped.no_sync() if not sync and hasattr(wrapped, "no_sync") else _Null()
            with ctx:
                outs = outputs_of(wrapped, toks[lo:hi], tgts[lo:hi], device, args.bf16)
                (outs["loss"] / accum).backward()
            if moe:
                moe.observe(outs)
            loss_sum += float(cross_entropy(outs))
            if has_aux:
                aux_sum += float(outs["aux_loss"])
        loss = all_mean(loss_sum / accum, n)
        aux = all_mean(aux_sum / accum, n) if has_aux else None
        if not math.isfinite(loss):
            fail("step %d: the loss is %s: training diverged" % (step, loss))
        with torch.no_grad():
            ss = sum(float((p.grad.double() ** 2).sum()) for _n, p, _d in named)
            if args.fsdp and n > 1:  # each rank holds a shard of the gradients
                ss = all_mean(ss, 1)
            gnorm = math.sqrt(ss)
            if not math.isfinite(gnorm):
                bad = next((nm for nm, p, _d in named if not torch.isfinite(p).all()), None)
                what = "parameter %s holds non-finite values" % bad if bad else "first non-finite gradient: %s" % next(
                    (nm for nm, p, _d in named if not torch.isfinite(p.grad).all()), "?")
                fail("step %d: the gradient norm is %s: training diverged; %s; last good checkpoint: %s" % (
                    step, gnorm, what, last_ckpt))
            if o["clip"] > 0 and gnorm > o["clip"]:
                scale = o["clip"] / gnorm
                for _n, p, _d in named:
                    p.grad.copy_(p.grad.double() * scale)
        lr = lr_at(step)
        opt.step(lr)
        for _n, p, _d in named:
            p.grad = None
        moe_rec = {}
        if moe:
            moe.finish(moe_rec, module, wrapped, args.fsdp and n > 1)
        dt = time.perf_counter() - t0
        total_time += dt
        win_time += dt
        window["loss_sum"] += loss
        window["steps"] += 1
        rec = {"step": step, "loss": loss, "lr": lr, "grad_norm": gnorm, "ms": round(dt * 1e6) / 1e3, "tok_s": B * T * accum / dt}
        if evaluate and (step % cfg["eval"]["every"] == 0 or step == steps):
            val_loss = mean_loss(wrapped, val, B, device, args.bf16)
            rec["val_loss"] = val_loss
        rec.update(moe_rec)
        if has_aux:
            rec["aux_loss"] = aux
        width = len(str(steps))
        if step % log_every == 0 or step == steps:
            k = window["steps"]
            final_loss = window["loss_sum"] / k
            timed = max(k - win_n0, 1)
            line = "step %*d/%d | loss %.4f | lr %.1e | gnorm %.2f | %.0f ms | %s tok/s" % (
                width, step, steps, final_loss, lr, gnorm, win_time * 1e3 / timed, human(B * T * accum * timed / win_time))
            if moe:
                line += " | max load %.2f×" % max(rec["moe_max_load"])
            if "val_loss" in rec:
                line += " | val %.4f" % rec["val_loss"]
            log(line)
            window = {"loss_sum": 0.0, "steps": 0}
            win_time, win_n0 = 0.0, 0
        elif "val_loss" in rec:
            log("eval step %d | val %.4f" % (step, rec["val_loss"]))
        if rank == 0:
            metrics.write(json.dumps(rec) + "\n")
            metrics.flush()
        if ck_every > 0 and step % ck_every == 0 and step < steps:
            checkpoint()
        if stop and step < steps:
            if saved != step:
                checkpoint(final=True)
            log("interrupted after step %d; checkpoint %s written (continue with --resume)" % (step, last_ckpt))
            sys.exit(130)
    if saved != step:
        checkpoint(final=True)
    ran = max(step - start_step, 1)
    if rank == 0:
        metrics.close()
        ms = total_time * 1e3 / ran
        log("done: %d steps | train loss %.4f | val loss %s | %.0f ms/step | %s tok/s" % (
            steps, final_loss, "n/a" if val_loss is None else "%.4f" % val_loss, ms, human(B * T * accum * ran / max(total_time, 1e-9))))
        if floor is not None:
            log("loss floor (best achievable loss on this data) %.4f nats/token" % floor)
        log("checkpoint %s" % last_ckpt)
        summary = {"steps": steps, "final_train_loss": final_loss, "final_val_loss": val_loss, "ms_per_step": ms,
                   "tokens_per_s": B * T * accum * ran / max(total_time, 1e-9), "params": nparams, "out_dir": out,
                   "data": src.name, "model": CONFIG["model"], "residual": CONFIG["residual"], "checkpoint": last_ckpt,
                   "processes": n}
        if floor is not None:
            summary["loss_floor"] = floor
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    if n > 1:
        # every process reaches the teardown together: a gloo process group
        # torn down after its peer has exited can spin forever in rank 0
        # (seen under load after rank 0 wrote the summary)
        dist.barrier()
        dist.destroy_process_group()


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _Params:
    """The model's PARAMS with the given (gathered) tensors, for saving."""

    def __init__(self, module, params):
        self.PARAMS, self.UNTRAINED, self.MODEL, self.IR_SHA256 = module.PARAMS, module.UNTRAINED, CONFIG["model"], M.Model.IR_SHA256
        self.tensors = dict(params)

    def get_parameter(self, name):
        return self.tensors[name]


# eval ---------------------------------------------------------------------------

def evaluate_ckpt(args):
    """Mirrors `mhcc eval`: the mean loss over the first K context windows."""
    cfg = copy.deepcopy(CONFIG["train"])
    B, T = cfg["batch"], CONFIG["context"]
    tensors, _meta, _opt, st = M.read_checkpoint(args.ckpt)
    split = args.split or ("all" if args.data else "val")
    val = 0.0 if split == "all" else val_fraction(cfg)
    cfg["seed"] = st["seed"]
    src = open_data(cfg, args, val)
    module = M.build(seed=st["seed"])
    M.load_tensors(module, tensors, source=st["dir"])
    module.eval()
    k = args.windows if args.windows > 0 else cfg["eval"]["batches"] * B
    if isinstance(src, FileData):
        if split not in ("all", "train", "val"):
            fail("unknown split %r (want all, train or val)" % split)
        windows = eval_windows(src, st["seed"], B, T, k, VAL if split == "val" else TRAIN)
        if not windows:
            fail("data %s: the %s split is too short for one window of context %d" % (src.name, split, T))
    else:
        split = "val"
        windows = eval_windows(src, st["seed"], B, T, k)
    loss = mean_loss(module, windows, B, torch.device("cpu"), False)
    res = {"checkpoint": st["dir"], "step": st["step"], "data": src.name, "split": split, "windows": len(windows),
           "context": T, "tokens": len(windows) * T, "loss": loss, "perplexity": math.exp(loss)}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print("%s (step %d) on %s, %s split: loss %.4f nats/token, perplexity %.3f over %d windows of %d tokens" % (
            res["checkpoint"], res["step"], res["data"], res["split"], loss, res["perplexity"], res["windows"], T))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["eval"]:
        p = argparse.ArgumentParser(prog="train.py eval", description="Mean loss of a checkpoint over the first K context windows (as mhcc eval).")
        p.add_argument("--ckpt", required=True, help="a checkpoint folder or a run folder (its newest checkpoint)")
        p.add_argument("--data", default="", help="a data file instead of the program's data")
        p.add_argument("--split", choices=["all", "train", "val"], default="")
        p.add_argument("--windows", type=int, default=0, help="K windows (default eval.batches × batch)")
        p.add_argument("--json", action="store_true")
        p.add_argument("--data-format", dest="data_format", choices=["", "text", "bin"], default="")
        p.add_argument("--vocab", type=int, default=0)
        p.add_argument("--task", choices=["", "markov", "recall", "dyck"], default="")
        evaluate_ckpt(p.parse_args(argv[1:]))
        return
    if argv[:1] == ["train"]:
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="train.py", description="Train %s as ./train would (docs: README.md beside this file)." % CONFIG["model"])
    p.add_argument("--steps", type=int, help="number of training steps (overrides train.steps)")
    p.add_argument("--data", default="", help="train on this data file instead of the program's data")
    p.add_argument("--seed", type=int, help="random seed (overrides train.seed)")
    p.add_argument("--out", default="", help="run folder (default runs/<model>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of the run folder")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a train setting, e.g. train.optimizer.lr=1e-3")
    p.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
    p.add_argument("--keep", type=int)
    p.add_argument("--accumulate", type=int)
    p.add_argument("--optimizer", choices=["adamw", "sgd"])
    p.add_argument("--momentum", type=float)
    p.add_argument("--schedule", choices=["constant", "cosine", "step"])
    p.add_argument("--sampling", choices=["random", "sequential"])
    p.add_argument("--data-format", dest="data_format", choices=["", "text", "bin"], default="")
    p.add_argument("--vocab", type=int, default=0)
    p.add_argument("--task", choices=["", "markov", "recall", "dyck"], default="")
    p.add_argument("--fsdp", action="store_true", help="shard parameters with FSDP instead of DDP under torchrun")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    p.add_argument("--device", default="", help="cpu, cuda, cuda:1, ... (default: the local GPU under torchrun, else cuda if present, else cpu)")
    args = p.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be positive")
    if args.bf16 and not torch.cuda.is_available():
        p.error("--bf16 is for GPUs (bf16 autocast); this machine has none")
    train(args)


if __name__ == "__main__":
    main()
