#!/usr/bin/env python
"""Check the built docs site in a real browser (headless Chromium), offline.

Serves `docs/_site` on localhost, opens the home page and API pages, and asserts that the rendered DOM
holds the page title and a documented symbol's signature, that no `#|` directive or raw front matter
leaked into any page, and that the search index exists. Screenshots are kept in `docs/_site/_check/`.
Installs Debian's `chromium` first if it is missing (as root, or with sudo)."""
from __future__ import annotations
import functools, http.server, os, re, shutil, subprocess, sys, tempfile, threading
from pathlib import Path

SITE = Path(__file__).resolve().parent/'_site'
# (page, strings its rendered DOM must hold): the home page, and API pages with a signature each
PAGES = [('index.html', ['reformer-rigl', 'make demo', 'make test']),
         ('core.html', ['Core', 'def pad_to_multiple(', 'multiple:int']),
         ('reformer/attention.html', ['Attention', 'def LSHSelfAttention(', 'n_hashes:int=8']),
         ('sparse/distributions.html', ['Sparsity distributions', 'def layer_densities('])]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--virtual-time-budget=5000']

def find_chromium():
    for c in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(c): return shutil.which(c)
    sudo = [] if os.geteuid() == 0 else ['sudo']
    print('docs check: installing Debian chromium (once)...', flush=True)
    env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    subprocess.run(sudo + ['apt-get', 'update', '-qq'], check=True, env=env)
    subprocess.run(sudo + ['apt-get', 'install', '-y', '-qq', 'chromium'], check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which('chromium')

def serve(root: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    class Quiet(handler.func):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

def render(chrome, url, shot: Path) -> str:
    with tempfile.TemporaryDirectory() as prof:
        base = [chrome, *FLAGS, f'--user-data-dir={prof}']
        dom = subprocess.run(base + ['--dump-dom', url], capture_output=True, text=True, timeout=120).stdout
    with tempfile.TemporaryDirectory() as prof:
        subprocess.run([chrome, *FLAGS, f'--user-data-dir={prof}', '--window-size=1280,1600', f'--screenshot={shot}', url],
                       capture_output=True, timeout=120)
    return dom

def text_of(dom: str) -> str:
    dom = re.sub(r'<(script|style)[^>]*>.*?</\1>', ' ', dom, flags=re.S)
    import html
    return html.unescape(re.sub(r'<[^>]+>', '', dom))

def main():
    if not (SITE/'index.html').exists(): sys.exit('docs check: docs/_site is not built; run `make docs` first')
    failures = []
    for page in SITE.rglob('*.html'):
        t = text_of(page.read_text(encoding='utf-8'))
        if re.search(r'^\s*#\|', t, flags=re.M): failures.append(f'{page.relative_to(SITE)}: a `#|` directive leaked into the page')
        if re.search(r'^output-file:|^---\s*\ntitle:', t, flags=re.M): failures.append(f'{page.relative_to(SITE)}: raw front matter leaked')
        if re.search(r'href="[^"#]+\.ipynb', page.read_text(encoding='utf-8')): failures.append(f'{page.relative_to(SITE)}: a link still points at a notebook')
    if not (SITE/'search'/'search_index.json').exists(): failures.append('no search index (search/search_index.json)')
    chrome = find_chromium()
    shots = SITE/'_check'; shots.mkdir(exist_ok=True)
    srv = serve(SITE)
    try:
        for page, needles in PAGES:
            url = f'http://127.0.0.1:{srv.server_address[1]}/{page}'
            dom = render(chrome, url, shots/(page.replace('/', '_').replace('.html', '.png')))
            if '<title>' not in dom: failures.append(f'{page}: the browser returned no document'); continue
            txt = text_of(dom)
            for n in needles:
                if n not in txt: failures.append(f'{page}: rendered page lacks {n!r}')
            if 'class="arithmatex"' in dom and 'class="MathJax"' not in dom:
                failures.append(f'{page}: equations were not typeset (the site\'s own MathJax did not run)')
            print(f'docs check: {page} rendered ({len(dom):,} bytes of DOM), screenshot {shots.relative_to(SITE.parent.parent)}/{page.replace("/", "_").replace(".html", ".png")}')
    finally: srv.shutdown()
    if failures: sys.exit('docs check failed:\n  ' + '\n  '.join(failures))
    print('docs check: passed')

if __name__ == '__main__': main()
