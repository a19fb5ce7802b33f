"""The GPU check (`make test-gpu` runs it): on a CUDA GPU, with no model hub,
1. 4-bit (nf4) and 8-bit loading of the embedded SmolLM2-135M: bitsandbytes layers, memory footprint, logits vs bf16;
2. QLoRA training, a few steps each, on the embedded model and on a random Qwen2 model with Qwen2.5-0.5B's shape;
3. QLoRA on a random model with Qwen2.5-7B's shape at sequence 1024, batch 1: peak GPU memory must be <= 8 GiB
   (issue 11's target). Its checkpoint is written shard by shard from the shapes of a model built on the meta device,
   so no process ever holds the 15 GB of bf16 weights (or 30 GB of fp32) in memory; it needs ~16 GB of disk
   (`--work DIR` to choose where, and to reuse it on a second run).
Prints loss tokens/s and peak GPU memory for each, then one JSON line.

Usage: python bench/gpu_check.py [--steps 20] [--batch 8] [--skip-qwen] [--skip-7b] [--work DIR] [--max-gib 8]
Without a CUDA GPU it prints a one-line reason and exits 0 (a JSON line with "skipped"), or exits 1 when CI=true and
STYLE_TUNE_REQUIRE_GPU=1 (a GPU was promised).
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30
# Qwen2.5-7B-Instruct's config.json (7.62 B parameters); the weights here are random
QWEN25_7B = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                 num_key_value_heads=4, max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False)
QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                  max_position_embeddings=4096, tie_word_embeddings=True)


def gpu_required() -> bool:
    "Must a missing GPU fail this check (CI=true and STYLE_TUNE_REQUIRE_GPU=1) instead of skipping it?"
    return os.environ.get('CI', '').lower() == 'true' and os.environ.get('STYLE_TUNE_REQUIRE_GPU') == '1'


def no_gpu_reason() -> str | None:
    "Why this check cannot run here, or None."
    try: import torch
    except ImportError: return 'torch is not installed'
    if not torch.cuda.is_available():
        return f'no CUDA GPU visible to torch {torch.__version__} (CPU build or no driver); run this on a machine with an NVIDIA GPU'
    try: import bitsandbytes  # noqa: F401
    except Exception as e: return f'bitsandbytes cannot be imported ({type(e).__name__}: {e}); pip install -e ".[gpu]"'
    return None


def prepare_data(out: Path) -> str:
    "The bundled demo corpus, prepared by the prep stage (chat samples with a validation split)."
    from style_tune.prep import build_dataset
    build_dataset(ROOT/'data'/'demo'/'Wechat-Backup', out/'prepared')
    return str(out/'prepared')


def long_text_data(out: Path, tokenizer_from: Path, tokens: int, n: int = 16) -> str:
    "Raw-text records of at least `tokens` tokens each (demo articles joined), so every training row is full length."
    from style_tune.core import write_jsonl
    from style_tune.models import load_tokenizer
    tok = load_tokenizer(tokenizer_from)
    texts = []
    for p in sorted((ROOT/'data'/'demo'/'Wechat-Backup').rglob('*.md')):
        try: texts.append(p.read_text(encoding='utf-8'))
        except UnicodeDecodeError: pass  # the demo corpus holds a few GBK files on purpose (prep's encoding tests)
    recs, i = [], 0
    while len(recs) < n:
        parts = []
        while len(tok(''.join(parts)).input_ids) < tokens + 16: parts.append(texts[i % len(texts)]); i += 1
        recs.append({'text': '\n\n'.join(parts)})
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out/'sft_train.jsonl', recs)
    return str(out)


def random_checkpoint(out: Path, # folder to write config, shards, index and tokenizer to
                      tokenizer_from: Path, # a model folder whose tokenizer is saved with the checkpoint
                      shape: dict, # Qwen2Config fields (QWEN25_7B, ...)
                      device: str = 'cuda', # where the random tensors are drawn (fast), one at a time
                      shard_bytes: int = 2 * GIB, # size of each safetensors shard
                      seed: int = 0) -> Path:
    "A Qwen2 checkpoint with random bf16 weights, written shard by shard: the model itself only exists on the meta device."
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
    if (out/'model.safetensors.index.json').is_file(): return out  # reused (--work)
    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    cfg = Qwen2Config(**{'vocab_size': len(tok), **shape}, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=None, dtype='bfloat16')
    assert cfg.vocab_size >= len(tok), 'the tokenizer has more tokens than the model'
    with torch.device('meta'): shapes = {k: tuple(v.shape) for k, v in Qwen2ForCausalLM(cfg).state_dict().items()}
    if cfg.tie_word_embeddings: shapes.pop('lm_head.weight', None)  # tied to the embeddings, not stored
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator(device).manual_seed(seed)
    shard, size, files, weight_map, total = {}, 0, [], {}, 0
    def flush():
        nonlocal shard, size
        name = f'model-{len(files)+1:05d}.safetensors'
        save_file(shard, str(out/name), metadata={'format': 'pt'})
        files.append(name); weight_map.update({k: name for k in shard}); shard, size = {}, 0
    for k, s in shapes.items():
        if k.endswith('norm.weight'): t = torch.ones(s, dtype=torch.bfloat16)
        elif k.endswith('.bias'): t = torch.zeros(s, dtype=torch.bfloat16)
        else: t = (torch.randn(s, generator=g, device=device, dtype=torch.float32) * 0.02).to(torch.bfloat16).cpu()
        shard[k] = t; size += t.numel() * 2; total += t.numel() * 2
        if size >= shard_bytes: flush()
    if shard: flush()
    n = len(files)  # rename to the hub's `-00001-of-0000N` pattern
    for i, name in enumerate(files, 1):
        final = f'model-{i:05d}-of-{n:05d}.safetensors'; os.replace(out/name, out/final)
        weight_map = {k: (final if v == name else v) for k, v in weight_map.items()}
    (out/'model.safetensors.index.json').write_text(json.dumps({'metadata': {'total_size': total}, 'weight_map': weight_map}))
    cfg.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def memory_probe():
    "A trainer callback that records GPU memory when training starts (weights + adapter + prepared model) and its peak."
    import torch
    from transformers import TrainerCallback
    class MemoryProbe(TrainerCallback):
        at_start = None; frozen_fp32_gib = None
        def on_train_begin(self, args, state, control, model=None, **kw):
            torch.cuda.synchronize(); self.at_start = torch.cuda.memory_allocated() / GIB
            if model is not None:  # full-precision weights that do not train (embeddings, lm_head kept in fp32 weigh 2x bf16)
                self.frozen_fp32_gib = sum(p.numel() * 4 for p in model.parameters() if p.dtype == torch.float32 and not p.requires_grad) / GIB
    return MemoryProbe()


def qlora_run(name: str, model: str, data_dir: str, out: str, steps: int, batch: int, seq: int = 1024, **extra) -> dict:
    "Train `steps` QLoRA steps through the train stage; loss tokens/s, GPU memory at start and peak."
    import torch
    from style_tune.train import train
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    probe = memory_probe()
    t = time.perf_counter()
    m = train(dict(model=model, data_dir=data_dir, output_dir=out, method='qlora', max_steps=steps, save_steps=steps,
                   per_device_train_batch_size=batch, logging_steps=5, max_seq_length=seq, resume=False,
                   max_val_samples=16, early_stopping_patience=None, **extra), callbacks=[probe])
    assert (Path(m['adapter_dir'])/'adapter_model.safetensors').is_file(), f'{name}: no adapter saved'
    return dict(name=name, tokens_per_s=m['tokens_per_s'], train_tokens=m['train_tokens'], steps=m['global_step'],
                seq=seq, batch=batch, peak_gpu_mem_gib=round(torch.cuda.max_memory_allocated() / GIB, 2),
                peak_gpu_reserved_gib=round(torch.cuda.max_memory_reserved() / GIB, 2),
                gpu_mem_at_start_gib=round(probe.at_start, 2) if probe.at_start is not None else None,
                frozen_fp32_weights_gib=round(probe.frozen_fp32_gib, 2) if probe.frozen_fp32_gib is not None else None,
                wall_s=round(time.perf_counter() - t, 1), final_train_loss=m['final_train_loss'],
                final_val_loss=m['final_val_loss'], effective=m['effective'])


def load_checks(emb: Path) -> list[dict]:
    "4-bit and 8-bit loads of the embedded model through `load_model_and_tokenizer`, checked against bf16."
    import torch, bitsandbytes as bnb
    from style_tune.models import load_model_and_tokenizer
    ref, tok = load_model_and_tokenizer(emb, device='cuda')
    ids = tok('The capital of France is', return_tensors='pt').input_ids.cuda()
    with torch.no_grad(): ref_logits = ref(ids).logits[0, -1].float()
    ref_bytes = ref.get_memory_footprint(); del ref; torch.cuda.empty_cache()
    out = [dict(name='smollm2-135m-bf16', footprint_mib=round(ref_bytes / 2**20, 1))]
    for q, cls, max_ratio in (('4bit', bnb.nn.Linear4bit, 0.75), ('8bit', bnb.nn.Linear8bitLt, 0.9)):
        torch.cuda.reset_peak_memory_stats(); t = time.perf_counter()
        m, _ = load_model_and_tokenizer(emb, quantization=q)
        load_s = time.perf_counter() - t
        n = sum(isinstance(x, cls) for x in m.modules())
        assert n == 7 * m.config.num_hidden_layers, f'{q}: {n} {cls.__name__} layers'
        assert m.get_memory_footprint() < max_ratio * ref_bytes, f'{q}: footprint {m.get_memory_footprint()} vs bf16 {ref_bytes}'
        with torch.no_grad(): lg = m(ids).logits[0, -1].float()
        r = torch.corrcoef(torch.stack([lg, ref_logits]))[0, 1].item()
        assert r > 0.9, f'{q}: logits correlation with bf16 {r:.3f}'
        out.append(dict(name=f'smollm2-135m-{q}', footprint_mib=round(m.get_memory_footprint() / 2**20, 1), load_s=round(load_s, 1),
                        logits_corr_bf16=round(r, 4), peak_gpu_mem_gib=round(torch.cuda.max_memory_allocated() / GIB, 3)))
        del m; torch.cuda.empty_cache()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--skip-qwen', action='store_true', help='skip the Qwen2.5-0.5B-shaped run')
    ap.add_argument('--skip-7b', action='store_true', help='skip the Qwen2.5-7B-shaped memory check')
    ap.add_argument('--steps-7b', type=int, default=5)
    ap.add_argument('--max-gib', type=float, default=8.0, help='peak GPU memory allowed for 7B QLoRA at seq 1024, batch 1')
    ap.add_argument('--work', default=None, help='folder for data and the random checkpoints (kept, reused); default: a temporary one')
    a, _ = ap.parse_known_args(argv)  # tolerate run_all.py's --extra
    why = no_gpu_reason()
    if why:
        fail = gpu_required()
        print(f"gpu_check: {'FAILED (CI=true and STYLE_TUNE_REQUIRE_GPU=1)' if fail else 'skipped'}: {why}", file=sys.stderr)
        print(json.dumps({'bench': 'gpu_check', 'ratio': None, 'skipped': why}))
        return 1 if fail else 0
    import torch
    os.environ.setdefault('HF_HUB_OFFLINE', '1')  # nothing here comes from the hub
    from style_tune.models import resolve_model
    tmp = None if a.work else tempfile.TemporaryDirectory(prefix='gpu_check_')
    d = Path(a.work or tmp.name); d.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    try:
        emb = resolve_model('embedded:smollm2-135m')
        results += load_checks(emb)
        data = prepare_data(d)
        results.append(qlora_run('smollm2-135m-qlora4', str(emb), data, str(d/'emb'), a.steps, a.batch))
        if not a.skip_qwen:
            q = random_checkpoint(d/'qwen-0.5b-shape', emb, QWEN25_05B)
            results.append(qlora_run('qwen2.5-0.5b-shape-qlora4', str(q), data, str(d/'qwen'), a.steps, a.batch))
        if not a.skip_7b:
            t = time.perf_counter()
            q7 = random_checkpoint(d/'qwen-7b-shape', emb, QWEN25_7B)
            built_s = round(time.perf_counter() - t, 1)
            long = long_text_data(d/'long1024', emb, 1024)
            r = qlora_run('qwen2.5-7b-shape-qlora4-seq1024-b1', str(q7), long, str(d/'qwen7b'), a.steps_7b, 1, seq=1024,
                          gradient_accumulation_steps=1)
            r['checkpoint_build_s'] = built_s
            r['max_gib'] = a.max_gib
            results.append(r)
            if r['peak_gpu_mem_gib'] > a.max_gib:
                failures.append(f"Qwen2.5-7B-shaped QLoRA at seq 1024, batch 1 peaked at {r['peak_gpu_mem_gib']} GiB > {a.max_gib} GiB "
                                f"(at train start {r['gpu_mem_at_start_gib']} GiB, of which frozen fp32 weights {r['frozen_fp32_weights_gib']} GiB)")
    finally:
        if tmp is not None: tmp.cleanup()
    for r in results:
        if 'tokens_per_s' in r:
            print(f"{r['name']:36s} {r['tokens_per_s'] or 0:10.1f} loss tokens/s  peak GPU {r['peak_gpu_mem_gib']:.2f} GiB "
                  f"(start {r['gpu_mem_at_start_gib']} GiB)  {r['steps']} steps in {r['wall_s']} s  val loss {r['final_val_loss']}")
        else:
            print(f"{r['name']:36s} footprint {r['footprint_mib']} MiB" + (f"  logits corr {r['logits_corr_bf16']}" if 'logits_corr_bf16' in r else ''))
    print(json.dumps({'bench': 'gpu_check', 'ratio': None, 'gpu': torch.cuda.get_device_name(0), 'results': results,
                      'failures': failures}, default=str))
    for f in failures: print(f'gpu_check: FAILED: {f}', file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
