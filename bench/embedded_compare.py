"""The embedded models side by side (SmolLM2-135M-Instruct vs Gemma-3-270M) on a backup, at equal training compute.

For each model, with the library's own stages: prep the backup with that model's tokenizer (the parameters file's
`prep` section, as `style-tune run` would), then
- the base model on the held-out articles (the same articles for both: prep splits by article with the seed):
  tokens per character, and bits per character (sum of NLL over tokens / characters / ln 2);
- LoRA training with the parameters file's `train` recipe for the same budget of process CPU-seconds (`--clock cpu`,
  robust to other processes on the machine) or wall seconds (`--clock wall`), stopped by a callback; a time budget
  cannot know the recipe's `max_steps`, so the learning rate follows the recipe's cosine from its peak to zero over the
  budget itself (after warm-up), a function of the clock rather than of the step (`--lr-scheduler` for another);
- held-out perplexity per character, base vs adapter: exp(sum of NLL over tokens / characters), and their ratio
  (per token would favour the tokenizer that spends more tokens on the same text);
- loss-bearing tokens per second of training (wall and CPU; per CPU-second also in characters), and optionally (`--judge`) the evaluation's judge.
Prints a markdown table, then one JSON line.

    nice -n 19 python bench/embedded_compare.py --budget 120 --max-articles 4          # a smoke run, minutes
    python bench/embedded_compare.py --budget 3600 --clock cpu --judge                   # the comparison

Options: --backup DIR (default ../shared/corpus), --params FILE (default params/cpu_demo.yaml), --models NAME...,
--train KEY=VALUE... (train overrides), --max-articles N, --threads N, --out DIR (default: a temporary folder).
"""
from __future__ import annotations
import argparse, json, math, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BACKUP = ROOT.parent/'shared'/'corpus'
MODELS = ('embedded:smollm2-135m', 'embedded:gemma3-270m')
os.environ.setdefault('HF_HUB_OFFLINE', '1')


def backup_folder(path: Path) -> Path:
    "The backup folder (a `Wechat-Backup` inside it if there is one), or exit with a sentence."
    if not path.is_dir(): sys.exit(f'no backup at {path}: pass --backup DIR (a folder of <account>/<YYYY>/... articles)')
    return path/'Wechat-Backup' if (path/'Wechat-Backup').is_dir() else path


def sections(params: Path) -> dict:
    "The parameters file's prep, train and eval sections."
    from style_tune.core import load_yaml
    raw = load_yaml(params)
    return {k: dict(raw.get(k) or {}) for k in ('prep', 'train', 'eval')}


def parse_pairs(pairs: list[str]) -> dict:
    "KEY=VALUE command-line arguments as a dict, each value as YAML reads it (numbers, booleans, null, [lists])."
    import yaml
    bad = [p for p in pairs or [] if '=' not in p]
    if bad: sys.exit(f'expected KEY=VALUE, got {bad[0]!r}')
    return {k.strip(): yaml.safe_load(v) for k, v in (p.split('=', 1) for p in pairs or [])}


def budget_callback(budget_s: float, clock: str, decay: bool = True, warmup_steps: int = 2):
    """A `TrainerCallback` that stops training once `budget_s` seconds of the clock have passed since training began; with
    `decay`, the learning rate follows the recipe's cosine from its peak to zero over the budget (after linear warm-up)."""
    from transformers import TrainerCallback
    now = time.process_time if clock == 'cpu' else time.perf_counter
    class Budget(TrainerCallback):
        def factor(self, step):
            "The share of the peak learning rate at `step`: warm-up, then cosine over the share of the budget spent."
            spent = min(1.0, (now() - self.t0) / budget_s)
            return min(1.0, (step + 1) / max(1, warmup_steps)) * 0.5 * (1 + math.cos(math.pi * spent))
        def on_train_begin(self, args, state, control, **kw): self.t0, self.w0, self.c0 = now(), time.perf_counter(), time.process_time()
        def on_step_begin(self, args, state, control, lr_scheduler=None, optimizer=None, **kw):
            sched = getattr(lr_scheduler, 'scheduler', lr_scheduler)  # accelerate wraps it
            if not decay or sched is None or getattr(sched, 'budget_decay', False): return
            if not hasattr(sched, 'lr_lambdas'): raise SystemExit('--lr-scheduler budget_cosine needs a LambdaLR scheduler underneath')
            sched.lr_lambdas, sched.budget_decay = [self.factor] * len(sched.lr_lambdas), True  # the trainer's own steps now follow the clock
            for group, base in zip(optimizer.param_groups, sched.base_lrs): group['lr'] = base * self.factor(state.global_step)
        def on_step_end(self, args, state, control, **kw):
            if now() - self.t0 >= budget_s: control.should_training_stop = True
        def on_train_end(self, args, state, control, **kw):
            self.wall, self.cpu, self.steps = time.perf_counter() - self.w0, time.process_time() - self.c0, state.global_step
    return Budget()


def per_char(model, tok, texts, ev: dict) -> dict:
    "Summed NLL (nats), scored tokens and characters over `texts`, with the eval section's windows."
    from style_tune.evaluation import article_nll
    df = article_nll(model, tok, texts, ev.get('max_length', 1024), ev.get('stride', 512), ev.get('ppl_batch_size', 4), progress=False)
    return {'nll': float(df.nll.sum()), 'tokens': int(df.tokens.sum()), 'chars': sum(len(t) for t in texts)}


def run_model(name: str, backup: Path, secs: dict, a, out: Path) -> dict:
    "Prep, base-model measures, budgeted training and held-out per-character perplexity for one embedded model."
    from style_tune.core import read_jsonl
    from style_tune.prep import build_dataset
    from style_tune.train import make_train_config, run_train
    from style_tune.evaluation import load_eval_model
    work = out/name.replace(':', '_')
    prep = {**secs['prep'], 'tokenizer': name}
    prep.pop('backup_dir', None)
    build_dataset(backup, work/'data', progress=False, **prep)
    articles = read_jsonl(work/'data'/'test_articles.jsonl')[:a.max_articles]
    texts = [x['text'] for x in articles]
    train = {**secs['train'], 'model': name, 'data_dir': str(work/'data'), 'output_dir': str(work/'train'), 'resume': False,
             'max_steps': 1_000_000, 'save_steps': 1_000_000, 'eval_steps': 1_000_000, 'early_stopping_patience': None,
             'lr_scheduler_type': 'constant' if a.lr_scheduler == 'budget_cosine' else a.lr_scheduler,
             'warmup_steps': 0 if a.lr_scheduler == 'budget_cosine' else a.warmup_steps}
    train.update(parse_pairs(a.train))
    clock = budget_callback(a.budget, a.clock, a.lr_scheduler == 'budget_cosine', a.warmup_steps)
    manifest = run_train(make_train_config(train), callbacks=[clock])
    model, tok, _ = load_eval_model(Path(manifest['adapter_dir']), device='cpu')
    with model.disable_adapter(): base = per_char(model, tok, texts, secs['eval'])
    adapter = per_char(model, tok, texts, secs['eval'])
    row = {'model': name, 'articles': len(texts), 'chars': base['chars'], 'tokens_per_char': base['tokens'] / base['chars'],
           'bits_per_char_base': base['nll'] / base['chars'] / math.log(2),
           'ppl_char_base': math.exp(base['nll'] / base['chars']), 'ppl_char_adapter': math.exp(adapter['nll'] / adapter['chars']),
           'steps': clock.steps, 'train_wall_s': clock.wall, 'train_cpu_s': clock.cpu, 'train_tokens': manifest.get('train_tokens_this_run') or 0,
           'test_article_ids': [x.get('article_id') for x in articles]}
    row['ratio'] = row['ppl_char_adapter'] / row['ppl_char_base']
    row['tokens_per_s'] = row['train_tokens'] / clock.wall if clock.wall else float('nan')
    row['tokens_per_cpu_s'] = row['train_tokens'] / clock.cpu if clock.cpu else float('nan')
    row['chars_per_cpu_s'] = row['tokens_per_cpu_s'] / row['tokens_per_char']  # loss-bearing text per CPU-second, in characters (at the held-out text's tokens per character)
    if a.judge: row['judge'] = judge(Path(manifest['adapter_dir']), work, secs['eval'], a)
    del model
    return row


def judge(adapter: Path, work: Path, ev: dict, a) -> str:
    "The evaluation's judge verdict on the adapter (share of pairs where it is more author-like), as one cell of the table."
    from style_tune.evaluation import load_eval_config, run_eval
    cfg = {**ev, 'adapter_dir': str(adapter), 'data_dir': str(work/'data'), 'output_dir': str(work/'eval'), 'device': 'cpu',
           'progress': False, 'max_articles': a.max_articles}
    m = run_eval(load_eval_config(None, **cfg)).get('judge') or {}
    v = m.get('judge')
    if not v: return m.get('skipped', 'skipped')
    val = (m.get('validation') or {}).get('balanced_accuracy', float('nan'))
    try: return f"{v['share']:.0%} of {v['n_decided']} (CI {v['ci_low']:.0%}–{v['ci_high']:.0%}; validation bal. acc. {val:.2f})"
    except (KeyError, TypeError, ValueError): return json.dumps(v)[:120]  # the judge's record changed shape: show it raw


def table(rows: list[dict], a) -> str:
    "The comparison as a markdown table."
    head = ['model', 'tokens/char', 'bits/char (base)', 'ppl/char base', 'ppl/char LoRA', 'ratio', f'steps in {a.budget:g} {a.clock}-s',
            'loss tokens/s (wall)', 'loss tokens/CPU-s', 'loss chars/CPU-s'] + (['judge: LoRA preferred'] if a.judge else [])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        cells = [r['model'], f"{r['tokens_per_char']:.2f}", f"{r['bits_per_char_base']:.3f}", f"{r['ppl_char_base']:.3f}",
                 f"{r['ppl_char_adapter']:.3f}", f"{r['ratio']:.3f}", str(r['steps']), f"{r['tokens_per_s']:.1f}",
                 f"{r['tokens_per_cpu_s']:.1f}", f"{r['chars_per_cpu_s']:.1f}"] + ([r.get('judge', '')] if a.judge else [])
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--backup', type=Path, default=DEFAULT_BACKUP)
    ap.add_argument('--params', type=Path, default=ROOT/'params'/'cpu_demo.yaml')
    ap.add_argument('--models', nargs='+', default=list(MODELS))
    ap.add_argument('--budget', type=float, default=600, help='training seconds per model (of --clock)')
    ap.add_argument('--clock', choices=('cpu', 'wall'), default='cpu', help='cpu: process CPU-seconds; wall: wall-clock seconds')
    ap.add_argument('--train', nargs='*', default=[], metavar='KEY=VALUE', help='train overrides on top of the parameters file')
    ap.add_argument('--lr-scheduler', default='budget_cosine',
                    help="budget_cosine: the recipe's cosine decay spread over the time budget; or any transformers scheduler name (its steps unknown: use a constant one)")
    ap.add_argument('--warmup-steps', type=int, default=2)
    ap.add_argument('--max-articles', type=int, default=24, help='held-out articles measured')
    ap.add_argument('--judge', action='store_true', help="also run the evaluation's judge on each adapter (slow: it generates)")
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    ap.add_argument('--out', type=Path, default=None, help='work folder (default: a temporary one, deleted)')
    a = ap.parse_args(argv)
    backup = backup_folder(a.backup)
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    from style_tune.core import ConfigError
    from style_tune.models import embedded_model
    try:
        for m in a.models: embedded_model(m)  # an unknown name or a missing package: one line (with the pip command), before any work
    except ConfigError as e: sys.exit(str(e))
    secs = sections(a.params)
    with tempfile.TemporaryDirectory(prefix='embedded_compare.') as tmp:
        out = a.out or Path(tmp)
        rows = [run_model(m, backup, secs, a, out) for m in a.models]
    if len({tuple(r['test_article_ids']) for r in rows}) > 1: print('WARNING: the models were measured on different held-out articles')
    print(f"\n{backup}, {rows[0]['articles']} held-out articles ({rows[0]['chars']} characters), {a.params.name}'s recipe, "
          f"{a.budget:g} {a.clock}-seconds of training each, torch threads {torch.get_num_threads()}\n")
    print(table(rows, a))
    print(json.dumps({'bench': 'embedded_compare', 'budget_s': a.budget, 'clock': a.clock,
                      'rows': [{k: v for k, v in r.items() if k != 'test_article_ids'} for r in rows]}))


if __name__ == '__main__': main()
