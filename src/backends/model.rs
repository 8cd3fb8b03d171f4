//! ModelStep: registers a model version in the home's registry (`crate::models`) from its
//! input: a folder (a job's output, an OBS path), a registered model (`ModelData`), a
//! model of the local gallery (`GalleryModel`), a container image (`SWRImage`, recorded),
//! or a built-in `Template` filled with its inputs.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::args::{self, text};
use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, StepError, Work};
use crate::model::spec::{DataObj, StepSpec};
use crate::model::val::Val;
use crate::model::workflow::Step;
use crate::models::{self, NewModel};
use crate::store::Store;

pub struct ModelBackend;

/// Where the files come from.
enum Files {
    Folder(PathBuf),
    /// A built-in template and its inputs (`input_id` → path).
    Template(String, Vec<(String, PathBuf)>),
    None,
}

struct ModelWork {
    home: PathBuf,
    outputs: Vec<String>,
    model: NewModel,
    files: Files,
}

/// The local gallery: `$WF_GALLERY`, else `HOME/gallery` (runs take no `--gallery`).
pub fn gallery_dir(home: &std::path::Path) -> PathBuf {
    crate::gallery::gallery_dir(home, None)
}

/// The names of the built-in templates.
pub const TEMPLATES: &[&str] = &["python-function"];

impl Backend for ModelBackend {
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError> {
        let spec = match args::spec(step)? {
            StepSpec::Model(m) => m,
            other => return Err(args::wrong_kind(step, other).into()),
        };
        let out = spec
            .outputs
            .first()
            .ok_or("the step has no output (ModelOutput)")?;
        let cfg = spec
            .config
            .as_ref()
            .ok_or_else(|| format!("output `{out}` has no `model_config`"))?;
        let name = text(ctx, &cfg.model_name)?
            .ok_or("`model_name` is not given: the registry needs a name")?;
        models::check_name(&name)?;
        let version = text(ctx, &cfg.model_version)?;
        if let Some(v) = &version {
            models::parse_version(v)?;
        }
        let model_type = text(ctx, &cfg.model_type)?.unwrap_or_else(|| "TensorFlow".into());
        let runtime = text(ctx, &cfg.runtime)?.unwrap_or_default();
        // Every field kept, placeholders given their values.
        let mut config = Map::new();
        for (k, v) in &cfg.fields {
            config.insert(k.to_string(), ctx.values.json(v)?);
        }
        let mut inputs = Map::new();
        let mut source = json!({});
        let mut files = Files::None;
        for i in &spec.inputs {
            let data = ctx.values.value(&i.data)?;
            let named = match &data {
                Val::Obj(d) => DataObj::from(&**d),
                _ => DataObj::Other,
            };
            let resolved = match named {
                DataObj::SwrImage { swr_path } => {
                    let image = text(ctx, &swr_path)?.unwrap_or_default();
                    source = json!({ "image": image });
                    inputs.insert(i.name.clone(), json!({ "image": image }));
                    continue;
                }
                DataObj::ModelData {
                    model_name,
                    model_version,
                } => {
                    let mname = text(ctx, &model_name)?.unwrap_or_default();
                    let mver = text(ctx, &model_version)?;
                    let store = Store::open(ctx.home()).map_err(|e| e.to_string())?;
                    let m =
                        models::get(&store, &mname, mver.as_deref()).map_err(|e| e.to_string())?;
                    source = json!({ "model": format!("{}@{}", m.name, m.version) });
                    m.path
                }
                DataObj::GalleryModel {
                    subscription_id,
                    version_num,
                } => {
                    let id = text(ctx, &subscription_id)?.unwrap_or_default();
                    let ver = text(ctx, &version_num)?.unwrap_or_default();
                    let dir = gallery_dir(ctx.home()).join("models").join(&id).join(&ver);
                    if !dir.is_dir() {
                        return Err(format!(
                            "the gallery has no model `{id}` version `{ver}` (looked in `{}`)",
                            dir.display()
                        )
                        .into());
                    }
                    source = json!({ "gallery": { "subscription_id": id, "version_num": ver } });
                    dir
                }
                _ => {
                    let p = ctx
                        .values
                        .path(&data)
                        .map_err(|e| format!("input `{}`: {e}", i.name))?;
                    source = json!({ "path": p.to_string_lossy() });
                    p
                }
            };
            inputs.insert(
                i.name.clone(),
                json!({ "path": resolved.to_string_lossy() }),
            );
            files = Files::Folder(resolved);
        }
        if let Some(t) = &cfg.template {
            let id = text(ctx, &t.template_id)?.unwrap_or_default();
            if !TEMPLATES.contains(&id.as_str()) {
                return Err(format!(
                    "template `{id}` is not one of this machine's: {}",
                    TEMPLATES.join(", ")
                )
                .into());
            }
            let mut given = Vec::new();
            for (input_id, input) in &t.inputs {
                let input_id = text(ctx, input_id)?.unwrap_or_default();
                let p = ctx
                    .values
                    .path(input)
                    .map_err(|e| format!("template input `{input_id}`: {e}"))?;
                given.push((input_id, p));
            }
            let mut tj = Map::new();
            tj.insert("template_id".into(), json!(id));
            if let Some(f) = text(ctx, &t.infer_format)? {
                tj.insert("infer_format".into(), json!(f));
            }
            config.insert("template".into(), Value::Object(tj));
            source = json!({ "template": id });
            files = Files::Template(id, given);
        }
        if matches!(files, Files::None) && source.get("image").is_none() {
            return Err("the model has no files: give an input (a folder, a job's output, a ModelData, a GalleryModel, an SWRImage) or a template".into());
        }
        Ok(Plan {
            inputs,
            flavor: None,
            work: Arc::new(ModelWork {
                home: ctx.home().to_path_buf(),
                outputs: spec.outputs.clone(),
                model: NewModel {
                    name,
                    version,
                    model_type,
                    runtime,
                    config: Value::Object(config),
                    source,
                    made_by: Some(format!("{}/{}", ctx.exec_id(), step.name)),
                },
                files,
            }),
        })
    }
}

impl Work for ModelWork {
    fn run(self: Arc<Self>, _attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || self.register()).await {
                Ok(Ok(end)) => end,
                Ok(Err(e)) => e.into(),
                Err(e) => StepEnd::Failed(format!("the model registry failed: {e}")),
            }
        })
    }
}

impl ModelWork {
    fn register(&self) -> Result<StepEnd, StepError> {
        let store = Store::open(&self.home).map_err(|e| e.to_string())?;
        let staged;
        let from = match &self.files {
            Files::Folder(p) => Some(p.as_path()),
            Files::None => None,
            Files::Template(id, inputs) => {
                staged = crate::models::templates::stage(&self.home, id, inputs)?;
                Some(staged.path())
            }
        };
        let m = match models::register(&store, &self.model, from) {
            Ok(m) => m,
            // A name, version or folder the registry refuses is refused again on a retry.
            Err(e) if e.recurs() => return Ok(StepEnd::Permanent(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        let value = json!({
            "model_name": m.name,
            "model_version": m.version,
            "path": m.path.to_string_lossy(),
        });
        let outputs: IndexMap<String, Value> = self
            .outputs
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    json!({ "path": m.path.to_string_lossy(), "model": value }),
                )
            })
            .collect();
        Ok(StepEnd::Executed {
            outputs,
            metrics: IndexMap::new(),
            detail: Map::new(),
            note: Some(format!("registered model {}@{}", m.name, m.version)),
        })
    }
}
