#!/usr/bin/env python
"""Check the built docs site in a real browser (headless Chromium), offline: `python docs/check.py` (or `make docs-check`).

Serves `docs/_site` on localhost and opens EVERY page of it in one headless Chromium, driven through the DevTools
protocol over a pipe (no extra package). After each page has loaded and MathJax has typeset it, it fails on:

- a request that failed or was answered 404 (the page, an image, a script, a stylesheet, a font), or that left
  localhost (the site must work offline);
- a link to a page or file that does not exist, or to an anchor (`page.html#name`) that the page does not have;
- a link to the project's online docs where a local page exists (`[project.urls] Documentation` in pyproject.toml);
- a raw `$` or backtick left in the rendered text (outside code), i.e. math or inline code that was not rendered;
- a table with a row that has more cells than its header (a `|` that split a cell);
- equations that were not typeset, or a JavaScript error;
- a `#|` directive, raw front matter or a link to a `.ipynb` file that leaked into a page, or a missing search index;
- on the home page and three API pages: a missing title or documented signature.

Screenshots of those four pages are kept in `docs/_site/_check/`. Installs Debian's `chromium` first if it is
missing (as root, or with sudo)."""
from __future__ import annotations
import base64, functools, html, http.server, json, os, queue, re, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

SITE = Path(__file__).resolve().parent/'_site'
ROOT = SITE.parent.parent
# (page, strings its rendered text must hold): the home page, and API pages with a signature each
PAGES = [('index.html', ['reformer-rigl', 'pip install', 'LSH attention']),
         ('core.html', ['Core', 'def pad_to_multiple(', 'multiple:int']),
         ('reformer/attention.html', ['Attention', 'def LSHSelfAttention(', 'n_hashes:int=8']),
         ('sparse/distributions.html', ['Sparsity distributions', 'def layer_densities('])]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--disable-extensions', '--mute-audio']
PAGE_TIMEOUT = 60   # seconds for one page to load and typeset
LOCAL_SCHEMES = ('data:', 'blob:', 'about:', 'javascript:', 'mailto:')   # no network behind these

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
    "Serve `root` on a free localhost port in a background thread."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

class Browser:
    "A headless Chromium driven through the DevTools protocol on a pipe (`--remote-debugging-pipe`: fd 3 in, fd 4 out)."
    def __init__(self, exe: str):
        self.profile = tempfile.TemporaryDirectory()
        cmd_r, self._cmd_w = os.pipe()     # we write commands, Chromium reads them on its fd 3
        self._res_r, res_w = os.pipe()     # Chromium writes replies and events on its fd 4
        def child_fds():
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3); os.dup2(b, 4)
        self.proc = subprocess.Popen([exe, *FLAGS, '--remote-debugging-pipe', f'--user-data-dir={self.profile.name}', 'about:blank'],
                                     pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r); os.close(res_w)
        self._id, self._replies, self.events, self._closed = 0, {}, queue.Queue(), False
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send('Target.createTarget', url='about:blank')['targetId']
        self.session = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        for domain in ('Page', 'Network', 'Runtime'): self.send(f'{domain}.enable', session=True)
        self.send('Emulation.setDeviceMetricsOverride', session=True, width=1280, height=1600, deviceScaleFactor=1, mobile=False)

    def _read(self):
        buf = b''
        while True:
            chunk = os.read(self._res_r, 1 << 16)
            if not chunk:   # Chromium exited: wake every waiting command
                with self._cond: self._closed = True; self._cond.notify_all()
                break
            buf += chunk
            *msgs, buf = buf.split(b'\0')
            for m in msgs:
                msg = json.loads(m)
                if 'id' in msg:
                    with self._cond: self._replies[msg['id']] = msg; self._cond.notify_all()
                else: self.events.put(msg)

    def send(self, method, session=False, timeout=PAGE_TIMEOUT, **params):
        "Send one command (to the page's session if `session`), wait for its reply and return its result."
        with self._cond: self._id += 1; i = self._id
        msg = {'id': i, 'method': method, 'params': params, **({'sessionId': self.session} if session else {})}
        try: os.write(self._cmd_w, json.dumps(msg).encode() + b'\0')
        except BrokenPipeError: raise RuntimeError(f'{method}: Chromium exited (exit status {self.proc.wait()})') from None
        with self._cond:
            if not self._cond.wait_for(lambda: i in self._replies or self._closed, timeout):
                raise TimeoutError(f'{method}: no answer from Chromium in {timeout} s')
            if i not in self._replies:
                try: rc = self.proc.wait(5)
                except subprocess.TimeoutExpired: rc = '?'
                raise RuntimeError(f'{method}: Chromium exited (exit status {rc})')
            reply = self._replies.pop(i)
        if 'error' in reply: raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get('result', {})

    def evaluate(self, js: str, timeout=PAGE_TIMEOUT):
        "The JSON value of the JavaScript expression `js` (awaited when it is a promise)."
        r = self.send('Runtime.evaluate', session=True, timeout=timeout, expression=js, awaitPromise=True, returnByValue=True)
        if 'exceptionDetails' in r: raise RuntimeError(f"script failed: {r['exceptionDetails'].get('text')}")
        return r['result'].get('value')

    def open(self, url: str) -> dict:
        "Load `url`, wait for its load event, MathJax and the network to settle; return what the page requested and raised."
        while not self.events.empty(): self.events.get()
        self.send('Page.navigate', session=True, url=url)
        requests, failed, errors, loaded, typeset, quiet_since = {}, [], [], False, False, None
        deadline = time.time() + PAGE_TIMEOUT
        while time.time() < deadline:
            try: ev = self.events.get(timeout=0.1)
            except queue.Empty: ev = None
            if ev:
                m, p = ev.get('method'), ev.get('params', {})
                if m == 'Network.requestWillBeSent' and not p['request']['url'].startswith(LOCAL_SCHEMES):
                    requests[p['requestId']] = p['request']['url']
                elif m == 'Network.responseReceived' and p['response']['status'] >= 400:
                    failed.append(f"{p['response']['status']} {p['response']['url']}")
                elif m == 'Network.loadingFailed' and not p.get('canceled') and p['requestId'] in requests:
                    failed.append(f"{p.get('errorText')} {requests[p['requestId']]}")
                if m == 'Page.loadEventFired': loaded = True
                if m == 'Runtime.exceptionThrown':
                    d = p['exceptionDetails']; errors.append((d.get('exception') or {}).get('description') or d.get('text'))
                quiet_since = None
                continue
            if loaded and not typeset:   # MathJax queues its typesetting; wait until its queue has run
                self.evaluate("new Promise(r => (window.MathJax && MathJax.Hub) ? MathJax.Hub.Queue(() => r(1)) : r(0))")
                typeset = True
                continue
            if loaded and typeset:
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since > 0.5: break   # half a second without network events: settled
        else: errors.append(f'the page did not settle within {PAGE_TIMEOUT} s')
        return {'failed': failed, 'errors': errors, 'urls': set(requests.values())}

    def screenshot(self, path: Path):
        path.write_bytes(base64.b64decode(self.send('Page.captureScreenshot', session=True, format='png')['data']))

    def close(self):
        try: self.send('Browser.close', timeout=10)
        except Exception: pass
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill()
        self.profile.cleanup()

# What the page looks like after rendering, read in the browser: ids, links and resources, stray `$`/backticks, tables.
INSPECT = r"""(() => {
  const skip = 'code, pre, kbd, samp, script, style, textarea, noscript, .MathJax, .MathJax_Display, .MathJax_Preview, .MJX_Assistive_MathML, [class*="MathJax"], .md-search, .md-clipboard';
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.nodeValue;
    if (!/[$`]/.test(t) || (n.parentElement && n.parentElement.closest(skip))) continue;
    raw.push(t.trim().slice(0, 120));
  }
  const cells = tr => [...tr.children].filter(c => c.matches('td, th')).reduce((s, c) => s + (c.colSpan || 1), 0);
  const tables = [];
  document.querySelectorAll('.md-content table').forEach((t, i) => {
    const rows = [...t.querySelectorAll('tr')].filter(tr => tr.closest('table') === t);
    if (!rows.length) return;
    const head = t.tHead && t.tHead.rows.length ? t.tHead.rows[t.tHead.rows.length - 1] : rows[0];
    const n = cells(head);
    rows.forEach(tr => { if (cells(tr) > n) tables.push(`table ${i + 1}: a row has ${cells(tr)} cells, its header ${n}: ` + tr.innerText.replace(/\s+/g, ' ').slice(0, 100)); });
  });
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(e => e.name));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const resources = [...document.querySelectorAll('[src], link[href]')].map(e => e.src || e.href);
  const math = document.querySelectorAll('.arithmatex').length, typeset = document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_SVG, .MathJax_CHTML, math').length;
  return {raw, tables, ids, links, resources, math, typeset, text: document.body.innerText, title: document.title};
})()"""

def static_checks(failures: list):
    "Checks on the site's files: no leaked directives, front matter or notebook links; a search index."
    for page in SITE.rglob('*.html'):
        src = page.read_text(encoding='utf-8')
        t = html.unescape(re.sub(r'<[^>]+>', '', re.sub(r'<(script|style)[^>]*>.*?</\1>', ' ', src, flags=re.S)))
        rel = page.relative_to(SITE)
        if re.search(r'^\s*#\|', t, flags=re.M): failures.append(f'{rel}: a `#|` directive leaked into the page')
        if re.search(r'^output-file:|^---\s*\ntitle:', t, flags=re.M): failures.append(f'{rel}: raw front matter leaked')
        if re.search(r'href="[^"#]+\.ipynb', src): failures.append(f'{rel}: a link still points at a notebook')
    if not (SITE/'search'/'search_index.json').exists(): failures.append('no search index (search/search_index.json)')

def online_docs_url() -> str|None:
    "The project's online docs address (`[project.urls] Documentation`), which pages must not link to: they have local pages."
    m = re.search(r'^Documentation\s*=\s*"([^"]+)"', (ROOT/'pyproject.toml').read_text(), flags=re.M)
    return m.group(1).rstrip('/') if m else None

def site_file(path: str) -> Path|None:
    "The file the local server answers `path` with, or None."
    f = SITE/unquote(path).lstrip('/')
    if f.is_dir(): f = f/'index.html'
    return f if f.is_file() else None

def main():
    global SITE
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--site', type=Path, default=SITE, help='the built site to check (default: docs/_site)')
    SITE = ap.parse_args().site.resolve()
    if not (SITE/'index.html').exists(): sys.exit(f'docs check: {SITE} is not built; run `make docs` first')
    failures = []
    static_checks(failures)
    chrome = find_chromium()
    shots = SITE/'_check'
    if shots.exists(): shutil.rmtree(shots)
    shots.mkdir()
    pages = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob('*.html'))
    needles, online = dict(PAGES), online_docs_url()
    srv = serve(SITE)
    origin = f'http://127.0.0.1:{srv.server_address[1]}'
    browser, seen, start = Browser(chrome), {}, time.time()
    try:
        for page in pages:
            url = f'{origin}/{page}'
            got = browser.open(url)
            info = browser.evaluate(INSPECT)
            seen[page] = info
            fail = lambda msg: failures.append(f'{page}: {msg}')
            for f in got['failed']: fail(f'request failed: {f.replace(origin, "")}')
            for e in got['errors']: fail(f'JavaScript error: {e}')
            for r in info['raw']: fail(f'raw $ or backtick in the rendered text: {r!r}')
            for t in info['tables']: fail(t)
            if info['math'] and not info['typeset']: fail("equations were not typeset (the site's own MathJax did not run)")
            for u in info['resources'] + info['links']:
                if u.startswith(LOCAL_SCHEMES): continue
                if online and u.startswith(online): fail(f'links to the online docs instead of the local page: {u}')
                if u.startswith(origin) and site_file(urlparse(u).path) is None: fail(f'links to a missing file: {u.replace(origin, "")}')
            for u in got['urls']:
                if not u.startswith(origin): fail(f'requested something outside the site (offline it fails): {u}')
            for n in needles.get(page, []):
                if n not in info['text']: fail(f'rendered page lacks {n!r}')
            if page in needles: browser.screenshot(shots/page.replace('/', '_').replace('.html', '.png'))
        for page, info in seen.items():   # anchors, once every page's ids are known
            for u in info['links']:
                if not u.startswith(origin): continue
                base, frag = urldefrag(u)
                frag = unquote(frag)
                target = urlparse(base).path.lstrip('/') or 'index.html'
                if frag and target in seen and frag not in seen[target]['ids']:
                    failures.append(f'{page}: link to a missing anchor {target}#{frag}')
    finally:
        browser.close(); srv.shutdown()
    print(f'docs check: {len(pages)} pages rendered in Chromium in {time.time() - start:.0f} s; screenshots in {shots}/')
    if failures: sys.exit(f'docs check failed ({len(failures)} problems):\n  ' + '\n  '.join(failures))
    print('docs check: passed')

if __name__ == '__main__': main()
