# ---------------------------------------------------------------------------
# Parameters and mhcc checkpoints.
# A model's PARAMS table lists every parameter: its name (the model path,
# also its tensor name in mhcc's checkpoints), shape, init and whether
# AdamW's weight decay applies. make_params turns the dotted names into
# submodules (numbered ones into nn.ModuleList), so that module.state_dict()
# keys are exactly mhcc's tensor names.
# ---------------------------------------------------------------------------
import base64
import datetime
import hashlib
import json
import math
import os
import shutil
import struct
import tempfile

import torch
import torch.nn as nn


class Node(nn.Module):
    """A submodule that only holds parameters and further submodules."""


def make_params(module, params):
    """Registers the parameters; those the module lists in UNTRAINED (such as
    the experts' selection biases) get requires_grad=False."""
    untrained = set(getattr(module, "UNTRAINED", ()))
    tree = {}
    for name, shape, _init, _decay in params:
        node = tree
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (tuple(shape), name)

    def build(owner, spec):
        for key, sub in spec.items():
            if isinstance(sub, tuple):
                owner.register_parameter(key, nn.Parameter(torch.zeros(sub[0]), requires_grad=sub[1] not in untrained))
            else:
                owner.add_module(key, build_node(sub))

    def build_node(spec):
        keys = list(spec)
        if keys and all(k.isdigit() for k in keys) and sorted(int(k) for k in keys) == list(range(len(keys))) \
                and not any(isinstance(v, tuple) for v in spec.values()):
            return nn.ModuleList([build_node(spec[str(i)]) for i in range(len(keys))])
        node = Node()
        build(node, spec)
        return node

    build(module, tree)


def _fnv64a(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def init_values(name, shape, init, seed):
    """The initial value of one parameter (float64). normal(std) draws from
    a generator seeded by the seed and the parameter's name, so that every
    rank of a distributed run and every run with the same seed start from
    the same weights (they are not the weights ./train draws with the same
    seed: Go's and PyTorch's generators differ)."""
    kind, args = init[0], init[1:]
    numel = 1
    for d in shape:
        numel *= d
    out = torch.zeros(numel, dtype=torch.float64)
    if kind == "normal":
        g = torch.Generator().manual_seed((seed * 0x9E3779B97F4A7C15 ^ _fnv64a(name)) & 0x7FFFFFFFFFFFFFFF)
        out = torch.randn(numel, generator=g, dtype=torch.float64) * args[0]
    elif kind == "ones":
        out.fill_(1)
    elif kind == "fill":
        out.fill_(args[0])
    elif kind in ("hc_bias", "hc_perm_bias"):
        n, home = int(args[0]), int(args[1])
        out[:n] = -3
        out[home] = 3
        if kind == "hc_bias":  # res = 6 I - 3
            out[2 * n:] = (torch.eye(n, dtype=torch.float64) * 6 - 3).reshape(-1)
        elif math.factorial(n) > 1:  # the identity permutation gets softmax weight 0.99
            out[2 * n] = math.log(99 * (math.factorial(n) - 1))
    elif kind == "one_hot":
        out[int(args[0])] = 1
    elif kind == "identity":
        out = torch.eye(shape[0], dtype=torch.float64).reshape(-1)
    elif kind != "zeros":
        raise ValueError("parameter %s: unknown init %r" % (name, kind))
    return out.reshape(shape)


def init_params(module, seed):
    with torch.no_grad():
        for name, shape, init, _decay in module.PARAMS:
            p = module.get_parameter(name)
            p.copy_(init_values(name, shape, init, seed).to(p.dtype))


# safetensors ----------------------------------------------------------------

_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def _tensor_bytes(t):
    t = t.detach().to("cpu").contiguous()
    return t.numpy().tobytes()  # little-endian on every platform PyTorch supports


def write_safetensors(path, tensors, metadata):
    """Writes [(name, tensor)] (float32 or float64) as a safetensors file with
    mhcc's data hash in the metadata."""
    header, blobs, off = {}, [], 0
    h = hashlib.sha256()
    for name, t in tensors:
        dt = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        b = _tensor_bytes(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        h.update(b)
        blobs.append(b)
    meta = dict(metadata)
    meta["mhcc.data_sha256"] = h.hexdigest()
    header["__metadata__"] = meta
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in [struct.pack("<Q", len(hb)), hb] + blobs:
            f.write(chunk)
            digest.update(chunk)
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file, checked:
    the header length is bounded, the offsets tile the data exactly and
    match the shapes, and mhcc's data hash (when present) matches."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: not a valid safetensors file (too short)" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise ValueError("%s: not a valid safetensors file (header length %d)" % (path, n))
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out, pos, h = {}, 0, hashlib.sha256()
    for name, e in entries:
        if e["dtype"] not in _DTYPES:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, e["dtype"]))
        dt, size = _DTYPES[e["dtype"]]
        a, b = e["data_offsets"]
        numel = 1
        for d in e["shape"]:
            numel *= d
        if a != pos or b - a != numel * size or b > len(data):
            raise ValueError("%s: not a valid safetensors file (tensor %s: bad offsets)" % (path, name))
        pos = b
        buf = bytearray(data[a:b])
        h.update(buf)
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16) if numel else torch.zeros(0, dtype=dt)
        else:
            t = torch.frombuffer(buf, dtype=dt) if numel else torch.zeros(0, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    if pos != len(data):
        raise ValueError("%s: not a valid safetensors file (%d bytes after the last tensor)" % (path, len(data) - pos))
    want = meta.get("mhcc.data_sha256")
    if want is not None and want != h.hexdigest():
        raise ValueError("%s: the tensor data does not match its recorded SHA-256 (the file was modified)" % path)
    return out, meta


# mhcc checkpoint folders ----------------------------------------------------

MODEL_FILE, OPTIMIZER_FILE, STATE_FILE = "model.safetensors", "optimizer.safetensors", "state.json"


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_checkpoints(run_dir):
    """The complete checkpoints (ckpt-NNNNNN with a state.json) of a run
    folder, oldest first, as (step, path)."""
    out = []
    if os.path.isdir(run_dir):
        for name in os.listdir(run_dir):
            p = os.path.join(run_dir, name)
            if name.startswith("ckpt-") and name[5:].isdigit() and len(name) >= 11 and os.path.isfile(os.path.join(p, STATE_FILE)):
                out.append((int(name[5:]), p))
    return sorted(out)


def resolve_checkpoint(path):
    """A checkpoint folder, or the newest checkpoint of a run folder."""
    if os.path.isfile(os.path.join(path, STATE_FILE)):
        return path
    if not os.path.exists(path):
        raise FileNotFoundError("checkpoint %s: no such file or directory" % path)
    cks = list_checkpoints(path)
    if not cks:
        raise FileNotFoundError("%s is neither a checkpoint folder nor a run folder with checkpoints" % path)
    return cks[-1][1]


def read_checkpoint(path, with_optimizer=False):
    """Reads an mhcc checkpoint folder (or a run folder's newest): returns
    (model tensors, model metadata, optimizer (tensors, metadata) or None,
    state). Every file is checked against the SHA-256 in state.json."""
    path = resolve_checkpoint(path)
    with open(os.path.join(path, STATE_FILE)) as f:
        state = json.load(f)
    if state.get("format") != "mhcc-checkpoint" or state.get("version") != 1:
        raise ValueError("checkpoint %s: %s is not an mhcc checkpoint of version 1" % (path, STATE_FILE))

    def read(name):
        p = os.path.join(path, name)
        want = state.get("files", {}).get(name)
        if want is None:
            raise ValueError("checkpoint %s: state.json lists no %s" % (path, name))
        if _file_sha256(p) != want:
            raise ValueError("checkpoint %s: %s does not match the SHA-256 recorded in state.json" % (path, name))
        return read_safetensors(p)

    model, meta = read(MODEL_FILE)
    opt = read(OPTIMIZER_FILE) if with_optimizer else None
    state["dir"] = path
    return model, meta, opt, state


def load_tensors(module, tensors, source="checkpoint"):
    """Copies tensors into the module's parameters; every difference of
    names and shapes is an error."""
    problems = []
    for name, shape, _init, _decay in module.PARAMS:
        t = tensors.get(name)
        if t is None:
            problems.append("missing tensor %s %s (the model has it, the checkpoint does not)" % (name, list(shape)))
        elif list(t.shape) != list(shape):
            problems.append("reshaped tensor %s: checkpoint %s, model %s" % (name, list(t.shape), list(shape)))
    known = {p[0] for p in module.PARAMS}
    for name, t in tensors.items():
        if name not in known:
            problems.append("extra tensor %s %s (the checkpoint has it, the model does not)" % (name, list(t.shape)))
    if problems:
        raise ValueError("%s does not match the model:\n  %s" % (source, "\n  ".join(problems)))
    with torch.no_grad():
        for name, _shape, _init, _decay in module.PARAMS:
            p = module.get_parameter(name)
            p.copy_(tensors[name].to(p.dtype))


def load_checkpoint(module, path):
    """Loads the weights of an mhcc checkpoint (a ckpt-NNNNNN folder, a run
    folder's newest checkpoint, or a model.safetensors file) into module.
    Returns the checkpoint's state.json (empty for a bare file)."""
    if os.path.isfile(path):
        tensors, _meta = read_safetensors(path)
        state = {}
    else:
        tensors, _meta, _opt, state = read_checkpoint(path)
    load_tensors(module, tensors, source=state.get("dir", path))
    return state


def pcg_bytes(hi, lo):
    """Go's encoding of a math/rand/v2 PCG state (state.json's rng)."""
    return base64.b64encode(b"pcg:" + struct.pack(">QQ", hi, lo)).decode()


def save_checkpoint(module, path, step=0, seed=0, optimizer=None, state=None, metadata=None):
    """Writes the mhcc checkpoint folder path/ckpt-NNNNNN (path: a run
    folder) atomically: model.safetensors (the parameters, F32, by name),
    optimizer.safetensors (F64 buffers <param>.exp_avg and .exp_avg_sq;
    zero moments at optimizer step 0 when optimizer is None: a fresh AdamW)
    and state.json with the SHA-256 of both. state adds or replaces
    state.json fields (rng, data, log_window, ...). Returns the folder."""
    os.makedirs(path, exist_ok=True)
    final = os.path.join(path, "ckpt-%06d" % step)
    tmp = tempfile.mkdtemp(prefix=".ckpt-%06d.tmp-" % step, dir=path)
    try:
        params = [(name, module.get_parameter(name).detach().to("cpu", torch.float32)) for name, *_ in module.PARAMS]
        meta = {"format": "mhcc", "step": str(step), "model": getattr(module, "MODEL", ""),
                "ir_sha256": getattr(module, "IR_SHA256", "")}
        meta.update(metadata or {})
        files = {MODEL_FILE: write_safetensors(os.path.join(tmp, MODEL_FILE), params, meta)}
        if optimizer is None:
            optimizer = {"kind": "adamw", "step": 0, "buffers": []}
            untrained = set(getattr(module, "UNTRAINED", ()))
            for name, t in params:
                if name in untrained:
                    continue
                z = torch.zeros(t.shape, dtype=torch.float64)
                optimizer["buffers"] += [(name + ".exp_avg", z), (name + ".exp_avg_sq", z)]
        files[OPTIMIZER_FILE] = write_safetensors(os.path.join(tmp, OPTIMIZER_FILE), optimizer["buffers"],
                                                  {"optimizer": optimizer["kind"], "step": str(optimizer["step"])})
        st = {"format": "mhcc-checkpoint", "version": 1, "step": step, "seed": seed,
              "rng": {"train": pcg_bytes(seed & 0xFFFFFFFFFFFFFFFF, TRAIN_STREAM)},
              "data": {"name": "", "sampling": "random", "cursor": 0},
              "log_window": {"loss_sum": 0.0, "steps": 0}, "optimizer": optimizer["kind"],
              "ir_sha256": getattr(module, "IR_SHA256", "")}
        st.update(state or {})
        st["files"] = files
        st["written"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(tmp, STATE_FILE), "w") as f:
            f.write(json.dumps(st, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        old = None
        if os.path.exists(final):
            old = tmp + ".old"
            os.rename(final, old)
        os.rename(tmp, final)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# The PCG stream of ./train's batch sampler (backend/runtime/train).
TRAIN_STREAM = 0x7472_6169_6e
