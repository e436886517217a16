# The evaluation worker of mhcc's torch backend (backend/torch/worker.go):
# it runs the op library and the classes the Go side emits, exactly the code
# a model.py holds. Requests and answers are JSON lines on stdin and stdout;
# tensors travel as base64 float64, row-major.
import base64
import hashlib
import inspect
import json
import sys
import traceback


def main():
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the protocol stream
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no torch here
        out.write(json.dumps({"ready": False, "error": "cannot import torch: %s" % e}) + "\n")
        out.flush()
        return
    ns = {"__name__": "mhcc_model"}
    for path in sys.argv[1:]:
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), ns)
    out.write(json.dumps({"ready": True, "torch": torch.__version__, "python": sys.version.split()[0]}) + "\n")
    out.flush()
    classes = {}
    for line in sys.stdin:
        try:
            resp = run(json.loads(line), ns, classes, torch)
        except Exception as e:  # noqa: BLE001 - reported to the Go side
            resp = {"ok": False, "error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
        out.write(json.dumps(resp) + "\n")
        out.flush()


def decode(torch, s):
    buf = bytearray(base64.b64decode(s))
    if not buf:
        return torch.zeros(0, dtype=torch.float64)
    return torch.frombuffer(buf, dtype=torch.float64).clone()


def encode(t):
    return base64.b64encode(t.detach().double().cpu().contiguous().numpy().tobytes()).decode()


def run(req, ns, classes, torch):
    key = hashlib.sha256(req["src"].encode()).hexdigest()
    cls = classes.get(key)
    if cls is None:
        local = dict(ns)
        exec(compile(req["src"], "<mhcc module>", "exec"), local)
        cls = classes[key] = local[req["class"]]
    dtype = torch.float64 if req["dtype"] == "float64" else torch.float32
    model = cls().to(dtype)
    with torch.no_grad():
        for name, shape, _init, _decay in cls.PARAMS:
            model.get_parameter(name).copy_(decode(torch, req["params"][name]).reshape(shape))
    inputs = []
    for name, kind, _shape in cls.INPUTS:
        d = req["inputs"][name]
        t = decode(torch, d["data"]).reshape(d["shape"])
        inputs.append(t.long() if kind == "i32" else t.to(dtype))
    kw = {k: req["sizes"][k] for k in inspect.getfullargspec(cls.compute).kwonlyargs}
    resp = {"ok": True, "outputs": {}}
    if req["grad"]:
        outs = model.compute(*inputs, **kw)
        if outs["loss"].requires_grad:  # else no parameter reaches the loss
            outs["loss"].backward()
        resp["grads"] = {name: encode(p.grad if p.grad is not None else torch.zeros_like(p))
                         for name, p in ((n, model.get_parameter(n)) for n, *_ in cls.PARAMS)}
    else:
        with torch.no_grad():
            outs = model.compute(*inputs, **kw)
    for name in cls.OUTPUTS:
        if outs[name].is_floating_point():
            resp["outputs"][name] = encode(outs[name])
    return resp


if __name__ == "__main__":
    main()
