//! ConditionStep: its conditions (joined by AND) are evaluated in process when it is
//! planned; running it records the result, which decides the branches.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Map};

use super::args;
use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, StepError, Work};
use crate::model::spec::StepSpec;
use crate::model::workflow::Step;

pub struct ConditionBackend;

impl Backend for ConditionBackend {
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError> {
        let spec = match args::spec(step)? {
            StepSpec::Condition(c) => c,
            other => return Err(args::wrong_kind(step, other).into()),
        };
        let mut result = true;
        for c in &spec.conditions {
            if !ctx.values.condition(c)? {
                result = false;
                break;
            }
        }
        Ok(Plan {
            inputs: Map::new(),
            flavor: None,
            work: Arc::new(Evaluated(result)),
        })
    }
}

struct Evaluated(bool);

impl Work for Evaluated {
    fn run(self: Arc<Self>, _attempt: Attempt) -> BoxFuture<StepEnd> {
        let result = self.0;
        Box::pin(async move {
            let mut detail = Map::new();
            detail.insert("result".into(), json!(result));
            StepEnd::Executed {
                outputs: IndexMap::new(),
                metrics: IndexMap::new(),
                detail,
                note: Some(format!("conditions evaluated to {result}")),
            }
        })
    }
}
