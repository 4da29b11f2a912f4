"""PyTorch + PEFT side of `ajuste bench train` (embedded in the ajuste binary).

Builds a randomly initialised LlamaForCausalLM of the given shape in float32, attaches a LoRA
adapter (r, alpha, every linear layer of the blocks, no dropout), and times full training steps
(forward, loss, backward, AdamW step, zero_grad) on a batch of token ids, on the CPU or on CUDA
("device": "cuda" when torch has it; peak memory is then the CUDA allocator's). Prints one JSON
line.
"""

import json
import resource
import sys
import time


def main():
    spec = json.loads(sys.argv[1])
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    cfg = LlamaConfig(
        vocab_size=spec["vocab_size"],
        hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"],
        num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"],
        num_key_value_heads=spec["num_key_value_heads"],
        max_position_embeddings=spec["seq"],
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=spec["tied"],
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).float()
    lora = LoraConfig(r=spec["r"], lora_alpha=spec["alpha"], lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    # On CUDA when asked and available; float(loss) below waits for the device.
    device = "cuda" if spec.get("device") == "cuda" and torch.cuda.is_available() else "cpu"
    model.to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    b, t, v = spec["batch"], spec["seq"], spec["vocab_size"]
    ids = (torch.arange(b * t) * 7919 % v).reshape(b, t).to(device)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    step()  # warm-up
    times = []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)
    if device == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "step_s": mean,
        "tokens_per_s": b * t / mean,
        "peak_mb": peak_mb,
        "device": device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
