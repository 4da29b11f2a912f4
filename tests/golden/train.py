#!/usr/bin/env python3
"""Golden numbers for ajuste's training loop pieces, from torch and transformers.

Run by hand (CI only reads the committed files):

    /opt/pyref/bin/python tests/golden/train.py      # writes tests/fixtures/golden/train/

Versions used for the committed fixtures: torch 2.15.0, transformers 5.24.0.

schedules.json  the learning rate each optimiser step is taken with (the value `LambdaLR` holds
                before `optimizer.step()`), for get_{constant,linear,cosine}_schedule_with_warmup
                with warm-up steps ceil(ratio * total) as TrainingArguments.get_warmup_steps.
adamw.json      torch.optim.AdamW (foreach=False) on two parameters over three steps, gradients
                clipped by torch.nn.utils.clip_grad_norm_ first: the parameters after each step,
                the norm clip_grad_norm_ returned, and the moments after the last step.

And, by hand, that an adapter written by `ajuste train` loads in PEFT and gives the losses
`ajuste score --adapter` gives:

    ajuste data render DATA -t T --tokenizer MODEL/tokenizer.json --json > render.jsonl
    ajuste score --model MODEL --adapter RUN/adapter --data DATA -t T --json > score.jsonl
    /opt/pyref/bin/python tests/golden/train.py --check-adapter RUN/adapter render.jsonl score.jsonl
"""

import argparse
import json
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "golden", "train"))


def schedules():
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    cases = []
    for kind in ["constant", "linear", "cosine"]:
        for ratio, total in [(0.0, 10), (0.1, 25), (0.03, 100), (0.5, 7)]:
            warmup = math.ceil(ratio * total)
            p = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([p], lr=2e-4)
            if kind == "constant":
                sched = get_constant_schedule_with_warmup(opt, warmup)
            elif kind == "linear":
                sched = get_linear_schedule_with_warmup(opt, warmup, total)
            else:
                sched = get_cosine_schedule_with_warmup(opt, warmup, total)
            lrs = []
            for _ in range(total):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
            cases.append({"kind": kind, "warmup_ratio": ratio, "total_steps": total,
                          "warmup_steps": warmup, "peak": 2e-4, "lrs": lrs})
    return cases


def adamw():
    g = torch.Generator().manual_seed(11)
    a = torch.nn.Parameter(torch.randn(6, generator=g))
    norm_w = torch.nn.Parameter(torch.randn(4, generator=g))  # a norm weight: no decay
    grads = [[torch.randn(6, generator=g) * s, torch.randn(4, generator=g) * s] for s in (3.0, 0.1, 1.0)]
    lrs = [1e-3, 5e-3, 2e-3]
    opt = torch.optim.AdamW(
        [{"params": [a], "weight_decay": 0.1}, {"params": [norm_w], "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False,
    )
    start = {"a": a.detach().tolist(), "norm": norm_w.detach().tolist()}
    steps = []
    for (ga, gn), lr in zip(grads, lrs):
        a.grad = ga.clone()
        norm_w.grad = gn.clone()
        total = torch.nn.utils.clip_grad_norm_([a, norm_w], max_norm=1.0)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        steps.append({"grad_a": ga.tolist(), "grad_norm_w": gn.tolist(), "lr": lr,
                      "grad_norm": float(total), "a": a.detach().tolist(), "norm": norm_w.detach().tolist()})
    state = opt.state[a]
    return {"start": start, "weight_decay": 0.1, "max_grad_norm": 1.0, "steps": steps,
            "exp_avg_a": state["exp_avg"].tolist(), "exp_avg_sq_a": state["exp_avg_sq"].tolist()}


def check_adapter(adapter_dir, render_path, score_path):
    """Per-record loss of the PEFT-loaded adapter on the rendered ids vs `ajuste score`."""
    import torch.nn.functional as F
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    base = AutoModelForCausalLM.from_pretrained(cfg["base_model_name_or_path"], dtype=torch.float32,
                                                attn_implementation="eager")
    model = PeftModel.from_pretrained(base, adapter_dir).float().eval()
    renders = [json.loads(line) for line in open(render_path)]
    scores = [json.loads(line) for line in open(score_path)]
    worst = 0.0
    for r, s in zip(renders, scores):
        parts = [(k, r[k], s[k]) for k in ("chosen", "rejected")] if "chosen" in r else [("", r, s)]
        for name, rendered, score in parts:
            ids = torch.tensor([rendered["input_ids"]])
            labels = torch.tensor([rendered["labels"]])
            with torch.no_grad():
                logits = model(input_ids=ids).logits.float()
            lp = F.log_softmax(logits[0, :-1], -1).gather(1, labels[0, 1:].clamp(min=0).unsqueeze(1))[:, 0]
            mask = labels[0, 1:] != -100
            n = int(mask.sum())
            loss = float(-(lp * mask).sum() / n) if n else float("nan")
            diff = abs(loss - score["loss"]) if n else 0.0
            worst = max(worst, diff / max(abs(loss), 1e-12))
            print(f"record {r['record']} {name}: PEFT loss {loss:.6f}, ajuste score {score['loss']:.6f}, "
                  f"{n} vs {score['tokens']} tokens")
    print(f"largest relative difference {worst:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-adapter", nargs=3, metavar=("ADAPTER_DIR", "RENDER_JSONL", "SCORE_JSONL"))
    args = ap.parse_args()
    if args.check_adapter:
        check_adapter(*args.check_adapter)
        return
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "schedules.json"), "w") as f:
        json.dump(schedules(), f, indent=1)
    with open(os.path.join(OUT, "adamw.json"), "w") as f:
        json.dump(adamw(), f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
