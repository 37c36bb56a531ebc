#!/usr/bin/env python3
"""Reference logits from Hugging Face transformers, for the engine's parity tests.

Writes, under tests/data/models/:
  tiny-roberta-f32/       a small random RobertaForSequenceClassification, save_pretrained (F32)
  tiny-roberta-f16/       the same weights saved in F16
  tiny-roberta-bf16/      the same weights saved in BF16
  tiny-roberta-sharded/   the F32 weights in several shards (model.safetensors.index.json)
  tiny-roberta.vectors.json       logits of each folder as transformers loads it (in fp32)
  tiny-bert-f32/          a small random BertForSequenceClassification, save_pretrained (F32)
  tiny-bert-f16/          the same weights saved in F16
  tiny-bert-base/         its encoder and pooler as a bare BertModel (names without `bert.`)
  tiny-bert-base-prefixed/  the same bare BertModel with `bert.`-prefixed names (as checkpoints
                          saved from BertForPreTraining & co. have them), config BertModel
  tiny-bert.vectors.json  logits of the tiny-bert-f32/-f16 folders, lengths 1..512
  real-dims.vectors.json          logits of a model of the real dimensions (the config of
                                  ProtectAI/distilroberta-base-rejection-v1) whose weights both
                                  this script and the C++ test derive from a fixed formula
                                  (formula_value below; tests/model/formula_weights.cpp), so
                                  328 MB of weights are never committed.

Each batch mixes lengths 1..512; transformers runs it padded (pad id, attention mask 0), and
each sequence also alone. Run from the repository root, in the reference venv
(scripts/requirements/ref.txt):
  bash scripts/venv.sh ref && .venv-ref/bin/python scripts/vectors/make_model_vectors.py
"""
import datetime
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from transformers import (AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification,
                          RobertaConfig, RobertaForSequenceClassification)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "models")
REAL_CONFIG = os.path.join(ROOT, "tests", "data", "tokenizer",
                           "protectai-distilroberta-base-rejection-v1", "config.json")

MASK64 = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def formula_scale(name, shape):
    """(offset, half-width) of the uniform values of a tensor. Mirrored in formula_weights.cpp."""
    if name.endswith("LayerNorm.weight"):
        return 1.0, 0.1
    if name.endswith("LayerNorm.bias"):
        return 0.0, 0.05
    if name.endswith(".bias"):
        return 0.0, 0.02
    if "embeddings" in name:
        return 0.0, 0.1
    return 0.0, 0.08


def formula_value(name, shape):
    """value[i] = offset + half_width * (2u - 1), u from splitmix64(fnv1a64(name) + (i+1)·φ64)."""
    n = int(np.prod(shape))
    seed = np.uint64(fnv1a64(name))
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = seed + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    offset, half = formula_scale(name, shape)
    return (offset + half * (2.0 * u - 1.0)).astype(np.float32).reshape(shape)


def make_batch(rng, vocab, pad_id, lengths, with_inner_pads=True):
    seqs = []
    for k, n in enumerate(lengths):
        if n == 1:
            ids = [0]
        else:
            ids = [0] + rng.integers(3, vocab, size=n - 2).tolist() + [2]
        # One sequence carries pad ids inside it: positions must skip them like transformers.
        if with_inner_pads and k == len(lengths) // 2 and n > 6:
            ids[2] = pad_id
            ids[4] = pad_id
        seqs.append(ids)
    return seqs


@torch.no_grad()
def logits_of(model, seqs, pad_id):
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    batched = model(input_ids=ids, attention_mask=mask).logits.float().tolist()
    alone = [model(input_ids=torch.tensor([s])).logits.float()[0].tolist() for s in seqs]
    return batched, alone


def provenance():
    return {
        "made_by": "scripts/vectors/make_model_vectors.py",
        "date": datetime.date.today().isoformat(),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def tiny_model():
    torch.manual_seed(1234)
    config = RobertaConfig(
        vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, hidden_act="gelu",
        id2label={0: "NORMAL", 1: "REJECTION"}, label2id={"NORMAL": 0, "REJECTION": 1},
        problem_type="single_label_classification", architectures=["RobertaForSequenceClassification"])
    model = RobertaForSequenceClassification(config).eval()
    # transformers' init (std 0.02) gives near-constant logits; wider weights test more digits.
    for name, p in model.named_parameters():
        if name.endswith("LayerNorm.weight"):
            p.data = 1.0 + 0.1 * torch.randn_like(p)
        elif name.endswith(".bias"):
            p.data = 0.05 * torch.randn_like(p)
        else:
            p.data = 0.15 * torch.randn_like(p)
    return model


def write_tiny():
    model = tiny_model()
    folders = {
        "tiny-roberta-f32": dict(dtype=torch.float32, shard=None),
        "tiny-roberta-f16": dict(dtype=torch.float16, shard=None),
        "tiny-roberta-bf16": dict(dtype=torch.bfloat16, shard=None),
        "tiny-roberta-sharded": dict(dtype=torch.float32, shard="60KB"),
    }
    rng = np.random.default_rng(7)
    seqs = make_batch(rng, 1000, 1, [1, 2, 3, 5, 9, 16, 31, 64, 100, 128, 200, 255, 256, 384,
                                     511, 512])
    result = {"about": "Logits of tiny random RobertaForSequenceClassification folders, as "
                       "transformers loads each (dtype=float32). logits_batched: all sequences "
                       "in one padded batch; logits_alone: each sequence by itself.",
              **provenance(), "sequences": seqs, "folders": {}}
    for folder, how in folders.items():
        path = os.path.join(OUT, folder)
        shutil.rmtree(path, ignore_errors=True)
        copy = tiny_model().to(how["dtype"])
        copy.load_state_dict({k: v.to(how["dtype"]) for k, v in model.state_dict().items()})
        kwargs = {"max_shard_size": how["shard"]} if how["shard"] else {}
        copy.save_pretrained(path, **kwargs)
        loaded = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
        batched, alone = logits_of(loaded, seqs, 1)
        result["folders"][folder] = {"logits_batched": batched, "logits_alone": alone}
        print(folder, "ok", file=sys.stderr)
    with open(os.path.join(OUT, "tiny-roberta.vectors.json"), "w") as f:
        json.dump(result, f)


def tiny_bert():
    torch.manual_seed(4321)
    config = BertConfig(
        vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0,
        layer_norm_eps=1e-12, hidden_act="gelu",
        id2label={0: "NORMAL", 1: "REJECTION"}, label2id={"NORMAL": 0, "REJECTION": 1},
        problem_type="single_label_classification", architectures=["BertForSequenceClassification"])
    model = BertForSequenceClassification(config).eval()
    for name, p in model.named_parameters():
        if name.endswith("LayerNorm.weight"):
            p.data = 1.0 + 0.1 * torch.randn_like(p)
        elif name.endswith(".bias"):
            p.data = 0.05 * torch.randn_like(p)
        else:
            p.data = 0.15 * torch.randn_like(p)
    return model


def make_bert_batch(rng, vocab, lengths):
    """[CLS]=2 ... [SEP]=3 (ids 0..4 play BERT's specials); one sequence holds pad ids (0)."""
    seqs = []
    for k, n in enumerate(lengths):
        ids = [2] if n == 1 else [2] + rng.integers(5, vocab, size=n - 2).tolist() + [3]
        if k == len(lengths) // 2 and n > 6:
            ids[2] = 0
            ids[4] = 0
        seqs.append(ids)
    return seqs


def write_tiny_bert():
    from safetensors.torch import load_file, save_file
    model = tiny_bert()
    rng = np.random.default_rng(17)
    seqs = make_bert_batch(rng, 1000, [1, 2, 3, 5, 9, 16, 31, 64, 100, 128, 200, 255, 256, 384,
                                       511, 512])
    result = {"about": "Logits of tiny random BertForSequenceClassification folders, as "
                       "transformers loads each (dtype=float32), token_type_ids 0. "
                       "logits_batched: all sequences in one padded batch (pad id 0, attention "
                       "mask 0); logits_alone: each sequence by itself.",
              **provenance(), "sequences": seqs, "folders": {}}
    for folder, dtype in {"tiny-bert-f32": torch.float32, "tiny-bert-f16": torch.float16}.items():
        path = os.path.join(OUT, folder)
        shutil.rmtree(path, ignore_errors=True)
        copy = tiny_bert().to(dtype)
        copy.load_state_dict({k: v.to(dtype) for k, v in model.state_dict().items()})
        copy.save_pretrained(path)
        loaded = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
        batched, alone = logits_of(loaded, seqs, 0)
        result["folders"][folder] = {"logits_batched": batched, "logits_alone": alone}
        print(folder, "ok", file=sys.stderr)
    # The bare base model: BertModel.save_pretrained (no prefix, pooler kept, no classifier).
    base = os.path.join(OUT, "tiny-bert-base")
    shutil.rmtree(base, ignore_errors=True)
    model.bert.save_pretrained(base)
    with open(os.path.join(base, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["architectures"] == ["BertModel"], cfg["architectures"]
    # The same with bert.-prefixed names.
    prefixed = os.path.join(OUT, "tiny-bert-base-prefixed")
    shutil.rmtree(prefixed, ignore_errors=True)
    os.makedirs(prefixed)
    shutil.copy(os.path.join(base, "config.json"), prefixed)
    tensors = load_file(os.path.join(base, "model.safetensors"))
    save_file({"bert." + k: v for k, v in tensors.items()},
              os.path.join(prefixed, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(OUT, "tiny-bert.vectors.json"), "w") as f:
        json.dump(result, f)


def write_real_dims():
    with open(REAL_CONFIG) as f:
        config = RobertaConfig(**json.load(f))
    model = RobertaForSequenceClassification(config).eval()
    state = {name: torch.from_numpy(formula_value(name, tuple(t.shape)))
             for name, t in model.state_dict().items() if name != "roberta.embeddings.position_ids"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    rng = np.random.default_rng(11)
    seqs = make_batch(rng, config.vocab_size, config.pad_token_id,
                      [1, 2, 7, 16, 33, 64, 128, 255, 384, 512])
    batched, alone = logits_of(model, seqs, config.pad_token_id)
    probe = {name: formula_value(name, tuple(model.state_dict()[name].shape)).reshape(-1)[:4].tolist()
             for name in ["roberta.embeddings.word_embeddings.weight", "classifier.out_proj.bias",
                          "roberta.encoder.layer.5.output.LayerNorm.weight"]}
    result = {"about": "Logits of a RobertaForSequenceClassification with the real "
                       "distilroberta-base-rejection-v1 config and formula weights "
                       "(see formula_value in the script). first_values lets the C++ side check "
                       "its formula before the slow comparison.",
              **provenance(), "config": os.path.relpath(REAL_CONFIG, ROOT),
              "first_values": probe, "sequences": seqs,
              "logits_batched": batched, "logits_alone": alone}
    with open(os.path.join(OUT, "real-dims.vectors.json"), "w") as f:
        json.dump(result, f)
    print("real-dims ok", file=sys.stderr)


if __name__ == "__main__":
    # Optional arguments pick parts: roberta, bert, real-dims (default: all).
    parts = set(sys.argv[1:]) or {"roberta", "bert", "real-dims"}
    os.makedirs(OUT, exist_ok=True)
    if "roberta" in parts:
        write_tiny()
    if "bert" in parts:
        write_tiny_bert()
    if "real-dims" in parts:
        write_real_dims()
