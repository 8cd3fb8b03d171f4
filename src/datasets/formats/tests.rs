use super::labels::label;
use super::*;
use std::collections::{BTreeMap, HashMap, HashSet};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
}

fn opts(format: Format) -> ReadOpts {
    ReadOpts {
        format: Some(format),
        ..ReadOpts::default()
    }
}

fn read_fixture(folder: &str) -> Vec<Found> {
    let dir = fixtures().join(folder);
    if folder == "manifest" {
        return read_manifest(&dir.join("manifest.jsonl"), None).unwrap();
    }
    let format = Format::parse(folder).unwrap();
    read_dir(&dir, format.data_type(), &opts(format)).unwrap()
}

fn names(found: &[Found]) -> Vec<&str> {
    found.iter().map(|f| f.name.as_str()).collect()
}

fn find<'a>(found: &'a [Found], name: &str) -> &'a Found {
    found
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no sample {name} in {:?}", names(found)))
}

fn labels(f: &Found) -> Vec<&str> {
    f.annotations
        .iter()
        .flatten()
        .map(|a| a.name.as_str())
        .collect()
}

fn bytes(f: &Found) -> Vec<u8> {
    match &f.content {
        Content::File(p) => std::fs::read(p).unwrap(),
        Content::Bytes { bytes, .. } => bytes.clone(),
    }
}

/// Every row of the README's table is what the reader returns.
#[test]
fn fixture_readme_counts() {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).unwrap();
    let mut rows = 0;
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 8, "{line}");
        let folder = cells[0].trim_matches('`');
        let found = read_fixture(folder);
        if folder != "manifest" {
            let format = Format::parse(folder).unwrap();
            assert_eq!(cells[1], format.as_str(), "{folder}");
            assert_eq!(cells[2], format.data_type().as_str(), "{folder}");
        }
        let n: usize = cells[3].parse().unwrap();
        assert_eq!(found.len(), n, "{folder} samples: {:?}", names(&found));
        let labelled = found.iter().filter(|f| f.annotations.is_some()).count();
        assert_eq!(labelled.to_string(), cells[4], "{folder} labelled");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for a in found.iter().flat_map(|f| f.annotations.iter().flatten()) {
            *counts.entry(a.name.as_str()).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        assert_eq!(counts.join(", "), cells[5], "{folder} label counts");
        let hard = found
            .iter()
            .filter(|f| f.annotations.iter().flatten().any(|a| a.hard))
            .count();
        assert_eq!(hard.to_string(), cells[6], "{folder} hard");
        let distinct: HashSet<Vec<u8>> = found.iter().map(bytes).collect();
        assert_eq!(distinct.len().to_string(), cells[7], "{folder} distinct");
        // Invariants of every reader.
        assert!(
            found.windows(2).all(|w| w[0].name < w[1].name),
            "{folder} sorted"
        );
        assert!(found
            .iter()
            .all(|f| f.annotations.as_ref().is_none_or(|a| !a.is_empty())));
        assert!(found.iter().all(|f| !f.name.contains('\\')));
        rows += 1;
    }
    assert_eq!(rows, 9, "one row per fixture folder");
}

#[test]
fn every_sample_distinct_across_fixtures_but_the_dup_pair() {
    let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
    let mut dups = Vec::new();
    for folder in FORMATS
        .map(|f| f.as_str().to_ascii_lowercase())
        .iter()
        .map(String::as_str)
        .chain(["manifest"])
    {
        for f in read_fixture(folder) {
            let who = format!("{folder}/{}", f.name);
            if let Some(prev) = seen.insert(bytes(&f), who.clone()) {
                dups.push((prev, who));
            }
        }
    }
    assert_eq!(
        dups,
        vec![(
            "ma_image_classification_v1/dup_a.jpg".to_string(),
            "ma_image_classification_v1/dup_b.jpg".to_string()
        )]
    );
}

#[test]
fn image_classification_details() {
    let found = read_fixture("ma_image_classification_v1");
    assert_eq!(
        names(&found),
        [
            "cat1.jpg",
            "dog1.jpg",
            "dup_a.jpg",
            "dup_b.jpg",
            "unlabelled.png"
        ]
    );
    assert_eq!(labels(find(&found, "dog1.jpg")), ["dog", "animal"]);
    assert_eq!(labels(find(&found, "dup_b.jpg")), ["cat"]);
    assert_eq!(find(&found, "unlabelled.png").annotations, None);
    let a = &find(&found, "cat1.jpg").annotations.as_ref().unwrap()[0];
    assert_eq!(a.kind, "modelarts/image_classification");
    assert_eq!(a.annotated_by, "human");
    assert_eq!(find(&found, "cat1.jpg").usage, "");
    let dir = fixtures().join("ma_image_classification_v1");
    assert_eq!(
        find(&found, "cat1.jpg").content,
        Content::File(dir.join("cat1.jpg"))
    );
    // Without a format: the same files, unlabelled.
    let plain = read_dir(&dir, DataType::Image, &ReadOpts::default()).unwrap();
    assert_eq!(names(&plain), names(&found));
    assert!(plain.iter().all(|f| f.annotations.is_none()));
    // FREE_FORMAT takes the label files too, hidden ones never.
    let free = read_dir(&dir, DataType::FreeFormat, &ReadOpts::default()).unwrap();
    assert_eq!(free.len(), 9);
    assert!(free.iter().all(|f| !f.name.starts_with('.')));
}

#[test]
fn imagenet_and_audio_dirs() {
    let found = read_fixture("ma_imagenet_v1");
    assert_eq!(
        names(&found),
        ["cat/1.jpg", "cat/2.jpg", "dog/1.jpg", "top.jpg"]
    );
    assert_eq!(labels(find(&found, "dog/1.jpg")), ["dog"]);
    assert_eq!(find(&found, "top.jpg").annotations, None);

    let found = read_fixture("ma_audio_classification_dir_v1");
    assert_eq!(
        names(&found),
        ["music/c.wav", "speech/a.wav", "speech/b.wav", "top.wav"]
    );
    let a = &find(&found, "music/c.wav").annotations.as_ref().unwrap()[0];
    assert_eq!(
        (a.name.as_str(), a.kind.as_str()),
        ("music", "modelarts/audio_classification")
    );
}

#[test]
fn pascal_voc_boxes_and_hard() {
    let found = read_fixture("ma_pascal_voc_v1");
    assert_eq!(
        names(&found),
        ["empty.jpg", "park.jpg", "plain.jpg", "street.jpg"]
    );
    let street = find(&found, "street.jpg").annotations.as_ref().unwrap();
    assert_eq!(street.len(), 2);
    assert_eq!(street[0].kind, "modelarts/object_detection");
    assert_eq!(
        street[0].loc,
        Some(serde_json::json!({"bndbox": {"xmin": 2, "ymin": 4, "xmax": 30, "ymax": 40}}))
    );
    assert!(!street[0].hard);
    assert_eq!(street[1].name, "person");
    assert!(street[1].hard);
    assert_eq!(street[1].loc.as_ref().unwrap()["bndbox"]["xmin"], 35.5);
    assert_eq!(find(&found, "empty.jpg").annotations, None);

    let dir = fixtures().join("ma_pascal_voc_v1");
    let hard = read_dir(
        &dir,
        DataType::Image,
        &ReadOpts {
            difficult_only: true,
            ..opts(Format::PascalVoc)
        },
    )
    .unwrap();
    assert_eq!(names(&hard), ["street.jpg"]);
}

#[test]
fn yolo_boxes() {
    let found = read_fixture("yolo");
    assert_eq!(names(&found), ["a.jpg", "b.jpg", "c.png", "sub/d.jpg"]);
    let a = find(&found, "a.jpg").annotations.as_ref().unwrap();
    assert_eq!(labels(find(&found, "a.jpg")), ["cat", "dog"]);
    assert_eq!(
        a[0].loc,
        Some(serde_json::json!({"yolo": [0.5, 0.5, 0.2, 0.3]}))
    );
    assert_eq!(a[0].kind, "modelarts/object_detection");
    assert_eq!(labels(find(&found, "sub/d.jpg")), ["cat"]);
}

#[test]
fn segmentation_masks() {
    let found = read_fixture("ma_image_segmentation_v1");
    assert_eq!(names(&found), ["img1.jpg", "img2.jpg", "img3.jpg"]);
    let img2 = find(&found, "img2.jpg").annotations.as_ref().unwrap();
    assert_eq!(img2[0].kind, "modelarts/image_segmentation");
    let loc = img2[0].loc.as_ref().unwrap();
    assert_eq!(loc["mask"], "masks/img2_mask.png");
    assert_eq!(loc["bndbox"]["ymax"], 12);
    assert_eq!(loc["mask_color"], "70,130,180");
    // As a plain VOC read, the masks are images like any other.
    let dir = fixtures().join("ma_image_segmentation_v1");
    let voc = read_dir(&dir, DataType::Image, &opts(Format::PascalVoc)).unwrap();
    assert_eq!(voc.len(), 5);
}

#[test]
fn text_combine_lines() {
    let found = read_fixture("ma_text_classification_combine_v1");
    assert_eq!(
        names(&found),
        [
            "more.txt#1",
            "reviews.txt#1",
            "reviews.txt#2",
            "reviews.txt#4",
            "reviews.txt#5"
        ]
    );
    let f = find(&found, "reviews.txt#4");
    assert_eq!(
        f.content,
        Content::Bytes {
            bytes: b"funny and sad".to_vec(),
            ext: "txt".into()
        }
    );
    assert_eq!(labels(f), ["positive", "negative"]);
    assert_eq!(
        f.annotations.as_ref().unwrap()[0].kind,
        "modelarts/text_classification"
    );
    let f = find(&found, "reviews.txt#5");
    assert_eq!(f.annotations, None);
    assert_eq!(bytes(f), b"no label here");
}

#[test]
fn text_combine_other_separators() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("data.txt"),
        "a, b and c|x;y\r\nplain line\n\n|orphan-free? no\nlast|z; ;z\n",
    )
    .unwrap();
    let o = ReadOpts {
        format: Some(Format::TextCombine),
        label_separator: ';',
        sample_label_separator: '|',
        difficult_only: false,
    };
    let err = read_dir(tmp.path(), DataType::Text, &o)
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.txt:4"), "{err}");
    std::fs::write(
        tmp.path().join("data.txt"),
        "a, b and c|x;y\r\nplain line\n\nlast|z; ;z\n",
    )
    .unwrap();
    let found = read_dir(tmp.path(), DataType::Text, &o).unwrap();
    assert_eq!(names(&found), ["data.txt#1", "data.txt#2", "data.txt#4"]);
    assert_eq!(bytes(&found[0]), b"a, b and c");
    assert_eq!(labels(&found[0]), ["x", "y"]);
    assert_eq!(found[1].annotations, None);
    assert_eq!(labels(&found[2]), ["z"]);
    // With the defaults the same file has no tab: all unlabelled.
    let found = read_dir(tmp.path(), DataType::Text, &opts(Format::TextCombine)).unwrap();
    assert!(found.iter().all(|f| f.annotations.is_none()));
}

#[test]
fn text_classification_results() {
    let found = read_fixture("ma_text_classification_v1");
    assert_eq!(names(&found), ["t1.txt", "t2.txt", "t3.txt", "t4.txt"]);
    assert_eq!(labels(find(&found, "t3.txt")), ["positive", "funny"]);
    assert_eq!(find(&found, "t4.txt").annotations, None);
}

#[test]
fn malformed_voc_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x.jpg"), b"img").unwrap();
    std::fs::write(
        tmp.path().join("x.xml"),
        "<annotation><object><name>a</name>",
    )
    .unwrap();
    let err = read_dir(tmp.path(), DataType::Image, &opts(Format::PascalVoc))
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.xml") && err.contains("Pascal VOC"), "{err}");

    std::fs::write(
        tmp.path().join("x.xml"),
        "<annotation><object><name>a</name><bndbox><xmin>1</xmin></bndbox></object></annotation>",
    )
    .unwrap();
    let err = read_dir(tmp.path(), DataType::Image, &opts(Format::PascalVoc))
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.xml") && err.contains("<ymin>"), "{err}");

    std::fs::write(tmp.path().join("x.xml"), "<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>").unwrap();
    let err = read_dir(
        tmp.path(),
        DataType::Image,
        &opts(Format::ImageSegmentation),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("x.xml") && err.contains("mask_source"),
        "{err}"
    );
}

#[test]
fn yolo_errors() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.jpg"), b"img").unwrap();
    std::fs::write(
        tmp.path().join("a.txt"),
        "0 0.5 0.5 0.1 0.1\n\n2 0.5 0.5 0.1 0.1\n",
    )
    .unwrap();
    let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo))
        .unwrap_err()
        .to_string();
    assert!(err.contains("classes.txt"), "{err}");

    std::fs::write(tmp.path().join("classes.txt"), "cat\ndog\n").unwrap();
    let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.txt:3") && err.contains("out of range"),
        "{err}"
    );

    std::fs::write(tmp.path().join("a.txt"), "1 0.5 zero 0.1 0.1\n").unwrap();
    let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.txt:1") && err.contains("zero"), "{err}");

    std::fs::write(tmp.path().join("a.txt"), "1 0.5 0.5 0.1\n").unwrap();
    let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.txt:1"), "{err}");
}

#[test]
fn bad_utf8_label_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.jpg"), b"img").unwrap();
    std::fs::write(tmp.path().join("a.txt"), b"ca\xfft\n").unwrap();
    let err = read_dir(
        tmp.path(),
        DataType::Image,
        &opts(Format::ImageClassification),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("a.txt") && err.contains("UTF-8"), "{err}");
}

#[test]
fn missing_folder_is_an_error() {
    let err = read_dir(
        Path::new("/no/such/folder"),
        DataType::Image,
        &ReadOpts::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/no/such/folder"), "{err}");
}

#[cfg(unix)]
#[test]
fn symlinks_to_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("o.jpg"), b"o").unwrap();
    std::fs::create_dir(outside.path().join("sub")).unwrap();
    std::fs::write(outside.path().join("sub/s.jpg"), b"s").unwrap();
    std::os::unix::fs::symlink(outside.path().join("o.jpg"), tmp.path().join("link.jpg")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("sub"), tmp.path().join("dirlink")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("gone.jpg"), tmp.path().join("broken.jpg")).unwrap();
    let found = read_dir(tmp.path(), DataType::Image, &ReadOpts::default()).unwrap();
    assert_eq!(names(&found), ["link.jpg"]);
}

#[test]
fn manifest_fixture() {
    let found = read_fixture("manifest");
    assert_eq!(
        names(&found),
        [
            "images/m1.jpg",
            "images/m2.jpg",
            "images/m3.jpg",
            "images/m4.jpg",
            "images/m5.jpg"
        ]
    );
    let usages: Vec<&str> = found.iter().map(|f| f.usage.as_str()).collect();
    assert_eq!(usages, ["TRAIN", "EVAL", "TRAIN", "", "TRAIN"]);
    let m3 = &find(&found, "images/m3.jpg").annotations.as_ref().unwrap()[0];
    assert!(m3.hard);
    assert_eq!(m3.property, None);
    assert_eq!(m3.loc.as_ref().unwrap()["bndbox"]["xmax"], 30);
    let m5 = find(&found, "images/m5.jpg").annotations.as_ref().unwrap();
    assert_eq!(m5[0].annotated_by, "modelarts/auto_label");
    let dir = fixtures().join("manifest");
    assert_eq!(
        find(&found, "images/m4.jpg").content,
        Content::File(dir.join("./images/m4.jpg"))
    );
}

#[test]
fn manifest_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("img")).unwrap();
    for n in ["a.jpg", "b.jpg", "c.jpg"] {
        std::fs::write(tmp.path().join("img").join(n), n).unwrap();
    }
    let cls = label("cat".into(), KIND_IMAGE_CLASSIFICATION);
    let boxed = Annotation {
        name: "car".into(),
        kind: KIND_OBJECT_DETECTION.into(),
        annotated_by: "modelarts/auto_label".into(),
        loc: Some(serde_json::json!({"bndbox": {"xmin": 1, "ymin": 2.5, "xmax": 3, "ymax": 4}})),
        property: Some(serde_json::json!({"color": "red"})),
        hard: true,
    };
    let easy = Annotation {
        hard: false,
        property: None,
        name: "bus".into(),
        ..boxed.clone()
    };
    let lines = [
        manifest_line("img/a.jpg", "TRAIN", Some(std::slice::from_ref(&cls))),
        manifest_line("img/b.jpg", "EVAL", Some(&[boxed.clone(), easy.clone()])),
        manifest_line("img/c.jpg", "", None),
    ];
    // Key order and the hard flag as written.
    let text = serde_json::to_string(&lines[1]).unwrap();
    assert!(text.starts_with(r#"{"source":"img/b.jpg","usage":"EVAL","annotation":[{"name":"car","type":"modelarts/object_detection","annotated-by":"modelarts/auto_label","annotation-loc":"#), "{text}");
    assert!(text.ends_with(r#"],"hard":"true"}"#), "{text}");
    assert_eq!(
        serde_json::to_string(&lines[2]).unwrap(),
        r#"{"source":"img/c.jpg","usage":"","annotation":[]}"#
    );
    assert!(lines[0].get("hard").is_none());

    let file = tmp.path().join("m.jsonl");
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&file, body.join("\n") + "\n").unwrap();
    let found = read_manifest(&file, None).unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].annotations, Some(vec![cls]));
    assert_eq!(found[1].annotations, Some(vec![boxed, easy]));
    assert_eq!(found[1].usage, "EVAL");
    assert_eq!(found[2].annotations, None);
    assert_eq!(
        found[2].content,
        Content::File(tmp.path().join("img/c.jpg"))
    );
    // And back: the same lines.
    for (f, l) in found.iter().zip(&lines) {
        assert_eq!(
            &manifest_line(&f.name, &f.usage, f.annotations.as_deref()),
            l
        );
    }
}

#[test]
fn manifest_hard_forms() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.jpg"), "a").unwrap();
    let file = tmp.path().join("m.jsonl");
    let ann = r#"{"name":"x","type":"modelarts/image_classification"}"#;
    for (line, hard) in [
        (format!(r#"{{"source":"a.jpg","annotation":[{ann}],"hard":true}}"#), true),
        (format!(r#"{{"source":"a.jpg","annotation":[{ann}],"hard":"TRUE"}}"#), true),
        (format!(r#"{{"source":"a.jpg","annotation":[{ann}],"hard":"false"}}"#), false),
        (
            r#"{"source":"a.jpg","annotation":[{"name":"x","type":"t","property":{"@modelarts:hard":"true"}}]}"#.to_string(),
            true,
        ),
        (
            r#"{"source":"a.jpg","annotation":[{"name":"x","type":"t","property":{"@modelarts:hard":false}}],"hard":"true"}"#.to_string(),
            false,
        ),
    ] {
        std::fs::write(&file, &line).unwrap();
        let found = read_manifest(&file, None).unwrap();
        let a = &found[0].annotations.as_ref().unwrap()[0];
        assert_eq!(a.hard, hard, "{line}");
        assert_eq!(a.annotated_by, "human");
    }
}

#[test]
fn manifest_errors_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.jpg"), "a").unwrap();
    let file = tmp.path().join("m.jsonl");
    let ok = r#"{"source":"a.jpg"}"#;
    for (bad, what) in [
        ("[1, 2]", "JSON object"),
        ("not json", "JSON"),
        (r#"{"usage":"TRAIN"}"#, "source"),
        (r#"{"source":"a.jpg","usage":"TEST"}"#, "TEST"),
        (r#"{"source":"missing.jpg"}"#, "missing.jpg"),
        (r#"{"source":"a.jpg","annotation":[{"type":"t"}]}"#, "name"),
        (r#"{"source":"a.jpg","annotation":{"name":"x"}}"#, "array"),
        (r#"{"source":"a.jpg","hard":"maybe"}"#, "hard"),
        (r#"{"source":"obs://bucket/a.jpg"}"#, "OBS"),
        (r#"{"source":"https://example.com/a.jpg"}"#, "URL"),
    ] {
        std::fs::write(&file, format!("{ok}\n\n{bad}\n")).unwrap();
        let err = read_manifest(&file, None).unwrap_err().to_string();
        let at = format!("{}:3", file.display());
        assert!(err.contains(&at) && err.contains(what), "{bad}: {err}");
    }
    std::fs::write(&file, b"{\"source\":\"a\xff.jpg\"}\n").unwrap();
    let err = read_manifest(&file, None).unwrap_err().to_string();
    assert!(err.contains("m.jsonl") && err.contains("UTF-8"), "{err}");
    let err = read_manifest(&tmp.path().join("nope.jsonl"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.jsonl"), "{err}");
}

#[test]
fn manifest_obs_root_maps() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("obs");
    std::fs::create_dir_all(root.join("bucket/dir")).unwrap();
    std::fs::write(root.join("bucket/dir/a.jpg"), "a").unwrap();
    let file = tmp.path().join("m.jsonl");
    std::fs::write(&file, "{\"source\":\"obs://bucket/dir/a.jpg\"}\n").unwrap();
    let found = read_manifest(&file, Some(&root)).unwrap();
    assert_eq!(
        found[0].content,
        Content::File(root.join("bucket/dir/a.jpg"))
    );
    assert_eq!(found[0].name, "obs://bucket/dir/a.jpg");
    std::fs::write(&file, "{\"source\":\"obs://bucket/../../etc/passwd\"}\n").unwrap();
    let err = read_manifest(&file, Some(&root)).unwrap_err().to_string();
    assert!(err.contains("m.jsonl:1") && err.contains(".."), "{err}");
}

#[test]
fn annotations_from_json_forms() {
    let v = serde_json::json!([
        {"name": "a", "type": "modelarts/image_classification", "extra": 1},
        {"name": "b", "type": "modelarts/object_detection", "annotated-by": "x",
         "annotation-loc": {"bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}},
         "property": {"@modelarts:hard": true, "color": "red"}}
    ]);
    let anns = annotations_from_json(&v).unwrap();
    assert_eq!(anns[0], label("a".into(), KIND_IMAGE_CLASSIFICATION));
    assert!(anns[1].hard);
    assert_eq!(anns[1].property, Some(serde_json::json!({"color": "red"})));
    assert_eq!(
        annotations_from_json(&serde_json::json!([])).unwrap(),
        vec![]
    );
    assert!(annotations_from_json(&serde_json::json!("x")).is_err());
    assert!(annotations_from_json(&serde_json::json!([{"name": "a"}])).is_err());
    assert!(annotations_from_json(&serde_json::json!([{"name": 3, "type": "t"}])).is_err());
}

#[test]
fn fits_refusals() {
    assert_eq!(
        Format::TextClassification
            .fits(DataType::Image)
            .unwrap_err()
            .to_string(),
        "label format MA_TEXT_CLASSIFICATION_V1 is for TEXT datasets, not IMAGE"
    );
    assert!(Format::Yolo.fits(DataType::Text).is_err());
    assert!(Format::AudioClassificationDir
        .fits(DataType::Image)
        .is_err());
    assert!(Format::PascalVoc.fits(DataType::FreeFormat).is_err());
    assert!(Format::TextCombine.fits(DataType::Text).is_ok());
    for f in FORMATS {
        assert!(f.fits(f.data_type()).is_ok());
        let others = DATA_TYPES.iter().filter(|t| f.fits(**t).is_ok()).count();
        assert_eq!(others, 1, "{}", f.as_str());
    }
    // read_dir refuses before reading.
    let dir = fixtures().join("ma_text_classification_v1");
    let err = read_dir(&dir, DataType::Image, &opts(Format::TextClassification))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is for TEXT datasets, not IMAGE"), "{err}");
}

#[test]
fn format_parse() {
    for f in FORMATS {
        assert_eq!(Format::parse(f.as_str()).ok(), Some(f));
        assert_eq!(
            Format::parse(&f.as_str().to_ascii_lowercase()).ok(),
            Some(f)
        );
    }
    assert_eq!(Format::parse(" yolo ").ok(), Some(Format::Yolo));
    for s in ["CarbonData", "CARBONDATA"] {
        let err = Format::parse(s).unwrap_err().to_string();
        assert!(err.contains(&format!("`{s}`")), "{err}");
        assert!(
            err.contains("version format") && err.contains("not support"),
            "{err}"
        );
        assert!(err.contains("MA_IMAGE_CLASSIFICATION_V1"), "{err}");
    }
    let err = Format::parse("COCO").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "`COCO` is not a label format wf reads; it takes one of MA_IMAGE_CLASSIFICATION_V1, "
        ),
        "{err}"
    );
    assert!(err.contains("MA_AUDIO_CLASSIFICATION_DIR_V1"), "{err}");
}

#[test]
fn data_types() {
    for t in DATA_TYPES {
        assert_eq!(DataType::parse(t.as_str()), Some(t));
        assert_eq!(DataType::parse(&t.as_str().to_ascii_lowercase()), Some(t));
    }
    assert_eq!(DataType::parse("free_format"), Some(DataType::FreeFormat));
    assert_eq!(DataType::parse("PICTURE"), None);
    assert!(DataType::Image.accepts("jpeg") && DataType::Image.accepts("tiff"));
    assert!(!DataType::Image.accepts("txt") && !DataType::Image.accepts(""));
    assert!(DataType::Text.accepts("txt") && !DataType::Text.accepts("csv"));
    assert!(DataType::Audio.accepts("m4a") && !DataType::Audio.accepts("mp4"));
    assert!(DataType::Video.accepts("webm") && DataType::Tabular.accepts("csv"));
    assert!(DataType::FreeFormat.accepts("") && DataType::FreeFormat.accepts("bin"));
}

/// A reader's error says what kind of failure it is: a value naming no format, a file
/// that is not what its format says, a file that cannot be read (naming its path).
#[test]
fn errors_say_their_kind() {
    assert!(matches!(
        Format::parse("COCO"),
        Err(FormatError::Invalid(_))
    ));
    assert!(matches!(
        Format::Yolo.fits(DataType::Text),
        Err(FormatError::Invalid(_))
    ));
    let missing = Path::new("/no/such/folder");
    match read_dir(missing, DataType::Image, &ReadOpts::default()) {
        Err(FormatError::Io { path, source, .. }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x.jpg"), b"img").unwrap();
    std::fs::write(tmp.path().join("x.xml"), b"<annotation><object>").unwrap();
    assert!(matches!(
        read_dir(tmp.path(), DataType::Image, &opts(Format::PascalVoc)),
        Err(FormatError::Malformed(_))
    ));
    let file = tmp.path().join("m.jsonl");
    std::fs::write(&file, "{\"source\": \"gone.jpg\"}\n").unwrap();
    match read_manifest(&file, None) {
        Err(e @ FormatError::Io { .. }) => {
            let FormatError::Io { path, .. } = &e else {
                unreachable!()
            };
            assert_eq!(path, &tmp.path().join("gone.jpg"));
            let text = e.to_string();
            assert!(
                text.starts_with(&format!(
                    "{}:1: source `gone.jpg` cannot be read (",
                    file.display()
                )),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}
