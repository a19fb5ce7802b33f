"""Evaluation benchmark (02_eval): batched generation (left-padded, length-sorted) vs one prompt at a time, with the
same model, prompts and greedy decoding, through `style_tune.evaluation.generate_texts`.

    python bench/eval_generate.py                # embedded SmolLM2-135M on the CPU
    python bench/eval_generate.py --model tiny   # seconds, for a smoke run

Prints both timings and how many outputs are identical, then a final JSON line with `ratio` = sequential / batched.
"""
import argparse, json, os, time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from style_tune.models import ModelConfig, load_model
from style_tune.evaluation import generate_texts

USERS = ['续写：今天下雨，我在窗边喝茶，想起小时候的巷子。', '把下面的提纲展开成一段文字：周末、菜市场、春笋。',
         '用作者的口吻改写：我们下周见，生活还要继续。', '续写：那辆旧凤凰自行车在楼道里放了很多年。',
         '把下面的提纲展开成一段文字：绿豆汤、雨季、外婆。', '用作者的口吻改写：这家店开张了，名字叫慢炖。',
         '续写：熏香肠这件事，要从腊月说起。', '把下面的提纲展开成一段文字：修车铺、邻居、冬天。']

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='embedded')
    ap.add_argument('--new-tokens', type=int, default=48)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    loaded = load_model(ModelConfig(a.model, device=a.device)); model, tok = loaded.model, loaded.tokenizer
    msgs = [[{'role': 'system', 'content': '你是一位公众号作者。'}, {'role': 'user', 'content': u}] for u in USERS]
    kw = dict(max_new_tokens=a.new_tokens, temperature=0, repetition_penalty=1.1, progress=False)
    generate_texts(model, tok, msgs[:2], batch_size=2, **{**kw, 'max_new_tokens': 4})  # warm-up
    t = time.perf_counter(); seq = generate_texts(model, tok, msgs, batch_size=1, **kw); t_seq = time.perf_counter() - t
    t = time.perf_counter(); bat = generate_texts(model, tok, msgs, batch_size=a.batch_size, **kw); t_bat = time.perf_counter() - t
    n_tok = sum(len(tok(x, add_special_tokens=False).input_ids) for x in seq)
    same = sum(x == y for x, y in zip(seq, bat))
    print(f'model {a.model} on {a.device} ({torch.get_num_threads()} threads): {len(msgs)} prompts, up to {a.new_tokens} new tokens, greedy')
    print(f'sequential (1 prompt per call): {t_seq:7.2f} s  {n_tok/t_seq:7.1f} tok/s')
    print(f'batched ({a.batch_size} per call)       : {t_bat:7.2f} s  {n_tok/t_bat:7.1f} tok/s   -> {t_seq/t_bat:.2f}x  ({same}/{len(msgs)} outputs identical)')
    print(json.dumps({'bench': 'eval_generate', 'ratio': round(t_seq / t_bat, 2), 'sequential_s': round(t_seq, 3), 'batched_s': round(t_bat, 3),
                      'prompts': len(msgs), 'new_tokens': a.new_tokens, 'identical_outputs': same, 'model': a.model, 'device': a.device,
                      'threads': torch.get_num_threads(), 'batch_size': a.batch_size}))

if __name__ == '__main__': main()
