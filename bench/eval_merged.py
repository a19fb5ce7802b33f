"""Evaluation benchmark (02_eval): the adapter's passes with the LoRA merged into the base weights (PEFT's `merge_adapter`)
vs left unmerged as eval runs them (PEFT's extra products in every adapted layer), same model, same texts. Eval keeps
the adapter unmerged: merged is only ~6% faster with Gemma-3-270M on the CPU (its 262k-token output layer dominates),
and restoring the base exactly afterwards would need a copy of every adapted weight.

    python bench/eval_merged.py                # embedded Gemma-3-270M with a rank-16 LoRA on every projection, CPU
    python bench/eval_merged.py --model tiny   # seconds, for a smoke run

Times held-out perplexity (`article_nll`) and generation (`generate_tokens`, greedy) both ways, checks they agree,
then prints a final JSON line with `ratio_ppl` and `ratio_generate` = unmerged seconds / merged seconds.
"""
import argparse, json, math, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from style_tune.models import ModelConfig, load_model, generation_config, generate_tokens
from style_tune.evaluation import article_nll
from style_tune.infer import make_test_adapter
sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_ppl import demo_texts
from infer import timed as best_of  # best wall time of `repeats` calls, and the last result

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='embedded')
    ap.add_argument('--rank', type=int, default=16)
    ap.add_argument('--texts', type=int, default=16)
    ap.add_argument('--max-length', type=int, default=512)
    ap.add_argument('--stride', type=int, default=256)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--new-tokens', type=int, default=64)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as d:
        adapter = make_test_adapter(a.model, Path(d)/'run', r=a.rank, scale=0.01)
        loaded = load_model(ModelConfig(device='cpu'), adapter)
        model, tok = loaded.model, loaded.tokenizer
        texts = demo_texts(a.texts)
        ppl_kw = dict(max_length=a.max_length, stride=a.stride, batch_size=a.batch_size, progress=False)
        prompts = [tok(t[:40]).input_ids for t in texts[:a.batch_size]]
        cfg = generation_config(model, tok, max_new_tokens=a.new_tokens, temperature=0)
        cfg.min_new_tokens = a.new_tokens  # the same number of tokens both ways
        def ppl(): df = article_nll(model, tok, texts, **ppl_kw); return math.exp(df.nll.sum() / df.tokens.sum()), int(df.tokens.sum())
        def gen(): return generate_tokens(model, prompts, cfg, batch_size=a.batch_size)
        article_nll(model, tok, texts[:2], **ppl_kw)  # warm-up
        t_ppl_u, (ppl_u, n_tok) = best_of(ppl, a.repeats)
        t_gen_u, gen_u = best_of(gen, a.repeats)
        model.merge_adapter()
        t_ppl_m, (ppl_m, _) = best_of(ppl, a.repeats)
        t_gen_m, gen_m = best_of(gen, a.repeats)
        model.unmerge_adapter()
        same_tokens = sum(x == y for u, m in zip(gen_u, gen_m) for x, y in zip(u, m)) / max(1, sum(len(u) for u in gen_u))
    n_new = sum(len(g) for g in gen_u)
    print(f'model {a.model}, LoRA r {a.rank} on every projection, CPU ({torch.get_num_threads()} threads)')
    print(f'perplexity, {len(texts)} texts, {n_tok} tokens: unmerged {t_ppl_u:7.2f} s, merged {t_ppl_m:7.2f} s -> {t_ppl_u/t_ppl_m:.2f}x '
          f'(ppl {ppl_u:.4f} vs {ppl_m:.4f})')
    print(f'generation, {len(prompts)} prompts x {a.new_tokens} tokens: unmerged {t_gen_u:7.2f} s, merged {t_gen_m:7.2f} s -> '
          f'{t_gen_u/t_gen_m:.2f}x ({same_tokens:.1%} of greedy tokens identical)')
    assert abs(ppl_u - ppl_m) / ppl_u < 1e-3, 'merged and unmerged perplexity differ'
    print(json.dumps({'bench': 'eval_merged', 'ratio_ppl': round(t_ppl_u / t_ppl_m, 3), 'ratio_generate': round(t_gen_u / t_gen_m, 3),
                      'unmerged_ppl_s': round(t_ppl_u, 3), 'merged_ppl_s': round(t_ppl_m, 3), 'unmerged_gen_s': round(t_gen_u, 3),
                      'merged_gen_s': round(t_gen_m, 3), 'tokens': n_tok, 'new_tokens': n_new, 'same_greedy_tokens': round(same_tokens, 4),
                      'model': a.model, 'rank': a.rank, 'threads': torch.get_num_threads()}))

if __name__ == '__main__': main()
