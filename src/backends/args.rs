//! Reading a spec's keywords while planning, shared by the backends: properties as text
//! (placeholders given their values), booleans; and a step's spec of the expected kind.

use crate::exec::backend::{PlanCtx, StepError};
use crate::model::spec::{Arg, StepSpec};
use crate::model::val::Val;
use crate::model::workflow::Step;

/// A property as text (a placeholder's value, an enum's name); `None` when not given.
pub fn text(ctx: &PlanCtx, a: &Arg) -> Result<Option<String>, StepError> {
    match &a.val {
        None | Some(Val::Null) => Ok(None),
        Some(v) => {
            let t = ctx
                .values
                .text(v)
                .map_err(|e| format!("`{}`: {e}", a.key))?;
            Ok((!t.is_empty()).then_some(t))
        }
    }
}

/// A boolean property (`true`/`false`, or their text), `default` when not given.
pub fn flag(ctx: &PlanCtx, a: &Arg, default: bool) -> Result<bool, StepError> {
    match text(ctx, a)? {
        None => Ok(default),
        Some(t) => match t.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("`{}` is `{t}`, not true or false", a.key).into()),
        },
    }
}

/// The step's spec, or why it could not be read (a rule validation missed).
pub fn spec(step: &Step) -> Result<&StepSpec, StepError> {
    step.spec().map_err(|e| StepError::Invalid(e.to_string()))
}

/// The spec of another kind than the backend plans: a wrong arm in `backends::backend`.
pub fn wrong_kind(step: &Step, spec: &StepSpec) -> String {
    format!(
        "step `{}` is a {} step, but its spec is a {} one",
        step.name,
        step.kind,
        spec.kind_name()
    )
}
