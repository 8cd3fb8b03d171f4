//! MrsJobStep: `spark-submit` against a registered cluster or the built-in `local`.

use crate::exec::backend::{Backend, Plan, PlanCtx};
use crate::model::workflow::Step;

pub struct MrsBackend;

impl Backend for MrsBackend {
    fn plan(&self, _step: &Step, _ctx: &PlanCtx) -> Result<Plan, String> {
        Err("MRS steps have no backend yet".into())
    }
}
