"""One short GPU check: QLoRA (4-bit nf4) training on the embedded SmolLM2-135M and on a Qwen2-architecture model
built from a config (random weights, Qwen2.5-0.5B shape), a few steps each; prints loss tokens/s and peak GPU memory.

Usage: python bench/gpu_check.py [--steps 20] [--batch 8] [--skip-qwen]
Without a CUDA GPU it prints why and exits without training (exit code 0, a JSON line with "skipped").
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def no_gpu_reason() -> str | None:
    "Why this check cannot run here, or None."
    try: import torch
    except ImportError: return 'torch is not installed'
    if not torch.cuda.is_available():
        return f'no CUDA GPU visible to torch {torch.__version__} (CPU build or no driver); run this on a machine with an NVIDIA GPU'
    try: import bitsandbytes  # noqa: F401
    except Exception as e: return f'bitsandbytes cannot be imported ({type(e).__name__}: {e}); pip install bitsandbytes'
    return None


def prepare_data(out: Path) -> str:
    from style_tune.prep import build_dataset
    build_dataset(ROOT/'data'/'demo'/'Wechat-Backup', out/'prepared')
    return str(out/'prepared')


def qwen_from_config(out: Path, tokenizer_from: Path) -> Path:
    "A Qwen2 model with Qwen2.5-0.5B's shape and random weights, saved with the embedded model's tokenizer."
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def qlora_run(name: str, model: str, data_dir: str, out: str, steps: int, batch: int) -> dict:
    import torch
    from style_tune.train import train
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    m = train(dict(model=model, data_dir=data_dir, output_dir=out, method='qlora', max_steps=steps, save_steps=steps,
                   per_device_train_batch_size=batch, logging_steps=5, max_seq_length=1024, resume=False,
                   max_val_samples=16, early_stopping_patience=None))
    return dict(name=name, tokens_per_s=m['tokens_per_s'], train_tokens=m['train_tokens'], steps=m['global_step'],
                peak_gpu_mem_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2), wall_s=round(time.perf_counter() - t, 1),
                final_train_loss=m['final_train_loss'], final_val_loss=m['final_val_loss'], effective=m['effective'])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--skip-qwen', action='store_true', help='only the embedded model')
    a = ap.parse_args()
    why = no_gpu_reason()
    if why:
        print(f'gpu_check: skipped: {why}', file=sys.stderr)
        print(json.dumps({'bench': 'gpu_check', 'ratio': None, 'skipped': why}))
        return 0
    import torch
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from style_tune.models import resolve_model
    results = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        data = prepare_data(d)
        emb = resolve_model('embedded')
        results.append(qlora_run('smollm2-135m-qlora4', str(emb), data, str(d/'emb'), a.steps, a.batch))
        if not a.skip_qwen:
            q = qwen_from_config(d/'qwen', emb)
            results.append(qlora_run('qwen2-0.5b-shape-qlora4', str(q), data, str(d/'qwen'), a.steps, a.batch))
    for r in results:
        print(f"{r['name']:26s} {r['tokens_per_s']:10.1f} loss tokens/s  peak GPU {r['peak_gpu_mem_gib']:.2f} GiB  "
              f"{r['steps']} steps in {r['wall_s']} s  val loss {r['final_val_loss']}")
    print(json.dumps({'bench': 'gpu_check', 'ratio': None, 'gpu': torch.cuda.get_device_name(0), 'results': results}, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
