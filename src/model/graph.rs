//! The step DAG: nodes are steps, edges run from a step to the steps that wait for it.

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use super::kind::StepKind;
use super::workflow::{DepKind, Workflow};

pub struct Dag {
    pub graph: DiGraph<usize, DepKind>,
    pub nodes: Vec<NodeIndex>,
}

impl Dag {
    /// Builds the graph; dependencies on unknown steps are left out (validation reports them).
    pub fn build(w: &Workflow) -> Dag {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..w.steps.len()).map(|i| graph.add_node(i)).collect();
        let index: HashMap<&str, usize> = w
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        for (i, s) in w.steps.iter().enumerate() {
            for d in &s.deps {
                if let Some(&j) = index.get(d.on.as_str()) {
                    graph.add_edge(nodes[j], nodes[i], d.kind.clone());
                }
            }
        }
        Dag { graph, nodes }
    }

    /// Steps in an order where each comes after its dependencies, or a cycle (step indexes,
    /// first repeated at the end).
    pub fn order(&self) -> Result<Vec<usize>, Vec<usize>> {
        match toposort(&self.graph, None) {
            Ok(order) => Ok(order.into_iter().map(|n| self.graph[n]).collect()),
            Err(cycle) => Err(self.cycle_through(cycle.node_id())),
        }
    }

    fn cycle_through(&self, start: NodeIndex) -> Vec<usize> {
        // Depth-first search from `start` back to itself.
        let mut stack = vec![(start, vec![start])];
        let mut seen = std::collections::HashSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in self.graph.neighbors(node) {
                if next == start {
                    let mut p: Vec<usize> = path.iter().map(|n| self.graph[*n]).collect();
                    p.push(self.graph[start]);
                    return p;
                }
                if seen.insert(next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
        vec![self.graph[start], self.graph[start]]
    }
}

fn edge_label(kind: &DepKind) -> Option<String> {
    match kind {
        DepKind::Explicit => None,
        DepKind::Data(out) => Some(out.clone()),
        DepKind::Branch(true) => Some("if true".into()),
        DepKind::Branch(false) => Some("if false".into()),
    }
}

/// Each distinct edge once, labels of parallel edges joined.
fn edges(w: &Workflow) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    for s in &w.steps {
        for d in &s.deps {
            if w.step(&d.on).is_none() {
                continue;
            }
            let label = edge_label(&d.kind);
            match out.iter_mut().find(|(a, b, _)| *a == d.on && *b == s.name) {
                Some((_, _, l)) => {
                    if let Some(new) = label {
                        *l = Some(match l.take() {
                            Some(old) => format!("{old}, {new}"),
                            None => new,
                        });
                    }
                }
                None => out.push((d.on.clone(), s.name.clone(), label)),
            }
        }
    }
    out
}

pub fn to_dot(w: &Workflow) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph {:?} {{", w.name);
    let _ = writeln!(s, "  rankdir=LR;");
    let _ = writeln!(s, "  node [shape=box, style=rounded];");
    for step in &w.steps {
        let shape = if step.kind == StepKind::Condition {
            ", shape=diamond"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {:?} [label=\"{}\\n({})\"{shape}];",
            step.name, step.name, step.kind
        );
    }
    for (a, b, label) in edges(w) {
        match label {
            Some(l) => {
                let _ = writeln!(s, "  {a:?} -> {b:?} [label={l:?}];");
            }
            None => {
                let _ = writeln!(s, "  {a:?} -> {b:?};");
            }
        }
    }
    s.push_str("}\n");
    s
}

pub fn to_mermaid(w: &Workflow) -> String {
    // Mermaid ids cannot hold `-`; number the steps instead.
    let id: HashMap<&str, String> = w
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), format!("s{i}")))
        .collect();
    let mut s = String::from("flowchart LR\n");
    for step in &w.steps {
        let (open, close) = if step.kind == StepKind::Condition {
            ("{", "}")
        } else {
            ("[", "]")
        };
        let _ = writeln!(
            s,
            "  {}{open}\"{}<br/>({})\"{close}",
            id[step.name.as_str()],
            step.name,
            step.kind
        );
    }
    for (a, b, label) in edges(w) {
        match label {
            Some(l) => {
                let _ = writeln!(s, "  {} -->|{}| {}", id[a.as_str()], l, id[b.as_str()]);
            }
            None => {
                let _ = writeln!(s, "  {} --> {}", id[a.as_str()], id[b.as_str()]);
            }
        }
    }
    s
}
