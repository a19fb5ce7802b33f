"""How much of the author's text does the held-out gain need? Held-out perplexity per character, base vs adapter, when
the same recipe trains on a growing share of the training articles (the same unseen test articles for every point).

With the library's own stages: prep the backup once (the parameters file's `prep` section, `--prep` overrides, the
training model's tokenizer); then for each number of training articles N (a fixed random order of the training
articles, so each set holds the smaller ones): a dataset with the samples of the first N articles only (validation and
test splits unchanged, written with prep's own `write_dataset`), LoRA training with the `train` recipe as it stands
(its `max_steps` the cap for every point; with frequent validation and `early_stopping_patience`, as in the command
below, each point stops when the validation loss stops falling and keeps its best checkpoint, so a small N is not
simply trained on its few articles over and over), and the held-out articles' perplexity per character with the
adapter off and on (eval's `article_nll`, its windows).

Prints a markdown table, a least-squares line of the ratio against log2(N) with the N at which it would reach
`--target` (an extrapolation, said as one), then one JSON line.

    python bench/data_curve.py --prep mode=text min_tokens=256 max_tokens=512 \\
        --train max_seq_length=512 gradient_accumulation_steps=4 max_steps=96 eval_steps=8 save_steps=8 \\
        eval_max_samples=16 early_stopping_patience=2 --plot outputs/data_curve.png   # the real sample, ~45 min on 2 cores
    python bench/data_curve.py --backup data/demo/Wechat-Backup --model tiny --train max_steps=4   # a smoke run, a minute

Options: --backup DIR (default ../shared/corpus), --params FILE (default params/cpu_demo.yaml), --model NAME (default:
the recipe's), --articles N... (default: an eighth, a quarter, a half and all of the training articles), --prep and
--train KEY=VALUE..., --target RATIO (default 0.6), --threads N, --out DIR (default: a temporary folder), --plot FILE.PNG.
"""
from __future__ import annotations
import argparse, json, math, random, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_compare import DEFAULT_BACKUP, ROOT, backup_folder, parse_pairs, per_char, sections  # the same prep, windows and sums


def subset(full: Path, out: Path, order: list[str], n: int) -> dict:
    "A copy of the dataset in `full` whose train split holds the samples of the first `n` articles of `order` only."
    from style_tune.core import read_jsonl
    from style_tune.prep import SPLITS, write_dataset
    keep = set(order[:n])
    samples = {sp: read_jsonl(full/f'sft_{sp}.jsonl') for sp in SPLITS}
    articles = {sp: read_jsonl(full/f'{sp}_articles.jsonl') for sp in SPLITS}
    samples['train'] = [s for s in samples['train'] if s['article_id'] in keep]
    articles['train'] = [a for a in articles['train'] if a['article_id'] in keep]
    stats = json.loads((full/'dataset_stats.json').read_text(encoding='utf-8'))
    stats.pop('files', None)
    stats['subset'] = {'train_articles': n, 'of': len(order)}
    write_dataset(out, samples, articles, stats)
    return {'articles': len(articles['train']), 'samples': len(samples['train']),
            'chars': sum(len(a['text']) for a in articles['train'])}


def fit(rows: list[dict], target: float) -> dict:
    "Least squares of the ratio on log2(N) (scipy's `linregress`); the N where the line meets `target` (None when the line does not fall)."
    if len(rows) < 2: return {'slope_per_doubling': None, 'articles_for_target': None}
    from scipy.stats import linregress
    line = linregress([math.log2(r['train_articles']) for r in rows], [r['ratio'] for r in rows])
    n_target = float(2 ** ((target - line.intercept) / line.slope)) if line.slope < 0 else None
    return {'slope_per_doubling': float(line.slope), 'intercept_at_1': float(line.intercept), 'articles_for_target': n_target}


def plot(rows: list[dict], line: dict, target: float, path: Path, model: str):
    "The ratio against the number of training articles (log scale), the fitted line and the target, as a PNG."
    import matplotlib, matplotlib.ticker; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ns = [r['train_articles'] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(ns, [r['ratio'] for r in rows], 'o-', label='measured')
    if line['slope_per_doubling'] is not None:
        far = max(ns[-1] * 4, line['articles_for_target'] or 0)
        xs = [ns[0], far]
        ax.plot(xs, [line['intercept_at_1'] + line['slope_per_doubling'] * math.log2(x) for x in xs], '--', color='grey', label='least-squares line')
    ax.axhline(target, color='tab:red', lw=1, label=f'target {target}')
    ax.set_xscale('log', base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f'{x:,.0f}'))
    ax.set(xlabel='training articles (log scale)', ylabel='held-out ppl/char: adapter / base', title=f'{model}: what more articles buy')
    ax.legend(); fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120); plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--backup', type=Path, default=DEFAULT_BACKUP)
    ap.add_argument('--params', type=Path, default=ROOT/'params'/'cpu_demo.yaml')
    ap.add_argument('--model', default=None, help="the model to train (default: the recipe's `model`)")
    ap.add_argument('--articles', type=int, nargs='*', default=None, help='numbers of training articles (default: 1/8, 1/4, 1/2 and all)')
    ap.add_argument('--prep', nargs='*', default=[], metavar='KEY=VALUE', help='prep overrides on top of the parameters file')
    ap.add_argument('--train', nargs='*', default=[], metavar='KEY=VALUE', help='train overrides on top of the parameters file')
    ap.add_argument('--target', type=float, default=0.6, help='the ratio per character the extrapolation aims at')
    ap.add_argument('--seed', type=int, default=42, help='the order in which training articles join')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    ap.add_argument('--out', type=Path, default=None, help='work folder (default: a temporary one, deleted)')
    ap.add_argument('--plot', type=Path, default=None, help='also draw the curve and the fitted line into this PNG file')
    a = ap.parse_args(argv)
    backup = backup_folder(a.backup)
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    from style_tune.core import read_jsonl
    from style_tune.prep import build_dataset
    from style_tune.train import make_train_config, run_train
    from style_tune.evaluation import load_eval_model
    secs = sections(a.params)
    model = a.model or secs['train'].get('model', 'embedded')
    prep, train_overrides = {**secs['prep'], 'tokenizer': model, **parse_pairs(a.prep)}, parse_pairs(a.train)
    prep.pop('backup_dir', None)
    with tempfile.TemporaryDirectory(prefix='data_curve.') as tmp:
        out = a.out or Path(tmp)
        build_dataset(backup, out/'full', progress=False, **prep)
        order = [x['article_id'] for x in read_jsonl(out/'full'/'train_articles.jsonl')]
        random.Random(a.seed).shuffle(order)
        counts = sorted(set(a.articles or [max(1, round(len(order) * f)) for f in (1/8, 1/4, 1/2, 1)]))
        if not order or counts[-1] > len(order): sys.exit(f'the backup has {len(order)} training articles; asked for up to {counts[-1]}')
        texts = [x['text'] for x in read_jsonl(out/'full'/'test_articles.jsonl')]
        if not texts: sys.exit('prep left no test articles: the backup needs at least 3 articles per account')
        rows, base = [], None
        for n in counts:
            data = subset(out/'full', out/f'n{n}', order, n)
            train = {**secs['train'], 'model': model, 'data_dir': str(out/f'n{n}'), 'output_dir': str(out/f'train{n}'), 'resume': False,
                     **train_overrides}
            manifest = run_train(make_train_config(train))
            net, tok, _ = load_eval_model(Path(manifest['adapter_dir']), device='cpu')
            if base is None:
                with net.disable_adapter(): base = per_char(net, tok, texts, secs['eval'])
            lora = per_char(net, tok, texts, secs['eval'])
            del net
            best = manifest.get('best_checkpoint')  # with a validation split the trainer keeps the best evaluated checkpoint
            row = {'train_articles': n, 'train_samples': data['samples'], 'train_chars': data['chars'], 'steps': manifest['global_step'],
                   'best_step': int(Path(best).name.rsplit('-', 1)[-1]) if best else manifest['global_step'], 'val_loss': manifest.get('final_val_loss'),
                   'bits_per_char_base': base['nll'] / base['chars'] / math.log(2),
                   'bits_per_char_adapter': lora['nll'] / lora['chars'] / math.log(2),
                   'ratio': math.exp((lora['nll'] - base['nll']) / base['chars'])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    line = fit(rows, a.target)
    print(f"\n{backup}: {len(texts)} held-out articles ({base['chars']} characters), model {model}, "
          f"{a.params.name}'s recipe with {' '.join(a.prep + a.train) or 'no overrides'}, torch threads {torch.get_num_threads()}\n")
    print('| training articles | samples | characters | steps run (kept) | validation loss | bits/char base → adapter | ratio per character |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        val = f"{r['val_loss']:.3f}" if isinstance(r['val_loss'], (int, float)) else '–'
        print(f"| {r['train_articles']} | {r['train_samples']} | {r['train_chars']} | {r['steps']} ({r['best_step']}) | {val} | "
              f"{r['bits_per_char_base']:.3f} → {r['bits_per_char_adapter']:.3f} | {r['ratio']:.3f} |")
    if line['slope_per_doubling'] is not None:
        print(f"\nratio ≈ {line['intercept_at_1']:.3f} {line['slope_per_doubling']:+.3f} × log2(articles)", end='')
        n_t = line['articles_for_target']
        print(f"; extrapolated, it reaches {a.target} at about {n_t:,.0f} training articles" if n_t else
              f"; the line does not fall, so no number of articles reaches {a.target} on it")
    if a.plot: plot(rows, line, a.target, a.plot, model)
    print(json.dumps({'bench': 'data_curve', 'model': model, 'target': a.target, 'fit': line, 'rows': rows}))


if __name__ == '__main__': main()
