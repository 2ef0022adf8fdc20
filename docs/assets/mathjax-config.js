// MathJax 2.7 (served from this site: no CDN) reads the \( \) and \[ \] that pymdownx.arithmatex writes.
// The jupyter-server-mathjax package ships MathJax's STIX-Web fonts only (not its TeX fonts), so every output
// is told to use STIX-Web and never to look for the TeX fonts (fontdata.js, MathJax_*.otf) that are not there.
// The hidden MathML copy for screen readers (assistiveMML) is off: its styles ask for MathJax_AMS/Script .otf files.
window.MathJax = {
  tex2jax: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true,
            ignoreClass: ".*|", processClass: "arithmatex"},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  SVG: {font: "STIX-Web"},
  menuSettings: {assistiveMML: false},
  showMathMenu: false, messageStyle: "none"
};
