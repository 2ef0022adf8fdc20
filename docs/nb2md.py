"""Turn a notebook processed by nbdev (`nbdev.serve.proc_nbs`) into a Markdown page for MkDocs.

nbdev's processing runs without Quarto: it inserts and executes the `show_doc` cells, drops `#| hide`
cells, and leaves Quarto cell options (`#| echo: false`, `#| output: asis`, ...) and a raw YAML
front-matter cell for Quarto to read. This module does Quarto's share of that work: it reads those
options, never lets a `#|` line or the front matter reach the page, and writes the outputs (plots as PNG
files next to the page, tables as HTML, text as code blocks)."""
from __future__ import annotations
import base64, html, json, re
from pathlib import Path
import yaml

_ansi = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
_opt = re.compile(r'^\s*#\|\s?(.*)$')

def _src(cell) -> str:
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else s

def front_matter(nb) -> dict:
    "The YAML front matter of a processed notebook (its first raw cell), or `{}`."
    for c in nb['cells']:
        if c['cell_type'] == 'raw':
            txt = _src(c).strip()
            if txt.startswith('---'): return yaml.safe_load(txt.strip('-\n')) or {}
        if c['cell_type'] != 'raw': break
    return {}

def split_options(src: str) -> tuple[dict, str]:
    "Split the leading `#| key: value` lines from a code cell; return `(options, code)`."
    opts, lines = {}, src.splitlines()
    i = 0
    while i < len(lines) and (_opt.match(lines[i]) or not lines[i].strip()):
        m = _opt.match(lines[i])
        if m:
            k, _, v = m.group(1).partition(':')
            opts[k.strip()] = v.strip() if v else True
        i += 1
    rest = [l for l in lines[i:] if not _opt.match(l)]  # a stray directive later in a cell never leaks either
    return opts, '\n'.join(rest).strip('\n')

def _false(v) -> bool: return str(v).strip().lower() in ('false', 'no', '0')

def _text_block(txt: str) -> str:
    txt = _ansi.sub('', txt).rstrip()
    return f"```text\n{txt}\n```\n" if txt else ''

def render_output(out, asset_dir: Path, stem: str, asis=False, link: str|None=None) -> str:
    "Markdown/HTML for one output; images are written into `asset_dir` as `stem`.png and linked as `link`/`stem`.png."
    kind = out.get('output_type')
    if kind == 'stream':
        if out.get('name') == 'stderr': return ''  # warnings and progress noise stay out of the page
        return _text_block(''.join(out.get('text', '')))
    if kind == 'error': return _text_block('\n'.join(out.get('traceback', [])))
    data = out.get('data', {})
    j = lambda k: ''.join(data[k]) if isinstance(data[k], list) else data[k]
    if 'text/markdown' in data: return escape_table_math(j('text/markdown')) + '\n'
    for mime, ext in (('image/png', 'png'), ('image/jpeg', 'jpg')):
        if mime in data:
            asset_dir.mkdir(parents=True, exist_ok=True)
            (asset_dir/f'{stem}.{ext}').write_bytes(base64.b64decode(j(mime)))
            return f'![]({link or asset_dir.name}/{stem}.{ext})\n'
    if 'image/svg+xml' in data: return f'<div class="nb-output">{j("image/svg+xml")}</div>\n'
    if 'text/html' in data:
        h = j('text/html')
        if '<progress' in h and '<table' not in h: return ''  # a finished progress bar says nothing
        h = re.sub(r'<style[^>]*>.*?</style>', '', h, flags=re.S)
        return f'<div class="nb-output" markdown="0">\n{h.strip()}\n</div>\n'
    if 'text/latex' in data: return j('text/latex') + '\n'
    if 'text/plain' in data: return j('text/plain') + '\n' if asis else _text_block(j('text/plain'))
    return ''

_inline = re.compile(r'(`[^`]+`|\$[^$]+\$)')

def summary_html(text: str) -> str:
    "The `> summary` line as HTML for the page subtitle: escaped, inline code as `<code>`, `$math$` for MathJax."
    def part(p):
        if p.startswith('`') and p.endswith('`') and len(p) > 1: return f'<code>{html.escape(p[1:-1])}</code>'
        if p.startswith('$') and p.endswith('$') and len(p) > 1: return f'<span class="arithmatex">\\({html.escape(p[1:-1])}\\)</span>'
        return html.escape(p)
    return ''.join(part(p) for p in _inline.split(str(text)))

_math = re.compile(r'(`[^`]*`|\$\$.+?\$\$|\$[^$]+\$)')

def _math_bars(tex: str) -> str:
    "`|` and `\\|` in TeX as `\\vert` and `\\Vert` (a space after them only where a letter follows)."
    tex = re.sub(r'\\\|(?=[A-Za-z])', r'\\Vert ', tex).replace('\\|', r'\Vert')
    return re.sub(r'\|(?=[A-Za-z])', r'\\vert ', tex).replace('|', r'\vert')

def escape_table_math(md: str) -> str:
    "In Markdown table rows, write `|` inside `$...$` as `\\vert` (`\\|` as `\\Vert`), so the math does not split the row's cells."
    fix = lambda m: m.group(0) if m.group(0).startswith('`') else _math_bars(m.group(0))
    return '\n'.join(_math.sub(fix, l) if l.lstrip().startswith('|') else l for l in md.split('\n'))

def nb_to_markdown(nb, asset_dir: Path, title_level=1, asset_link: str|None=None) -> str:
    "The page for a processed notebook `nb`, with images written into `asset_dir` (linked as `asset_link`, default its name)."
    fm = front_matter(nb)
    parts = []
    if fm.get('title'): parts.append('#'*title_level + f" {fm['title']}\n")
    if fm.get('description'): parts.append(f'<p class="nb-summary">{summary_html(fm["description"])}</p>\n')
    n_img = 0
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'raw': continue
        if cell['cell_type'] == 'markdown':
            if src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            parts.append(escape_table_math(src.strip()) + '\n')
            continue
        opts, code = split_options(src)
        if _false(opts.get('include', True)): continue
        if code and not _false(opts.get('echo', True)): parts.append(f"```python\n{code}\n```\n")
        out_opt = str(opts.get('output', True)).lower()
        if out_opt == 'false': continue
        for out in cell.get('outputs', []):
            n_img += 1
            md = render_output(out, asset_dir, f'output_{n_img}', asis=(out_opt == 'asis'), link=asset_link)
            if md: parts.append(md)
    return '\n'.join(parts)

def read_nb(path) -> dict: return json.loads(Path(path).read_text(encoding='utf-8'))
