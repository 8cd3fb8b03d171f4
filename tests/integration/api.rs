//! `wf check --list-api` covers every name and keyword of the reference manual.

use crate::test::{Test, MANIFEST_DIR};

fn list_api() -> String {
    let r = Test::new().wf(&["check", "--list-api"]);
    r.status(0);
    r.stdout
}

/// The line of `--list-api` that defines `path`: `PATH(`, `enum PATH =`, `method PATH(`, ...
fn find<'a>(api: &'a str, path: &str) -> Option<&'a str> {
    api.lines().find(|l| {
        let l = l
            .trim_start_matches("fn ")
            .trim_start_matches("enum ")
            .trim_start_matches("method ");
        l.starts_with(&format!("{path}("))
            || l.starts_with(&format!("{path} ="))
            || l.starts_with(&format!("{path}  ("))
    })
}

#[test]
fn list_api_covers_the_manual() {
    let api = list_api();
    let manual = std::fs::read_to_string(format!("{MANIFEST_DIR}/tests/manual_api.txt")).unwrap();
    let mut missing = Vec::new();
    let mut names = 0;
    for line in manual
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        names += 1;
        let (path, rest, is_enum) = if let Some((p, v)) = line.split_once(" = ") {
            (p.trim(), v, true)
        } else if let Some((p, k)) = line.split_once(':') {
            (p.trim(), k, false)
        } else {
            (line, "", false)
        };
        let Some(found) = find(&api, path) else {
            missing.push(format!("{path}: not listed"));
            continue;
        };
        for word in rest.split_whitespace() {
            let present = if is_enum {
                found.split_whitespace().any(|w| w == word)
            } else {
                found.contains(&format!("({word}:"))
                    || found.contains(&format!(" {word}:"))
                    || found.contains(&format!("`{word}`"))
            };
            if !present {
                missing.push(format!("{path}: no `{word}`"));
            }
        }
    }
    assert!(names > 100, "the manual list has {names} names");
    assert!(
        missing.is_empty(),
        "--list-api lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn list_api_marks_mandatory_keywords_and_defaults() {
    let api = list_api();
    let job = find(&api, "wf.steps.JobStep").unwrap();
    assert!(job.contains("name: str!"), "{job}");
    assert!(job.contains("title: str,"), "{job}");
    let policy = find(&api, "wf.steps.StepPolicy").unwrap();
    assert!(
        policy.contains("max_execution_minutes: str|int|float = \"10080\""),
        "{policy}"
    );
}
