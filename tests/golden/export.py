#!/usr/bin/env python3
"""Golden facts for `ajuste export`: GGUF files read back by gguf-py (and run by llama.cpp), the
Ollama templates run by Go's text/template, and the hand-off configs parsed by the targets' own
code. Run by hand; CI only reads what it commits.

    cargo build -p ajuste-trainer --bin ajuste
    /opt/pyref/bin/python tests/golden/export.py [--llama-python PY] [--skip-handoff]

Optional tools (each check says in the JSON whether it ran):
  --llama-python: a Python with llama-cpp-python (compares llama.cpp's logits on our GGUF with
                  transformers' on the merged model);
  `go` on PATH:   renders every Ollama TEMPLATE with text/template;
  axolotl / llamafactory importable by this Python (e.g. a venv with --system-site-packages
  and `pip install --no-deps axolotl llamafactory`): their config parsers and templates.

Versions used for the committed fixtures are recorded in each JSON under "versions".

It writes under tests/fixtures/golden/export/:
  tokenizer/          a byte-level BPE tokenizer (<= 256 ids, so it fits every golden model)
                      with a ChatML chat_template, trained here on the fixture texts
  conversations.jsonl the conversations the template checks render
  gguf.json           per export case: metadata, tensor names/types/shapes/sha256, and the
                      comparison against the merged safetensors (PEFT merge_and_unload)
  ollama.json         per built-in: sha256 of the Go template, and whether Go's rendering equals
                      the Jinja rendering on every conversation
  handoff.json        per target: the keys its parser accepted and the render comparison
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
OUT = os.path.join(GOLDEN, "export")
AJUSTE = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "ajuste")
BUILTINS = ["alpaca", "vicuna", "llama2", "llama3", "chatml", "mistral", "gemma", "phi3", "zephyr", "qwen"]

CONVERSATIONS = [
    [{"role": "user", "content": "How do I boil an egg?"},
     {"role": "assistant", "content": "Place it in boiling water for nine minutes."}],
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "What is the capital of Portugal?"},
     {"role": "assistant", "content": "Lisbon."},
     {"role": "user", "content": "And of Spain?"},
     {"role": "assistant", "content": "Madrid, of course."}],
    [{"role": "user", "content": "Say \"hi\" with a backslash \\ and\nsome lines\tand tabs."},
     {"role": "assistant", "content": "hi \\ done"},
     {"role": "user", "content": "Thanks!"},
     {"role": "assistant", "content": "You are welcome."}],
    [{"role": "system", "content": "Be brief."},
     {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}],
]


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    return r.returncode, r.stdout, r.stderr


def ajuste(*args):
    code, out, err = run([AJUSTE, *args])
    if code != 0:
        raise SystemExit(f"ajuste {' '.join(args)} failed ({code}):\n{err}")
    return out, err


# ---------------------------------------------------------------- fixtures


def jinja_render(template, messages, add_generation_prompt, bos, eos):
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages], chat_template=template,
        add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos)
    return rendered[0]


def builtin_template(name):
    """ajuste's built-in Jinja text and tokens, as `ajuste template`-free reading of the source."""
    path = os.path.join(ROOT, "shared", "src", "template", "builtins", f"{name}.jinja")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    bos = {"alpaca": "<s>", "vicuna": "<s>", "llama2": "<s>", "mistral": "<s>", "phi3": "<s>", "zephyr": "<s>",
           "llama3": "<|begin_of_text|>", "gemma": "<bos>", "chatml": "", "qwen": ""}[name]
    eos = {"alpaca": "</s>", "vicuna": "</s>", "llama2": "</s>", "mistral": "</s>", "zephyr": "</s>",
           "llama3": "<|eot_id|>", "chatml": "<|im_end|>", "qwen": "<|im_end|>", "gemma": "<eos>",
           "phi3": "<|endoftext|>"}[name]
    return text, bos, eos


def make_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = []
    for name in BUILTINS:
        text, bos, eos = builtin_template(name)
        for conv in CONVERSATIONS:
            for agp in (False, True):
                try:
                    corpus.append(jinja_render(text, conv, agp, bos, eos))
                except Exception:
                    pass
    # Every printable ASCII character, so no text of the fixtures loses a character.
    corpus.append("".join(chr(c) for c in range(32, 127)) + "\n\t")
    for r in HANDOFF_DATA:
        corpus.append(" ".join(m["content"] for m in r["messages"]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    d = os.path.join(OUT, "tokenizer")
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    chatml, _, _ = builtin_template("chatml")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "chat_template": chatml, "model_max_length": 128,
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT, "conversations.jsonl"), "w") as f:
        for conv in CONVERSATIONS:
            f.write(json.dumps({"messages": conv}, ensure_ascii=False) + "\n")
    return d


# ---------------------------------------------------------------- GGUF


def llama_permute(w, n_head):
    # llama.cpp's LlamaModel.permute (convert_hf_to_gguf.py)
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


GGUF_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}


def hf_to_gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    parts = name.split(".")
    layer, rest, kind = parts[2], ".".join(parts[3:-1]), parts[-1]
    return f"blk.{layer}.{GGUF_NAMES[rest]}.{kind}"


def merged_state(model_dir, adapter):
    """The reference weights: transformers' model, PEFT merge_and_unload when an adapter is given."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    return model, sd


def read_gguf(path):
    from gguf import GGUFReader

    r = GGUFReader(path)
    meta = {}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        v = field.contents()
        meta[name] = v
    tensors = {}
    for t in r.tensors:
        tensors[t.name] = {
            "type": t.tensor_type.name,
            "shape": [int(x) for x in t.shape],
            "data": np.array(t.data),
            "bytes": bytes(np.array(t.data).view(np.uint8).tobytes()),
        }
    return r, meta, tensors


def compare_tensors(tensors, ref, arch, cfg, qtype):
    """GGUF tensor vs reference: f32 and f16 exact (f16 of the f32 reference), q8_0 bytes equal
    to gguf-py's quantisation of the reference and within half a step of it."""
    from gguf import GGMLQuantizationType, quants

    report = {"exact": 0, "total": 0, "max_abs_err": 0.0, "f16_ulp_max": 0, "mismatched": []}
    for hf_name, w in ref.items():
        name = hf_to_gguf_name(hf_name)
        t = tensors[name]
        w = w.astype(np.float32)
        if arch == "llama" and ".self_attn.q_proj." in hf_name:
            w = llama_permute(w, cfg.num_attention_heads)
        if arch == "llama" and ".self_attn.k_proj." in hf_name:
            w = llama_permute(w, cfg.num_key_value_heads)
        report["total"] += 1
        if t["type"] == "F32":
            got = t["data"].reshape(w.shape)
            ok = np.array_equal(got, w)
            err = float(np.abs(got - w).max())
        elif t["type"] == "F16":
            got = t["data"].reshape(w.shape)
            want = w.astype(np.float16)
            ok = np.array_equal(got.view(np.uint16), want.view(np.uint16))
            ulp = np.abs(got.view(np.uint16).astype(np.int64) - want.view(np.uint16).astype(np.int64)).max()
            report["f16_ulp_max"] = max(report["f16_ulp_max"], int(ulp))
            err = float(np.abs(got.astype(np.float32) - w).max())
        else:
            want = quants.quantize(w, GGMLQuantizationType.Q8_0)
            ok = t["bytes"] == want.tobytes()
            got = quants.dequantize(np.frombuffer(t["bytes"], dtype=np.uint8).reshape(want.shape),
                                    GGMLQuantizationType.Q8_0).reshape(w.shape)
            # Half a step, plus what storing the scale d as f16 moves the largest value (|q| <= 127).
            d = np.abs(w.reshape(-1, 32)).max(axis=1) / 127
            d16 = d.astype(np.float16).astype(np.float32)
            bound = np.repeat(0.5 * d16 + 127 * np.abs(d16 - d), 32).reshape(w.shape)
            assert np.all(np.abs(got - w) <= bound * 1.0001 + 1e-8), name
            err = float(np.abs(got - w).max())
        report["max_abs_err"] = max(report["max_abs_err"], err)
        if ok:
            report["exact"] += 1
        else:
            report["mismatched"].append(name)
    return report


def case_model(case):
    """A case's model directory: under tests/fixtures/golden, or (`repo_model`) in the repository."""
    if case.get("repo_model"):
        return os.path.join(ROOT, case["repo_model"])
    return os.path.join(GOLDEN, case["model"])


def gguf_case(case, tok_dir, llama_python):
    out = os.path.join(tempfile.mkdtemp(), f"{case['name']}.gguf")
    # A model shipped with its own tokenizer (the micro model) is exported with it.
    if case.get("repo_model"):
        tok_dir = case_model(case)
    args = ["export", "gguf", "--model", case_model(case), "--tokenizer", tok_dir,
            "--type", case["type"], "-o", out, "--template", "chatml"]
    if case.get("adapter"):
        args += ["--adapter", os.path.join(GOLDEN, case["adapter"])]
    ajuste(*args)
    model, ref = merged_state(case_model(case),
                              os.path.join(GOLDEN, case["adapter"]) if case.get("adapter") else None)
    reader, meta, tensors = read_gguf(out)
    arch = meta["general.architecture"]
    cmp = compare_tensors(tensors, ref, arch, model.config, case["type"])
    with open(os.path.join(tok_dir, "tokenizer.json")) as f:
        tj = json.load(f)
    vocab = dict(tj["model"]["vocab"])
    for a in tj["added_tokens"]:
        vocab[a["content"]] = a["id"]
    tokens = meta["tokenizer.ggml.tokens"]
    chatml, _, _ = builtin_template("chatml")
    checks = {
        "version_3": reader.fields["GGUF.version"].contents() == 3,
        "alignment_32": reader.alignment == 32,
        "tokens_match_tokenizer": all(tokens[i] == t for t, i in vocab.items()),
        "padded_to_vocab_size": len(tokens) == model.config.vocab_size,
        "merges_match": meta["tokenizer.ggml.merges"] == [" ".join(m) if isinstance(m, list) else m
                                                          for m in tj["model"]["merges"]],
        "chat_template_exact": meta["tokenizer.chat_template"] == chatml,
        "eos_is_im_end": tokens[meta["tokenizer.ggml.eos_token_id"]] == "<|im_end|>",
        "tensor_count": len(tensors) == len(ref),
    }
    result = {
        "case": case,
        "checks": checks,
        "comparison": cmp,
        "metadata": {k: v for k, v in meta.items()
                     if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type",
                                  "tokenizer.chat_template")},
        "tokens_sha256": sha256(json.dumps(tokens, ensure_ascii=False).encode()),
        "token_type_counts": {str(k): int(v) for k, v in zip(*np.unique(meta["tokenizer.ggml.token_type"],
                                                                          return_counts=True))},
        "merges": len(meta["tokenizer.ggml.merges"]),
        "chat_template_sha256": sha256(meta["tokenizer.chat_template"].encode()),
        "tensors": {n: {"type": t["type"], "shape": t["shape"], "sha256": sha256(t["bytes"])}
                    for n, t in tensors.items()},
        "file_sha256": sha256(open(out, "rb").read()),
    }
    if llama_python and case["type"] == "f32":
        result["llama_cpp"] = llama_logits(out, model, llama_python)
    assert all(checks.values()), (case["name"], checks)
    if case["type"] in ("f32", "f16") and not case.get("adapter"):
        assert cmp["exact"] == cmp["total"], (case["name"], cmp)
    if case["type"] == "q8_0":
        assert cmp["exact"] == cmp["total"], (case["name"], cmp)
    return result


LLAMA_SCRIPT = r"""
import json, sys
import numpy as np
from llama_cpp import Llama
path, ids = sys.argv[1], json.loads(sys.argv[2])
llm = Llama(model_path=path, n_ctx=64, logits_all=True, verbose=False, n_threads=2, type_k=0, type_v=0)
llm.eval(ids)
print(json.dumps(np.array(llm.scores[:len(ids)]).tolist()))
"""


def llama_logits(path, model, python):
    import torch

    ids = [1, 30, 31, 32, 40, 50, 60, 2]
    code, out, err = run([python, "-c", LLAMA_SCRIPT, path, json.dumps(ids)])
    if code != 0:
        return {"ran": False, "error": err.strip().splitlines()[-1] if err.strip() else str(code)}
    got = np.array(json.loads(out), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].float().numpy()
    diff = float(np.abs(got - want).max())
    return {"ran": True, "ids": ids, "max_abs_diff": diff, "logit_scale": float(np.abs(want).max())}


def gguf_facts(tok_dir, llama_python, only_cases=None):
    cases = [
        {"name": "llama-f32-lora-f32", "model": "llama-f32", "adapter": "llama-f32/adapters/lora", "type": "f32"},
        {"name": "llama-f32-lora-f16", "model": "llama-f32", "adapter": "llama-f32/adapters/lora", "type": "f16"},
        {"name": "llama-f32-dora-f32", "model": "llama-f32", "adapter": "llama-f32/adapters/dora", "type": "f32"},
        {"name": "llama-f32-f16", "model": "llama-f32", "type": "f16"},
        {"name": "llama-bf16-q8_0", "model": "llama-bf16", "type": "q8_0"},
        {"name": "qwen2-f16", "model": "qwen2-f16-sharded", "type": "f16"},
        {"name": "qwen2-lora-f32", "model": "qwen2-f16-sharded", "adapter": "qwen2-f16-sharded/adapters/lora",
         "type": "f32"},
        {"name": "qwen2-q8_0", "model": "qwen2-f16-sharded", "type": "q8_0"},
        # The studio's micro model (static/models/micro), with its own 2048-token tokenizer.
        {"name": "micro-f16", "repo_model": "static/models/micro", "type": "f16"},
        {"name": "micro-q8_0", "repo_model": "static/models/micro", "type": "q8_0"},
    ]
    if only_cases:
        cases = [c for c in cases if c["name"] in only_cases]
    return {c["name"]: gguf_case(c, tok_dir, llama_python) for c in cases}


# ---------------------------------------------------------------- Ollama

GO_MAIN = r"""
package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type Message struct {
	Role    string
	Content string
}

func main() {
	var in struct {
		Template      string
		Conversations [][]Message
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	t := template.Must(template.New("m").Parse(in.Template))
	out := []string{}
	for _, msgs := range in.Conversations {
		var b []byte
		w := &buf{&b}
		if err := t.Execute(w, map[string]any{"Messages": msgs}); err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

type buf struct{ b *[]byte }

func (w *buf) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
"""


def modelfile_template(text):
    start = text.index('TEMPLATE """') + len('TEMPLATE """')
    return text[start:text.index('"""', start)]


def ollama_facts(tok_dir):
    go = shutil.which("go")
    work = tempfile.mkdtemp()
    if go:
        with open(os.path.join(work, "main.go"), "w") as f:
            f.write(GO_MAIN)
        code, _, err = run([go, "build", "-o", "render", "main.go"], cwd=work,
                           env={**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "off",
                                "GOCACHE": os.path.join(work, "cache")})
        if code != 0:
            raise SystemExit(f"go build failed: {err}")
        go_version = run([go, "version"])[1].strip()
    facts = {"go": go_version if go else None, "templates": {}}
    for name in BUILTINS:
        d = os.path.join(work, name)
        ajuste("export", "gguf", "--model", os.path.join(GOLDEN, "llama-f32"), "--tokenizer", tok_dir,
               "--template", name, "-o", os.path.join(d + ".gguf"), "--ollama", d)
        with open(os.path.join(d, "Modelfile")) as f:
            mf = f.read()
        tpl = modelfile_template(mf)
        text, bos, eos = builtin_template(name)
        # Every conversation twice: complete (the training text) and without its last answer
        # (what Ollama renders to ask for a reply: Jinja with add_generation_prompt).
        cases, expected = [], []
        for conv in CONVERSATIONS:
            for msgs, agp in ((conv, False), (conv[:-1], True)):
                try:
                    want = jinja_render(text, msgs, agp, bos, eos)
                except Exception:
                    continue  # the template refuses this conversation (e.g. Gemma and system)
                cases.append(msgs)
                expected.append(want)
        entry = {"go_template_sha256": sha256(tpl.encode()), "conversations": len(cases),
                 "stop": [l[len("PARAMETER stop "):] for l in mf.splitlines() if l.startswith("PARAMETER stop")]}
        if go:
            code, out, err = run([os.path.join(work, "render")],
                                 input=json.dumps({"Template": tpl, "Conversations": [
                                     [{"Role": m["role"], "Content": m["content"]} for m in c] for c in cases]}))
            if code != 0:
                raise SystemExit(f"{name}: Go failed: {err}")
            got = json.loads(out)
            bad = [i for i, (g, w) in enumerate(zip(got, expected)) if g != w]
            entry["equal"] = len(bad) == 0
            entry["mismatches"] = [{"go": got[i], "jinja": expected[i]} for i in bad[:2]]
        facts["templates"][name] = entry
    return facts


# ---------------------------------------------------------------- hand-off

HANDOFF_DATA = [
    {"messages": [{"role": "system", "content": "You answer in one short sentence."},
                  {"role": "user", "content": "What is the capital of Portugal?"},
                  {"role": "assistant", "content": "Lisbon."}]},
    {"messages": [{"role": "user", "content": "How do I boil an egg?"},
                  {"role": "assistant", "content": "Place it in boiling water for nine minutes."},
                  {"role": "user", "content": "Thanks!"},
                  {"role": "assistant", "content": "You are welcome."}]},
    {"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]},
    {"messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "hi"}]},
    {"messages": [{"role": "user", "content": "Count to three."}, {"role": "assistant", "content": "1, 2, 3."}]},
]


def handoff_facts(tok_dir):
    work = tempfile.mkdtemp()
    data_all = os.path.join(OUT, "handoff-data.jsonl")
    with open(data_all, "w") as f:
        for r in HANDOFF_DATA:
            f.write(json.dumps(r) + "\n")
    # Gemma's template refuses system messages.
    data_no_system = os.path.join(work, "no-system.jsonl")
    with open(data_no_system, "w") as f:
        for r in HANDOFF_DATA:
            r = {"messages": [m for m in r["messages"] if m["role"] != "system"]}
            f.write(json.dumps(r) + "\n")
    facts = {}
    for template in ("chatml", "qwen", "llama3", "llama2", "mistral", "gemma", "phi3", "zephyr", "vicuna", "alpaca"):
        data = data_no_system if template == "gemma" else data_all
        bundle = os.path.join(work, f"{template}.ajuste")
        ajuste("bundle", "create", data, "--template", template, "--model", tok_dir, "--eval-fraction", "0.2",
               "--seed", "1", "-o", bundle)
        rendered, _ = ajuste("data", "render", data, "--template", template, "--json")
        ajuste_texts = [json.loads(l)["text"] for l in rendered.splitlines()]
        # The plain output marks trained text «like this».
        marked, _ = ajuste("data", "render", data, "--template", template)
        trained_spans = sorted(set(re.findall(r"«(.*?)»", marked, flags=re.S)))
        for target in ("trl", "axolotl", "llamafactory"):
            if target != "llamafactory" and template != "chatml":
                continue  # TRL and Axolotl carry the exact text: one template shows it
            out = os.path.join(work, f"{target}-{template}")
            ajuste("export", "--to", target, bundle, "-o", out)
            key = target if target != "llamafactory" else f"llamafactory/{template}"
            facts[key] = globals()[f"check_{target}"](out, tok_dir, ajuste_texts, template)
            if target == "trl":
                # TRL gets the train split only: its trained texts are among ajuste's.
                facts[key]["trained_equal"] = set(facts[key]["trained_completions"]) <= set(trained_spans)
    return facts


PREFERENCES = [
    {"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "No."},
    {"prompt": "Say hi.", "chosen": "hi", "rejected": "go away"},
    {"prompt": "Count to two.", "chosen": "1, 2.", "rejected": "3"},
    {"prompt": "What is the capital of Portugal?", "chosen": "Lisbon.", "rejected": "Paris."},
]


def preference_facts(tok_dir):
    """DPO bundles handed to each target, parsed by the target's own DPO config code."""
    work = tempfile.mkdtemp()
    data = os.path.join(work, "prefs.jsonl")
    with open(data, "w") as f:
        for r in PREFERENCES:
            f.write(json.dumps(r) + "\n")
    bundle = os.path.join(work, "dpo.ajuste")
    ajuste("bundle", "create", data, "--template", "chatml", "--method", "dpo", "--model", tok_dir,
           "--eval-fraction", "0.25", "--seed", "1", "-o", bundle)
    facts = {}
    for target in ("trl", "axolotl", "llamafactory"):
        out = os.path.join(work, target)
        ajuste("export", "--to", target, bundle, "-o", out)
        entry = {}
        try:
            if target == "trl":
                from trl import DatasetMixtureConfig, DPOConfig, ModelConfig, ScriptArguments, TrlParser

                parser = TrlParser((ScriptArguments, DPOConfig, ModelConfig, DatasetMixtureConfig))
                *parsed, remaining = parser.parse_args_and_config(
                    ["--config", os.path.join(out, "trl.yaml"), "--bf16", "false"], return_remaining_strings=True)
                entry.update(unknown_keys=remaining, beta=parsed[1].beta, loss_type=parsed[1].loss_type)
                row = json.loads(open(os.path.join(out, "data", "train.jsonl")).readline())
                entry["row_keys"] = sorted(row)
            elif target == "axolotl":
                from axolotl.utils.schemas.config import AxolotlInputConfig

                cfg = load_yaml(os.path.join(out, "axolotl.yml"))
                cfg["base_model"] = tok_dir
                c = AxolotlInputConfig(**cfg)
                entry.update(rl=str(c.rl.value if hasattr(c.rl, "value") else c.rl), rl_beta=c.rl_beta)
            else:
                os.environ["DISABLE_VERSION_CHECK"] = "1"
                from llamafactory.hparams import get_train_args

                args = load_yaml(os.path.join(out, "llamafactory.yaml"))
                args.update(model_name_or_path=tok_dir, dataset_dir=os.path.join(out, "data"),
                            output_dir=os.path.join(out, "output"), bf16=False)
                _, _, _, finetuning, _ = get_train_args(args)
                entry.update(stage=finetuning.stage, pref_beta=finetuning.pref_beta, pref_loss=finetuning.pref_loss)
            entry["parsed"] = True
        except BaseException as e:  # noqa: BLE001 - recorded
            entry["parsed"] = False
            entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        facts[target] = entry
    return facts


def load_yaml(path):
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)


def check_trl(out, tok_dir, ajuste_texts, template):
    import trl
    from transformers import AutoTokenizer
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    *parsed, remaining = parser.parse_args_and_config(
        # bf16 is validated against the hardware: this machine has no GPU.
        ["--config", os.path.join(out, "trl.yaml"), "--bf16", "false"], return_remaining_strings=True)
    script, training, model, mixture = parsed
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    with open(os.path.join(out, training.chat_template_path if os.path.isabs(training.chat_template_path)
                           else os.path.join(out, training.chat_template_path))) as f:
        tokenizer.chat_template = f.read()
    rows = [json.loads(l) for l in open(os.path.join(out, "data", "train.jsonl"))]
    # Prompt-completion rows (templates without {% generation %}): TRL renders prompt +
    # completion and trains what follows the prompt rendered with add_generation_prompt.
    texts, completions = [], []
    for r in rows:
        msgs = r.get("messages") or r["prompt"] + r["completion"]
        texts.append(tokenizer.apply_chat_template(msgs, tokenize=False))
        if "prompt" in r:
            prompt = tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
            completions.append(texts[-1][len(prompt):] if texts[-1].startswith(prompt) else None)
    # Every row is an ajuste text or the start of one (an earlier answer of a conversation).
    render_equal = all(any(a == t or a.startswith(t) for a in ajuste_texts) for t in texts)
    return {
        "completion_only_loss": training.completion_only_loss,
        "trained_completions": completions,
        "version": trl.__version__,
        "parsed": True,
        "unknown_keys": remaining,
        "keys": sorted(load_yaml(os.path.join(out, "trl.yaml")).keys()),
        "values": {"learning_rate": training.learning_rate, "max_length": training.max_length,
                   "assistant_only_loss": training.assistant_only_loss, "lora_r": model.lora_r,
                   "lora_alpha": model.lora_alpha, "lora_target_modules": model.lora_target_modules,
                   "datasets": [d.data_files for d in mixture.datasets], "warmup_steps": training.warmup_steps},
        "render_equal": render_equal,
        "rows": len(rows),
    }


def check_axolotl(out, tok_dir, ajuste_texts, template):
    cfg = load_yaml(os.path.join(out, "axolotl.yml"))
    result = {"keys": sorted(cfg.keys())}
    try:
        import axolotl
        from axolotl.utils.schemas.config import AxolotlInputConfig

        result["version"] = axolotl.__version__
        cfg["base_model"] = tok_dir
        AxolotlInputConfig(**cfg)
        result["parsed"] = True
    except Exception as e:  # noqa: BLE001 - recorded, not hidden
        result["parsed"] = False
        result["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    try:
        from axolotl.utils.chat_templates import get_chat_template
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        jinja = get_chat_template(user_choice=cfg["chat_template"], jinja_template=cfg["chat_template_jinja"])
        rows = [json.loads(l) for l in open(os.path.join(out, "data", "train.jsonl"))]
        texts = [tokenizer.apply_chat_template(r["messages"], chat_template=jinja, tokenize=False) for r in rows]
        result["render_equal"] = all(t in ajuste_texts for t in texts)
    except Exception as e:  # noqa: BLE001
        result["render_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    return result


def check_llamafactory(out, tok_dir, ajuste_texts, template):
    cfg = load_yaml(os.path.join(out, "llamafactory.yaml"))
    result = {"keys": sorted(cfg.keys()), "template": cfg["template"]}
    try:
        import torchaudio  # noqa: F401
    except Exception:  # noqa: BLE001
        # LLaMA-Factory imports torchaudio at the top of mm_plugin.py and uses it only to load
        # audio files; no wheel matching this torch build exists here, and text never reaches it.
        import types

        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
        result["torchaudio"] = "absent: an empty module stands in (audio loading only)"
    try:
        # LLaMA-Factory pins transformers <= 5.6; its own switch lets the parser run on 5.24.
        os.environ["DISABLE_VERSION_CHECK"] = "1"
        result["DISABLE_VERSION_CHECK"] = "1"
        import llamafactory
        from llamafactory.hparams import get_train_args

        result["version"] = llamafactory.__version__
        args = dict(cfg)
        args["model_name_or_path"] = tok_dir
        args["dataset_dir"] = os.path.join(out, "data")
        args["output_dir"] = os.path.join(out, "output")
        args["bf16"] = False
        get_train_args(args)
        result["parsed"] = True
    except BaseException as e:  # noqa: BLE001 - its parser exits on some errors
        result["parsed"] = False
        result["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    try:
        from llamafactory.data.template import TEMPLATES
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        tpl = TEMPLATES[cfg["template"]]
        rows = [json.loads(l) for l in open(os.path.join(out, "data", "train.jsonl"))]
        texts = []
        for r in rows:
            msgs = r["messages"]
            ids = []
            pairs = tpl.encode_multiturn(tokenizer, msgs, system=r.get("system"))
            for p, a in pairs:
                ids += p + a
            texts.append(tokenizer.decode(ids))
        # The fixture tokenizer has no BOS token, so LLaMA-Factory's `{{bos_token}}` prefix is
        # empty where ajuste's template writes the built-in's BOS text: compare without it.
        _, bos, _ = builtin_template(template)
        no_bos = [a[len(bos):] if bos and a.startswith(bos) else a for a in ajuste_texts]
        result["render_equal"] = all(t in ajuste_texts for t in texts)
        result["render_equal_but_leading_bos"] = all(t in ajuste_texts or t in no_bos for t in texts)
        for r, t in zip(rows, texts):
            if t not in ajuste_texts and t not in no_bos:
                last = r["messages"][-1]["content"]
                result["example"] = {"llamafactory": t, "ajuste": [a for a in ajuste_texts if last in a][:1]}
                break
    except Exception as e:  # noqa: BLE001
        result["render_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    return result


# ---------------------------------------------------------------- main


def versions():
    import gguf
    import torch
    import transformers

    v = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        from importlib.metadata import version

        v["gguf"] = version("gguf")
        v["peft"] = version("peft")
    except Exception:  # noqa: BLE001
        pass
    return v


def write_json(name, obj):
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False, default=default)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-python", help="a Python with llama-cpp-python installed")
    ap.add_argument("--skip-handoff", action="store_true")
    ap.add_argument("--only", choices=["gguf", "ollama", "handoff"])
    ap.add_argument("--gguf-cases", help="comma-separated GGUF case names to (re)run; the other "
                    "cases of the committed gguf.json are kept as they are (with their llama.cpp facts)")
    a = ap.parse_args()
    if not os.path.exists(AJUSTE):
        raise SystemExit("build ajuste first: cargo build -p ajuste-trainer --bin ajuste")
    os.makedirs(OUT, exist_ok=True)
    tok_dir = make_tokenizer()
    if a.only in (None, "gguf"):
        if a.gguf_cases:
            with open(os.path.join(OUT, "gguf.json")) as f:
                facts = json.load(f)
            facts["cases"].update(gguf_facts(tok_dir, a.llama_python, set(a.gguf_cases.split(","))))
            facts["cases"] = dict(sorted(facts["cases"].items()))
        else:
            facts = {"versions": versions(), "cases": gguf_facts(tok_dir, a.llama_python)}
        write_json("gguf.json", facts)
        print("gguf.json written")
    if a.only in (None, "ollama"):
        write_json("ollama.json", ollama_facts(tok_dir))
        print("ollama.json written")
    if a.only in (None, "handoff") and not a.skip_handoff:
        facts = handoff_facts(tok_dir)
        facts["dpo"] = preference_facts(tok_dir)
        write_json("handoff.json", facts)
        print("handoff.json written")


if __name__ == "__main__":
    main()
