"""Evaluation benchmark (02_eval): batched, length-sorted sliding-window perplexity vs the naive loop
(one window of one text at a time, transformers' own `labels=` loss), same model, same texts, same windows.

    python bench/eval_ppl.py                # embedded SmolLM2-135M on the CPU
    python bench/eval_ppl.py --model tiny   # seconds, for a smoke run

Prints both timings, checks the two give the same perplexity, then a final JSON line with `ratio` = naive / batched.
"""
import argparse, json, math, os, random, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from style_tune.models import ModelConfig, load_model
from style_tune.evaluation import article_nll, window_spans

def demo_texts(n, seed=0):
    "`n` pieces of the bundled demo corpus, of mixed lengths (like held-out articles and chunks)."
    root = Path(__file__).resolve().parent.parent/'data'/'demo'
    paras = []
    for f in sorted(root.rglob('*.md')):
        try: text = f.read_text(encoding='utf-8')
        except UnicodeDecodeError: continue  # the demo corpus has deliberately GBK-encoded files: skip them here
        if f.name != 'README.md': paras += [p.strip() for p in text.split('\n\n') if len(p.strip()) > 20]
    rng = random.Random(seed)
    return [''.join(rng.sample(paras, rng.randint(1, 6))) for _ in range(n)]

def naive_nll(model, tok, texts, max_length, stride):
    "The textbook loop: every window of every text through the model alone, loss from `labels`."
    nll, ntok = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok(t).input_ids])
            for b, e, c in window_spans(ids.shape[1], max_length, stride):
                x = ids[:, b:e]; y = x.clone(); y[:, :c] = -100
                n = int((y[:, 1:] != -100).sum())
                if n == 0: continue
                nll += model(input_ids=x, labels=y).loss.item() * n; ntok += n
    return nll, ntok

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='embedded')
    ap.add_argument('--texts', type=int, default=32)
    ap.add_argument('--max-length', type=int, default=256)
    ap.add_argument('--stride', type=int, default=128)
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    loaded = load_model(ModelConfig(a.model, device=a.device)); model, tok = loaded.model, loaded.tokenizer
    texts = demo_texts(a.texts)
    n_windows = sum(len(window_spans(len(tok(t).input_ids), a.max_length, a.stride)) for t in texts)
    article_nll(model, tok, texts[:2], a.max_length, a.stride, a.batch_size, progress=False)  # warm-up
    t = time.perf_counter(); nll_n, tok_n = naive_nll(model, tok, texts, a.max_length, a.stride); t_naive = time.perf_counter() - t
    t = time.perf_counter(); df = article_nll(model, tok, texts, a.max_length, a.stride, a.batch_size, progress=False); t_bat = time.perf_counter() - t
    ppl_n, ppl_b = math.exp(nll_n / tok_n), math.exp(df.nll.sum() / df.tokens.sum())
    print(f'model {a.model} on {a.device} ({torch.get_num_threads()} threads): {len(texts)} texts, {n_windows} windows '
          f'of <= {a.max_length} tokens (stride {a.stride}), {tok_n} scored tokens')
    print(f'naive loop (1 window at a time): {t_naive:7.2f} s  {tok_n/t_naive:8.1f} tok/s  ppl {ppl_n:.4f}')
    print(f'batched ({a.batch_size}, length-sorted) : {t_bat:7.2f} s  {tok_n/t_bat:8.1f} tok/s  ppl {ppl_b:.4f}   -> {t_naive/t_bat:.2f}x')
    assert int(df.tokens.sum()) == tok_n and abs(ppl_n - ppl_b) / ppl_n < 1e-3, 'batched and naive perplexity differ'
    print(json.dumps({'bench': 'eval_ppl', 'ratio': round(t_naive / t_bat, 2), 'naive_s': round(t_naive, 3), 'batched_s': round(t_bat, 3),
                      'tokens': tok_n, 'windows': n_windows, 'model': a.model, 'device': a.device, 'threads': torch.get_num_threads(),
                      'batch_size': a.batch_size, 'ppl': round(ppl_b, 4)}))

if __name__ == '__main__': main()
