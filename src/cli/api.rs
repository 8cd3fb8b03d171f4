//! `wf check --list-api`: the whole `wf` surface, one line per name.

use std::fmt::Write as _;

use crate::catalog::{Catalog, ClassSpec, EntryKind, Member};

fn signature(spec: &ClassSpec) -> String {
    let params: Vec<String> = spec
        .params
        .iter()
        .map(|p| {
            let mut s = format!("{}: {}", p.name, p.ty_text);
            if p.required {
                s.push('!');
            }
            if let Some(d) = &p.default {
                let _ = write!(s, " = {d}");
            }
            if let Some(a) = p.alias {
                let _ = write!(s, " (also `{a}`)");
            }
            s
        })
        .collect();
    format!("({})", params.join(", "))
}

pub fn list_api() -> String {
    let cat = Catalog::get();
    let mut out =
        String::from("# every name of the `wf` namespace; `!` marks a mandatory keyword\n");
    for ns in &cat.namespaces {
        for (name, member) in &cat.members[ns] {
            match member {
                Member::Namespace(p) => {
                    let _ = writeln!(out, "{p}  (namespace)");
                }
                Member::Class(spec) => {
                    let kind = if spec.kind == EntryKind::Function {
                        "fn "
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "{kind}{ns}.{name}{}", signature(spec));
                }
                Member::Enum(e) => {
                    let _ = writeln!(out, "enum {ns}.{name} = {}", e.values.join(" "));
                }
            }
        }
    }
    for m in &cat.methods {
        let owner = match m.ns {
            "Storage" => "storage",
            "Output" => "step.outputs[NAME]",
            _ => "workflow",
        };
        let _ = writeln!(out, "method {owner}.{}{}", m.name, signature(m));
    }
    out
}
