#!/usr/bin/env python3
"""Writes the committed seed corpora of the libFuzzer targets (fuzz/corpus/<target>/), except
fuzz/corpus/tokenizer, which has its own history, and the regress_* inputs (each once crashed a
target; docs/security.md lists them). Run from the repository root:

    python3 fuzz/make_seeds.py --refusal build/release/refusal

Standard library only. Each seed starts with the byte(s) its target reads first (the mode; see
the comment at the top of fuzz/fuzz_<target>.cpp). The packed-weights seeds are made with
`refusal pack` (give --refusal; without it they are left as they are). Seeds are small (a few
kB): the fuzzer finds the rest.
"""

import argparse
import base64
import gzip
import json
import math
import os
import struct
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

# The micro RoBERTa of fuzz_safetensors.cpp and fuzz_packed_weights.cpp.
MICRO = dict(vocab=16, hidden=8, layers=1, heads=2, inter=16, positions=12, labels=2)
MICRO_CONFIG = {
    "architectures": ["RobertaForSequenceClassification"], "model_type": "roberta",
    "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "max_position_embeddings": 12, "type_vocab_size": 1,
    "pad_token_id": 1, "layer_norm_eps": 1e-05, "id2label": {"0": "NORMAL", "1": "REJECTION"},
}


def write_corpus(target, seeds):
    """Replaces the seed_* files of fuzz/corpus/TARGET; regress_* files (inputs that once
    crashed a target, kept as regression seeds) stay."""
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed_*"):
        old.unlink()
    for name, data in seeds.items():
        (folder / ("seed_" + name)).write_bytes(data)
    print(f"{folder.relative_to(ROOT)}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


# ---- safetensors ----

def micro_tensors():
    h, f, v, p = MICRO["hidden"], MICRO["inter"], MICRO["vocab"], MICRO["positions"]
    shapes = {
        "roberta.embeddings.word_embeddings.weight": [v, h],
        "roberta.embeddings.position_embeddings.weight": [p, h],
        "roberta.embeddings.token_type_embeddings.weight": [1, h],
        "roberta.embeddings.LayerNorm.weight": [h],
        "roberta.embeddings.LayerNorm.bias": [h],
        "classifier.dense.weight": [h, h],
        "classifier.dense.bias": [h],
        "classifier.out_proj.weight": [MICRO["labels"], h],
        "classifier.out_proj.bias": [MICRO["labels"]],
    }
    layer = "roberta.encoder.layer.0."
    for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                 "attention.output.dense"):
        shapes[layer + name + ".weight"] = [h, h]
        shapes[layer + name + ".bias"] = [h]
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        shapes[layer + name + ".weight"] = [h]
        shapes[layer + name + ".bias"] = [h]
    shapes[layer + "intermediate.dense.weight"] = [f, h]
    shapes[layer + "intermediate.dense.bias"] = [f]
    shapes[layer + "output.dense.weight"] = [h, f]
    shapes[layer + "output.dense.bias"] = [h]
    tensors = {}
    for i, (name, shape) in enumerate(sorted(shapes.items())):
        n = math.prod(shape)
        values = [1.0 if "LayerNorm.weight" in name else 0.1 * math.sin(i + 0.37 * k)
                  for k in range(n)]
        tensors[name] = (shape, values)
    return tensors


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if dtype == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    if dtype == "BF16":
        return b"".join(struct.pack("<f", x)[2:] for x in values)
    raise ValueError(dtype)


def safetensors(tensors, dtype="F32", header_edit=None, metadata=True):
    header = {"__metadata__": {"format": "pt"}} if metadata else {}
    data = b""
    for name in sorted(tensors):
        shape, values = tensors[name]
        raw = encode(values, dtype)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if header_edit:
        header_edit(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    t = micro_tensors()
    good = safetensors(t)
    seeds = {
        "f32_load": b"\x01" + good,
        "f16_load": b"\x01" + safetensors(t, "F16"),
        "bf16_load": b"\x01" + safetensors(t, "BF16"),
        "f32_parse_only": b"\x00" + good,
        "no_metadata": b"\x00" + safetensors(t, metadata=False),
        "empty_header": b"\x00" + struct.pack("<Q", 8) + b"{}      ",
        "truncated": b"\x01" + good[: len(good) // 2],
        "header_length_past_end": b"\x00" + struct.pack("<Q", 1 << 40) + good[8:200],
        "short": b"\x00" + good[:5],
    }

    def overlap(h):
        h["classifier.dense.bias"]["data_offsets"] = h["classifier.dense.weight"]["data_offsets"]
        h["classifier.dense.bias"]["shape"] = h["classifier.dense.weight"]["shape"]

    def empty_between(h):
        # [0,4) holds 1 value, an empty tensor at 2, then [1,5) overlaps the first: caught only
        # when overlaps are not checked against the empty tensor in between.
        h.clear()
        h["a"] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
        h["b"] = {"dtype": "F32", "shape": [0], "data_offsets": [2, 2]}
        h["c"] = {"dtype": "U8", "shape": [4], "data_offsets": [1, 5]}

    def huge_shape(h):
        # 2^40 x 2^40 elements wrap around to 0 in 64 bits: must be refused, not read as empty.
        h["x"] = {"dtype": "F32", "shape": [1 << 40, 1 << 40, 1 << 24], "data_offsets": [0, 0]}

    def negative_dim(h):
        h["classifier.out_proj.bias"]["shape"] = [-2]

    def unknown_dtype(h):
        h["classifier.out_proj.bias"]["dtype"] = "F8_E4M3"

    def wrong_dtype(h):
        h["classifier.out_proj.bias"]["dtype"] = "I64"
        h["classifier.out_proj.bias"]["shape"] = [1]

    for name, edit in [("overlap", overlap), ("empty_between_overlap", empty_between),
                       ("huge_shape", huge_shape), ("negative_dim", negative_dim),
                       ("unknown_dtype", unknown_dtype), ("wrong_dtype", wrong_dtype)]:
        seeds[name] = b"\x01" + safetensors(t, header_edit=edit)
    return seeds


# ---- model.safetensors.index.json ----

def model_index_seeds():
    index = json.loads((ROOT / "tests/data/models/tiny-roberta-sharded/"
                        "model.safetensors.index.json").read_text())
    seeds = {"real": b"\x00" + json.dumps(index).encode(),
             "real_load": b"\x01" + json.dumps(index).encode()}
    first = "model-00001-of-00004.safetensors"
    for name, shard in [("absolute", "/etc/hostname"), ("climbs", "../outside.safetensors"),
                        ("link_out", "link-out.safetensors"),
                        ("link_abs", "link-abs.safetensors"),
                        ("link_dir", "link-dir/outside.safetensors"),
                        ("link_dir_back_in", "link-dir/model/" + first),
                        ("link_in", "link-in.safetensors"), ("dot", "./" + first),
                        ("empty", ""), ("nul", "a\u0000b"), ("device", "/dev/zero")]:
        edited = json.loads(json.dumps(index))
        for tensor, file in edited["weight_map"].items():
            if file == first:
                edited["weight_map"][tensor] = shard
        seeds[name] = b"\x01" + json.dumps(edited).encode()
    seeds["not_object"] = b"\x00" + b'{"weight_map": ["a"]}'
    seeds["not_string"] = b"\x00" + b'{"weight_map": {"x": 3}}'
    seeds["missing_shard"] = b"\x00" + b'{"weight_map": {"x": "model-00009-of-00009.safetensors"}}'
    return seeds


# ---- config.json ----

def config_seeds():
    seeds = {}
    for path in sorted((ROOT / "tests/data/models").glob("*/config.json")):
        seeds[path.parent.name] = path.read_bytes()
    seeds["micro"] = json.dumps(MICRO_CONFIG).encode()
    base = dict(MICRO_CONFIG)
    for name, edit in [
        ("bert", {"model_type": "bert", "architectures": ["BertForSequenceClassification"],
                  "pad_token_id": 0}),
        ("num_labels_huge", {"id2label": None, "num_labels": 1000000000}),
        ("num_labels_only", {"id2label": None, "num_labels": 3}),
        ("labels_hole", {"id2label": {"0": "A", "2": "B"}}),
        ("label2id_contradicts", {"label2id": {"NORMAL": 1, "REJECTION": 0}}),
        ("heads_do_not_divide", {"num_attention_heads": 3}),
        ("no_room", {"max_position_embeddings": 2}),
        ("pad_past_vocab", {"pad_token_id": 16}),
        ("eps_out_of_range", {"layer_norm_eps": 2}),
        ("multi_label", {"problem_type": "multi_label_classification"}),
        ("huge_sizes", {"vocab_size": 1000000000, "hidden_size": 1000000000,
                        "num_attention_heads": 1, "max_position_embeddings": 1000000000}),
    ]:
        c = dict(base)
        c.update(edit)
        seeds[name] = json.dumps({k: v for k, v in c.items() if v is not None}).encode()
    seeds["not_object"] = b"[1, 2]"
    seeds["truncated"] = json.dumps(MICRO_CONFIG).encode()[:60]
    return seeds


# ---- tokenizer files ----

def fdp_parts(parts):
    """FuzzedDataProvider::ConsumeRandomLengthString's encoding: each part but the last with
    backslashes doubled and ended by a backslash and another character."""
    out = b""
    for p in parts[:-1]:
        out += p.replace(b"\\", b"\\\\") + b"\\n"
    return out + parts[-1]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def mini_bpe():
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for ch in bytes_to_unicode():
        vocab.setdefault(ch, len(vocab))
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "a"), ("i", "n"), ("o", "r"),
              ("Ġ", "s"), ("I", "'"), ("Ġ", "c"), ("a", "n")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<mask>"] = len(vocab)
    return vocab, merges


def bpe_tokenizer_json():
    vocab, merges = mini_bpe()
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": t == "<mask>",
              "rstrip": False, "normalized": False, "special": True}
             for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]]
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in merges]},
    }, ensure_ascii=False).encode()


def wordpiece_vocab():
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "'"]
    tokens += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += ["the", "sorry", "can", "help", "with", "that", "中", "文"]
    return tokens


def wordpiece_tokenizer_json():
    vocab = {t: i for i, t in enumerate(wordpiece_vocab())}
    specials = {"[CLS]": 2, "[SEP]": 3}
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for t, i in list(vocab.items())[:5]],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]}
                               for t, i in specials.items()}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }, ensure_ascii=False).encode()


def tokenizer_files_seeds():
    # byte 0 bits: 0 tokenizer.json, 1 vocab.json + merges.txt, 2 vocab.txt,
    # 3 tokenizer_config.json, 4 special_tokens_map.json; files in that order.
    vocab, merges = mini_bpe()
    vocab_json = json.dumps(vocab, ensure_ascii=False).encode()
    merges_txt = ("#version: 0.2\n" + "\n".join(a + " " + b for a, b in merges) + "\n").encode()
    vocab_txt = ("\n".join(wordpiece_vocab()) + "\n").encode()
    roberta_config = json.dumps({
        "model_max_length": 512, "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
        "cls_token": "<s>", "sep_token": "</s>", "unk_token": "<unk>",
        "added_tokens_decoder": {str(vocab[t]): {"content": t, "lstrip": t == "<mask>",
                                                 "normalized": False, "rstrip": False,
                                                 "single_word": False, "special": True}
                                 for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]},
    }).encode()
    bert_config = json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer",
                              "model_max_length": 128, "strip_accents": None}).encode()
    special_map = json.dumps({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
                              "mask_token": {"content": "<mask>", "lstrip": True,
                                             "normalized": False, "rstrip": False,
                                             "single_word": False}}).encode()
    return {
        "bpe_tokenizer_json": b"\x01" + bpe_tokenizer_json(),
        "wordpiece_tokenizer_json": b"\x01" + wordpiece_tokenizer_json(),
        "bpe_json_with_configs": b"\x19" + fdp_parts([bpe_tokenizer_json(), roberta_config,
                                                       special_map]),
        "vocab_merges": b"\x02" + fdp_parts([vocab_json, merges_txt]),
        "vocab_merges_configs": b"\x1a" + fdp_parts([vocab_json, merges_txt, roberta_config,
                                                      special_map]),
        "vocab_txt": b"\x04" + vocab_txt,
        "vocab_txt_config": b"\x0c" + fdp_parts([vocab_txt, bert_config]),
        "huge_id": b"\x02" + fdp_parts([b'{"a": 2000000000, "<s>": 0, "</s>": 1}', b"a a\n"]),
        "duplicate_vocab_txt": b"\x04" + b"[UNK]\na\na\n",
    }


# ---- packed weights ----

def packed_weights_seeds(refusal):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "micro"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(MICRO_CONFIG))
        (folder / "model.safetensors").write_bytes(safetensors(micro_tensors()))
        seeds = {}
        for code, dtype in enumerate(["fp32", "bf16", "int8"]):
            subprocess.run([refusal, "pack", "-m", str(folder), "--dtype", dtype], check=True,
                           stdout=subprocess.DEVNULL)
            data = (folder / f"refusal-packed-{dtype}.bin").read_bytes()
            seeds[dtype] = bytes([code]) + data
            seeds[dtype + "_truncated"] = bytes([code]) + data[: len(data) // 2]
            seeds[dtype + "_unpatched"] = bytes([code | 4]) + data
        seeds["wrong_dtype"] = b"\x02" + (folder / "refusal-packed-fp32.bin").read_bytes()
        return seeds


# ---- rows ----

def rows_seeds():
    # byte 0: bits 0-1 format (jsonl, csv, tsv, txt), bit 2 compare with a gzip copy, bit 3 the
    # bytes are the .gz file, bits 4-5 the record limit (32 MiB, 8, 100, 4096), bit 6 field
    # "label".
    io = ROOT / "tests/data/io"
    jsonl = (b'{"text": "I cannot help with that.", "id": 1}\n'
             b'{"text": "Sure! Here you go.", "label": "NORMAL", "nested": {"a": [1, 2.5, null]}}\n'
             b'\n{"text": 5}\n{"id": 2}\nnot json\n{"text": "caf\xc3\xa9 \xf0\x9f\x99\x82"}\r\n'
             b'{"text": "bad \xff"}\n[1]\n{"text": "no newline at the end"}')
    csv = (b'id,text,label\n1,"I\'m sorry, I can\'t.",REJECTION\n2,"multi\nline ""quoted""",\n'
           b'3,plain,NORMAL\n4,"unterminated\n')
    tsv = b"id\ttext\n1\tI cannot do that.\n2\t\n3\ttoo\tmany\n"
    txt = b"\xef\xbb\xbfFirst line\r\nSecond line\n\n\xff bad\nlast"
    return {
        "jsonl": b"\x04" + jsonl,
        "jsonl_small_limit": b"\x24" + jsonl,
        "jsonl_gz_file": b"\x08" + gzip.compress(jsonl, mtime=0),
        "jsonl_gz_truncated": b"\x08" + gzip.compress(jsonl, mtime=0)[:-12],
        "jsonl_label_field": b"\x44" + jsonl,
        "broken_jsonl": b"\x04" + (io / "broken.jsonl").read_bytes(),
        "csv": b"\x05" + csv,
        "csv_quoted": b"\x05" + (io / "quoted.csv").read_bytes(),
        "csv_limit_8": b"\x15" + csv,
        "csv_bad_header": b"\x05" + b"text,text\na,b\n",
        "tsv": b"\x06" + tsv,
        "tsv_sample": b"\x06" + (io / "sample.tsv").read_bytes(),
        "txt": b"\x07" + txt,
        "txt_lines": b"\x07" + (io / "lines.txt").read_bytes(),
        "txt_limit_100": b"\x27" + b"x" * 150 + b"\nshort\n",
        "deep_nesting": b"\x04" + b'{"text": "t", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}\n",
        "number_overflow": b"\x04" + b'{"text": "t", "n": 1e400}\n',
    }


# ---- server request bodies ----

def server_seeds():
    # byte 0: route (0 LLM Guard, 1 TEI, 2 native, 3 auth header); byte 1: Content-Type index
    # (0 application/json, 1 none, 2 text/plain, ...).
    vectors = json.loads((ROOT / "tests/data/server/llm_guard_api.vectors.json").read_text())
    seeds = {}
    bodies = set()
    for c in vectors["cases"]:
        body = (base64.b64decode(c["body_base64"]) if "body_base64" in c
                else None if c["body"] is None else c["body"].encode())
        if body is not None and len(body) < 2048:
            bodies.add(body)
    for i, body in enumerate(sorted(bodies)):
        seeds[f"llm_guard_{i:03d}"] = b"\x00\x00" + body
    seeds["llm_guard_no_content_type"] = b"\x00\x01" + b'{"prompt": "", "output": "x"}'
    seeds["llm_guard_deep"] = b"\x00\x00" + b"[" * 600 + b"]" * 600
    for name, body in [
        ("one", {"inputs": "I cannot help with that."}),
        ("pair", {"inputs": ["first", "second"]}),
        ("batch", {"inputs": [["a"], ["b", "c"], "d"], "truncate": True,
                   "truncation_direction": "Left", "raw_scores": True}),
        ("empty", {"inputs": ""}),
        ("too_many", {"inputs": [["x"]] * 5}),
        ("wrong_type", {"inputs": 5}),
    ]:
        seeds["tei_" + name] = b"\x01\x00" + json.dumps(body).encode()
    seeds["tei_text_plain"] = b"\x01\x02" + b'{"inputs": "x"}'
    for name, body in [
        ("texts", {"texts": ["I cannot help.", "Sure."], "preset": "llm-guard",
                   "match": "sentence", "explain": True, "raw_scores": True}),
        ("text", {"text": "x", "long": "windows", "max_length": 16, "stride": 4,
                  "threshold": 0.3, "sentences": True}),
        ("keywords", {"texts": ["I'm sorry"], "preset": "keywords"}),
        ("unknown", {"texts": ["x"], "colour": "red"}),
        ("bad_threshold", {"texts": ["x"], "threshold": 2}),
    ]:
        seeds["native_" + name] = b"\x02\x00" + json.dumps(body).encode()
    seeds["native_surrogate"] = b"\x02\x00" + b'{"texts": ["\\ud800"]}'
    seeds["auth_ok"] = b"\x03\x00" + b"Bearer secret-key-1"
    seeds["auth_case"] = b"\x03\x00" + b"bEaReR k"
    seeds["auth_basic"] = b"\x03\x00" + b"Basic secret-key-1"
    return seeds


# ---- Punkt ----

def punkt_seeds():
    texts = [
        "I'm sorry, but I can't help with that. Is there anything else?",
        "Dr. Smith arrived at 5 p.m. on Jan. 3rd. He left... Then U.S. officials spoke.",
        "\u201cNo.\u201d She said. \u00abOui.\u00bb (Really?) Yes! 3.14 is pi. e.g. this one.",
        "  leading spaces.   Trailing spaces.  \n\n New paragraph.\tTab.",
        "J. R. R. Tolkien wrote it. Mr. and Mrs. Jones. etc. Etc. The end",
        "\u4e2d\u6587\u3002\u82f1\u6587. \U0001F642 Emoji. caf\u00e9. na\u00efve.",
        "...", "a.b.c.d", "Hello.World", "1. 2. 3. Fourth.",
    ]
    seeds = {}
    for i, t in enumerate(texts):
        seeds[f"text_{i}"] = b"\x00" + t.encode()
        seeds[f"text_{i}_nltk39"] = b"\x01" + t.encode()
    seeds["bad_utf8"] = b"\x00" + b"Broken \xff\xfe. Sentence."
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refusal", help="the refusal binary, for the packed-weights seeds")
    args = ap.parse_args()
    write_corpus("safetensors", safetensors_seeds())
    write_corpus("model_index", model_index_seeds())
    write_corpus("config", config_seeds())
    write_corpus("tokenizer_files", tokenizer_files_seeds())
    write_corpus("rows", rows_seeds())
    write_corpus("server_requests", server_seeds())
    write_corpus("punkt", punkt_seeds())
    if args.refusal:
        write_corpus("packed_weights", packed_weights_seeds(os.path.abspath(args.refusal)))
    elif not (CORPUS / "packed_weights").exists():
        print("fuzz/corpus/packed_weights: not written (give --refusal)")


if __name__ == "__main__":
    main()
