"""Inference benchmark (03_infer): batched vs one-at-a-time generation, merged vs unmerged adapter, and adapter
switching vs reloading the base.

    python bench/infer.py                 # embedded SmolLM2-135M on the CPU
    python bench/infer.py --model tiny    # seconds, for a smoke run

Prints each figure, then a final JSON line; `ratio` is the batched speed-up in generated tokens per second.
"""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from style_tune.models import ModelConfig, load_model
from style_tune.infer import make_test_adapter, merge_adapter, generate

PROMPTS = ['写一段关于下雨天的随笔。', '用你的口吻，介绍一下这个周末。', 'Write one sentence about tea.', '成都的冬天是什么样的？',
           '给读者写一封短信。', 'Describe an old street in three sentences.', '今天读了一本书，说说感受。', '为什么要慢慢写作？']

def timed(fn, repeats):
    "Best wall time of `repeats` calls (the least disturbed by other processes) and the last result."
    best, out = float('inf'), None
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(); best = min(best, time.perf_counter() - t)
    return best, out

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='embedded')
    ap.add_argument('--new-tokens', type=int, default=32)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    work = Path(tempfile.mkdtemp(prefix='bench_infer_'))
    ad1 = make_test_adapter(a.model, work/'r1', seed=1, scale=0.02)
    ad2 = make_test_adapter(a.model, work/'r2', seed=2, scale=0.02)
    kw = dict(temperature=0, max_new_tokens=a.new_tokens)  # speeds count the tokens actually generated (EOS may end early)

    t_load, inf = timed(lambda: load_model(ModelConfig(device='cpu'), {'a': ad1, 'b': ad2}), 1)
    def switch():
        for n in ('b', 'a', None, 'a'): inf.use(n)
    t_switch, _ = timed(switch, 3); t_switch /= 4

    def tokens(recs): return sum(r['n_new_tokens'] for r in recs)
    t_seq, recs_seq = timed(lambda: generate(inf, PROMPTS, batch_size=1, **kw), a.repeats)
    t_bat, recs_bat = timed(lambda: generate(inf, PROMPTS, batch_size=a.batch_size, **kw), a.repeats)
    tps_seq, tps_bat = tokens(recs_seq) / t_seq, tokens(recs_bat) / t_bat
    same = sum(x['output'] == y['output'] for x, y in zip(recs_seq, recs_bat))

    merged = merge_adapter(None, ad1, work/'merged')
    inf_m = load_model(ModelConfig(str(merged), device='cpu'))
    t_merged, recs_m = timed(lambda: generate(inf_m, PROMPTS, batch_size=a.batch_size, **kw), a.repeats)
    tps_merged = tokens(recs_m) / t_merged

    print(f'model: {a.model}, {len(PROMPTS)} prompts, up to {a.new_tokens} new tokens, greedy, CPU threads {torch.get_num_threads()}')
    print(f'one at a time : {t_seq:7.2f} s  {tps_seq:7.1f} tok/s')
    print(f'batch of {a.batch_size:<5}: {t_bat:7.2f} s  {tps_bat:7.1f} tok/s   -> {tps_bat/tps_seq:.2f}x  ({same}/{len(PROMPTS)} outputs identical)')
    print(f'merged model  : {t_merged:7.2f} s  {tps_merged:7.1f} tok/s   -> {tps_merged/tps_bat:.2f}x the unmerged adapter (batched)')
    print(f'load base + 2 adapters: {t_load:.2f} s; switch adapter: {t_switch*1000:.1f} ms  -> {t_load/t_switch:.0f}x faster than reloading')
    print(json.dumps({'bench': 'infer_batching', 'ratio': round(tps_bat / tps_seq, 3), 'model': a.model,
                      'tok_s_sequential': round(tps_seq, 1), 'tok_s_batched': round(tps_bat, 1), 'batch_size': a.batch_size,
                      'merged_vs_unmerged': round(tps_merged / tps_bat, 3), 'load_s': round(t_load, 2),
                      'switch_ms': round(t_switch * 1000, 2), 'identical_outputs': f'{same}/{len(PROMPTS)}'}))
    shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': sys.exit(main())
