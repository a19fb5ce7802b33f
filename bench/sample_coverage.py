"""Copy coverage of the prep samples (issue 10): how much of each answer its prompt already holds.

Runs prep on a backup into a temporary folder and prints, per task: the samples, the median and 90th percentile of their
copy coverage (`style_tune.prep.copy_coverage`: share of the answer's character 8-grams, letters, digits and ideographs
only, that already stand in the user turn), the samples dropped (with why) and the samples longer than `max_seq_length`
tokens; then the targets as PASS/FAIL: rewrite median <= 0.25, expand median <= 0.10.

    python bench/sample_coverage.py                                  # ../shared/corpus, the prep defaults
    python bench/sample_coverage.py data/demo/Wechat-Backup
    python bench/sample_coverage.py --tokenizer tiny --min-tokens 120 --max-tokens 400
    OMP_NUM_THREADS=1 nice -n 19 python bench/sample_coverage.py --model-chunks 20   # + the model neutraliser (slow on a CPU)

`--model-chunks N` also paraphrases N seeded chunks with the model neutraliser (`neutralizer: model`, the embedded model
unless `--neutralizer-model`; cached in the temporary folder) and prints the coverage of its raw paraphrases and of the
rewrite inputs after the copying or unfaithful ones (`max_copy_coverage`, `content_word_recall` < 0.5) are rebuilt from
the notes.
"""
import argparse, os, random, sys, tempfile, time
from collections import Counter
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from style_tune.prep import (SkipsAndRepairs, _coverage_summary, chunk_articles, clean_articles, content_word_recall, copy_coverage, find_articles,
                             load_counter, load_prep_config, neutralize_with_model, run_prep)

TARGETS = {'rewrite': 0.25, 'expand': 0.10}  # highest median copy coverage, issue 10

def backup_folder(path:str) -> Path:
    "The backup folder: `path` itself, or its `Wechat-Backup` when it holds one; exits with a sentence when absent."
    p = Path(path)
    if (p/'Wechat-Backup').is_dir(): p = p/'Wechat-Backup'
    if not p.is_dir(): sys.exit(f'sample_coverage: no backup at {Path(path).resolve()} (pass a backup folder, e.g. data/demo/Wechat-Backup)')
    return p

def print_tasks(stats:dict):
    "One row per task, then the targets as PASS/FAIL; returns whether every target holds."
    limit = stats['config']['max_seq_length']
    print(f"{'task':<9} {'samples':>7} {'median':>7} {'p90':>6} {'max':>6} {'dropped':>8} {f'>{limit} tok':>9}  why dropped")
    for task, c in stats['tasks'].items():
        cov = c['copy_coverage'] or {'median': float('nan'), 'p90': float('nan'), 'max': float('nan')}
        why = '; '.join(f'{n} {r}' for r, n in {**c['dropped'], **c['rebuilt']}.items())
        print(f"{task:<9} {c['samples']:>7} {cov['median']:>7.3f} {cov['p90']:>6.3f} {cov['max']:>6.3f} "
              f"{sum(c['dropped'].values()):>8} {c['over_max_seq_length']:>9}  {why}")
    ok = True
    for task, most in TARGETS.items():
        med = (stats['tasks'].get(task, {}).get('copy_coverage') or {}).get('median')
        good = med is not None and med <= most; ok &= good
        print(f"{'PASS' if good else 'FAIL'}: {task} median copy coverage {med} <= {most}")
    return ok

def model_coverage(cfg, n:int, seed:int, cache:Path):
    "Paraphrase `n` seeded chunks with the model neutraliser; print the coverage of its raw output and after the rebuild."
    log = SkipsAndRepairs()
    cleaned, _ = clean_articles(find_articles(cfg.backup_dir, log), cfg, log)
    chunks = [c for _, _, cs in chunk_articles(cleaned, load_counter(cfg.tokenizer), cfg) for c in cs]
    texts = [chunks[i] for i in sorted(random.Random(seed).sample(range(len(chunks)), min(n, len(chunks))))]
    t = time.perf_counter()
    raw = neutralize_with_model(texts, cfg.neutralizer_model, cache, cfg.neutralizer_batch_size, max_copy_coverage=1.0, min_word_recall=0.0)
    secs = time.perf_counter() - t
    rebuilt = Counter()
    final = neutralize_with_model(texts, cfg.neutralizer_model, cache, max_copy_coverage=cfg.max_copy_coverage, tally=rebuilt)  # cached
    for name, plain in (('model paraphrase (empty or unchanged ones rebuilt)', raw), ('after the rebuild from notes', final)):
        s = _coverage_summary([copy_coverage(p, c) for p, c in zip(plain, texts)])
        print(f"model neutraliser ({cfg.neutralizer_model}), {len(texts)} chunks, {name}: median {s['median']:.3f}, p90 {s['p90']:.3f}, max {s['max']:.3f}")
    recall = sorted(content_word_recall(p, c) for p, c in zip(raw, texts))
    print(f'  content-word recall of the paraphrases: median {recall[len(recall) // 2]:.2f}, {sum(r < 0.5 for r in recall)} of {len(recall)} under 0.5')
    print(f'  rebuilt from notes: {dict(rebuilt)}; {secs:.0f} s for {len(texts)} chunks')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('backup', nargs='?', default='../shared/corpus', help='backup folder (or a folder holding Wechat-Backup)')
    ap.add_argument('--tokenizer', default=None, help="prep tokenizer (default: prep's, 'embedded'); 'none' counts characters")
    ap.add_argument('--min-tokens', type=int); ap.add_argument('--max-tokens', type=int)
    ap.add_argument('--max-seq-length', type=int, help='training sequence length (default: prep default, 1024)')
    ap.add_argument('--max-copy-coverage', type=float)
    ap.add_argument('--model-chunks', type=int, default=0, help='also measure the model neutraliser on this many seeded chunks')
    ap.add_argument('--neutralizer-model', default=None)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    backup = backup_folder(a.backup)
    keys = dict(min_tokens=a.min_tokens, max_tokens=a.max_tokens, max_seq_length=a.max_seq_length,
                max_copy_coverage=a.max_copy_coverage, neutralizer_model=a.neutralizer_model, tokenizer=a.tokenizer)
    with tempfile.TemporaryDirectory() as d:
        cfg = load_prep_config(backup_dir=str(backup), output_dir=d, progress=False, **keys)
        if a.tokenizer == 'none': cfg.tokenizer = None
        t = time.perf_counter(); stats = run_prep(cfg)
        print(f"{backup}: {stats['articles']['kept']} articles, tokenizer {cfg.tokenizer}, chunks {cfg.min_tokens}-{cfg.max_tokens} tokens, "
              f"max_copy_coverage {cfg.max_copy_coverage}, prep {time.perf_counter() - t:.0f} s")
        ok = print_tasks(stats)
        if a.model_chunks: model_coverage(cfg, a.model_chunks, a.seed, Path(d)/'model_cache.jsonl')
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
