//! The gallery (README, "The running state", the manual's §4.9.2): a released workflow published to a
//! folder with its local algorithms and code, then subscribed from another home, where it
//! runs on the copies it brought; versions `x.y.z` that count up and are never replaced;
//! visibility and whitelists that refuse the users they leave out.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::test::{Ran, Test, MANIFEST_DIR};

/// Copies a fixture folder of `tests/fixtures/gallery/` into the test's folder.
fn fixture(t: &Test, name: &str) -> PathBuf {
    let from = Path::new(MANIFEST_DIR)
        .join("tests/fixtures/gallery")
        .join(name);
    let to = t.path(name);
    copy_dir(&from, &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A test with the project and the `trainer` algorithm in its folder, `trainer`
/// registered and `shared_flow` released in its home.
fn released() -> Test {
    let t = Test::new();
    fixture(&t, "project");
    fixture(&t, "trainer");
    t.wf(&[
        "algorithm",
        "register",
        "trainer",
        "--code-dir",
        &t.at("trainer"),
        "--boot-file",
        "train.sh",
        "-p",
        "lr=0.1",
    ])
    .status(0);
    t.wf(&["release", &t.at("project/flow.rhai")]).status(0);
    t
}

/// `wf ARGS --gallery GALLERY` in the test's home.
fn g(t: &Test, args: &[&str]) -> Ran {
    let gallery = t.at("gallery");
    let mut all = args.to_vec();
    all.extend(["--gallery", &gallery]);
    t.wf(&all)
}

/// `wf ARGS --gallery GALLERY` in a second home, `home2`.
fn g2(t: &Test, args: &[&str]) -> Ran {
    let gallery = t.at("gallery");
    let mut all = args.to_vec();
    all.extend(["--gallery", &gallery]);
    t.args(&all).home(t.path("home2")).run()
}

fn asset_file(t: &Test, id: &str, version: &str) -> PathBuf {
    t.path(&format!("gallery/workflows/{id}/{version}/asset.json"))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

/// Rewrites fields of an asset version's `asset.json`, as another publisher's would be.
fn edit_asset(t: &Test, id: &str, version: &str, f: impl FnOnce(&mut Value)) {
    let p = asset_file(t, id, version);
    let mut a = read_json(&p);
    f(&mut a);
    fs::write(&p, serde_json::to_string_pretty(&a).unwrap()).unwrap();
}

#[test]
fn a_published_workflow_runs_in_another_home_on_the_code_it_brought() {
    let t = released();
    let published = g(&t, &["gallery", "publish", "shared_flow", "--json"]);
    published
        .status(0)
        .stderr_contains("published `shared_flow` 1.0.0");
    assert_eq!(published.json["version"], "1.0.0");

    // The layout: the asset, the definition, the workflow's code, the algorithm.
    let dir = t.path("gallery/workflows/shared_flow/1.0.0");
    let asset = read_json(&dir.join("asset.json"));
    assert_eq!(asset["content_id"], "shared_flow");
    assert_eq!(asset["workflow"], "shared_flow");
    assert_eq!(asset["title"], "shared_flow");
    assert_eq!(asset["desc"], "prepares, then trains");
    assert_eq!(
        asset["visibility"], "private",
        "private by default, as the manual says"
    );
    assert!(asset["owner"].as_str().is_some_and(|o| !o.is_empty()));
    assert!(asset["published_at"].is_string());
    assert!(dir.join("definition.json").is_file());
    assert!(dir.join("files/flow.rhai").is_file());
    assert!(dir.join("files/code/prep.sh").is_file());
    assert!(dir.join("algorithms/trainer/code/train.sh").is_file());
    let algo = read_json(&dir.join("algorithms/trainer/algorithm.json"));
    assert_eq!(algo["id"], "trainer");
    assert_eq!(algo["definition"]["boot_file"], "train.sh");
    assert_eq!(algo["definition"]["parameters"]["lr"], "0.1");
    // Nothing half-written is left beside it.
    let beside: Vec<String> = fs::read_dir(t.path("gallery/workflows/shared_flow"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["1.0.0"]);

    // Another home sees it, and subscribes.
    let list = g2(&t, &["gallery", "list", "--json"]);
    list.status(0);
    assert_eq!(list.json[0]["content_id"], "shared_flow", "{list:?}");
    let shown = g2(&t, &["gallery", "show", "shared_flow", "--json"]);
    shown.status(0);
    assert_eq!(shown.json["algorithms"][0]["id"], "trainer");
    assert_eq!(shown.json["definition"]["name"], "shared_flow");
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(0)
        .stderr_contains("registered algorithm `trainer`")
        .stderr_contains("subscribed to `shared_flow` 1.0.0");

    let home2 = t.path("home2");
    let workflows = t.args(&["workflows", "--json"]).home(&home2).run();
    workflows.status(0);
    assert_eq!(workflows.json[0]["name"], "shared_flow", "{workflows:?}");
    let show = t
        .args(&["workflow", "show", "shared_flow", "--json"])
        .home(&home2)
        .run();
    show.status(0);
    assert_eq!(show.json["definition"]["name"], "shared_flow");
    let algorithm = t.args(&["algorithm", "show", "trainer"]).home(&home2).run();
    algorithm.status(0);
    let registered: Value = serde_json::from_str(&algorithm.stdout).unwrap();
    let code_dir = registered["code_dir"].as_str().unwrap();
    assert!(
        Path::new(code_dir).starts_with(&home2),
        "the algorithm's code is copied into the home: {code_dir}"
    );
    // Private to its owner, as everything in a home.
    use std::os::unix::fs::PermissionsExt;
    for p in [
        PathBuf::from(code_dir),
        PathBuf::from(code_dir).join("train.sh"),
        home2.join("subscriptions/shared_flow/1.0.0/files/code/prep.sh"),
    ] {
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
    }

    // The originals go away: what runs is what the subscription brought.
    fs::remove_dir_all(t.path("project")).unwrap();
    fs::remove_dir_all(t.path("trainer")).unwrap();
    t.write(
        "exported.json",
        &serde_json::to_string_pretty(&show.json["definition"]).unwrap(),
    );
    let storage = t.storage();
    let run = t
        .args(&[
            "run",
            &t.at("exported.json"),
            "--storage",
            &storage,
            "--json",
        ])
        .home(&home2)
        .run();
    run.status(0);
    assert_eq!(run.exec_status(), "executed", "{run:?}");
    let model = PathBuf::from(run.output_path("train", "model"));
    let trainer_dir = fs::read_to_string(model.join("trainer_dir.txt")).unwrap();
    assert_eq!(Path::new(trainer_dir.trim()), Path::new(code_dir));
    let prep_dir = fs::read_to_string(model.join("prep_dir.txt")).unwrap();
    assert!(
        Path::new(prep_dir.trim()).starts_with(&home2) && prep_dir.trim().ends_with("code"),
        "the workflow's own code runs from the home's copy: {prep_dir}"
    );
    assert_eq!(
        fs::read_to_string(model.join("lr.txt")).unwrap().trim(),
        "0.1"
    );
}

#[test]
fn versions_count_up_and_a_published_one_is_never_replaced() {
    let t = released();
    let version = |r: &Ran| r.json["version"].as_str().unwrap_or("?").to_string();
    let first = g(&t, &["gallery", "publish", "shared_flow", "--json"]);
    assert_eq!(version(first.status(0)), "1.0.0");
    let second = g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "shared_flow",
            "--json",
        ],
    );
    assert_eq!(version(second.status(0)), "1.0.1");

    let before = fs::read_to_string(asset_file(&t, "shared_flow", "1.0.1")).unwrap();
    g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "shared_flow",
            "--version",
            "1.0.1",
        ],
    )
    .status(1)
    .stderr_contains("already has version 1.0.1");
    assert_eq!(
        fs::read_to_string(asset_file(&t, "shared_flow", "1.0.1")).unwrap(),
        before
    );

    let chosen = g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "shared_flow",
            "--version",
            "2.0.0",
            "--json",
        ],
    );
    assert_eq!(version(chosen.status(0)), "2.0.0");
    let next = g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "shared_flow",
            "--json",
        ],
    );
    assert_eq!(version(next.status(0)), "2.0.1");

    for bad in ["1.0", "1.0.0.0", "v1.0.0", "01.0.0", "1.x.0"] {
        g(&t, &["gallery", "publish", "shared_flow", "--version", bad])
            .status(2)
            .stderr_contains("is not `x.y.z`");
    }

    // Another content id starts at 1.0.0; the list shows the newest of each.
    let other = g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "flow-for-team",
            "--title",
            "Team flow",
            "--json",
        ],
    );
    assert_eq!(version(other.status(0)), "1.0.0");
    let list = g(&t, &["gallery", "list", "--json"]);
    let newest: Vec<(String, String)> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["content_id"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        newest,
        [
            ("flow-for-team".to_string(), "1.0.0".to_string()),
            ("shared_flow".to_string(), "2.0.1".to_string())
        ]
    );
    // A version given by name is the one subscribed.
    g2(&t, &["gallery", "subscribe", "shared_flow@1.0.1"])
        .status(0)
        .stderr_contains("subscribed to `shared_flow` 1.0.1");
    g2(&t, &["gallery", "show", "shared_flow@9.9.9"])
        .status(1)
        .stderr_contains("no version `9.9.9`");
}

#[test]
fn a_whitelisted_asset_is_refused_to_the_users_it_leaves_out() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let me = read_json(&asset_file(&t, "shared_flow", "1.0.0"))["owner"]
        .as_str()
        .unwrap()
        .to_string();

    // Another owner's private asset: not listed, not shown, not subscribed.
    edit_asset(&t, "shared_flow", "1.0.0", |a| {
        a["owner"] = "someone-else".into()
    });
    let list = g2(&t, &["gallery", "list", "--json"]);
    assert_eq!(list.status(0).json, serde_json::json!([]));
    for args in [
        &["gallery", "subscribe", "shared_flow"][..],
        &["gallery", "show", "shared_flow"][..],
    ] {
        g2(&t, args)
            .status(1)
            .stderr_contains("the asset `shared_flow` 1.0.0 is private")
            .stderr_contains("only its owner `someone-else`");
    }
    assert!(!t.path("home2/subscriptions").exists());
    // Nor does anyone but its owner publish versions of it.
    g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "shared_flow",
        ],
    )
    .status(1)
    .stderr_contains("belongs to `someone-else`");

    // A whitelist without this user refuses, naming who may; with this user, admits.
    edit_asset(&t, "shared_flow", "1.0.0", |a| {
        a["visibility"] = "group".into();
        a["group_users"] = serde_json::json!(["ann", "bob"]);
    });
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("`ann`, `bob`");
    edit_asset(&t, "shared_flow", "1.0.0", |a| {
        a["group_users"] = serde_json::json!(["ann", me.as_str()]);
    });
    g2(&t, &["gallery", "subscribe", "shared_flow"]).status(0);

    // Public: everyone.
    edit_asset(&t, "shared_flow", "1.0.0", |a| {
        a["visibility"] = "public".into();
        a["group_users"] = serde_json::json!([]);
    });
    g2(&t, &["gallery", "show", "shared_flow"]).status(0);
}

#[test]
fn the_owner_sets_visibility_and_the_whitelist() {
    let t = released();
    g(
        &t,
        &["gallery", "publish", "shared_flow", "--visibility", "group"],
    )
    .status(2)
    .stderr_contains("--group-user");
    g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--visibility",
            "group",
            "--group-user",
            "ann",
            "--group-user",
            "bob",
        ],
    )
    .status(0);
    let a = read_json(&asset_file(&t, "shared_flow", "1.0.0"));
    assert_eq!(a["visibility"], "group");
    assert_eq!(a["group_users"], serde_json::json!(["ann", "bob"]));
    // The next version keeps the whitelist unless given.
    g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--content-id",
            "shared_flow",
        ],
    )
    .status(0);
    let b = read_json(&asset_file(&t, "shared_flow", "1.0.1"));
    assert_eq!(b["group_users"], serde_json::json!(["ann", "bob"]));

    g(
        &t,
        &[
            "gallery",
            "whitelist",
            "shared_flow@1.0.1",
            "--add",
            "cy",
            "--remove",
            "ann",
        ],
    )
    .status(0);
    let c = read_json(&asset_file(&t, "shared_flow", "1.0.1"));
    assert_eq!(c["group_users"], serde_json::json!(["bob", "cy"]));
    edit_asset(&t, "shared_flow", "1.0.1", |a| {
        a["owner"] = "someone-else".into()
    });
    g(
        &t,
        &["gallery", "whitelist", "shared_flow@1.0.1", "--add", "dee"],
    )
    .status(1)
    .stderr_contains("only its owner");
    g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--visibility",
            "everyone",
        ],
    )
    .status(2);
}

#[test]
fn publishing_needs_a_release_and_registered_algorithms() {
    let t = Test::new();
    fixture(&t, "project");
    g(&t, &["gallery", "publish", "shared_flow"])
        .status(1)
        .stderr_contains("wf release SCRIPT");
    t.wf(&["release", &t.at("project/flow.rhai")]).status(0);
    g(&t, &["gallery", "publish", "shared_flow"])
        .status(1)
        .stderr_contains("the algorithm `trainer`, which is not registered");
    assert!(!t.path("gallery/workflows/shared_flow/1.0.0").exists());
    g(&t, &["gallery", "show", "shared_flow"])
        .status(1)
        .stderr_contains("no asset `shared_flow`");
}

#[test]
fn subscribing_keeps_an_algorithm_registered_otherwise_unless_told() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let home2 = t.path("home2");
    t.write("mine/train.sh", "echo mine\n");
    t.args(&[
        "algorithm",
        "register",
        "trainer",
        "--code-dir",
        &t.at("mine"),
        "--command",
        "sh train.sh",
    ])
    .home(&home2)
    .run()
    .status(0);
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("already registered")
        .stderr_contains("--replace");
    let kept = t.args(&["algorithm", "show", "trainer"]).home(&home2).run();
    assert!(kept.stdout.contains("mine"), "{kept:?}");
    g2(&t, &["gallery", "subscribe", "shared_flow", "--replace"]).status(0);
    let replaced = t.args(&["algorithm", "show", "trainer"]).home(&home2).run();
    assert!(replaced.stdout.contains("train.sh"), "{replaced:?}");
    assert!(!replaced.stdout.contains("mine"), "{replaced:?}");

    // The same algorithm registered with the same code stays as it is.
    g(&t, &["gallery", "subscribe", "shared_flow"])
        .status(0)
        .stderr_contains("registered here already");
}

#[test]
fn the_gallery_is_the_flag_else_wf_gallery_else_in_the_home() {
    let t = released();
    t.args(&["gallery", "publish", "shared_flow"])
        .env("WF_GALLERY", &t.at("team"))
        .run()
        .status(0);
    assert!(t
        .path("team/workflows/shared_flow/1.0.0/asset.json")
        .is_file());
    t.args(&["gallery", "publish", "shared_flow"])
        .env("WF_GALLERY", "")
        .run()
        .status(0);
    assert!(t
        .home()
        .join("gallery/workflows/shared_flow/1.0.0/asset.json")
        .is_file());
    let list = t
        .args(&["gallery", "list", "--json", "--gallery", &t.at("team")])
        .env("WF_GALLERY", &t.at("elsewhere"))
        .run();
    assert_eq!(list.status(0).json[0]["content_id"], "shared_flow");
}

#[test]
fn a_model_published_to_the_gallery_is_where_gallery_models_read() {
    let t = Test::new();
    t.write("model/config.json", "{}\n");
    g(
        &t,
        &[
            "gallery",
            "publish-model",
            "resnet",
            "1.0.0",
            "--from",
            &t.at("model"),
        ],
    )
    .status(0);
    assert!(t.path("gallery/models/resnet/1.0.0/config.json").is_file());
    g(
        &t,
        &[
            "gallery",
            "publish-model",
            "resnet",
            "1.0.0",
            "--from",
            &t.at("model"),
        ],
    )
    .status(1)
    .stderr_contains("already has the model");
}

// ---------------------------------------------------------------------------------------
// A gallery written by someone else: what subscribing, showing and listing trust

/// Every file under `dir` (links not followed), as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.map(|e| e.unwrap()) {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// A folder of the test's with a canary file in it, which no subscriber may touch.
fn canary(t: &Test, rel: &str) -> PathBuf {
    t.write(&format!("{rel}/canary.txt"), "still here\n");
    t.path(&format!("{rel}/canary.txt"))
}

#[test]
fn an_asset_naming_a_version_outside_the_home_is_refused_and_the_folder_survives() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    // From the subscriber's `subscriptions/shared_flow/`, three levels up is the test's
    // folder; and an absolute path anywhere.
    let up = canary(&t, "victim_up");
    let abs = canary(&t, "victim_abs");
    let cases = [
        ("version", "../../../victim_up".to_string(), up),
        ("version", t.at("victim_abs"), abs),
    ];
    for (field, value, canary) in cases {
        edit_asset(&t, "shared_flow", "1.0.0", |a| {
            a[field] = value.clone().into()
        });
        for spec in ["shared_flow", "shared_flow@1.0.0"] {
            g2(&t, &["gallery", "subscribe", spec])
                .status(1)
                .stderr_contains(&format!("`{field}`"))
                .stderr_contains(&format!("`{value}`"));
            assert_eq!(
                fs::read_to_string(&canary).unwrap(),
                "still here\n",
                "{spec} with {field} {value}"
            );
        }
        // Nor do show and list take the asset for one.
        g2(&t, &["gallery", "show", "shared_flow"])
            .status(1)
            .stderr_contains(&format!("`{value}`"));
        let list = g2(&t, &["gallery", "list", "--json"]);
        assert_eq!(list.status(0).json, serde_json::json!([]), "{list:?}");
        assert!(list.stderr.contains(&format!("`{value}`")), "{list:?}");
    }
    assert!(!t.path("home2/subscriptions/shared_flow/1.0.0").exists());
    assert!(!t.path("home2/victim_up").exists());
}

#[test]
fn an_asset_naming_its_id_outside_the_home_is_refused_and_the_folder_survives() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let up = canary(&t, "victim_up/1.0.0");
    let abs = canary(&t, "victim_abs/1.0.0");
    let cases = [
        ("../../victim_up".to_string(), up),
        (t.at("victim_abs"), abs),
    ];
    for (value, canary) in cases {
        edit_asset(&t, "shared_flow", "1.0.0", |a| {
            a["content_id"] = value.clone().into()
        });
        g2(&t, &["gallery", "subscribe", "shared_flow"])
            .status(1)
            .stderr_contains("`content_id`")
            .stderr_contains(&format!("`{value}`"));
        assert_eq!(fs::read_to_string(&canary).unwrap(), "still here\n");
        // `show` reads the asset's other versions: not under the id it claims.
        g2(&t, &["gallery", "show", "shared_flow"])
            .status(1)
            .stderr_contains("`content_id`");
    }
    // Put right, the same asset subscribes.
    edit_asset(&t, "shared_flow", "1.0.0", |a| {
        a["content_id"] = "shared_flow".into()
    });
    g2(&t, &["gallery", "subscribe", "shared_flow"]).status(0);
}

#[test]
fn an_asset_whose_algorithm_names_code_outside_it_is_refused() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let algo = t.path("gallery/workflows/shared_flow/1.0.0/algorithms/trainer");
    fs::remove_dir_all(algo.join("code")).unwrap();
    let mut a = read_json(&algo.join("algorithm.json"));
    a["definition"]["code_dir"] = t.at("trainer").into();
    fs::write(algo.join("algorithm.json"), a.to_string()).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("`code_dir`")
        .stderr_contains(&format!("`{}`", t.at("trainer")));
    // Nothing registered, nothing released.
    t.args(&["algorithm", "show", "trainer"])
        .home(t.path("home2"))
        .run()
        .status(1);
    assert!(!t.path("home2/subscriptions/shared_flow").exists());

    // An algorithm folder that is not its id's is no asset's either.
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let algo = t.path("gallery/workflows/shared_flow/1.0.0/algorithms/trainer");
    let mut a = read_json(&algo.join("algorithm.json"));
    a["id"] = "../../../../x".into();
    fs::write(algo.join("algorithm.json"), a.to_string()).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("`../../../../x`");
}

#[test]
fn a_definition_pointing_outside_the_asset_files_is_refused() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let file = t.path("gallery/workflows/shared_flow/1.0.0/definition.json");
    let text = fs::read_to_string(&file).unwrap();
    let mut def: Value = serde_json::from_str(&text).unwrap();
    // The BaseAlgorithm of `prep` names its code folder relative to the files.
    let prep = def["workflow"]["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["name"] == "prep")
        .unwrap();
    prep["algorithm"]["code_dir"] = "../../../../../../trainer".into();
    fs::write(&file, def.to_string()).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("`code_dir`")
        .stderr_contains("`../../../../../../trainer`");
    assert!(!t.path("home2/subscriptions/shared_flow").exists());

    // A position names the file its object was written in: one outside the files is
    // not read as the workflow's script.
    let mut def: Value = serde_json::from_str(&text).unwrap();
    def["workflow"]["at"] = "files/../../../../../../trainer/train.sh:1:1".into();
    fs::write(&file, def.to_string()).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("`at`")
        .stderr_contains("`files/../../../../../../trainer/train.sh:1:1`");
    assert!(!t.path("home2/subscriptions/shared_flow").exists());
}

#[test]
fn an_asset_holding_a_link_is_refused_naming_it_and_nothing_is_copied() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    t.write("outside/secret.txt", "the subscriber's own\n");
    let files = t.path("gallery/workflows/shared_flow/1.0.0/files");
    std::os::unix::fs::symlink(t.path("outside"), files.join("evil")).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("files/evil")
        .stderr_contains("link");
    let home2 = t.path("home2");
    let copied = files_under(&home2);
    assert!(
        !copied
            .iter()
            .any(|f| f.contains("secret") || f.starts_with("subscriptions/shared_flow/")),
        "{copied:?}"
    );
    t.args(&["algorithm", "show", "trainer"])
        .home(&home2)
        .run()
        .status(1);
    g2(&t, &["gallery", "show", "shared_flow"])
        .status(1)
        .stderr_contains("files/evil");

    // A link to a file, anywhere in the asset, is refused as well.
    fs::remove_file(files.join("evil")).unwrap();
    let code = t.path("gallery/workflows/shared_flow/1.0.0/algorithms/trainer/code");
    std::os::unix::fs::symlink(t.path("outside/secret.txt"), code.join("data.txt")).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"])
        .status(1)
        .stderr_contains("algorithms/trainer/code/data.txt");
    assert!(!files_under(&home2).iter().any(|f| f.contains("data.txt")));

    // Removed, the asset subscribes.
    fs::remove_file(code.join("data.txt")).unwrap();
    g2(&t, &["gallery", "subscribe", "shared_flow"]).status(0);
}

#[test]
fn an_asset_holding_a_fifo_is_refused_instead_of_waiting_on_it() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    let fifo = t.path("gallery/workflows/shared_flow/1.0.0/files/pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let gallery = t.at("gallery");
    let mut r = t
        .args(&["gallery", "subscribe", "shared_flow", "--gallery", &gallery])
        .home(t.path("home2"))
        .spawn();
    // Copying a fifo would wait for a writer for ever.
    let code = r.wait(std::time::Duration::from_secs(60));
    assert_eq!(code, Some(1), "{}", r.stderr());
    assert!(r.stderr().contains("files/pipe"), "{}", r.stderr());
    assert!(!t.path("home2/subscriptions/shared_flow").exists());
}

// ---------------------------------------------------------------------------------------
// Names printed in tables

#[test]
fn gallery_list_and_show_print_control_characters_escaped() {
    let t = released();
    g(&t, &["gallery", "publish", "shared_flow"]).status(0);
    edit_asset(&t, "shared_flow", "1.0.0", |a| {
        a["title"] = "red\u{1b}[31mtitle".into();
        a["desc"] = "two\nlines".into();
        a["workflow"] = "a\rb".into();
    });
    let list = g(&t, &["gallery", "list"]);
    list.status(0)
        .stdout_contains("red\\x1b[31mtitle")
        .stdout_contains("a\\rb");
    assert!(
        !list.stdout.contains('\u{1b}') && !list.stdout.contains('\r'),
        "{list:?}"
    );
    assert_eq!(
        list.stdout.lines().count(),
        2,
        "a header and one asset: {list:?}"
    );
    let show = g(&t, &["gallery", "show", "shared_flow"]);
    show.status(0)
        .stdout_contains("red\\x1b[31mtitle")
        .stdout_contains("two\\nlines");
    assert!(
        !show.stdout.contains('\u{1b}') && !show.stdout.contains("two\n"),
        "{show:?}"
    );
    // JSON keeps the names exact.
    let json = g(&t, &["gallery", "list", "--json"]);
    assert_eq!(json.status(0).json[0]["title"], "red\u{1b}[31mtitle");
    assert_eq!(json.json[0]["workflow"], "a\rb");
}

#[test]
fn label_show_prints_control_characters_in_sample_names_escaped() {
    use crate::test::{flow, q};
    let t = Test::new();
    t.write("images/plain.jpg", "FAKEJPG:plain\n");
    t.write("images/two\nlines.jpg", "FAKEJPG:two\n");
    t.write("images/red\u{1b}[31m.jpg", "FAKEJPG:red\n");
    let body = r#"
let create = wf.steps.CreateDatasetStep(#{
    name: "create",
    inputs: wf.steps.CreateDatasetInput(#{ name: "images", data: wf.data.OBSPath(SRC) }),
    outputs: wf.steps.CreateDatasetOutput(#{ name: "dataset", config: wf.data.OBSOutputConfig(storage.join("dataset")) }),
    properties: wf.steps.DatasetProperties(#{ dataset_name: "pets", data_type: wf.data.DataTypeEnum.IMAGE }),
});
let labeling = wf.steps.LabelingStep(#{
    name: "labeling",
    properties: wf.steps.LabelTaskProperties(#{
        task_type: wf.data.LabelTaskTypeEnum.IMAGE_CLASSIFICATION,
        task_name: "t",
        labels: [wf.steps.Label(#{ name: "cat" }), wf.steps.Label(#{ name: "dog" })],
    }),
    inputs: wf.steps.LabelingInput(#{ name: "dataset", data: create.outputs["dataset"].as_input() }),
    outputs: wf.steps.LabelingOutput(#{ name: "task" }),
    depend_steps: create,
});
"#
    .replace("SRC", &q(&t.at("images")));
    let script = t
        .write(
            "flow.rhai",
            &flow("pets", &body, &[], &["create", "labeling"]),
        )
        .at("flow.rhai");
    t.run_flow(&script, &[]).status(3);

    let shown = t.wf(&["label", "pets/t", "show"]);
    shown
        .status(0)
        .stdout_contains("two\\nlines.jpg")
        .stdout_contains("red\\x1b[31m.jpg");
    assert!(!shown.stdout.contains('\u{1b}'), "{shown:?}");
    assert_eq!(
        shown.stdout.lines().count(),
        4,
        "a heading and one line a sample: {shown:?}"
    );
    let json = t.wf(&["label", "pets/t", "show", "--json"]);
    let names: Vec<&str> = json.status(0).json["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"two\nlines.jpg"), "{names:?}");
}

#[test]
fn each_publication_without_a_content_id_is_a_new_asset_at_1_0_0() {
    let t = released();
    let published = |args: &[&str]| {
        let r = g(&t, args);
        r.status(0);
        (
            r.json["content_id"].as_str().unwrap_or("?").to_string(),
            r.json["version"].as_str().unwrap_or("?").to_string(),
            r.json["title"].as_str().unwrap_or("?").to_string(),
        )
    };
    let first = published(&[
        "gallery",
        "publish",
        "shared_flow",
        "--title",
        "First",
        "--json",
    ]);
    assert_eq!(
        first,
        ("shared_flow".into(), "1.0.0".into(), "First".into())
    );
    let r = g(
        &t,
        &[
            "gallery",
            "publish",
            "shared_flow",
            "--title",
            "Second",
            "--json",
        ],
    );
    r.status(0)
        .stderr_contains("this is a new one, `shared_flow-2`")
        .stderr_contains("published `shared_flow-2` 1.0.0");
    // The first asset keeps its title and its one version.
    let a = read_json(&asset_file(&t, "shared_flow", "1.0.0"));
    assert_eq!(a["title"], "First");
    assert!(!asset_file(&t, "shared_flow", "1.0.1").exists());
    let b = read_json(&asset_file(&t, "shared_flow-2", "1.0.0"));
    assert_eq!(b["title"], "Second");
    // With its content_id, a version of that asset, keeping its title.
    let v = published(&[
        "gallery",
        "publish",
        "shared_flow",
        "--content-id",
        "shared_flow",
        "--json",
    ]);
    assert_eq!(v, ("shared_flow".into(), "1.0.1".into(), "First".into()));
    let list = g(&t, &["gallery", "list", "--json"]);
    let ids: Vec<(&str, &str)> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["content_id"].as_str().unwrap(),
                a["version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids, [("shared_flow", "1.0.1"), ("shared_flow-2", "1.0.0")]);
}

#[test]
fn release_to_gallery_twice_without_a_content_id_publishes_two_assets() {
    let t = released();
    let flow = fs::read_to_string(t.path("project/flow.rhai")).unwrap();
    t.write(
        "project/publish.rhai",
        &flow.replace("wf.Workflow(#{ name:", "let w = wf.Workflow(#{ name:"),
    );
    let r = t
        .args(&["repl", &t.at("project/publish.rhai")])
        .env("WF_GALLERY", &t.at("gallery"))
        .stdin(
            "w.release_to_gallery(#{ title: \"One\" })\n\
             w.release_to_gallery(#{ title: \"Two\" })\n\
             w.release_to_gallery(#{ content_id: \"shared_flow\" })\n",
        )
        .run();
    r.status(0)
        .stdout_is("\"shared_flow@1.0.0\"\n\"shared_flow-2@1.0.0\"\n\"shared_flow@1.0.1\"\n");
    assert_eq!(
        read_json(&asset_file(&t, "shared_flow", "1.0.0"))["title"],
        "One"
    );
    assert_eq!(
        read_json(&asset_file(&t, "shared_flow-2", "1.0.0"))["title"],
        "Two"
    );
    assert_eq!(
        read_json(&asset_file(&t, "shared_flow", "1.0.1"))["title"],
        "One"
    );
}
