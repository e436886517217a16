# ---------------------------------------------------------------------------
# The PyTorch side of `mhcc bench FILE.mhc --vs-torch`: times training steps of
# the module mhcc emitted for FILE (model.py, eager PyTorch on CPU) one at a
# time, when mhcc asks, so that they interleave with mhcc's own steps.
#
#   python3 bench.py DIR      (DIR holds model.py; JSON lines on stdin/stdout)
#
# A step is what mhcc's bench times: forward, backward, global-norm clipping
# and the optimizer step, here PyTorch's own AdamW (float32 moments, the
# parameter groups of the IR's decay attribute) or SGD, as a PyTorch user
# would train. The batches are uniform random tokens (the data pipeline is
# not measured). Requests:
#   {"cmd": "start", ...}  build the model, warm up, pick the thread count
#   {"cmd": "step"}        one timed step: wall and CPU time (ns), loss
# The first line out says whether PyTorch and model.py import ({"ready": ...}).
# Closing stdin ends the process.
# ---------------------------------------------------------------------------
import json
import os
import resource
import statistics
import sys
import time


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    try:
        import torch
    except Exception as e:  # noqa: BLE001  (any import failure means no PyTorch)
        reply({"ready": False, "error": "cannot import torch: %s" % e})
        return
    sys.path.insert(0, sys.argv[1])
    import model as M  # noqa: E402  (the emitted model.py)
    reply({"ready": True})

    bench = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "start":
                bench = Bench(torch, M, req)
                reply(dict(ok=True, **bench.info))
            elif req["cmd"] == "step":
                wall, cpu, loss = bench.step()
                reply({"ok": True, "wall_ns": wall, "cpu_ns": cpu, "loss": loss,
                       "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
            else:
                reply({"ok": False, "error": "unknown request %r" % req["cmd"]})
        except Exception as e:  # noqa: BLE001  (reported to mhcc, which stops)
            reply({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})


class Bench:
    def __init__(self, torch, M, req):
        self.torch = torch
        torch.manual_seed(req["seed"])
        self.module = M.build(seed=req["seed"])
        untrained = set(self.module.UNTRAINED)
        named = [(n, self.module.get_parameter(n), decay) for n, _s, _i, decay in self.module.PARAMS if n not in untrained]
        self.params = [p for _n, p, _d in named]
        o = req["optimizer"]
        groups = [{"params": [p for _n, p, d in named if d], "weight_decay": o["weight_decay"]},
                  {"params": [p for _n, p, d in named if not d], "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
        if o["kind"] == "sgd":
            self.opt = torch.optim.SGD(groups, lr=o["lr"], momentum=o["momentum"])
        else:
            self.opt = torch.optim.AdamW(groups, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"])
        self.clip = o["clip"]
        g = torch.Generator().manual_seed(req["seed"])
        B, T, V = req["batch"], req["context"], req["vocab"]
        self.batches = [(torch.randint(0, V, (B, T), generator=g), torch.randint(0, V, (B, T), generator=g)) for _ in range(4)]
        self.next = 0
        for _ in range(req["warmup"]):
            self.step()
        tried = {}
        threads = req["threads"]
        if len(threads) > 1:  # the fastest thread count: an untimed step, then the median of a few
            for k in threads:
                torch.set_num_threads(k)
                self.step()
                tried[str(k)] = statistics.median(self.step()[0] for _ in range(req["probe"])) / 1e6
            best = min(threads, key=lambda k: tried[str(k)])
        else:
            best = threads[0]
        torch.set_num_threads(best)
        self.step()
        self.info = {"threads": best, "tried_ms": tried, "torch": torch.__version__,
                     "python": "%d.%d.%d" % sys.version_info[:3], "params": sum(p.numel() for p in self.params),
                     "optimizer": type(self.opt).__name__}

    def step(self):
        torch = self.torch
        tok, tgt = self.batches[self.next % len(self.batches)]
        self.next += 1
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        self.opt.zero_grad(set_to_none=True)
        loss = self.module(tok, tgt)
        loss.backward()
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        t1, c1 = time.perf_counter_ns(), time.process_time_ns()
        return t1 - t0, c1 - c0, float(loss)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isfile(os.path.join(sys.argv[1], "model.py")):
        sys.exit("usage: bench.py DIR (the folder of an emitted model.py)")
    main()
