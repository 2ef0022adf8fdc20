#!/usr/bin/env python
"""Build the docs site from the notebooks, offline: `python docs/build.py` (or `make docs`).

1. `nbdev.serve.proc_nbs` processes the notebooks as nbdev would for Quarto (show_doc cells inserted and
   run, hidden cells dropped) into `_proc/`;
2. `nb2md` turns each processed notebook into a Markdown page (Quarto's part: cell options, front matter,
   outputs and plots) under `docs/_build/src/`;
3. MkDocs with the Material theme renders the pages, navigation and search into `docs/_site/`;
4. MathJax is served from the site itself (from the `jupyter-server-mathjax` package), so equations
   render without a network.

`python docs/build.py --readme` only writes README.md from nbs/index.ipynb."""
from __future__ import annotations
import argparse, os, posixpath, re, shutil, subprocess, sys
from pathlib import Path
import yaml

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
from nb2md import nb_to_markdown, read_nb, front_matter  # noqa: E402

BUILD, SITE, NBS = DOCS/'_build', DOCS/'_site', ROOT/'nbs'
SECTIONS = {'reformer': 'Reformer', 'sparse': 'Sparse training', 'data': 'Data', 'experiments': 'Experiments'}

def process(file_glob=''):
    "Run nbdev's notebook processing; return the folder of processed notebooks (fails if any notebook was not processed)."
    from nbdev.serve import proc_nbs
    cache = Path(proc_nbs(str(NBS), n_workers=2, file_glob=file_glob))
    want = [f.relative_to(NBS) for f in NBS.rglob(file_glob or '*.ipynb') if not any(p.startswith(('.', '_')) for p in f.relative_to(NBS).parts)]
    missing = [str(f) for f in want if not (cache/f).exists()]
    if missing: sys.exit(f"docs: nbdev could not process {', '.join(missing)} (see the error above; a cell that mixes "
                         f"imports with other code is a common cause: python tools/split_imports.py <notebook>)")
    return cache

def page_path(proc_nb: Path, proc_root: Path) -> Path:
    "Where a processed notebook's page goes, relative to the site (from its front matter's output-file)."
    rel = proc_nb.relative_to(proc_root)
    out = front_matter(read_nb(proc_nb)).get('output-file') or rel.with_suffix('.html').name
    return rel.parent/Path(out).with_suffix('.md')

_nb_link = re.compile(r'\]\(([^)\s#]+?\.ipynb)(#[^)\s]*)?\)')

def relink(md: str, page_dir: str, pages: dict) -> str:
    "Point links to notebooks (relative to the notebook at `page_dir`) at their pages; `pages` maps notebook -> page path."
    def sub(m):
        target = posixpath.normpath(posixpath.join(page_dir, m.group(1)))
        if target not in pages: return m.group(0)
        return f"]({posixpath.relpath(pages[target], page_dir or '.')}{m.group(2) or ''})"
    return _nb_link.sub(sub, md)

README_ASSETS = 'nbs/index_files'   # the front page's plots, committed, so that GitHub shows them in README.md

def online_docs() -> str:
    "The address nbdev gives the docs online (`doc_host` + `doc_baseurl`); its links to this site's pages become local."
    from nbdev.config import get_config
    cfg = get_config()
    return (cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')).rstrip('/') + '/'

def localise(md: str, page_dir: str, site_pages: set, online: str) -> str:
    "Point links into the online docs (`online`, e.g. nbdev's links for `module.symbol`) at this site's page when it has one."
    def sub(m):
        path, frag = m.group(1), m.group(2) or ''
        page = str(Path(path).with_suffix('.md').as_posix())
        if page not in site_pages: return m.group(0)
        return f"]({posixpath.relpath(page, page_dir or '.')}{frag})"
    return re.sub(r'\]\(' + re.escape(online) + r'([^)\s#]+?\.html)(#[^)\s]*)?\)', sub, md)

def write_readme(proc_root: Path):
    "Write README.md from the processed nbs/index.ipynb: its summary as a quote, links to notebooks kept as links to the notebooks."
    nb = read_nb(proc_root/'index.ipynb')
    fm = front_matter(nb)
    assets = ROOT/README_ASSETS
    if assets.exists(): shutil.rmtree(assets)
    md = nb_to_markdown(nb, assets, asset_link=README_ASSETS)
    md = _nb_link.sub(lambda m: f"](nbs/{m.group(1)}{m.group(2) or ''})", md)  # on GitHub, links go to the notebooks
    if fm.get('description'): md = re.sub(r'<p class="nb-summary">.*?</p>', lambda m: f"> {fm['description']}", md, count=1, flags=re.S)
    (ROOT/'README.md').write_text('<!-- generated from nbs/index.ipynb by `make docs` / `python docs/build.py --readme`; edit the notebook -->\n\n'
                                  + md.rstrip() + '\n')

def build_pages(proc_root: Path) -> list:
    src = BUILD/'src'
    if src.exists(): shutil.rmtree(src)
    (src/'assets').mkdir(parents=True)
    for f in (DOCS/'assets').iterdir(): shutil.copy(f, src/'assets'/f.name)
    nav_top, nav_sec = [], {}
    nbs = [f for f in sorted(proc_root.rglob('*.ipynb')) if not any(p.startswith(('.', '_')) for p in f.relative_to(proc_root).parts)]
    pages = {f.relative_to(proc_root).as_posix(): page_path(f, proc_root).as_posix() for f in nbs}
    online = online_docs()
    for nb_path in nbs:
        page = page_path(nb_path, proc_root)
        nb = read_nb(nb_path)
        md = nb_to_markdown(nb, src/page.parent/f'{page.stem}_files')
        folder = nb_path.relative_to(proc_root).parent.as_posix()
        md = relink(md, '' if folder == '.' else folder, pages)
        md = localise(md, '' if folder == '.' else folder, set(pages.values()), online)
        (src/page).parent.mkdir(parents=True, exist_ok=True)
        (src/page).write_text(md)
        title = front_matter(nb).get('title') or page.stem
        entry = {('Home' if page.as_posix() == 'index.md' else title): page.as_posix()}
        if page.parent == Path('.'): nav_top.append(entry)
        else: nav_sec.setdefault(page.parts[0], []).append(entry)
    nav_top.sort(key=lambda e: list(e.values())[0] != 'index.md')
    nav = nav_top + [{SECTIONS.get(k, k.title()): v} for k, v in sorted(nav_sec.items(), key=lambda kv: list(SECTIONS).index(kv[0]) if kv[0] in SECTIONS else 99)]
    return nav

def mkdocs_build(nav):
    cfg = yaml.safe_load((DOCS/'mkdocs.yml').read_text())
    cfg.update(docs_dir=str(BUILD/'src'), site_dir=str(SITE), nav=nav)
    (BUILD/'mkdocs.yml').write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {**os.environ, 'NO_MKDOCS_2_WARNING': '1'}  # a notice about the theme's future, not about this build
    subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(BUILD/'mkdocs.yml')], check=True, env=env)
    import jupyter_server_mathjax
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent/'static', SITE/'assets'/'mathjax', dirs_exist_ok=True)
    for md in (BUILD/'src').rglob('*.md'):  # each page's Markdown beside it (`page.html.md`), as nbdev's module docstrings link
        dest = SITE/md.relative_to(BUILD/'src').with_suffix('.html.md')
        dest.parent.mkdir(parents=True, exist_ok=True); shutil.copy(md, dest)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--readme', action='store_true', help='only regenerate README.md from nbs/index.ipynb')
    args = ap.parse_args()
    if args.readme:
        write_readme(process('index.ipynb'))
        return
    proc = process()
    write_readme(proc)
    nav = build_pages(proc)
    mkdocs_build(nav)
    n = len(list(SITE.rglob('*.html')))
    print(f"docs: {n} pages built into {SITE.relative_to(ROOT)}/ (open {(SITE/'index.html').relative_to(ROOT)}, or serve it: "
          f"python -m http.server -d {SITE.relative_to(ROOT)})")

if __name__ == '__main__': main()
