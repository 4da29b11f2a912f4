"""Golden numbers for ajuste's training objectives, computed by the reference implementations.

Run by hand (CI only reads the JSON it writes):

    /opt/pyref/bin/python tests/golden/objectives.py

Written against torch 2.15.0, transformers 5.24.0 and TRL 1.16.0 (the script records the versions
it ran with in every fixture and refuses other TRL versions, whose loss code differs).

How TRL is called. Building real trainers needs a model, a tokenizer and a dataset, so each loss is
run through the trainer's own unbound method with a light stand-in `self` (a SimpleNamespace that
carries the attributes the method reads, taken from TRL's real config classes) and a stand-in model:

- DPO and KTO (`trl.DPOTrainer._compute_loss`, `trl.KTOTrainer._compute_loss`): TRL 1.16 computes
  log-probs with its fused LM head (`trl.trainer.utils.add_fused_lm_head`, the chunked log-prob
  kernel). The stand-in model is a module whose backbone returns fixed hidden states and whose LM
  head is the identity matrix, patched with TRL's real `add_fused_lm_head`, so the logits are exactly
  the hidden states written to the fixture and TRL's own kernel computes log-probs, `mean_logits`
  and the backward pass. Reference log-probs are passed precomputed (`precompute_ref_logps=True`),
  as ajuste's reference cache does.
- SimPO (`trl.experimental.cpo.CPOTrainer.get_batch_loss_metrics`, `loss_type="simpo"`) and ORPO
  (`trl.experimental.orpo.ORPOTrainer.get_batch_loss_metrics`): these still take full logits; the
  stand-in model returns the fixture's logits.
- SFT: `transformers.loss.loss_utils.ForCausalLMLoss` with `num_items_in_batch=None`; token
  log-probs with `trl.trainer.utils.selective_log_softmax`.

TRL 1.16's DPO `sigmoid` loss ignores `label_smoothing` (older TRL applied the conservative-DPO form
there). ajuste keeps the conservative form, `-(1-e)·logσ(βΔ) - e·logσ(-βΔ)`; its golden comes from
TRL's `aot` loss run on one pair at a time, which for a batch of one is exactly that expression.
"""

from __future__ import annotations

import json
import tempfile
import types
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy
import torch
import torch.nn.functional as F
import transformers
import trl
from transformers import PretrainedConfig
from transformers.loss.loss_utils import ForCausalLMLoss
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer
from trl.experimental.cpo import CPOConfig, CPOTrainer
from trl.experimental.orpo import ORPOConfig, ORPOTrainer
from trl.trainer.utils import add_fused_lm_head, selective_log_softmax

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "objectives"
TRL_VERSION = "1.16.0"


def meta(**extra):
    return {
        "generated_by": "tests/golden/objectives.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        **extra,
    }


def write(name: str, data: dict) -> None:
    """One top-level section per line: small files whose diffs still show which section moved."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    sections = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in data.items()]
    path.write_text("{\n" + ",\n".join(sections) + "\n}\n")
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def tolist(t: torch.Tensor):
    """Nested lists; f32 values as their shortest decimal, which parses back to the same f32."""
    t = t.detach()
    if not t.is_floating_point():
        return t.tolist()
    if t.dtype == torch.float32:
        return shortest_f32(t.tolist())
    return t.tolist()


def shortest_f32(value):
    if isinstance(value, list):
        return [shortest_f32(v) for v in value]
    return float(str(numpy.float32(value)))


def trl_args(cls, **kwargs):
    """A real TRL config (so defaults and validation are TRL's), in a throw-away output dir."""
    with tempfile.TemporaryDirectory() as tmp:
        return cls(output_dir=tmp, report_to="none", use_cpu=True, bf16=False, **kwargs)


class Accelerator:
    """Single-process stand-in for `accelerate.Accelerator`: gathering is the identity."""

    device = torch.device("cpu")

    @staticmethod
    def gather_for_metrics(x):
        return x

    @staticmethod
    def gather(x):
        return x


# ---------------------------------------------------------------------------------------------
# Random batches
# ---------------------------------------------------------------------------------------------


def random_rows(gen: torch.Generator, rows: int, seq: int, vocab: int):
    """Right-padded rows of prompt + completion: input_ids, attention_mask, completion_mask."""
    input_ids = torch.zeros(rows, seq, dtype=torch.long)
    attention = torch.zeros(rows, seq, dtype=torch.long)
    completion = torch.zeros(rows, seq, dtype=torch.long)
    for r in range(rows):
        prompt_len = int(torch.randint(1, 4, (1,), generator=gen))
        completion_len = int(torch.randint(2, seq - prompt_len + 1, (1,), generator=gen))
        n = prompt_len + completion_len
        input_ids[r, :n] = torch.randint(1, vocab, (n,), generator=gen)
        attention[r, :n] = 1
        completion[r, prompt_len:n] = 1
    return input_ids, attention, completion


def completion_labels(input_ids, completion_mask):
    return input_ids.masked_fill(completion_mask == 0, -100)


def sequence_logps(logits, labels, average=False):
    """Sum (or mean) of completion-token log-probs, the way TRL's `get_batch_logps` computes it."""
    shifted = labels[:, 1:].clone()
    mask = shifted != -100
    shifted[~mask] = 0
    per_token = selective_log_softmax(logits[:, :-1, :], shifted) * mask
    total = per_token.sum(-1)
    return total / mask.sum(-1) if average else total


# ---------------------------------------------------------------------------------------------
# Stand-in model for TRL's fused LM head
# ---------------------------------------------------------------------------------------------


def key(input_ids: torch.Tensor) -> bytes:
    return input_ids.detach().cpu().numpy().tobytes()


class Backbone(torch.nn.Module):
    """Returns, for each known batch of input ids, fixed hidden states (the fixture's logits)."""

    def __init__(self, table: dict[bytes, torch.Tensor]):
        super().__init__()
        self.table = table

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return SimpleNamespace(last_hidden_state=self.table[key(input_ids)])


class IdentityHeadLM(torch.nn.Module):
    """A causal LM whose LM head is the identity, so TRL's fused head sees logits == hidden."""

    def __init__(self, vocab: int, table: dict[bytes, torch.Tensor]):
        super().__init__()
        self.config = PretrainedConfig()
        self.backbone = Backbone(table)
        self.lm_head = torch.nn.Linear(vocab, vocab, bias=False)
        with torch.no_grad():
            self.lm_head.weight.copy_(torch.eye(vocab))
        self.lm_head.weight.requires_grad_(False)

    @property
    def base_model(self):
        return self.backbone

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids=None, attention_mask=None, **kwargs):  # replaced by the fused head
        raise AssertionError("only the fused LM head path is used")


class RetainLogProbs:
    """Calls the model and keeps the per-token log-probs' gradient, to read d loss / d logps."""

    def __init__(self, model):
        self.model = model
        self.outputs = []

    def __call__(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        if out.log_probs.requires_grad:
            out.log_probs.retain_grad()
            self.outputs.append(out)
        return out


def fused_model(vocab, table, outputs):
    model = IdentityHeadLM(vocab, table)
    add_fused_lm_head(model, outputs=outputs)
    return RetainLogProbs(model)


# ---------------------------------------------------------------------------------------------
# logprobs + SFT
# ---------------------------------------------------------------------------------------------


def golden_logprobs_and_sft(gen):
    batch, seq, vocab = 3, 8, 11
    input_ids, attention, completion = random_rows(gen, batch, seq, vocab)
    labels = completion_labels(input_ids, completion)
    logits = torch.randn(batch, seq, vocab, generator=gen) * 2.0
    # A row of very large logits: exp() of them overflows f32, only a stable log-softmax survives.
    logits[2] = logits[2] * 40.0
    logits.requires_grad_(True)

    shifted = labels[:, 1:].clone()
    mask = shifted != -100
    shifted[~mask] = 0
    per_token = selective_log_softmax(logits[:, :-1, :], shifted) * mask
    counts = mask.sum(-1)
    sft = ForCausalLMLoss(logits, labels, vocab_size=vocab)  # num_items_in_batch=None: mean
    (grad_logits,) = torch.autograd.grad(sft, logits)
    write(
        "logprobs_sft",
        {
            "meta": meta(
                what="token log-probs (trl selective_log_softmax) and SFT loss "
                "(transformers ForCausalLMLoss, num_items_in_batch=None)"
            ),
            "inputs": {"logits": tolist(logits), "labels": tolist(labels)},
            "expected": {
                "token_logps": tolist(per_token),
                "mask": tolist(mask.float()),
                "sequence_logps": tolist(per_token.sum(-1)),
                "average_logps": tolist(per_token.sum(-1) / counts),
                "token_counts": tolist(counts),
                "sft_loss": sft.item(),
                "grad_logits": tolist(grad_logits),
            },
        },
    )


# ---------------------------------------------------------------------------------------------
# DPO (sigmoid, ipo, hinge; sigmoid with label smoothing)
# ---------------------------------------------------------------------------------------------

DPO_METRICS = [
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "logits/chosen",
    "logits/rejected",
]


def dpo_stand_in(args: DPOConfig):
    return SimpleNamespace(
        model=SimpleNamespace(training=True),
        accelerator=Accelerator(),
        aux_loss_enabled=False,
        ld_alpha=args.ld_alpha,
        precompute_ref_logps=True,
        f_divergence_type=args.f_divergence_type,
        loss_types=args.loss_type,
        loss_weights=args.loss_weights or [1.0] * len(args.loss_type),
        beta=args.beta,
        label_smoothing=args.label_smoothing,
        use_weighting=args.use_weighting,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
        args=args,
    )


def run_dpo(args, input_ids, attention, completion, logits, ref_chosen, ref_rejected):
    vocab = logits.shape[-1]
    leaf = logits.detach().clone().requires_grad_(True)
    model = fused_model(vocab, {key(input_ids): leaf}, ("log_probs", "entropy", "mean_logits", "is_top1"))
    stand_in = dpo_stand_in(args)
    inputs = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "completion_mask": completion,
        "ref_chosen_logps": ref_chosen,
        "ref_rejected_logps": ref_rejected,
    }
    loss = DPOTrainer._compute_loss(stand_in, model, inputs, False)
    loss.backward()
    # d loss / d (summed log-probs): the per-token gradient is the same at every position of a row.
    grad_logps = model.outputs[0].log_probs.grad[:, 0]
    metrics = {k: v[-1] for k, v in stand_in._metrics["train"].items()}
    return loss, metrics, grad_logps, leaf.grad


def golden_dpo(gen):
    pairs, seq, vocab = 4, 9, 13
    input_ids, attention, completion = random_rows(gen, 2 * pairs, seq, vocab)
    logits = torch.randn(2 * pairs, seq, vocab, generator=gen) * 1.5
    policy = sequence_logps(logits, completion_labels(input_ids, completion))
    # References near the policy, so rewards have both signs and accuracies are neither 0 nor 1.
    reference = policy + torch.randn(2 * pairs, generator=gen) * 2.0
    ref_chosen, ref_rejected = reference[:pairs], reference[pairs:]
    inputs = {
        "logits": tolist(logits),
        "labels": tolist(completion_labels(input_ids, completion)),
        "ref_chosen_logps": tolist(ref_chosen),
        "ref_rejected_logps": tolist(ref_rejected),
    }
    for loss_type in ["sigmoid", "ipo", "hinge"]:
        args = trl_args(DPOConfig, loss_type=[loss_type])
        assert args.beta == 0.1
        loss, metrics, grad_logps, grad_logits = run_dpo(
            args, input_ids, attention, completion, logits, ref_chosen, ref_rejected
        )
        write(
            f"dpo_{loss_type}",
            {
                "meta": meta(what=f"trl.DPOTrainer._compute_loss, loss_type={loss_type!r}", beta=args.beta),
                "config": {"beta": args.beta, "loss_type": loss_type, "label_smoothing": 0.0},
                "inputs": inputs,
                "expected": {
                    "loss": loss.item(),
                    "metrics": {k: metrics[k] for k in DPO_METRICS},
                    "grad_policy_logps": tolist(grad_logps),
                    "grad_logits": tolist(grad_logits),
                },
            },
        )

    # Conservative DPO: TRL's `aot` loss on one pair at a time (see the module docstring).
    smoothing = 0.1
    args = trl_args(DPOConfig, loss_type=["aot"], label_smoothing=smoothing)
    per_pair = []
    for i in range(pairs):
        rows = [i, pairs + i]
        loss, _, _, _ = run_dpo(
            args,
            input_ids[rows],
            attention[rows],
            completion[rows],
            logits[rows],
            ref_chosen[i : i + 1],
            ref_rejected[i : i + 1],
        )
        per_pair.append(loss.item())
    args = trl_args(DPOConfig, loss_type=["sigmoid"])
    _, metrics, _, _ = run_dpo(args, input_ids, attention, completion, logits, ref_chosen, ref_rejected)
    write(
        "dpo_sigmoid_smoothing",
        {
            "meta": meta(
                what="conservative DPO: mean over pairs of trl.DPOTrainer._compute_loss with "
                "loss_type='aot' on a batch of one pair; metrics from loss_type='sigmoid'"
            ),
            "config": {"beta": args.beta, "loss_type": "sigmoid", "label_smoothing": smoothing},
            "inputs": inputs,
            "expected": {"loss": sum(per_pair) / pairs, "metrics": {k: metrics[k] for k in DPO_METRICS}},
        },
    )


# ---------------------------------------------------------------------------------------------
# SimPO (CPO trainer) and ORPO: full-logit trainers
# ---------------------------------------------------------------------------------------------


class LogitsModel:
    """Returns the fixture's logits for the concatenated batch."""

    def __init__(self, logits):
        self.logits = logits

    def __call__(self, input_ids, attention_mask=None, use_cache=False, **kwargs):
        return SimpleNamespace(logits=self.logits)


def pair_batch(input_ids, attention, completion, pairs):
    labels = completion_labels(input_ids, completion)
    return {
        "chosen_input_ids": input_ids[:pairs],
        "chosen_attention_mask": attention[:pairs],
        "chosen_labels": labels[:pairs],
        "rejected_input_ids": input_ids[pairs:],
        "rejected_attention_mask": attention[pairs:],
        "rejected_labels": labels[pairs:],
    }


def golden_simpo(gen):
    pairs, seq, vocab = 4, 9, 13
    input_ids, attention, completion = random_rows(gen, 2 * pairs, seq, vocab)
    logits = torch.randn(2 * pairs, seq, vocab, generator=gen) * 1.5
    # ajuste's defaults (the SimPO paper's beta 2.0, gamma/beta 0.5), the pure SimPO loss
    # (cpo_alpha 0), then CPO-SimPO with the BC term and label smoothing.
    cases = {
        "simpo": dict(beta=2.0, simpo_gamma=1.0, cpo_alpha=0.0, label_smoothing=0.0),
        "simpo_cpo_smoothing": dict(beta=2.0, simpo_gamma=1.0, cpo_alpha=1.0, label_smoothing=0.1),
    }
    for name, params in cases.items():
        args = trl_args(CPOConfig, loss_type="simpo", **params)
        leaf = logits.detach().clone().requires_grad_(True)
        stand_in = SimpleNamespace(
            concatenated_inputs=CPOTrainer.concatenated_inputs,
            get_batch_logps=CPOTrainer.get_batch_logps,
            is_encoder_decoder=False,
            pad_token_id=0,
            accelerator=Accelerator(),
            aux_loss_enabled=False,
            cpo_alpha=args.cpo_alpha,
            loss_type=args.loss_type,
            beta=args.beta,
            label_smoothing=args.label_smoothing,
            simpo_gamma=args.simpo_gamma,
            alpha=args.alpha,
        )
        stand_in.cpo_loss = types.MethodType(CPOTrainer.cpo_loss, stand_in)
        stand_in.concatenated_forward = types.MethodType(CPOTrainer.concatenated_forward, stand_in)
        batch = pair_batch(input_ids, attention, completion, pairs)
        loss, metrics = CPOTrainer.get_batch_loss_metrics(stand_in, LogitsModel(leaf), batch, "train")
        loss.backward()
        write(
            name,
            {
                "meta": meta(what="trl.experimental.cpo.CPOTrainer.get_batch_loss_metrics, loss_type='simpo'"),
                "config": {
                    "beta": args.beta,
                    "gamma": args.simpo_gamma,
                    "cpo_alpha": args.cpo_alpha,
                    "label_smoothing": args.label_smoothing,
                },
                "inputs": {
                    "logits": tolist(logits),
                    "labels": tolist(completion_labels(input_ids, completion)),
                },
                "expected": {"loss": loss.item(), "metrics": metrics, "grad_logits": tolist(leaf.grad)},
            },
        )


def golden_orpo(gen):
    pairs, seq, vocab = 4, 9, 13
    input_ids, attention, completion = random_rows(gen, 2 * pairs, seq, vocab)
    logits = torch.randn(2 * pairs, seq, vocab, generator=gen) * 1.5
    # Make one chosen completion likely: its average log-prob lands in (-ln 2, 0), the branch of
    # log(1 - exp(x)) that needs expm1 rather than log1p(-exp(x)). Not much closer to 0: there
    # f32 log-softmax itself loses the digits (both sides would disagree by rounding alone).
    row_labels = completion_labels(input_ids, completion)[0, 1:]
    for t, label in enumerate(row_labels.tolist()):
        if label != -100:
            logits[0, t, label] += 5.0
    args = trl_args(ORPOConfig)
    assert args.beta == 0.1
    leaf = logits.detach().clone().requires_grad_(True)
    stand_in = SimpleNamespace(
        concatenated_inputs=ORPOTrainer.concatenated_inputs,
        get_batch_logps=ORPOTrainer.get_batch_logps,
        is_encoder_decoder=False,
        padding_value=0,
        accelerator=Accelerator(),
        aux_loss_enabled=False,
        beta=args.beta,
    )
    stand_in.odds_ratio_loss = types.MethodType(ORPOTrainer.odds_ratio_loss, stand_in)
    stand_in.concatenated_forward = types.MethodType(ORPOTrainer.concatenated_forward, stand_in)
    batch = pair_batch(input_ids, attention, completion, pairs)
    loss, metrics = ORPOTrainer.get_batch_loss_metrics(stand_in, LogitsModel(leaf), batch, "train")
    loss.backward()
    write(
        "orpo",
        {
            "meta": meta(what="trl.experimental.orpo.ORPOTrainer.get_batch_loss_metrics"),
            "config": {"beta": args.beta},
            "inputs": {
                "logits": tolist(logits),
                "input_ids": tolist(input_ids),
                "attention_mask": tolist(attention),
                "labels": tolist(completion_labels(input_ids, completion)),
            },
            "expected": {"loss": loss.item(), "metrics": metrics, "grad_logits": tolist(leaf.grad)},
        },
    )


# ---------------------------------------------------------------------------------------------
# KTO
# ---------------------------------------------------------------------------------------------


def kto_rows(gen, labels: list[bool], seq: int, vocab: int):
    """Matched rows (prompt i, completion i) and TRL's mismatched KL rows.

    TRL 1.16 `KTOTrainer._prepare_dataset` builds `KL_completion_ids` with
    `[examples["completion_ids"][-1]] + examples["completion_ids"][:-1]` over each batch, so row i
    of the KL batch is prompt i followed by completion i - 1 (completion i goes with prompt i + 1).
    """
    n = len(labels)
    prompts, completions = [], []
    for _ in range(n):
        p = int(torch.randint(1, 4, (1,), generator=gen))
        c = int(torch.randint(2, 5, (1,), generator=gen))
        prompts.append(torch.randint(1, vocab, (p,), generator=gen).tolist())
        completions.append(torch.randint(1, vocab, (c,), generator=gen).tolist())
    kl_completions = [completions[-1]] + completions[:-1]

    def pack(pairs):
        ids = torch.zeros(n, seq, dtype=torch.long)
        att = torch.zeros(n, seq, dtype=torch.long)
        comp = torch.zeros(n, seq, dtype=torch.long)
        for r, (p, c) in enumerate(pairs):
            ids[r, : len(p) + len(c)] = torch.tensor(p + c)
            att[r, : len(p) + len(c)] = 1
            comp[r, len(p) : len(p) + len(c)] = 1
        return ids, att, comp

    return pack(list(zip(prompts, completions))), pack(list(zip(prompts, kl_completions)))


KTO_METRICS = [
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "kl",
    "logps/chosen",
    "logps/rejected",
    "logits/chosen",
    "logits/rejected",
]


def golden_kto(gen):
    seq, vocab = 9, 13
    cases = {
        # z > 0, default weights.
        "kto": dict(labels=[True, False, True, True, False, False], kl_mean=1.0, weights=(1.0, 1.0)),
        # z < 0 is clamped to 0; unequal weights.
        "kto_clamped": dict(labels=[False, True, False, True], kl_mean=-1.5, weights=(1.0, 1.33)),
        # Only desirable examples: TRL logs no rejected metrics and no margin.
        "kto_all_desirable": dict(labels=[True, True, True], kl_mean=0.5, weights=(1.0, 1.0)),
    }
    for name, case in cases.items():
        labels = case["labels"]
        n = len(labels)
        (ids, att, comp), (kl_ids, kl_att, kl_comp) = kto_rows(gen, labels, seq, vocab)
        logits = torch.randn(n, seq, vocab, generator=gen) * 1.5
        kl_logits = torch.randn(n, seq, vocab, generator=gen) * 1.5
        policy = sequence_logps(logits, completion_labels(ids, comp))
        kl_policy = sequence_logps(kl_logits, completion_labels(kl_ids, kl_comp))
        ref = policy + torch.randn(n, generator=gen) * 2.0
        # The KL estimate is mean(policy_KL - ref_KL): shifting the reference sets its sign.
        ref_kl = kl_policy - case["kl_mean"] + torch.randn(n, generator=gen) * 0.3

        desirable_weight, undesirable_weight = case["weights"]
        args = trl_args(
            KTOConfig, desirable_weight=desirable_weight, undesirable_weight=undesirable_weight
        )
        assert args.beta == 0.1 and args.loss_type == "kto"
        leaf = logits.detach().clone().requires_grad_(True)
        kl_leaf = kl_logits.detach().clone().requires_grad_(True)
        model = fused_model(vocab, {key(ids): leaf, key(kl_ids): kl_leaf}, ("log_probs", "entropy", "mean_logits"))
        stand_in = SimpleNamespace(
            model=SimpleNamespace(training=True),
            accelerator=Accelerator(),
            calculate_KL=True,
            aux_loss_enabled=False,
            precompute_ref_logps=True,
            loss_type=args.loss_type,
            beta=args.beta,
            desirable_weight=args.desirable_weight,
            undesirable_weight=args.undesirable_weight,
            _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
            _total_train_tokens=0,
            _tp_size=1,
            args=args,
        )
        stand_in._compute_kl_logps = types.MethodType(KTOTrainer._compute_kl_logps, stand_in)
        inputs = {
            "input_ids": ids,
            "attention_mask": att,
            "completion_mask": comp,
            "KL_input_ids": kl_ids,
            "KL_attention_mask": kl_att,
            "KL_completion_mask": kl_comp,
            "label": torch.tensor(labels),
            "ref_logps": ref,
            "ref_KL_logps": ref_kl,
        }
        loss = KTOTrainer._compute_loss(stand_in, model, inputs, False)
        loss.backward()
        assert kl_leaf.grad is None, "TRL computes the KL log-probs without gradient"
        metrics = {k: v[-1] for k, v in stand_in._metrics["train"].items() if k in KTO_METRICS}
        write(
            name,
            {
                "meta": meta(what="trl.KTOTrainer._compute_loss, loss_type='kto'"),
                "config": {
                    "beta": args.beta,
                    "desirable_weight": args.desirable_weight,
                    "undesirable_weight": args.undesirable_weight,
                },
                "inputs": {
                    "desirable": labels,
                    "logits": tolist(logits),
                    "labels": tolist(completion_labels(ids, comp)),
                    "kl_logits": tolist(kl_logits),
                    "kl_labels": tolist(completion_labels(kl_ids, kl_comp)),
                    "ref_logps": tolist(ref),
                    "ref_kl_logps": tolist(ref_kl),
                },
                "expected": {
                    "loss": loss.item(),
                    "metrics": {k: metrics[k] for k in KTO_METRICS if k in metrics},
                    "grad_logits": tolist(leaf.grad),
                },
            },
        )


def main():
    if trl.__version__ != TRL_VERSION:
        raise SystemExit(f"written against TRL {TRL_VERSION}, found {trl.__version__}: check the loss code first")
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20261107)
    golden_logprobs_and_sft(gen)
    golden_dpo(gen)
    golden_simpo(gen)
    golden_orpo(gen)
    golden_kto(gen)


if __name__ == "__main__":
    main()
