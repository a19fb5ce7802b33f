"""Sharded-training check: a few LoRA steps through `accelerate launch` with configs/accelerate/fsdp.yaml (or another
accelerate config, e.g. a DeepSpeed one), then assert that the launcher really used that backend and that the adapter
was saved: `adapter_model.safetensors` holding every LoRA tensor the adapter config implies, at full (unsharded) shape,
trained (lora_B no longer zero), and no pickled file.

Usage: python bench/fsdp_check.py [--accelerate-config configs/accelerate/fsdp.yaml] [--model embedded] [--steps 4]
                                  [--num-processes N] [--cpu] [--keep DIR]
On CUDA it launches min(2, GPUs) processes. Without CUDA it prints why it cannot check FSDP and exits 0 (1 when
CI=true and STYLE_TUNE_REQUIRE_GPU=1). `--cpu` runs the same launch anyway on the CPU (2 processes, gloo, tiny model):
accelerate 1.15 then trains with plain DDP, not FSDP (its FSDP switch exists only for GPU device types), so that
run checks the launch and the adapter save, and reports the backend it got.
"""
from __future__ import annotations
import argparse, json, os, socket, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT/'configs'/'accelerate'/'fsdp.yaml'
CPU_FSDP_REASON = ('FSDP cannot run on CPU with accelerate 1.15 + transformers 5: with use_cpu the state becomes '
                   'MULTI_CPU and AcceleratorState enables FSDP only for GPU device types, so an FSDP config silently '
                   'trains with DDP over gloo (run with --cpu to see it and check the adapter save)')


def gpu_required() -> bool:
    "Must a missing GPU fail this check (CI=true and STYLE_TUNE_REQUIRE_GPU=1) instead of skipping it?"
    return os.environ.get('CI', '').lower() == 'true' and os.environ.get('STYLE_TUNE_REQUIRE_GPU') == '1'


def expected_backend(acc_config: Path) -> str:
    "The `distributed_type` the accelerate config asks for (FSDP, DEEPSPEED, MULTI_GPU...)."
    import yaml
    return str(yaml.safe_load(acc_config.read_text())['distributed_type']).upper()


def skip_reason(backend: str, cpu: bool) -> str | None:
    "Why this check cannot run here, or None."
    try: import torch
    except ImportError: return 'torch is not installed'
    if backend == 'DEEPSPEED':
        import importlib.util
        if importlib.util.find_spec('deepspeed') is None: return 'deepspeed is not installed (pip install deepspeed on a CUDA machine)'
        if cpu or not torch.cuda.is_available(): return 'DeepSpeed is checked on CUDA GPUs only'
    if cpu: return None
    if not torch.cuda.is_available(): return f'no CUDA GPU visible to torch {torch.__version__}; {CPU_FSDP_REASON}'
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def prepare_data(out: Path) -> Path:
    "The bundled demo corpus, prepared (train + validation JSONL)."
    from style_tune.prep import build_dataset
    build_dataset(ROOT/'data'/'demo'/'Wechat-Backup', out)
    return out


def expected_adapter_shapes(model_path: Path, adapter_dir: Path) -> dict:
    "Key -> shape of every tensor the saved adapter config implies, from the base model built on the meta device."
    import torch
    from peft import PeftConfig, get_peft_model, get_peft_model_state_dict
    from transformers import AutoConfig, AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(model_path)
    with torch.device('meta'): base = AutoModelForCausalLM.from_config(cfg)
    peft_model = get_peft_model(base, PeftConfig.from_pretrained(adapter_dir))
    return {k: tuple(v.shape) for k, v in get_peft_model_state_dict(peft_model).items()}


def check_adapter(adapter_dir: Path, model_path: Path) -> dict:
    "Assert the adapter folder holds full, trained LoRA tensors in safetensors only; return a summary."
    from safetensors import safe_open
    weights = adapter_dir/'adapter_model.safetensors'
    assert weights.is_file(), f'no adapter saved: {adapter_dir} holds {sorted(p.name for p in adapter_dir.iterdir()) if adapter_dir.is_dir() else "nothing"}'
    pickled = [p.name for p in adapter_dir.iterdir() if p.suffix in ('.bin', '.pt', '.pth', '.pkl')]
    assert not pickled, f'pickled files in the adapter: {pickled}'
    want = expected_adapter_shapes(model_path, adapter_dir)
    with safe_open(str(weights), 'pt') as f:
        got = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        trained_b = sum(float(f.get_tensor(k).abs().sum()) > 0 for k in got if 'lora_B' in k)
    assert set(got) == set(want), f'adapter tensors differ from the config: missing {sorted(set(want) - set(got))[:4]}, extra {sorted(set(got) - set(want))[:4]}'
    bad = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not bad, f'adapter tensors with a wrong (sharded?) shape: {dict(list(bad.items())[:4])}'
    n_b = sum('lora_B' in k for k in got)
    assert trained_b == n_b, f'only {trained_b} of {n_b} lora_B tensors moved from zero: the saved adapter is not the trained one'
    return {'tensors': len(got), 'bytes': weights.stat().st_size}


def worker(a) -> int:
    "Run inside `accelerate launch`: the train stage with a probe that records which backend wrapped the model."
    from transformers import TrainerCallback
    from style_tune.core import write_json
    from style_tune.train import load_train_config, run_train
    rank = int(os.environ.get('RANK', 0))
    out = Path(a.out)

    class Probe(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            from accelerate.state import AcceleratorState
            st = AcceleratorState()
            kind = st.distributed_type.value
            wrappers = []
            try:
                from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
                wrappers = [FSDPModule, FullyShardedDataParallel]
            except ImportError: pass
            n = sum(isinstance(m, tuple(wrappers)) for m in model.modules()) if model is not None and wrappers else 0
            plugin = st.fsdp_plugin if kind == 'FSDP' else None
            write_json(out/f'probe_rank{rank}.json', {
                'rank': rank, 'distributed_type': kind, 'fsdp_wrapped_modules': n, 'world_size': st.num_processes,
                'fsdp_version': getattr(plugin, 'fsdp_version', None),
                'state_dict_type': str(getattr(plugin, 'state_dict_type', None)) if plugin else None,
                'device': str(st.device)})

    cfg = load_train_config(None, model=a.model, data_dir=a.data, output_dir=str(out/'train'), method='lora', quantization=None,
                            max_steps=a.steps, save_steps=a.steps, logging_steps=1, lora_r=8, per_device_train_batch_size=2,
                            max_val_samples=8, resume=False, early_stopping_patience=None,
                            learning_rate=1e-3, cache_dir=a.cache_dir)
    run_train(cfg, callbacks=[Probe()])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--accelerate-config', default=str(DEFAULT_CONFIG), help='accelerate config to launch with')
    ap.add_argument('--model', default=None, help="base model (default: 'embedded:smollm2-135m' on CUDA, 'tiny' with --cpu)")
    ap.add_argument('--steps', type=int, default=4)
    ap.add_argument('--num-processes', type=int, default=None, help='default: min(2, GPUs) on CUDA, 2 with --cpu')
    ap.add_argument('--cpu', action='store_true', help='launch on the CPU over gloo (reports the backend accelerate picks)')
    ap.add_argument('--keep', default=None, help='work in this folder and keep it (default: a temporary folder)')
    ap.add_argument('--timeout', type=int, default=900, help='seconds the launch may take')
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--data', help=argparse.SUPPRESS)
    ap.add_argument('--out', help=argparse.SUPPRESS)
    ap.add_argument('--cache-dir', default=None, help=argparse.SUPPRESS)
    a, _ = ap.parse_known_args(argv)  # tolerate run_all.py's --extra
    if a.worker: return worker(a)

    acc_cfg = Path(a.accelerate_config)
    backend = expected_backend(acc_cfg)
    why = skip_reason(backend, a.cpu)
    if why:
        fail = gpu_required()
        print(f"fsdp_check: {'FAILED (a GPU is required here)' if fail else 'skipped'}: {why}", file=sys.stderr)
        print(json.dumps({'bench': 'fsdp_check', 'ratio': None, 'skipped': why}))
        return 1 if fail else 0
    import torch
    model = a.model or ('tiny' if a.cpu else 'embedded:smollm2-135m')
    nproc = a.num_processes or (2 if a.cpu else max(1, min(2, torch.cuda.device_count())))
    tmp = None if a.keep else tempfile.TemporaryDirectory(prefix='fsdp_check_')
    work = Path(a.keep or tmp.name); work.mkdir(parents=True, exist_ok=True)
    try:
        os.environ.setdefault('HF_HUB_OFFLINE', '1')
        data = prepare_data(work/'prepared')
        from style_tune.models import resolve_model
        cache = str(work/'cache') if model == 'tiny' else None
        model_path = resolve_model(model, cache)  # built once here, not by two processes at a time
        cmd = [sys.executable, '-m', 'accelerate.commands.launch', '--config_file', str(acc_cfg),
               '--num_processes', str(nproc), '--main_process_port', str(free_port())]
        if a.cpu: cmd += ['--mixed_precision', 'no']
        cmd += [str(Path(__file__).resolve()), '--worker', '--model', str(model_path), '--data', str(data), '--out', str(work),
                '--steps', str(a.steps)] + (['--cache-dir', cache] if cache else [])
        env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'), 'STYLE_TUNE_PIPELINE': '1'}
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, env=env, cwd=ROOT)
        wall = round(time.perf_counter() - t, 1)
        assert r.returncode == 0, f'accelerate launch failed (exit {r.returncode}):\n{r.stderr[-4000:]}'
        probes = [json.loads((work/f'probe_rank{i}.json').read_text()) for i in range(nproc)]
        got = {p['distributed_type'] for p in probes}
        man = json.loads((work/'train'/'run_manifest.json').read_text())
        assert man['effective']['num_processes'] == nproc, man['effective']
        assert man['global_step'] == a.steps, man['global_step']
        summary = check_adapter(Path(man['adapter_dir']), model_path)
        used = got == {backend} and (backend != 'FSDP' or all(p['fsdp_wrapped_modules'] > 0 for p in probes))
        res = {'bench': 'fsdp_check', 'ratio': None, 'asked': backend, 'got': sorted(got), 'backend_used': used,
               'num_processes': nproc, 'model': model, 'steps': man['global_step'], 'wall_s': wall,
               'final_train_loss': man['final_train_loss'], 'adapter': summary, 'probe': probes[0]}
        if a.cpu and not used:
            res['note'] = CPU_FSDP_REASON
            print(f'fsdp_check --cpu: the launch asked for {backend} and accelerate ran {sorted(got)}; '
                  f"adapter saved and complete ({summary['tensors']} tensors)", file=sys.stderr)
        else:
            assert used, f'the launch asked for {backend} but the model was wrapped as {probes}'
            print(f"fsdp_check: {backend} on {nproc} process(es): {a.steps} steps, adapter saved ({summary['tensors']} full "
                  f"tensors), {wall} s", file=sys.stderr)
        print(json.dumps(res, default=str))
        return 0
    finally:
        if tmp is not None: tmp.cleanup()


if __name__ == '__main__':
    sys.exit(main())
