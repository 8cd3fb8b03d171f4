//! `import "name" as m;` finds `name.rhai` beside the script (or in its subfolders), then in
//! the shipped `stdlib/`. Absolute paths, `..` and symlinks that leave the script's folder
//! are refused: a script reaches no other file.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use crate::diag::Sources;

/// The modules shipped in the binary, by name.
pub const STDLIB: &[(&str, &str)] = &[("ml", include_str!("../../stdlib/ml.rhai"))];

pub struct SandboxResolver {
    root: PathBuf,
    sources: Sources,
    cache: Mutex<HashMap<String, Shared<Module>>>,
    /// The modules being loaded, outermost first: one met again is an import cycle.
    loading: Mutex<Vec<String>>,
}

impl SandboxResolver {
    pub fn new(root: PathBuf, sources: Sources) -> Self {
        SandboxResolver {
            root,
            sources,
            cache: Mutex::new(HashMap::new()),
            loading: Mutex::new(Vec::new()),
        }
    }

    fn refuse(path: &str, why: &str, pos: Position) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(
            format!("cannot import `{path}`: {why}").into(),
            pos,
        ))
    }

    /// The file for `path` beside the script, if it is there and stays inside its folder.
    fn local_file(
        &self,
        importer: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Option<PathBuf>, Box<EvalAltResult>> {
        let rel = Path::new(path);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(Self::refuse(
                path,
                "modules are named relative to the script, without `..` or a leading `/`",
                pos,
            ));
        }
        let mut name = rel.to_path_buf();
        if name.extension().is_none() {
            name.set_extension("rhai");
        }
        // An import inside a module is relative to that module's folder.
        let base = importer
            .map(Path::new)
            .and_then(|p| p.parent())
            .filter(|p| p.starts_with(&self.root) || self.root == Path::new("."))
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        let candidate = base.join(&name);
        if !candidate.is_file() {
            return Ok(None);
        }
        let (Ok(real), Ok(root)) = (candidate.canonicalize(), self.root.canonicalize()) else {
            return Ok(None);
        };
        if !real.starts_with(&root) {
            return Err(Self::refuse(
                path,
                "it leads outside the script's folder",
                pos,
            ));
        }
        Ok(Some(candidate))
    }

    fn compile(
        &self,
        engine: &Engine,
        name: &str,
        text: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        self.sources.add(name.into(), text.into());
        let mut ast = engine.compile(text).map_err(|e| {
            Box::new(EvalAltResult::ErrorInModule(
                name.to_string(),
                Box::new(EvalAltResult::ErrorParsing(*e.0, e.1)),
                pos,
            ))
        })?;
        ast.set_source(name);
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.to_string(), e, pos)))?;
        Ok(module.into())
    }
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        if let Some(m) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
        {
            return Ok(m.clone());
        }
        {
            let mut loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = loading.iter().position(|m| m == path) {
                let mut cycle: Vec<String> =
                    loading[at..].iter().map(|m| format!("`{m}`")).collect();
                cycle.push(format!("`{path}`"));
                return Err(Self::refuse(
                    path,
                    &format!("the imports form a cycle: {}", cycle.join(" imports ")),
                    pos,
                ));
            }
            loading.push(path.to_string());
        }
        let module = self.load(engine, source, path, pos);
        self.loading.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let module = module?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), module.clone());
        Ok(module)
    }
}

impl SandboxResolver {
    fn load(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let module = if let Some(file) = self.local_file(source, path, pos)? {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Self::refuse(path, &e.to_string(), pos))?;
            let shown = file.to_string_lossy().trim_start_matches("./").to_string();
            self.compile(engine, &shown, &text, pos)?
        } else if let Some((_, text)) = STDLIB
            .iter()
            .find(|(n, _)| *n == path.trim_end_matches(".rhai"))
        {
            self.compile(engine, &format!("stdlib/{path}.rhai"), text, pos)?
        } else {
            return Err(Box::new(EvalAltResult::ErrorModuleNotFound(
                path.to_string(),
                pos,
            )));
        };
        Ok(module)
    }
}
