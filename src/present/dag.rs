//! The DAG's layout, computed once for every drawing of it: the kernel's SVG in a notebook and
//! the console's (served as JSON by `GET /api/workflows/NAME/layout` and
//! `GET /api/executions/ID/layout`).
//!
//! Steps are put in layers by their longest path from a step that waits for none; a layer's
//! steps are ordered by the mean place of their parents in the layers before, and each layer
//! is centred across. A long chain reads top to bottom (it would not fit across), a wide graph
//! left to right, when the drawing may turn.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::workflow::{DepKind, Workflow};

/// The sizes a drawing uses: its boxes, the gaps between them, its margin.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub node_width: f64,
    pub node_height: f64,
    /// Between layers, left to right.
    pub gap_x: f64,
    /// Between the steps of a layer, left to right.
    pub gap_y: f64,
    pub margin: f64,
    /// Whether a long chain may be drawn top to bottom.
    pub may_turn: bool,
    /// Between the steps of a layer, top to bottom.
    pub turned_gap_across: f64,
    /// Between layers, top to bottom.
    pub turned_gap_along: f64,
}

impl Geometry {
    /// The web console's.
    pub const CONSOLE: Geometry = Geometry {
        node_width: 170.0,
        node_height: 46.0,
        gap_x: 70.0,
        gap_y: 22.0,
        margin: 16.0,
        may_turn: true,
        turned_gap_across: 24.0,
        turned_gap_along: 40.0,
    };

    /// A notebook's (the kernel's SVG): smaller boxes, always left to right.
    pub const NOTEBOOK: Geometry = Geometry {
        node_width: 150.0,
        node_height: 40.0,
        gap_x: 60.0,
        gap_y: 20.0,
        margin: 10.0,
        may_turn: false,
        turned_gap_across: 0.0,
        turned_gap_along: 0.0,
    };
}

/// How one step waits for another, as the drawing styles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// An output of one used as an input of the other.
    Data,
    /// Named in `depend_steps` only.
    Dependency,
    /// Run when the condition is true.
    BranchTrue,
    /// Run when the condition is false.
    BranchFalse,
}

/// A step placed: its box's top-left corner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    /// Its kind as the definition names it (`job`, `condition`, ...).
    pub kind: String,
    pub x: f64,
    pub y: f64,
    pub layer: usize,
}

/// One arrow from a step to a step waiting for it (several dependencies between the same two
/// steps are one arrow): where it leaves and where it arrives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// The outputs it carries, in the order the definition names them.
    pub outputs: Vec<String>,
    /// What is written beside it: `if true`, `if false`, or the outputs it carries.
    pub label: Option<String>,
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

/// The whole drawing's layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// Drawn top to bottom.
    pub vertical: bool,
    pub node_width: f64,
    pub node_height: f64,
    /// In the definition's order of steps.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A graph to lay out: its steps with their kinds, and its dependencies.
#[derive(Debug, Default)]
pub struct Graph {
    steps: Vec<(String, String)>,
    /// (from, to, how) in the order the definition names them.
    deps: Vec<(String, String, DepKind)>,
}

impl Graph {
    /// From a workflow.
    pub fn of_workflow(w: &Workflow) -> Graph {
        Graph {
            steps: w
                .steps
                .iter()
                .map(|s| (s.name.clone(), s.kind.as_str().to_string()))
                .collect(),
            deps: w
                .steps
                .iter()
                .flat_map(|s| {
                    s.deps
                        .iter()
                        .map(|d| (d.on.clone(), s.name.clone(), d.kind.clone()))
                })
                .collect(),
        }
    }

    /// From a JSON definition (as `wf graph` prints it): `steps[].name`, `steps[].type` and
    /// `dependencies: {STEP: [{step, output?, branch?}]}`. What is missing is left out.
    pub fn of_definition(def: &Value) -> Graph {
        let steps: Vec<(String, String)> = def
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let name = s.get("name")?.as_str()?.to_string();
                let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
                Some((name, kind.to_string()))
            })
            .collect();
        let mut deps = Vec::new();
        if let Some(all) = def.get("dependencies").and_then(Value::as_object) {
            for (to, list) in all {
                for d in list.as_array().into_iter().flatten() {
                    let Some(from) = d.get("step").and_then(Value::as_str) else {
                        continue;
                    };
                    let kind = match (d.get("branch").and_then(Value::as_bool), d.get("output")) {
                        (Some(b), _) => DepKind::Branch(b),
                        (None, Some(Value::String(o))) => DepKind::Data(o.clone()),
                        _ => DepKind::Explicit,
                    };
                    deps.push((from.to_string(), to.clone(), kind));
                }
            }
        }
        Graph { steps, deps }
    }

    /// The layout with the sizes of `g`.
    pub fn layout(&self, g: &Geometry) -> Layout {
        let index: HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i))
            .collect();
        let n = self.steps.len();
        // One edge per pair of steps, in the order first named.
        struct Pending {
            from: usize,
            to: usize,
            true_branch: bool,
            false_branch: bool,
            data: bool,
            outputs: Vec<String>,
        }
        let mut pending: Vec<Pending> = Vec::new();
        let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
        for (from, to, kind) in &self.deps {
            let (Some(&f), Some(&t)) = (index.get(from.as_str()), index.get(to.as_str())) else {
                continue;
            };
            let k = *seen.entry((f, t)).or_insert_with(|| {
                pending.push(Pending {
                    from: f,
                    to: t,
                    true_branch: false,
                    false_branch: false,
                    data: false,
                    outputs: Vec::new(),
                });
                pending.len() - 1
            });
            let e = &mut pending[k];
            match kind {
                DepKind::Branch(true) => e.true_branch = true,
                DepKind::Branch(false) => e.false_branch = true,
                DepKind::Data(o) => {
                    e.data = true;
                    e.outputs.push(o.clone());
                }
                DepKind::Explicit => {}
            }
        }
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in &pending {
            parents[e.to].push(e.from);
        }
        // Layers by the longest path; a step on a cycle counts as a first step where it is
        // met again.
        let mut layer: Vec<Option<usize>> = vec![None; n];
        fn depth(
            i: usize,
            parents: &[Vec<usize>],
            layer: &mut [Option<usize>],
            seen: &mut Vec<bool>,
        ) -> usize {
            if let Some(l) = layer[i] {
                return l;
            }
            if seen[i] {
                return 0;
            }
            seen[i] = true;
            let mut l = 0;
            for &p in &parents[i] {
                l = l.max(depth(p, parents, layer, seen) + 1);
            }
            layer[i] = Some(l);
            l
        }
        for i in 0..n {
            let mut seen = vec![false; n];
            depth(i, &parents, &mut layer, &mut seen);
        }
        let layer: Vec<usize> = layer.into_iter().map(|l| l.unwrap_or(0)).collect();
        let count = layer.iter().max().map_or(0, |m| m + 1);
        let mut layers: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (i, &l) in layer.iter().enumerate() {
            layers[l].push(i);
        }
        // The place of each step in its layer; later layers follow their parents' places.
        let mut place: Vec<Option<usize>> = vec![None; n];
        for (li, steps) in layers.iter_mut().enumerate() {
            if li > 0 {
                let mean = |i: usize| -> f64 {
                    let ps: Vec<usize> = parents[i].iter().filter_map(|&p| place[p]).collect();
                    if ps.is_empty() {
                        0.0
                    } else {
                        ps.iter().sum::<usize>() as f64 / ps.len() as f64
                    }
                };
                steps.sort_by(|&a, &b| mean(a).total_cmp(&mean(b)));
            }
            for (k, &i) in steps.iter().enumerate() {
                place[i] = Some(k);
            }
        }
        let tallest = layers.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let vertical = g.may_turn && layers.len() > 4 && layers.len() > tallest;
        let (across, along, gap_across, gap_along) = if vertical {
            (
                g.node_width + g.turned_gap_across,
                g.node_height + g.turned_gap_along,
                g.turned_gap_across,
                g.turned_gap_along,
            )
        } else {
            (
                g.node_height + g.gap_y,
                g.node_width + g.gap_x,
                g.gap_y,
                g.gap_x,
            )
        };
        let nodes: Vec<Node> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, (name, kind))| {
                let l = layer[i];
                let offset = (tallest - layers[l].len()) as f64 * across / 2.0;
                let a = g.margin + l as f64 * along;
                let b = g.margin + offset + place[i].unwrap_or(0) as f64 * across;
                let (x, y) = if vertical { (b, a) } else { (a, b) };
                Node {
                    name: name.clone(),
                    kind: kind.clone(),
                    x,
                    y,
                    layer: l,
                }
            })
            .collect();
        let edges = pending
            .into_iter()
            .map(|e| {
                let (a, b) = (&nodes[e.from], &nodes[e.to]);
                let (x1, y1, x2, y2) = if vertical {
                    (
                        a.x + g.node_width / 2.0,
                        a.y + g.node_height,
                        b.x + g.node_width / 2.0,
                        b.y,
                    )
                } else {
                    (
                        a.x + g.node_width,
                        a.y + g.node_height / 2.0,
                        b.x,
                        b.y + g.node_height / 2.0,
                    )
                };
                let kind = if e.true_branch {
                    EdgeKind::BranchTrue
                } else if e.false_branch {
                    EdgeKind::BranchFalse
                } else if e.data {
                    EdgeKind::Data
                } else {
                    EdgeKind::Dependency
                };
                let label = match kind {
                    EdgeKind::BranchTrue => Some("if true".to_string()),
                    EdgeKind::BranchFalse => Some("if false".to_string()),
                    _ if e.outputs.is_empty() => None,
                    _ => Some(e.outputs.join(", ")),
                };
                Edge {
                    from: a.name.clone(),
                    to: b.name.clone(),
                    kind,
                    outputs: e.outputs,
                    label,
                    x1,
                    y1,
                    x2,
                    y2,
                }
            })
            .collect();
        let length = 2.0 * g.margin + layers.len() as f64 * along - gap_along;
        let breadth = 2.0 * g.margin + tallest as f64 * across - gap_across;
        let (width, height) = if vertical {
            (breadth, length)
        } else {
            (length, breadth)
        };
        Layout {
            width: width.max(0.0),
            height: height.max(0.0),
            vertical,
            node_width: g.node_width,
            node_height: g.node_height,
            nodes,
            edges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(steps: &[(&str, &str)], deps: Value) -> Value {
        json!({
            "steps": steps.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
            "dependencies": deps,
        })
    }

    fn node<'a>(l: &'a Layout, name: &str) -> &'a Node {
        l.nodes.iter().find(|n| n.name == name).unwrap()
    }

    #[test]
    fn a_step_is_one_layer_after_the_last_step_it_waits_for() {
        let d = def(
            &[("a", "job"), ("b", "job"), ("c", "job")],
            json!({"b": [{"step": "a"}], "c": [{"step": "a"}, {"step": "b", "output": "model"}]}),
        );
        let l = Graph::of_definition(&d).layout(&Geometry::CONSOLE);
        let layers: Vec<usize> = l.nodes.iter().map(|n| n.layer).collect();
        assert_eq!(layers, [0, 1, 2]);
        assert!(!l.vertical);
        // Left to right, one column per layer.
        assert_eq!(node(&l, "a").x, 16.0);
        assert_eq!(node(&l, "b").x, 16.0 + 240.0);
        assert_eq!(node(&l, "c").x, 16.0 + 480.0);
        assert_eq!(l.width, 32.0 + 3.0 * 240.0 - 70.0);
        assert_eq!(l.height, 32.0 + 68.0 - 22.0);
        // The edge leaves the right of its source, in the middle, and arrives at the left.
        let e = l
            .edges
            .iter()
            .find(|e| e.to == "c" && e.from == "b")
            .unwrap();
        assert_eq!(e.kind, EdgeKind::Data);
        assert_eq!(e.label.as_deref(), Some("model"));
        assert_eq!((e.x1, e.y1), (16.0 + 240.0 + 170.0, 16.0 + 23.0));
        assert_eq!((e.x2, e.y2), (16.0 + 480.0, 16.0 + 23.0));
    }

    #[test]
    fn dependencies_between_two_steps_are_one_edge_and_a_branch_wins() {
        let d = def(
            &[("check", "condition"), ("go", "job")],
            json!({"go": [{"step": "check", "output": "x"}, {"step": "check", "branch": true}]}),
        );
        let l = Graph::of_definition(&d).layout(&Geometry::CONSOLE);
        assert_eq!(l.edges.len(), 1);
        assert_eq!(l.edges[0].kind, EdgeKind::BranchTrue);
        assert_eq!(l.edges[0].label.as_deref(), Some("if true"));
        assert_eq!(l.edges[0].outputs, ["x"]);
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["edges"][0]["kind"], "branch-true");
        assert_eq!(v["nodes"][0]["kind"], "condition");
    }

    #[test]
    fn a_layer_follows_its_parents_places_and_is_centred() {
        // `z` is named first but waits for the second of two roots: it goes second.
        let d = def(
            &[("r1", "job"), ("r2", "job"), ("z", "job"), ("y", "job")],
            json!({"z": [{"step": "r2"}], "y": [{"step": "r1"}]}),
        );
        let l = Graph::of_definition(&d).layout(&Geometry::CONSOLE);
        assert!(node(&l, "y").y < node(&l, "z").y);
        assert_eq!(node(&l, "y").y, node(&l, "r1").y);
        // A single step in a layer two tall is centred.
        let d = def(
            &[("r1", "job"), ("r2", "job"), ("j", "job")],
            json!({"j": [{"step": "r1"}, {"step": "r2"}]}),
        );
        let l = Graph::of_definition(&d).layout(&Geometry::CONSOLE);
        assert_eq!(node(&l, "j").y, 16.0 + 34.0);
    }

    #[test]
    fn a_long_chain_turns_top_to_bottom_where_it_may() {
        let names = ["a", "b", "c", "d", "e"];
        let steps: Vec<(&str, &str)> = names.iter().map(|n| (*n, "job")).collect();
        let deps: serde_json::Map<String, Value> = names
            .windows(2)
            .map(|w| (w[1].to_string(), json!([{"step": w[0]}])))
            .collect();
        let d = def(&steps, Value::Object(deps));
        let l = Graph::of_definition(&d).layout(&Geometry::CONSOLE);
        assert!(l.vertical);
        assert_eq!(node(&l, "b").y, 16.0 + 86.0);
        assert_eq!(node(&l, "b").x, 16.0);
        assert_eq!(
            (l.width, l.height),
            (32.0 + 194.0 - 24.0, 32.0 + 5.0 * 86.0 - 40.0)
        );
        let l = Graph::of_definition(&d).layout(&Geometry::NOTEBOOK);
        assert!(!l.vertical);
        assert_eq!(l.width, 20.0 + 5.0 * 150.0 + 4.0 * 60.0);
    }

    #[test]
    fn a_cycle_or_a_stranger_does_not_stop_the_layout() {
        let d = def(
            &[("a", "job"), ("b", "job")],
            json!({"a": [{"step": "b"}], "b": [{"step": "a"}, {"step": "nobody"}]}),
        );
        let l = Graph::of_definition(&d).layout(&Geometry::CONSOLE);
        assert_eq!(l.nodes.len(), 2);
        assert_eq!(l.edges.len(), 2);
        let empty = Graph::of_definition(&json!({})).layout(&Geometry::CONSOLE);
        assert!(empty.nodes.is_empty());
    }
}
