//! Rich display for notebooks: a workflow (its steps, parameters and the DAG as inline SVG,
//! laid out here so nothing is fetched), a step's keywords, an execution record (steps and
//! metrics), and `next()`'s report, as HTML tables. Every text from a script is escaped.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::Value;

use crate::exec::metrics::short_number;
use crate::model::definition::val_to_json;
use crate::model::kind::StepKind;
use crate::model::val::Obj;
use crate::model::workflow::{value_key, Workflow};
use crate::present::dag::{Geometry, Graph};
use crate::session::report::NextView;

/// `text` with `& < > " '` escaped, for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table: a header row, then rows of cells (already HTML).
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table class=\"wf\">\n<thead><tr>");
    for h in head {
        let _ = write!(s, "<th style=\"text-align:left\">{}</th>", escape(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td style=\"text-align:left\">{c}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// A value as short JSON, cut at `max` characters.
fn short_json(v: &Value, max: usize) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > max {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    } else {
        s
    }
}

pub fn workflow(obj: &Arc<Obj>) -> String {
    let w = Workflow::read(obj);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<div class=\"wf-workflow\"><p><b>workflow {}</b>{}</p>",
        escape(&w.name),
        if w.desc.is_empty() {
            String::new()
        } else {
            format!(": {}", escape(&w.desc))
        }
    );
    s.push_str(&dag_svg(&w));
    let rows: Vec<Vec<String>> = w
        .steps
        .iter()
        .map(|st| {
            vec![
                code(&st.name),
                escape(st.kind.as_str()),
                escape(&st.dep_names().join(", ")),
            ]
        })
        .collect();
    let _ = writeln!(s, "<p>steps ({})</p>", w.steps.len());
    s.push_str(&table(&["step", "type", "after"], &rows));
    if !w.parameters.is_empty() {
        let rows: Vec<Vec<String>> = w
            .parameters
            .iter()
            .map(|p| {
                vec![
                    code(&w.shown_key(&value_key(p))),
                    escape(&crate::present::summary::parameter_type(p)),
                    p.arg("default")
                        .map(|d| code(&short_json(&val_to_json(d), 60)))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let _ = writeln!(s, "<p>parameters ({})</p>", w.parameters.len());
        s.push_str(&table(&["parameter", "type", "default"], &rows));
    }
    s.push_str("</div>\n");
    s
}

/// The DAG as SVG, laid out as the console lays it out (`present::dag`) with a notebook's
/// sizes: steps in layers from left to right, edges with what they carry. Empty when the graph
/// has a cycle.
pub fn dag_svg(w: &Workflow) -> String {
    if w.steps.is_empty() || crate::model::graph::Dag::build(w).order().is_err() {
        return String::new();
    }
    let l = Graph::of_workflow(w).layout(&Geometry::NOTEBOOK);
    let (width, height) = (l.width, l.height);
    let (box_w, box_h) = (l.node_width, l.node_height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"wf-dag\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    s.push_str("<defs><marker id=\"wf-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
    for e in &l.edges {
        let (x1, y1, x2, y2) = (e.x1, e.y1, e.x2, e.y2);
        let mid = (x1 + x2) / 2.0;
        let _ = writeln!(
            s,
            "<path d=\"M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}\" fill=\"none\" stroke=\"#555\" marker-end=\"url(#wf-arrow)\"/>"
        );
        if let Some(label) = &e.label {
            let _ = writeln!(
                s,
                "<text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\" font-size=\"10\">{}</text>",
                (y1 + y2) / 2.0 - 3.0,
                escape(label)
            );
        }
    }
    for (n, st) in l.nodes.iter().zip(&w.steps) {
        let (x, y) = (n.x, n.y);
        let (fill, rx) = if st.kind == StepKind::Condition {
            ("#fff4d6", 16)
        } else {
            ("#e8f0fe", 6)
        };
        let name: String = if st.name.chars().count() > 22 {
            format!("{}…", st.name.chars().take(21).collect::<String>())
        } else {
            st.name.clone()
        };
        let _ = writeln!(
            s,
            "<g><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"#4a6fa5\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\" font-size=\"10\">{}</text></g>",
            escape(&st.name),
            x + box_w / 2.0,
            y + 17.0,
            escape(&name),
            x + box_w / 2.0,
            y + 31.0,
            escape(st.kind.as_str())
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A step: its class and keywords.
pub fn step(obj: &Arc<Obj>) -> String {
    let rows: Vec<Vec<String>> = obj
        .args
        .iter()
        .map(|(k, v)| vec![code(k), code(&short_json(&val_to_json(v), 120))])
        .collect();
    format!(
        "<div class=\"wf-step\"><p><b>{}</b> {}</p>\n{}</div>\n",
        escape(&obj.spec.path()),
        code(obj.name()),
        table(&["keyword", "value"], &rows)
    )
}

/// A value between 0 and 1 (an accuracy, a ratio) as a small bar; nothing for others.
fn bar(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if (0.0..=1.0).contains(&x) => format!(
            "<svg width=\"100\" height=\"10\"><rect width=\"100\" height=\"10\" fill=\"#e8f0fe\"/><rect width=\"{:.1}\" height=\"10\" fill=\"#4a6fa5\"/></svg>",
            x * 100.0
        ),
        _ => String::new(),
    }
}

/// An execution record as text: its status, then a line per step.
pub fn record_text(r: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut s = format!(
        "execution {} of `{}`: {}\n",
        text(&r["execution_id"]),
        text(&r["workflow"]),
        text(&r["status"])
    );
    for st in r["steps"].as_array().into_iter().flatten() {
        let metrics = crate::exec::metrics::metrics_line(Some(&st["metrics"]))
            .map(|m| format!("  {m}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "  {:<20} {:<10} {}{metrics}\n",
            text(&st["name"]),
            text(&st["status"]),
            text(&st["reason"])
        ));
    }
    s
}

/// An execution record: its status, its steps, their metrics.
pub fn record(r: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut s = format!(
        "<div class=\"wf-execution\"><p><b>execution {}</b> of {}: <b>{}</b>{}</p>\n",
        code(&text(&r["execution_id"])),
        code(&text(&r["workflow"])),
        escape(&text(&r["status"])),
        r["reason"]
            .as_str()
            .map(|x| format!(" ({})", escape(x)))
            .unwrap_or_default()
    );
    let steps = r["steps"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|st| {
            vec![
                code(&text(&st["name"])),
                escape(&text(&st["type"])),
                escape(&text(&st["status"])),
                escape(&text(&st["reason"])),
            ]
        })
        .collect();
    s.push_str(&table(&["step", "type", "status", "why"], &rows));
    let mut metrics: Vec<Vec<String>> = Vec::new();
    for st in &steps {
        if let Some(m) = st["metrics"].as_object() {
            for (k, v) in m {
                metrics.push(vec![
                    code(&text(&st["name"])),
                    code(k),
                    escape(&short_number(v)),
                    bar(v),
                ]);
            }
        }
    }
    if !metrics.is_empty() {
        s.push_str("<p>metrics</p>\n");
        s.push_str(&table(&["step", "metric", "value", ""], &metrics));
    }
    s.push_str("</div>\n");
    s
}

/// `next()`'s report: what ran (with its outputs and metrics), what is missing and the line
/// to type, what comes next.
pub fn next(v: &NextView) -> String {
    let mut s = String::from("<div class=\"wf-next\">\n");
    for (name, why) in &v.skipped {
        let _ = writeln!(s, "<p>{} skipped: {}</p>", code(name), escape(why));
    }
    if let Some(n) = &v.needs {
        let _ = writeln!(
            s,
            "<p>{} cannot run yet: it needs {}. Set {}:</p>",
            code(&n.step),
            n.missing
                .iter()
                .map(|m| code(m))
                .collect::<Vec<_>>()
                .join(", "),
            if n.missing.len() == 1 { "it" } else { "them" }
        );
        let _ = writeln!(s, "<pre>{}</pre>", escape(&n.lines.join("\n")));
    }
    if let Some(r) = &v.ran {
        let mut rows = vec![vec![
            "status".to_string(),
            format!("<b>{}</b> in {:.2}s", escape(&r.status), r.seconds),
        ]];
        if let Some(res) = &r.result {
            rows.push(vec!["result".into(), escape(res)]);
        }
        for (k, p) in &r.outputs {
            rows.push(vec![format!("output {}", code(k)), code(p)]);
        }
        for (k, m) in &r.metrics {
            let shown = m
                .parse::<f64>()
                .map(|x| bar(&Value::from(x)))
                .unwrap_or_default();
            rows.push(vec![
                format!("metric {}", code(k)),
                format!("{} {shown}", escape(m)),
            ]);
        }
        if let Some(a) = &r.awaits {
            rows.push(vec!["awaits".into(), escape(a)]);
        }
        if let Some(e) = &r.error {
            rows.push(vec!["error".into(), escape(e)]);
        }
        if !r.log.is_empty() {
            rows.push(vec![
                "log".into(),
                format!("<pre>{}</pre>", escape(&r.log.join("\n"))),
            ]);
        }
        let _ = writeln!(s, "<p>phase {}</p>", code(&r.step));
        let table_rows: Vec<Vec<String>> = rows;
        s.push_str(&table(&["", ""], &table_rows));
    } else if v.needs.is_none() && v.finished.is_none() && v.skipped.is_empty() {
        s.push_str("<p>nothing can run now</p>\n");
    }
    if v.needs.is_none() {
        match &v.finished {
            Some(f) => {
                let _ = writeln!(
                    s,
                    "<p>the debug execution {} has ended: <b>{}</b></p>",
                    code(&v.execution),
                    escape(f)
                );
            }
            None if !v.next.is_empty() => {
                let _ = writeln!(
                    s,
                    "<p>next: {}</p>",
                    v.next
                        .iter()
                        .map(|n| code(n))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            None => {}
        }
    }
    s.push_str("</div>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_record_shows_its_steps_and_metrics() {
        let r = serde_json::json!({
            "execution_id": "abc", "workflow": "w<1>", "status": "executed", "reason": null,
            "steps": [{"name": "train", "type": "job", "status": "executed", "reason": null,
                       "metrics": {"accuracy": 0.91234567}}]
        });
        let h = record(&r);
        assert!(h.contains("w&lt;1&gt;"), "{h}");
        assert!(
            h.contains("<td style=\"text-align:left\"><code>accuracy</code></td>"),
            "{h}"
        );
        assert!(h.contains("0.9123"), "{h}");
        assert!(
            h.contains("<rect width=\"91.2\""),
            "no bar for the accuracy: {h}"
        );
    }
}
