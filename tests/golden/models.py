#!/usr/bin/env python3
"""Golden fixtures for ajuste's model and adapters, from transformers, PEFT and bitsandbytes.

Run by hand (CI only reads the committed files):

    /opt/pyref/bin/python tests/golden/models.py            # writes tests/fixtures/golden/
    /opt/pyref/bin/python tests/golden/models.py --check-peft DIR
        # loads an adapter directory written by ajuste into PEFT and prints its loss

Versions used for the committed fixtures: torch 2.15.0, transformers 5.24.0, peft 0.21.2,
bitsandbytes 0.50.2 (CPU).

What it writes, per model directory under tests/fixtures/golden/:
  config.json + model.safetensors (or shards + model.safetensors.index.json)
  expected.safetensors   input_ids, attention_mask, labels (int64), logits (f32, every position;
                         compare only where attention_mask is 1), loss (masked CE, HF's
                         ForCausalLM loss), all computed in float32 (eager attention) from the stored weights
  adapters/<kind>/       PEFT adapter (save_pretrained) with random non-zero B
  adapters/<kind>/expected.safetensors   loss, logits and d(loss)/d(param) of every adapter
                         parameter, keyed by the PEFT state-dict key

and nf4/ with a weight, bitsandbytes' NF4 quantisation of it and its dequantisation.
"""

import argparse
import json
import math
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "golden"))


def tiny_llama_config():
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.15,
    )


def tiny_qwen2_config():
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=320,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.15,
    )


def build(config, cls, seed):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    model = cls(config).float().eval()
    # HF initialises norms to 1 and biases to 0; perturb them so that a loader which drops or
    # swaps them cannot pass.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
    return model


def batch(vocab, seed):
    """Three rows of 10 tokens: full, right-padded by 3, left-padded by 4."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (3, 10), generator=g)
    mask = torch.ones(3, 10, dtype=torch.int64)
    mask[1, 7:] = 0
    mask[2, :4] = 0
    ids = ids.masked_fill(mask == 0, 0)
    labels = ids.clone().masked_fill(mask == 0, -100)
    # Never train on the first real token of a row: its prediction would come from a padding
    # position, whose hidden state is implementation-defined.
    labels[0, 0] = -100
    labels[1, 0] = -100
    labels[2, 4] = -100
    # A prompt-masked span, as SFT does.
    labels[0, 1:3] = -100
    return ids, mask, labels


def forward32(model, ids, mask, labels):
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    return out.logits, out.loss


def save_model(model, path, dtype, shard=None):
    if os.path.exists(path):
        shutil.rmtree(path)
    m = model.to(dtype)
    kwargs = {"safe_serialization": True}
    if shard:
        kwargs["max_shard_size"] = shard
    m.save_pretrained(path, **kwargs)
    model.float()


def reload32(path, cls):
    """The model exactly as stored (bf16/f16 weights upcast), in float32.

    Not float64: transformers' eager mask adds finfo(float64).min to the scores, which
    overflows to -inf on fully masked (left-padding) rows and turns the whole row into NaN.
    """
    model = cls.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="eager")
    return model.float().eval()


def expected_base(path, cls, ids, mask, labels):
    model = reload32(path, cls)
    with torch.no_grad():
        logits, loss = forward32(model, ids, mask, labels)
    save_file(
        {
            "input_ids": ids.contiguous(),
            "attention_mask": mask.contiguous(),
            "labels": labels.contiguous(),
            "logits": logits.float().contiguous(),
            "loss": loss.float().reshape(1),
        },
        os.path.join(path, "expected.safetensors"),
    )
    return float(loss)


def adapter(path, cls, kind, lora_kwargs, ids, mask, labels, seed):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    base = reload32(path, cls)
    cfg = LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, **lora_kwargs)
    model = get_peft_model(base, cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                # Non-zero B so that every adapter parameter has a gradient.
                p.copy_(0.2 * torch.randn_like(p))
            elif "lora_magnitude_vector" in name:
                # Move the magnitude off its initial norm so DoRA's scale is not 1.
                p.mul_(1.0 + 0.1 * torch.randn_like(p))
    out_dir = os.path.join(path, "adapters", kind)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    model.save_pretrained(out_dir)
    # Keep fixtures free of this machine's paths and of PEFT's model-card boilerplate.
    os.remove(os.path.join(out_dir, "README.md"))
    cfg_path = os.path.join(out_dir, "adapter_config.json")
    cfg_json = json.load(open(cfg_path))
    cfg_json["base_model_name_or_path"] = os.path.relpath(path, os.path.join(OUT, "..", "..", ".."))
    with open(cfg_path, "w") as f:
        json.dump(cfg_json, f, indent=2, sort_keys=True)
    model.train()  # dropout is 0: train mode only matters for DoRA's caching
    logits, loss = forward32(model, ids, mask, labels)
    loss.backward()
    from peft import get_peft_model_state_dict

    keys = get_peft_model_state_dict(model).keys()
    params = dict(model.named_parameters())
    grads = {}
    for key in keys:
        # state-dict key -> parameter name: PEFT inserts the adapter name before `.weight`
        # (and after lora_magnitude_vector).
        if key.endswith("lora_magnitude_vector"):
            pname = key + ".default.weight"
        else:
            pname = key.replace(".weight", ".default.weight")
        grads["grad." + key] = params[pname].grad.float().contiguous()
    grads["loss"] = loss.detach().float().reshape(1)
    grads["logits"] = logits.detach().float().contiguous()
    save_file(grads, os.path.join(out_dir, "expected.safetensors"))
    return float(loss), len(keys)


# bitsandbytes 0.50.2 backends/default/ops.py, `quantize_blockwise` (the reference algorithm).
# On CPU, bnb dispatches this op to a C kernel whose binary search picks the farther of two
# neighbouring codes in near-ties (a few per thousand); the reference picks the nearest.
def ref_quantize_blockwise(A, code, blocksize):
    A_flat = A.reshape(-1).float()
    n = A_flat.numel()
    rem = n % blocksize
    full = n - rem
    blocks = full // blocksize
    A_com = A_flat[:full].reshape(blocks, blocksize)
    absmax = A_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(A_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = A_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(A_flat[full:] / am, -1, 1)])
    bounds = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
    return q.reshape(A.shape), absmax


def nf4(seed):
    import bitsandbytes.functional as F

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(64, 384, generator=g) * 0.05
    w[3, 17] = 0.9  # an outlier block
    w[40, :64] = 0.0  # an all-zero block
    # 4-bit part: bitsandbytes itself (on CPU it runs the reference kernel).
    packed, absmax = torch.ops.bitsandbytes.quantize_4bit.default(w, 64, "nf4", torch.uint8)
    code = F.create_dynamic_map().float()
    offset = absmax.mean()
    qabsmax, absmax2 = ref_quantize_blockwise(absmax - offset, code, 256)
    cpu_q, _ = torch.ops.bitsandbytes.quantize_blockwise.default(absmax - offset, code, 256)
    deq_absmax = F.dequantize_blockwise(qabsmax, absmax=absmax2, code=code, blocksize=256) + offset
    state = F.QuantState(
        absmax=deq_absmax.float(),
        shape=w.shape,
        dtype=torch.float32,
        blocksize=64,
        code=F.get_4bit_type("nf4", device="cpu"),
        quant_type="nf4",
    )
    dense = F.dequantize_4bit(packed, quant_state=state).reshape(64, 384)
    out = os.path.join(OUT, "nf4")
    os.makedirs(out, exist_ok=True)
    save_file(
        {
            "weight": w.contiguous(),
            "packed": packed.reshape(-1).contiguous(),
            "absmax_codes": qabsmax.contiguous(),
            "absmax_scales": absmax2.float().contiguous(),
            "offset": offset.reshape(1).float(),
            "absmax": absmax.float().contiguous(),
            "dynamic_map": code.contiguous(),
            "dequantized": dense.float().contiguous(),
        },
        os.path.join(out, "nf4.safetensors"),
    )
    err = (dense - w).abs().max().item()
    diff = int((cpu_q != qabsmax).sum())
    print(f"nf4: max |w - dequant| = {err:.4f}; bnb CPU kernel differs from the reference on {diff}/{qabsmax.numel()} absmax codes")


def check_peft(adapter_dir):
    """Loads an adapter written by ajuste into PEFT on the model it was trained on."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from safetensors.torch import load_file

    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    base_dir = cfg["base_model_name_or_path"]
    if not os.path.isabs(base_dir):
        # Fixture adapters name their base relative to the repository root.
        base_dir = os.path.join(HERE, "..", "..", base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, adapter_dir).float().eval()
    exp = load_file(os.path.join(base_dir, "expected.safetensors"))
    with torch.no_grad():
        _, loss = forward32(model, exp["input_ids"], exp["attention_mask"], exp["labels"])
    print(f"PEFT loaded {adapter_dir}: loss {float(loss):.8f}")


def bench():
    """PyTorch side of the SmolLM2-135M-shape timing (see trainer/tests/engine/golden_model.rs)."""
    import time

    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    cfg = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).float()
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    ids = (torch.arange(8 * 128) * 7919 % 49152).reshape(8, 128)
    for step in range(3):
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        fwd = time.perf_counter() - start
        loss.backward()
        model.zero_grad()
        print(f"step {step}: loss {loss.item():.4f}, forward {fwd:.2f} s, forward+backward {time.perf_counter() - start:.2f} s "
              f"(torch {torch.__version__}, {torch.get_num_threads()} threads, attention {model.config._attn_implementation})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-peft", metavar="DIR")
    ap.add_argument("--bench", action="store_true", help="time a SmolLM2-135M-shape LoRA step")
    args = ap.parse_args()
    if args.bench:
        bench()
        return
    if args.check_peft:
        check_peft(args.check_peft)
        return
    from transformers import LlamaForCausalLM, Qwen2ForCausalLM

    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)

    llama = build(tiny_llama_config(), LlamaForCausalLM, seed=1)
    ids, mask, labels = batch(256, seed=2)
    p = os.path.join(OUT, "llama-f32")
    save_model(llama, p, torch.float32)
    print("llama-f32 loss", expected_base(p, LlamaForCausalLM, ids, mask, labels))
    targets_all = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    for kind, kw in [
        ("lora", dict(r=4, lora_alpha=8, target_modules=targets_all)),
        ("rslora", dict(r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "v_proj"])),
        ("dora", dict(r=4, lora_alpha=8, use_dora=True, target_modules=targets_all)),
    ]:
        print(f"llama-f32 {kind}", adapter(p, LlamaForCausalLM, kind, kw, ids, mask, labels, seed=3))

    p = os.path.join(OUT, "llama-bf16")
    save_model(llama, p, torch.bfloat16)
    print("llama-bf16 loss", expected_base(p, LlamaForCausalLM, ids, mask, labels))

    qwen = build(tiny_qwen2_config(), Qwen2ForCausalLM, seed=4)
    ids, mask, labels = batch(320, seed=5)
    p = os.path.join(OUT, "qwen2-f16-sharded")
    save_model(qwen, p, torch.float16, shard="40KB")
    print("qwen2 loss", expected_base(p, Qwen2ForCausalLM, ids, mask, labels))
    print(
        "qwen2 lora",
        adapter(p, Qwen2ForCausalLM, "lora", dict(r=2, lora_alpha=4, target_modules="all-linear"), ids, mask, labels, seed=6),
    )

    nf4(seed=7)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"fixtures: {total / 1e6:.2f} MB under {OUT}")


if __name__ == "__main__":
    sys.exit(main())
