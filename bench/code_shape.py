"""Shape of the notebooks' code, against the fastcore-style targets of DEVELOPERS.md.

Prints, per notebook and overall: the median lines per `#| export` cell, the functions longer than 50 lines (name,
lines), and the export cells that are not followed by a prose (markdown) cell and then a `#| test` cell before the
next export cell (cells that only import are exempt). Counts lines of a cell's source without its `#|` directives and trailing blank lines.

Usage: python bench/code_shape.py [notebook ...]   (default: every nbs/*.ipynb)
       --max-median N --max-function N   targets (12, 50); exit status 1 when a target is missed (--check)
"""
import argparse, ast, json, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def directives(source):
    "The `#| ...` directive lines at the top of a code cell's `source`."
    out = []
    for line in source.splitlines():
        if line.startswith('#|'): out.append(line[2:].strip())
        elif line.strip(): break
    return out


def is_export(cell): return cell['cell_type'] == 'code' and any(d.split()[0] in ('export', 'exports', 'exporti') for d in directives(cell_source(cell)) if d)
def is_test(cell): return cell['cell_type'] == 'code' and any(d.split()[0] in ('test', 'slow', 'gpu') for d in directives(cell_source(cell)) if d)
def is_prose(cell): return cell['cell_type'] == 'markdown' and cell_source(cell).strip() != ''
def cell_source(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


def code_lines(source):
    "Lines of `source` without its `#|` directives and trailing blank lines."
    lines = [l for l in source.splitlines() if not l.startswith('#|')]
    while lines and not lines[-1].strip(): lines.pop()
    while lines and not lines[0].strip(): lines.pop(0)
    return lines


def long_functions(source, limit):
    "(name, lines) of every function or method in `source` longer than `limit` lines."
    try: tree = ast.parse('\n'.join(code_lines(source)))
    except SyntaxError: return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > limit: out.append((node.name, n))
    return out


def unfollowed_exports(cells):
    "Names (first definition or first line) of export cells with no prose then test cell before the next export."
    out = []
    for i, cell in enumerate(cells):
        if not is_export(cell) or imports_only(cell): continue
        seen_prose, ok = False, False
        for nxt in cells[i + 1:]:
            if is_export(nxt): break
            if is_prose(nxt): seen_prose = True
            elif seen_prose and is_test(nxt): ok = True; break
        if not ok: out.append(cell_label(cell))
    return out


def imports_only(cell):
    "True when a cell only imports: nothing there to test."
    try: body = ast.parse('\n'.join(code_lines(cell_source(cell)))).body
    except SyntaxError: return False
    return all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)


def cell_label(cell):
    "The names a cell defines, else its first code line."
    lines = code_lines(cell_source(cell))
    try:
        names = [n.name for n in ast.parse('\n'.join(lines)).body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    except SyntaxError: names = []
    return ','.join(names) if names else (lines[0][:60] if lines else '<empty>')


def notebook_shape(path, limit):
    "Export cell sizes, long functions and unfollowed export cells of the notebook at `path`."
    cells = json.loads(Path(path).read_text())['cells']
    exports = [c for c in cells if is_export(c)]
    return dict(sizes=[len(code_lines(cell_source(c))) for c in exports],
                long=[f for c in exports for f in long_functions(cell_source(c), limit)],
                unfollowed=unfollowed_exports(cells))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*')
    p.add_argument('--max-median', type=float, default=12)
    p.add_argument('--max-function', type=int, default=50)
    p.add_argument('--check', action='store_true', help='exit 1 when a target is missed')
    a = p.parse_args(argv)
    paths = [Path(n) for n in a.notebooks] or sorted((ROOT / 'nbs').glob('*.ipynb'))
    all_sizes, all_long, all_unfollowed = [], 0, 0
    print(f"{'notebook':24} {'export cells':>12} {'median lines':>12} {'max':>5} {'fns>'+str(a.max_function):>7} {'unfollowed':>10}")
    details = []
    for path in paths:
        s = notebook_shape(path, a.max_function)
        if not s['sizes']: continue
        all_sizes += s['sizes']; all_long += len(s['long']); all_unfollowed += len(s['unfollowed'])
        print(f"{path.name:24} {len(s['sizes']):12} {statistics.median(s['sizes']):12g} {max(s['sizes']):5} {len(s['long']):7} {len(s['unfollowed']):10}")
        details.append((path.name, s))
    if not all_sizes: print('no export cells'); return 0
    print(f"{'overall':24} {len(all_sizes):12} {statistics.median(all_sizes):12g} {max(all_sizes):5} {all_long:7} {all_unfollowed:10}")
    for name, s in details:
        if s['long']: print(f"\n{name}: functions over {a.max_function} lines: " + ', '.join(f'{n} ({k})' for n, k in s['long']))
        if s['unfollowed']: print(f"{name}: export cells not followed by prose and a test: " + '; '.join(s['unfollowed']))
    missed = statistics.median(all_sizes) > a.max_median or all_long or all_unfollowed
    return 1 if a.check and missed else 0


if __name__ == '__main__': sys.exit(main())
