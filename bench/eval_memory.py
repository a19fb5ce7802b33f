"""Evaluation memory benchmark (02_eval): held-out perplexity windows scored with the model's full logits (what
`token_nll` did before) vs `style_tune.loss.span_nll` (LM head on the scored positions only, in chunks), each in its
own process so that peak RSS is its own.

    python bench/eval_memory.py                               # embedded Gemma-3-270M (262k vocabulary), demo corpus
    python bench/eval_memory.py --model embedded:smollm2-135m

Prints peak RSS and seconds of both, checks they give the same NLL, then a final JSON line with `ratio` = full / chunked peak RSS.
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def texts():
    "The demo corpus's articles (any user's text would do: only the window count matters)."
    from style_tune.prep import find_articles, SkipsAndRepairs
    return [a.raw for a in find_articles(ROOT/'data'/'demo'/'Wechat-Backup'/'慢炖周记', SkipsAndRepairs())][:8]


def child(mode, model_name, batch, max_length, stride):
    "Score the windows one way; print a RESULT line."
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch
    import torch.nn.functional as F
    from style_tune.models import ModelConfig, load_model
    from style_tune.evaluation import window_spans, token_nll
    loaded = load_model(ModelConfig(model_name, device='cpu')); model, tok = loaded.model.eval(), loaded.tokenizer
    items = [(ids[b:e], c) for t in texts() for ids in [tok(t).input_ids] for b, e, c in window_spans(len(ids), max_length, stride)]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if mode == 'chunked': total = sum(n for n, _ in token_nll(model, items, batch, tok.pad_token_id, progress=False))
    else:
        total = 0.0
        with torch.inference_mode():
            for s in range(0, len(items), batch):
                part = items[s:s+batch]; L = max(len(x) for x, _ in part)
                ids = torch.full((len(part), L), tok.pad_token_id); mask = torch.zeros_like(ids)
                for r, (x, _) in enumerate(part): ids[r, :len(x)] = torch.as_tensor(x); mask[r, :len(x)] = 1
                logits = model(input_ids=ids, attention_mask=mask).logits
                for r, (x, c) in enumerate(part):
                    st = max(c, 1)
                    if st < len(x): total += float(F.cross_entropy(logits[r, st-1:len(x)-1].float(), ids[r, st:len(x)], reduction='sum'))
    print('RESULT ' + json.dumps({'mode': mode, 'nll': total, 'seconds': time.perf_counter() - t, 'windows': len(items),
                                  'peak_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 'model_rss_gb': base_rss / 2**20}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='embedded')
    ap.add_argument('--batch', type=int, default=4, help="windows per forward pass (the evaluation's ppl_batch_size)")
    ap.add_argument('--max-length', type=int, default=512); ap.add_argument('--stride', type=int, default=256)
    ap.add_argument('--_mode', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._mode: return child(a._mode, a.model, a.batch, a.max_length, a.stride)
    res = {}
    for mode in ('full', 'chunked'):
        out = subprocess.run([sys.executable, __file__, '--_mode', mode, '--model', a.model, '--batch', str(a.batch), '--max-length', str(a.max_length),
                              '--stride', str(a.stride)], capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
        if not line: sys.exit(f'{mode} failed:\n{out.stderr[-2000:]}')
        res[mode] = json.loads(line[0][7:])
        r = res[mode]; print(f"{mode:8s}: peak RSS {r['peak_rss_gb']:.2f} GB (model loaded: {r['model_rss_gb']:.2f} GB), {r['seconds']:.1f} s, {r['windows']} windows, NLL {r['nll']:.2f}")
    same = abs(res['full']['nll'] - res['chunked']['nll']) <= 1e-4 * abs(res['full']['nll'])
    print(f"same NLL (rel. 1e-4): {same}")
    print(json.dumps({'bench': 'eval_memory', 'model': a.model, 'ratio': round(res['full']['peak_rss_gb'] / res['chunked']['peak_rss_gb'], 2),
                      'same_nll': same, **{f'{m}_{k}': round(res[m][k], 3) for m in res for k in ('peak_rss_gb', 'seconds')}}))


if __name__ == '__main__': main()
