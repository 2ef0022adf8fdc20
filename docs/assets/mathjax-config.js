// MathJax 2.7 (served from this site: no CDN) reads the \( \) and \[ \] that pymdownx.arithmatex writes.
window.MathJax = {
  tex2jax: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true,
            ignoreClass: ".*|", processClass: "arithmatex"},
  showMathMenu: false, messageStyle: "none"
};
