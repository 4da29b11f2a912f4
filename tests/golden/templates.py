#!/usr/bin/env python3
"""Golden fixtures for ajuste's chat templates, loss masks and tokenization, from transformers.

Run by hand (CI only reads the committed files):

    /opt/pyref/bin/python tests/golden/templates.py     # writes shared/tests/fixtures/templates/

Versions used for the committed fixtures: transformers 5.24.0, tokenizers 0.23.3, jinja2 3.1.6.

What it checks and writes:

1. reference/<name>.jinja: the chat_template of each Hugging Face model a built-in stands for, as
   the model ships it (TRL's stored copies where TRL has one, else the text below with its source).
   The script asserts that ajuste's built-in (shared/src/template/builtins/<name>.jinja) is the
   same text; the Rust tests assert it again so the two cannot drift apart silently.
2. expected.json: for every built-in and every conversation of conversations.json, the text
   transformers renders (render_jinja_template, the function apply_chat_template calls) with the
   reference template, or the error the template raises; plus the generation prompt of the
   conversation without its last assistant turn (add_generation_prompt=True). Alpaca and Vicuna have
   no Hugging Face template: their expected text comes from independent Python renderings of the
   published formats (Stanford Alpaca's prompt, FastChat's vicuna_v1.1 conversation), and the script
   asserts that transformers renders ajuste's Jinja for them to the same text.
3. tiny/: a byte-level BPE tokenizer trained here on a small text, saved by transformers 5
   (tokenizer.json, tokenizer_config.json, chat_template.jinja) with a ChatML template that marks
   assistant output with {% generation %}; tiny/expected.json holds, per conversation, the text,
   input_ids and assistant_masks of apply_chat_template(tokenize=True,
   return_assistant_tokens_mask=True).
"""

import json
import os

import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import render_jinja_template

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "shared", "tests", "fixtures", "templates")
BUILTINS = os.path.join(ROOT, "shared", "src", "template", "builtins")
TRL_TEMPLATES = os.path.join(os.path.dirname(__import__("trl").__file__), "chat_templates")


# --- the conversations ------------------------------------------------------------------------

CONVERSATIONS = [
    {
        "id": "single",
        "messages": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
    },
    {
        "id": "system",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Name a prime number."},
            {"role": "assistant", "content": "Seven."},
        ],
    },
    {
        # The whitespace case that trips templates that trim (Llama 2, Llama 3, Gemma).
        "id": "multi",
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi there"},
            {"role": "user", "content": "Who are you"},
            {"role": "assistant", "content": "   I am an assistant   "},
        ],
    },
    {
        "id": "unicode",
        "messages": [
            {"role": "user", "content": "Olá! Como você está? 🙂"},
            {"role": "assistant", "content": "Estou bem, obrigado. 中文也可以。"},
        ],
    },
    {
        "id": "multiline",
        "messages": [
            {"role": "system", "content": "Answer with code."},
            {"role": "user", "content": "Write a loop in Python.\nKeep it short."},
            {"role": "assistant", "content": "```python\nfor i in range(3):\n    print(i)\n```"},
            {"role": "user", "content": "Now count down."},
            {"role": "assistant", "content": "```python\nfor i in reversed(range(3)):\n    print(i)\n```"},
        ],
    },
    {
        # Many templates reject or ignore tool turns; the expected result says which.
        "id": "tool",
        "messages": [
            {"role": "user", "content": "What is 6 times 7?"},
            {"role": "assistant", "content": "Let me compute it."},
            {"role": "tool", "content": "42"},
            {"role": "assistant", "content": "It is 42."},
        ],
    },
]

# Text for the tiny tokenizer to learn from: the conversations and a little more.
CORPUS_EXTRA = [
    "The quick brown fox jumps over the lazy dog.",
    "A chat between a user and an assistant. The assistant answers questions.",
    "Fine-tuning adapts a pretrained language model to a task with a small dataset.",
    "Ajuste fino adapta um modelo de linguagem a uma tarefa com poucos exemplos.",
    "Which tokens are trained? Only the assistant's answer and its end-of-turn token.",
]


# --- reference templates -------------------------------------------------------------------------

def trl_template(name):
    with open(os.path.join(TRL_TEMPLATES, name + ".jinja"), encoding="utf-8") as f:
        return f.read()


# meta-llama/Llama-2-7b-chat-hf, tokenizer_config.json
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# mistralai/Mistral-7B-Instruct-v0.2 (and Mixtral-8x7B-Instruct-v0.1), tokenizer_config.json
MISTRAL = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

# HuggingFaceH4/zephyr-7b-beta, tokenizer_config.json
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

# teknium/OpenHermes-2.5-Mistral-7B, tokenizer_config.json (the ChatML template most ChatML models copy)
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# name -> (reference template, bos, eos)
HF_BUILTINS = {
    "llama2": (LLAMA2, "<s>", "</s>"),
    "llama3": (trl_template("llama3"), "<|begin_of_text|>", "<|eot_id|>"),  # Meta-Llama-3-8B-Instruct
    "chatml": (CHATML, None, "<|im_end|>"),
    "mistral": (MISTRAL, "<s>", "</s>"),
    "gemma": (trl_template("gemma"), "<bos>", "<eos>"),  # google/gemma-7b-it, Gemma 2
    "phi3": (trl_template("phi3"), "<s>", "<|endoftext|>"),  # microsoft/Phi-3-mini-4k-instruct
    "zephyr": (ZEPHYR, "<s>", "</s>"),
    "qwen": (trl_template("qwen2_5"), None, "<|im_end|>"),  # Qwen/Qwen2.5-0.5B-Instruct
}


# --- the two formats without a Hugging Face template ------------------------------------------

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


def alpaca_reference(messages, add_generation_prompt, bos="<s>", eos="</s>"):
    """Stanford Alpaca's prompt ("### Response:" and a newline, as the tatsu-lab/alpaca `text`
    column writes it), the output and EOS; later pairs follow after a blank line."""
    preamble = ALPACA_PREAMBLE
    if messages and messages[0]["role"] == "system":
        preamble, messages = messages[0]["content"], messages[1:]
    out = bos + preamble + "\n\n"
    first = True
    for m in messages:
        if m["role"] == "user":
            out += ("" if first else "\n\n") + "### Instruction:\n" + m["content"] + "\n\n"
        elif m["role"] == "assistant":
            out += "### Response:\n" + m["content"] + eos
        first = False
    if add_generation_prompt:
        out += "### Response:\n"
    return out


def vicuna_reference(messages, add_generation_prompt, bos="<s>"):
    """FastChat's Conversation.get_prompt for "vicuna_v1.1" (SeparatorStyle.ADD_COLON_TWO,
    sep=" ", sep2="</s>"), with BOS in front as the tokenizer would add it."""
    system = VICUNA_SYSTEM
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    turns = [("USER" if m["role"] == "user" else "ASSISTANT", m["content"]) for m in messages
             if m["role"] in ("user", "assistant")]
    if add_generation_prompt:
        turns.append(("ASSISTANT", None))
    seps = [" ", "</s>"]
    ret = system + seps[0]
    for i, (role, message) in enumerate(turns):
        ret += role + ": " + message + seps[i % 2] if message else role + ":"
    return bos + ret


OWN_BUILTINS = {
    "alpaca": (alpaca_reference, "<s>", "</s>"),
    "vicuna": (vicuna_reference, "<s>", "</s>"),
}


# --- rendering --------------------------------------------------------------------------------

def render(template, messages, add_generation_prompt, bos, eos):
    """What apply_chat_template(tokenize=False) renders, or the error the template raises."""
    tokens = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
    try:
        rendered, _ = render_jinja_template(
            conversations=[messages],
            chat_template=template,
            add_generation_prompt=add_generation_prompt,
            **tokens,
        )
        return {"text": rendered[0]}
    except Exception as err:  # the template's raise_exception, or an undefined value
        return {"error": str(err)}


def prompt_messages(messages):
    """The conversation without its last assistant turn (what a generation prompt is built from)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last]


def own_builtin_source(name):
    with open(os.path.join(BUILTINS, name + ".jinja"), encoding="utf-8") as f:
        return f.read()


def expected_texts():
    expected = {}
    for name, (template, bos, eos) in HF_BUILTINS.items():
        assert own_builtin_source(name) == template, f"ajuste's {name} built-in differs from the model's template"
        expected[name] = {
            c["id"]: {
                **render(template, c["messages"], False, bos, eos),
                "prompt": render(template, prompt_messages(c["messages"]), True, bos, eos),
            }
            for c in CONVERSATIONS
        }
    for name, (reference, bos, eos) in OWN_BUILTINS.items():
        source = own_builtin_source(name)
        expected[name] = {}
        for c in CONVERSATIONS:
            msgs = c["messages"]
            if any(m["role"] not in ("system", "user", "assistant") for m in msgs):
                continue  # the formats have no tool turn to compare against
            want = reference(msgs, False)
            prompt = reference(prompt_messages(msgs), True)
            # ajuste's Jinja for the format, rendered by transformers, gives the published format.
            assert render(source, msgs, False, bos, eos) == {"text": want}, (name, c["id"])
            assert render(source, prompt_messages(msgs), True, bos, eos) == {"text": prompt}, (name, c["id"])
            expected[name][c["id"]] = {"text": want, "prompt": {"text": prompt}}
    return expected


# --- the tiny tokenizer -----------------------------------------------------------------------

# ChatML with {% generation %} around what an assistant turn writes after its header: the same
# text as the ChatML built-in, with the span TRL's assistant_only_loss trains marked.
CHATML_TRAINING = """{%- for message in messages %}
    {%- if message['role'] == 'assistant' %}
        {{- '<|im_start|>assistant\\n' }}
        {%- generation %}
            {{- message['content'] + '<|im_end|>' + '\\n' }}
        {%- endgeneration %}
    {%- else %}
        {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}"""


def train_tiny_tokenizer():
    corpus = [m["content"] for c in CONVERSATIONS for m in c["messages"]] + CORPUS_EXTRA
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML_TRAINING
    return fast


def tiny_fixtures(tok):
    out = {}
    for c in CONVERSATIONS:
        msgs = c["messages"]
        text = tok.apply_chat_template(msgs, tokenize=False)
        assert text == render(CHATML, msgs, False, None, "<|im_end|>")["text"], c["id"]
        enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        assert sum(enc["assistant_masks"]) > 0, c["id"]
        out[c["id"]] = {
            "text": text,
            "input_ids": list(enc["input_ids"]),
            "assistant_masks": list(enc["assistant_masks"]),
        }
    return out


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "tiny"), exist_ok=True)
    write_json(os.path.join(OUT, "conversations.json"), CONVERSATIONS)
    for name, (template, _, _) in HF_BUILTINS.items():
        with open(os.path.join(OUT, "reference", name + ".jinja"), "w", encoding="utf-8") as f:
            f.write(template)
    write_json(os.path.join(OUT, "expected.json"), expected_texts())

    tok = train_tiny_tokenizer()
    tok.save_pretrained(os.path.join(OUT, "tiny"))
    # Read back what was saved, as ajuste will.
    tok = transformers.AutoTokenizer.from_pretrained(os.path.join(OUT, "tiny"))
    write_json(os.path.join(OUT, "tiny", "expected.json"), tiny_fixtures(tok))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
