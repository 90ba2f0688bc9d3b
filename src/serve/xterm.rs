//! The terminal the browser shows: xterm.js from Debian's `node-xterm` package, put together
//! for the browser when `breakfix serve` starts. The package ships the library as CommonJS
//! modules (`lib/**/*.js`, with `require("./Buffer")` between them); the page gets them in
//! one script with a small module table and a `require` that resolves those relative names,
//! and `window.Terminal` (with the `fit` addon) at the end. Nothing is fetched from a network
//! and nothing third-party is kept in this repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where Debian's `node-xterm` puts the library.
pub const DEBIAN_XTERM: &str = "/usr/share/nodejs/xterm";

/// More than the library holds (about 60 modules, 400 KB): a bound on what is read.
const MAX_MODULES: usize = 400;
const MAX_BYTES: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum XtermError {
    #[error(
        "find xterm.js in {}: install Debian's `node-xterm` package (apt-get install node-xterm), or set BREAKFIX_XTERM to a folder holding its lib/",
        root.display()
    )]
    Missing { root: PathBuf },
    #[error("read xterm.js from {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read xterm.js from {}: {why}", root.display())]
    Unusable { root: PathBuf, why: String },
}

/// The script and style sheet the pages load.
#[derive(Clone, Debug)]
pub struct Xterm {
    pub script: String,
    pub style: String,
}

/// The folder to read: `BREAKFIX_XTERM`, else Debian's.
pub fn root() -> PathBuf {
    std::env::var_os("BREAKFIX_XTERM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_XTERM))
}

/// Reads the library under `root` (`lib/public/Terminal.js` is its entry) into one script.
pub fn load(root: &Path) -> Result<Xterm, XtermError> {
    let lib = root.join("lib");
    if !lib.join("public/Terminal.js").is_file() {
        return Err(XtermError::Missing {
            root: root.to_path_buf(),
        });
    }
    let mut modules = BTreeMap::new();
    let mut total = 0;
    collect(&lib, &lib, &mut modules, &mut total)?;
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|source| XtermError::Read { path, source })
    };
    let style = read(lib.join("xterm.css"))?;
    let mut script = String::from(
        "(function () {\n'use strict';\nvar defs = {}, done = {};\n\
         function resolve(from, name) {\n\
           var parts = from.split('/'); parts.pop();\n\
           name.split('/').forEach(function (p) {\n\
             if (p === '..') parts.pop(); else if (p !== '.' && p !== '') parts.push(p);\n\
           });\n\
           return parts.join('/');\n\
         }\n\
         function load(key) {\n\
           if (done[key]) return done[key].exports;\n\
           if (!defs[key]) throw new Error('xterm.js: no module ' + key);\n\
           var module = { exports: {} };\n\
           done[key] = module;\n\
           defs[key].call(module.exports, module, module.exports, function (n) { return load(resolve(key, n)); });\n\
           return module.exports;\n\
         }\n",
    );
    for (key, text) in &modules {
        script.push_str(&format!(
            "defs[{}] = function (module, exports, require) {{\n{}\n}};\n",
            serde_json::to_string(key).unwrap_or_default(),
            // A source map comment would send the browser looking for a file not served.
            text.replace("//# sourceMappingURL=", "// ")
        ));
    }
    script.push_str(
        "var Terminal = load('public/Terminal').Terminal;\n\
         if (defs['addons/fit/fit']) Terminal.applyAddon(load('addons/fit/fit'));\n\
         window.Terminal = Terminal;\n})();\n",
    );
    Ok(Xterm { script, style })
}

/// Every module under `dir` (keyed by its path under `lib`, without `.js`), leaving out the
/// library's tests and every addon but `fit`.
fn collect(
    lib: &Path,
    dir: &Path,
    modules: &mut BTreeMap<String, String>,
    total: &mut u64,
) -> Result<(), XtermError> {
    let unusable = |why: String| XtermError::Unusable {
        root: lib.parent().unwrap_or(lib).to_path_buf(),
        why,
    };
    let entries = std::fs::read_dir(dir).map_err(|source| XtermError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let rel = path
            .strip_prefix(lib)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if rel == "addons" || rel.starts_with("addons/") && rel != "addons/fit" {
                if rel == "addons" {
                    collect(lib, &path, modules, total)?;
                }
                continue;
            }
            collect(lib, &path, modules, total)?;
            continue;
        }
        let Some(key) = rel.strip_suffix(".js") else {
            continue;
        };
        if key.ends_with(".test") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| XtermError::Read {
            path: path.clone(),
            source,
        })?;
        *total += text.len() as u64;
        if modules.len() >= MAX_MODULES || *total > MAX_BYTES {
            return Err(unusable(format!(
                "more than {MAX_MODULES} modules or {MAX_BYTES} bytes: not the xterm.js library"
            )));
        }
        modules.insert(key.to_string(), text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_library_is_put_together_with_its_relative_requires_and_without_its_tests() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "lib/public/Terminal.js",
            "var T = require(\"../Terminal\");\nexports.Terminal = T.Terminal;\n//# sourceMappingURL=Terminal.js.map",
        );
        write(
            root,
            "lib/Terminal.js",
            "exports.Terminal = function () {};",
        );
        write(root, "lib/Terminal.test.js", "require(\"chai\");");
        write(
            root,
            "lib/addons/fit/fit.js",
            "exports.apply = function () {};",
        );
        write(
            root,
            "lib/addons/zmodem/zmodem.js",
            "require(\"zmodem.js\");",
        );
        write(root, "lib/xterm.css", ".xterm {}");
        let x = load(root).unwrap();
        assert!(x.script.contains("defs[\"public/Terminal\"]"));
        assert!(x.script.contains("defs[\"Terminal\"]"));
        assert!(x.script.contains("defs[\"addons/fit/fit\"]"));
        assert!(!x.script.contains("chai"), "a test module was bundled");
        assert!(!x.script.contains("zmodem"), "an unused addon was bundled");
        assert!(!x.script.contains("sourceMappingURL"));
        assert_eq!(x.style, ".xterm {}");
    }

    #[test]
    fn a_missing_library_says_which_package_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("node-xterm"), "{err}");
    }
}
