#!/usr/bin/env python3
"""Writes the benchmark model: the real distilroberta-base-rejection-v1 architecture with
deterministic random weights, plus its ONNX exports for the peer benchmark (bench/peers/).

The real weights cannot be fetched here, and speed does not depend on the weights' values,
so every engine is measured on the same random weights:

  DIR/                 HF folder: config.json (the real config), model.safetensors (F32),
                       tokenizer files copied from
                       tests/data/tokenizer/protectai-distilroberta-base-rejection-v1/
  DIR/onnx/            optimum export of the same model (fp32)
  DIR/onnx-int8/       ORTQuantizer dynamic int8, per-channel weights (avx512_vnni config)

Needs the bench venv (scripts/requirements/bench.txt):
  bash scripts/venv.sh bench
  .venv-bench/bin/python scripts/make_bench_model.py [DIR] [--source TOKENIZER_DIR]
      # default DIR build/bench-model, TOKENIZER_DIR
      # tests/data/tokenizer/protectai-distilroberta-base-rejection-v1
"""

import argparse
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SRC = os.path.join(REPO, "tests", "data", "tokenizer",
                           "protectai-distilroberta-base-rejection-v1")

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.json", "merges.txt"]


def copy_tokenizer(src, dst):
    for name in TOKENIZER_FILES:
        path = os.path.join(src, name)
        if os.path.exists(path):
            shutil.copyfile(path, os.path.join(dst, name))
        else:
            print(f"warning: {path} missing, not copied", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(REPO, "build", "bench-model"),
                    help="output folder (default: build/bench-model)")
    ap.add_argument("--source", default=DEFAULT_SRC,
                    help="folder with the real config.json and tokenizer files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-onnx", action="store_true", help="write only the HF folder")
    args = ap.parse_args()

    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    config = RobertaConfig.from_pretrained(args.source)
    torch.manual_seed(args.seed)
    model = RobertaForSequenceClassification(config)  # transformers' default init, seeded
    model = model.float().eval()
    model.save_pretrained(out, safe_serialization=True)
    copy_tokenizer(args.source, out)
    print(f"wrote {out} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters)")

    if args.no_onnx:
        return

    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    onnx_dir = os.path.join(out, "onnx")
    ort_model = ORTModelForSequenceClassification.from_pretrained(out, export=True)
    ort_model.save_pretrained(onnx_dir)
    copy_tokenizer(args.source, onnx_dir)
    print(f"wrote {onnx_dir}")

    int8_dir = os.path.join(out, "onnx-int8")
    quantizer = ORTQuantizer.from_pretrained(onnx_dir)
    qconfig = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True)
    quantizer.quantize(save_dir=int8_dir, quantization_config=qconfig)
    copy_tokenizer(args.source, int8_dir)
    print(f"wrote {int8_dir}")


if __name__ == "__main__":
    main()
