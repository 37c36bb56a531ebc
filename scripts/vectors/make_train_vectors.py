#!/usr/bin/env python3
"""Writes the reference vectors of the training tests into tests/data/train/.

Run from the repository root, in the reference venv (torch 2.15, transformers 5.24:
scripts/requirements/ref.txt), after write_tiny_trained (tests/data/train/README.md):
    bash scripts/venv.sh ref && .venv-ref/bin/python scripts/vectors/make_train_vectors.py [roberta] [bert]

1. grad_vectors.json + grad_vectors.safetensors: tests/data/models/tiny-roberta-f32 loaded into
   RobertaForSequenceClassification in float64 (exact reference), dropout off (eval mode), a
   fixed ragged batch of token ids padded with pad_token_id and an attention mask. Loss is
   torch's CrossEntropyLoss (mean), unweighted and with class weights; the gradient of EVERY
   parameter tensor (torch autograd) is stored as F32 under "<case>.<parameter name>".
2. trainer_vectors.json: the first 20 optimizer steps of the loop transformers' Trainer runs
   (its parameter groups from Trainer.get_decay_parameter_names, torch.optim.AdamW with
   betas (0.9, 0.999), eps 1e-8, get_linear_schedule_with_warmup, clip_grad_norm_ 1.0), same
   init, same data order (sequential batches, no shuffle), dropout off, float32. The Trainer
   object itself needs `accelerate`, which the reference venv lacks, so the loop is reproduced
   with the same library calls. Per step: loss, learning rate, gradient norm (before clipping).
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import save_file
from transformers import (BertForSequenceClassification, RobertaForSequenceClassification, Trainer,
                          get_linear_schedule_with_warmup)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests/data/models/tiny-roberta-f32"
BERT_MODEL = ROOT / "tests/data/models/tiny-bert-f32"
OUT = ROOT / "tests/data/train"


def batch_tensors(seqs, pad):
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def random_seqs(gen, count, lo, hi, vocab):
    seqs = []
    for _ in range(count):
        n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
        body = torch.randint(3, vocab, (n - 2,), generator=gen).tolist()
        seqs.append([0] + body + [2])
    return seqs


def bert_seqs(gen, count, lo, hi, vocab):
    """[CLS]=2 body [SEP]=3 (the tiny BERT's specials); the second sequence holds a pad id (0),
    whose word-embedding row gets no gradient (padding_idx)."""
    seqs = []
    for _ in range(count):
        n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
        body = torch.randint(5, vocab, (n - 2,), generator=gen).tolist()
        seqs.append([2] + body + [3])
    seqs[1][2] = 0
    return seqs


def bert_grad_vectors():
    """4. bert_grad_vectors.json + .safetensors: as grad_vectors, for tests/data/models/tiny-bert-f32
    (BertForSequenceClassification: token_type_ids 0, positions 0..n-1, pooler + classifier)."""
    model = BertForSequenceClassification.from_pretrained(BERT_MODEL, attn_implementation="eager")
    model = model.double().eval()
    gen = torch.Generator().manual_seed(4321)
    seqs = bert_seqs(gen, 5, 4, 17, model.config.vocab_size)
    labels = [0, 1, 1, 0, 1]
    ids, mask = batch_tensors(seqs, model.config.pad_token_id)
    cases = {"plain": None, "weighted": [0.3, 1.7]}
    meta = {"how": "scripts/vectors/make_train_vectors.py bert: BertForSequenceClassification in float64, "
                   "eval mode, padded batch with attention mask, CrossEntropyLoss (mean)",
            "sequences": seqs, "labels": labels, "cases": {}}
    tensors = {}
    for name, weights in cases.items():
        model.zero_grad()
        logits = model(input_ids=ids, attention_mask=mask).logits
        w = None if weights is None else torch.tensor(weights, dtype=torch.float64)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels), weight=w)
        loss.backward()
        meta["cases"][name] = {"class_weights": weights, "loss": loss.item(),
                               "logits": logits.detach().flatten().tolist()}
        for pname, p in model.named_parameters():
            tensors[f"{name}.{pname}"] = p.grad.detach().float().contiguous()
    save_file(tensors, OUT / "bert_grad_vectors.safetensors")
    (OUT / "bert_grad_vectors.json").write_text(json.dumps(meta, indent=1) + "\n")


def bert_trained_logits():
    """5. tiny-bert-trained.logits.json: transformers' logits (AutoModelForSequenceClassification
    and AutoTokenizer-free: token ids) for the folder the C++ trainer saved in
    tests/data/train/tiny-bert-trained (fine-tuned from the bare BertModel
    tests/data/models/tiny-bert-base by write_tiny_trained: tests/data/train/README.md)."""
    folder = OUT / "tiny-bert-trained"
    if not folder.exists():
        print("skipping tiny-bert-trained (run write_tiny_trained first: tests/data/train/README.md)")
        return
    from transformers import AutoModelForSequenceClassification
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    assert type(model).__name__ == "BertForSequenceClassification", type(model)
    gen = torch.Generator().manual_seed(8)
    seqs = bert_seqs(gen, 6, 3, 30, model.config.vocab_size)
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([s])).logits[0].tolist() for s in seqs]
    meta = {"how": "scripts/vectors/make_train_vectors.py bert: AutoModelForSequenceClassification on "
                   "tests/data/train/tiny-bert-trained, one sequence at a time, float32",
            "architectures": model.config.architectures,
            "id2label": model.config.id2label, "sequences": seqs, "logits": logits}
    (OUT / "tiny-bert-trained.logits.json").write_text(json.dumps(meta, indent=1) + "\n")


def grad_vectors():
    model = RobertaForSequenceClassification.from_pretrained(MODEL, attn_implementation="eager")
    model = model.double().eval()
    gen = torch.Generator().manual_seed(1234)
    seqs = random_seqs(gen, 5, 4, 17, model.config.vocab_size)
    labels = [0, 1, 1, 0, 1]
    ids, mask = batch_tensors(seqs, model.config.pad_token_id)
    cases = {"plain": None, "weighted": [0.3, 1.7]}
    meta = {"how": __doc__.strip().splitlines()[0] + " (see the script's docstring)",
            "sequences": seqs, "labels": labels, "cases": {}}
    tensors = {}
    for name, weights in cases.items():
        model.zero_grad()
        logits = model(input_ids=ids, attention_mask=mask).logits
        w = None if weights is None else torch.tensor(weights, dtype=torch.float64)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels), weight=w)
        loss.backward()
        meta["cases"][name] = {"class_weights": weights, "loss": loss.item(),
                               "logits": logits.detach().flatten().tolist()}
        for pname, p in model.named_parameters():
            tensors[f"{name}.{pname}"] = p.grad.detach().float().contiguous()
    save_file(tensors, OUT / "grad_vectors.safetensors")
    (OUT / "grad_vectors.json").write_text(json.dumps(meta, indent=1) + "\n")


def trainer_vectors():
    torch.manual_seed(0)
    model = RobertaForSequenceClassification.from_pretrained(
        MODEL, attn_implementation="eager", hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    model.train()
    gen = torch.Generator().manual_seed(99)
    seqs = random_seqs(gen, 40, 4, 24, model.config.vocab_size)
    labels = torch.randint(0, 2, (40,), generator=gen).tolist()
    batch_size, epochs, lr, warmup, wd, max_norm = 4, 2, 1e-3, 5, 0.01, 1.0
    total = epochs * (len(seqs) // batch_size)
    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": wd},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)
    steps = []
    for epoch in range(epochs):
        for b in range(0, len(seqs), batch_size):
            ids, mask = batch_tensors(seqs[b : b + batch_size], model.config.pad_token_id)
            out = model(input_ids=ids, attention_mask=mask,
                        labels=torch.tensor(labels[b : b + batch_size]))
            out.loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            steps.append({"loss": out.loss.item(), "lr": sched.get_last_lr()[0],
                          "grad_norm": norm.item()})
            opt.step()
            sched.step()
            opt.zero_grad()
    meta = {"how": "see scripts/vectors/make_train_vectors.py", "sequences": seqs, "labels": labels,
            "batch_size": batch_size, "epochs": epochs, "lr": lr, "warmup_steps": warmup,
            "weight_decay": wd, "max_grad_norm": max_norm, "decay_parameters": sorted(decay),
            "steps": steps,
            "final_classifier_out_proj_bias": model.classifier.out_proj.bias.tolist()}
    (OUT / "trainer_vectors.json").write_text(json.dumps(meta, indent=1) + "\n")


def tiny_trained_logits():
    """3. tiny-trained.logits.json: transformers' logits for the folder the C++ trainer saved in
    tests/data/train/tiny-trained (written by write_tiny_trained: tests/data/train/README.md)."""
    folder = OUT / "tiny-trained"
    if not folder.exists():
        print("skipping tiny-trained (run write_tiny_trained first: tests/data/train/README.md)")
        return
    from transformers import AutoModelForSequenceClassification
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    gen = torch.Generator().manual_seed(7)
    seqs = random_seqs(gen, 6, 3, 30, model.config.vocab_size)
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([s])).logits[0].tolist() for s in seqs]
    meta = {"how": "scripts/vectors/make_train_vectors.py: AutoModelForSequenceClassification on "
                   "tests/data/train/tiny-trained, one sequence at a time, float32",
            "id2label": model.config.id2label, "sequences": seqs, "logits": logits}
    (OUT / "tiny-trained.logits.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    # Optional arguments pick parts: roberta, bert (default: both).
    parts = set(sys.argv[1:]) or {"roberta", "bert"}
    OUT.mkdir(parents=True, exist_ok=True)
    if "roberta" in parts:
        grad_vectors()
        trainer_vectors()
        tiny_trained_logits()
    if "bert" in parts:
        bert_grad_vectors()
        bert_trained_logits()
