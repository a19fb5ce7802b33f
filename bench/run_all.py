"""Run every benchmark in bench/ and write one table of their figures and side-by-side ratios.

Each benchmark script prints, as its last JSON line, an object like {"bench": name, "ratio": x, ...}; one that compares
recipes (train_throughput: speed and peak memory of ours, the seed and TRL defaults) adds "recipes", shown side by side.
Usage: python bench/run_all.py [--out outputs/bench] [--only NAME ...] [--extra '--model tiny']
Writes <out>/bench.md and <out>/bench.json, with the machine they ran on.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {'run_all.py', 'gpu_check.py'}  # gpu_check needs a GPU and is run by hand


def machine() -> dict:
    info = {'platform': platform.platform(), 'python': platform.python_version(), 'cpu_count': os.cpu_count(),
            'processor': platform.processor() or platform.machine()}
    try:
        import torch
        info['torch'] = torch.__version__
        info['cuda'] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        info['torch_threads'] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith('{') and line.endswith('}'):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


RECIPE_COLS = ('tokens_per_s', 'cpu_tokens_per_s', 'peak_mem_mib', 'memory', 'loss_tokens', 'seconds', 'bf16',
               'gradient_checkpointing', 'chunked_loss')


def recipe_table(r: dict) -> list[str]:
    "A markdown table of one benchmark's recipes side by side, with each recipe's ratios to the first one."
    recs = r['recipes']
    first = next(iter(recs))
    head = f"### {r['script']}: recipes side by side ({', '.join(f'{k}={r[k]}' for k in ('model', 'data', 'batch', 'max_len', 'steps') if k in r)})"
    lines = [head, '', '| recipe | ' + ' | '.join(RECIPE_COLS) + f' | {first}/recipe tokens/s | {first}/recipe peak memory |', '|---' * (len(RECIPE_COLS) + 3) + '|']
    for name, x in recs.items():
        speed = recs[first]['tokens_per_s'] / x['tokens_per_s'] if x.get('tokens_per_s') else None
        mem = recs[first]['peak_mem_mib'] / x['peak_mem_mib'] if x.get('peak_mem_mib') else None
        lines.append(f'| {name} | ' + ' | '.join(str(x.get(c, '')) for c in RECIPE_COLS)
                     + f" | {'' if speed is None else f'{speed:.2f}x'} | {'' if mem is None else f'{mem:.2f}x'} |")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='outputs/bench')
    p.add_argument('--only', nargs='*')
    p.add_argument('--extra', default='', help="arguments given to every benchmark, e.g. '--model tiny' for a quick check")
    a = p.parse_args(argv)
    scripts = sorted(s for s in HERE.glob('*.py') if s.name not in SKIP and (not a.only or s.stem in a.only))
    rows = []
    for s in scripts:
        print(f'== {s.name}', flush=True)
        t0 = time.time()
        r = subprocess.run([sys.executable, str(s), *a.extra.split()], capture_output=True, text=True)
        sys.stdout.write(r.stdout[-4000:])
        res = last_json(r.stdout) if r.returncode == 0 else None
        rows.append({'script': s.name, 'ok': res is not None, 'seconds': round(time.time() - t0, 1),
                     **(res or {'error': (r.stderr.strip().splitlines() or ['no JSON result line'])[-1]})})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {'machine': machine(), 'date': time.strftime('%Y-%m-%d %H:%M:%S'), 'extra_args': a.extra, 'benchmarks': rows}
    (out / 'bench.json').write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding='utf-8')
    keys = sorted({k for r in rows for k, v in r.items() if not isinstance(v, dict)} - {'script', 'bench', 'ratio', 'ok', 'seconds', 'error'})
    lines = ['# Benchmarks', '', f"Machine: {result['machine']}", '', '| script | bench | ratio | ' + ' | '.join(keys) + ' | seconds |',
             '|---' * (len(keys) + 4) + '|']
    for r in rows:
        lines.append(f"| {r['script']} | {r.get('bench', r.get('error', ''))} | {r.get('ratio', '')} | "
                     + ' | '.join(str(r.get(k, '')) for k in keys) + f" | {r['seconds']} |")
    for r in rows:  # benchmarks that compare recipes (e.g. train_throughput) get their own side-by-side table
        if isinstance(r.get('recipes'), dict): lines += ['', *recipe_table(r)]
    (out / 'bench.md').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    print('\n'.join(lines))
    return 0 if all(r['ok'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
