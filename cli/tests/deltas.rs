//! `cowheap stress --save-deltas` and `--resume-deltas`, and `cowheap inspect` of a delta, end
//! to end: every save and every resume is its own process, so a delta crosses a process
//! boundary in each test. A delta over another base, or a damaged one, is refused with exit 4
//! and a message naming the file and the problem, never a panic.

mod common;

use common::{cowheap, saving_run, stress, text, TempDir};

/// Saves a small run's deltas into a fresh directory, checking that the save passed.
fn saved(name: &str, seed: &str) -> TempDir {
    let dir = TempDir::new(name);
    let mut args = saving_run(seed);
    args.extend(["--save-deltas", dir.path()]);
    let out = stress(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("saved 3 deltas"),
        "{}",
        text(&out.stderr)
    );
    for i in 0..3 {
        for ext in ["delta", "shadow"] {
            let f = dir.0.join(format!("image-{i}.{ext}"));
            assert!(f.is_file(), "{} was not saved", f.display());
        }
    }
    dir
}

fn resume(dir: &TempDir, seed: &str) -> std::process::Output {
    let mut args = saving_run(seed);
    args.extend(["--resume-deltas", dir.path()]);
    stress(&args)
}

/// A refusal: exit 4, no panic, and a message with every one of `words`.
fn assert_refused(out: &std::process::Output, words: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{}{err}", text(&out.stdout));
    assert!(!err.contains("panicked"), "{err}");
    for w in words {
        assert!(err.contains(w), "no {w:?} in {err}");
    }
}

#[test]
fn deltas_saved_by_one_process_resume_and_verify_in_another() {
    let dir = saved("roundtrip", "7");
    let out = resume(&dir, "7");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("resumed 3 images"), "{stdout}");
    assert!(stdout.trim_end().ends_with("PASS"), "{stdout}");
    let verified: u64 = stdout
        .split("verified ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count of verified objects");
    assert!(verified > 0, "{stdout}");
    // Resuming does not consume the deltas: a second host process resumes them again.
    assert_eq!(resume(&dir, "7").status.code(), Some(0));
}

#[test]
fn deltas_over_another_base_are_refused_naming_the_base() {
    let dir = saved("otherbase", "7");
    // Another seed generates another base.
    assert_refused(
        &resume(&dir, "8"),
        &["image-0.delta", "saved over base", "not over this base"],
    );
    // So does another object count with the same seed.
    let mut args = saving_run("7");
    args[5] = "1600";
    args.extend(["--resume-deltas", dir.path()]);
    assert_refused(&stress(&args), &["saved over base"]);
}

#[test]
fn a_damaged_delta_is_refused_with_its_offset_never_a_panic() {
    let dir = saved("damaged", "7");
    let path = dir.0.join("image-1.delta");
    let good = std::fs::read(&path).unwrap();
    let damage = |bytes: &[u8], words: &[&str]| {
        std::fs::write(&path, bytes).unwrap();
        let out = resume(&dir, "7");
        assert_refused(&out, &["image-1.delta"]);
        assert_refused(&out, words);
        let out = cowheap(&["inspect", &dir.file("image-1.delta")]);
        if bytes.starts_with(b"COWDELTA") {
            // inspect checks the framing and the private space (not the base): the same
            // refusal for everything but a wrong base.
            assert_refused(&out, &["image-1.delta"]);
        }
    };
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    damage(&flipped, &["checksum", "at byte"]);
    damage(&good[..good.len() - 5], &["truncated", "at byte"]);
    let mut version = good.clone();
    version[8] = 9;
    damage(&version, &["format version 9 at byte 8"]);
    // A header claiming 2^60 private words is refused from its 80 bytes.
    let mut huge = good.clone();
    huge[48..56].copy_from_slice(&(1u64 << 60).to_le_bytes());
    damage(
        &huge,
        &["at byte 48", "more private words than a space can hold"],
    );
    // A delta with bytes after it.
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 16]);
    damage(&longer, &["corrupt delta at byte"]);
    // No magic number: not a delta at all. (`inspect` takes it for an image file.)
    damage(b"not a delta", &["not a cowheap delta"]);
    // Restored, the directory resumes again.
    std::fs::write(&path, &good).unwrap();
    assert_eq!(resume(&dir, "7").status.code(), Some(0));
}

#[test]
fn unreadable_deltas_are_io_errors() {
    let dir = saved("unreadable", "7");
    // A shadow model that cannot be read.
    std::fs::remove_file(dir.0.join("image-2.shadow")).unwrap();
    std::fs::create_dir(dir.0.join("image-2.shadow")).unwrap();
    let out = resume(&dir, "7");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("image-2.shadow"));
    // A delta without its shadow model cannot be verified: it is what a first save killed
    // between the two files leaves, so the image is not resumed (exit 4; the others are).
    std::fs::remove_dir(dir.0.join("image-2.shadow")).unwrap();
    let out = resume(&dir, "7");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("image 2: not resumed"));
    assert!(text(&out.stderr).contains("image-2.shadow"));
    // An empty directory holds nothing to resume.
    let empty = TempDir::new("empty");
    let out = resume(&empty, "7");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no image-N.delta files"));
}

#[test]
fn inspect_describes_a_delta_in_text_and_json() {
    let dir = saved("inspect", "7");
    let file = dir.file("image-0.delta");
    let size = std::fs::metadata(&file).unwrap().len();
    let out = cowheap(&["inspect", &file, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["kind"], "delta");
    assert_eq!(json["version"], 1);
    assert_eq!(json["file_bytes"], size);
    let hash = json["base_hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 32, "{hash}");
    assert!(json["objects"].as_u64().unwrap() > 0, "{json}");
    assert!(json["private_bytes"].as_u64().unwrap() > 0, "{json}");
    assert!(json["base_bytes"].as_u64().unwrap() > 0, "{json}");

    let out = cowheap(&["inspect", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cowheap delta, format version 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("base hash        {hash}")),
        "{stdout}"
    );
    let objects = json["objects"].as_u64().unwrap().to_string();
    assert!(
        stdout.contains(&format!("private objects  {objects} ")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("({size} bytes)")), "{stdout}");

    // Every image of a run names the same base; another seed's run another.
    let other = cowheap(&["inspect", &dir.file("image-2.delta"), "--json"]);
    let other: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(other["base_hash"], hash.as_str());
    let elsewhere = saved("inspect-other", "8");
    let out = cowheap(&["inspect", &elsewhere.file("image-0.delta"), "--json"]);
    let elsewhere: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(elsewhere["base_hash"], hash.as_str());
}

/// Over a real image file: each process loads the file itself, and the deltas one saved
/// resume in another (the base hash is the same in both); the same image saved in the other
/// byte order is another base.
#[test]
fn deltas_over_an_image_file_resume_in_another_process_that_loads_it() {
    let Some([le, be]) = common::images::find_all(["mini-2.2-v3-le.image", "mini-2.2-v3-be.image"])
    else {
        return;
    };
    let (le, be) = (le.to_str().unwrap(), be.to_str().unwrap());
    let dir = TempDir::new("mini");
    let run = |base: &str, flag: &str| {
        stress(&[
            "--base",
            base,
            "--images",
            "2",
            "--ops",
            "300",
            "-q",
            flag,
            dir.path(),
        ])
    };
    let out = run(le, "--save-deltas");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(le, "--resume-deltas");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("resumed 2 images"));
    assert_refused(&run(be, "--resume-deltas"), &["saved over base"]);
}

/// A shadow model file that is damaged, out of order or not text the harness writes is
/// refused like a damaged delta (exit 4, naming the file and its line), never a panic.
#[test]
fn a_damaged_shadow_file_is_refused_naming_its_line_never_a_panic() {
    let dir = saved("shadow", "7");
    // The image with the most private objects, so that `p0` names one.
    let (path, good) = (0..3)
        .map(|i| dir.0.join(format!("image-{i}.shadow")))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .max_by_key(|(_, t)| t.lines().filter(|l| l.starts_with("private ")).count())
        .unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(good.lines().any(|l| l.starts_with("private ")), "{good}");
    let (magic, rest) = good.split_once('\n').unwrap();
    let damage = |text: String, words: &[&str]| {
        std::fs::write(&path, text).unwrap();
        let out = resume(&dir, "7");
        assert_refused(&out, &[name.as_str()]);
        assert_refused(&out, words);
    };
    // A become of a private object before the line that defines it.
    damage(format!("{magic}\nbecome p0 b1\n{rest}"), &["line 2"]);
    // Identities and bytes that are not ASCII.
    damage(
        format!("{magic}\n{rest}forward \u{e9}1 b2\n"),
        &["no object"],
    );
    damage(
        format!("{magic}\n{rest}written 1 B \u{e9}\u{e9}\n"),
        &["hex"],
    );
    // Restored, the directory resumes again.
    std::fs::write(&path, &good).unwrap();
    assert_eq!(resume(&dir, "7").status.code(), Some(0));
}

/// Deltas saved after collections (the shadow's private objects renumbered, some collected)
/// resume and verify in another process; a become of a collected object is refused.
#[test]
fn deltas_saved_after_collections_resume_and_verify() {
    let dir = TempDir::new("collected");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--images",
            "3",
            "--ops",
            "3000",
            "--objects",
            "1500",
            "--seed",
            "9",
            "--alloc-ratio",
            "0.05",
            "--forget-ratio",
            "0.05",
            "--collect-ratio",
            "0.005",
            "-q",
        ];
        args.extend_from_slice(extra);
        stress(&args)
    };
    let out = run(&["--save-deltas", dir.path(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["gc"]["collections"].as_u64().unwrap() >= 3,
        "{}",
        report["gc"]
    );
    assert!(
        report["gc"]["freed_bytes"].as_u64().unwrap() > 0,
        "{}",
        report["gc"]
    );
    let shadows: Vec<(std::path::PathBuf, String)> = (0..3)
        .map(|i| dir.0.join(format!("image-{i}.shadow")))
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();
    let (path, good) = shadows
        .iter()
        .find(|(_, t)| t.lines().any(|l| l.starts_with("private - ")))
        .expect("a shadow with a collected private object");
    let out = run(&["--resume-deltas", dir.path()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.trim_end().ends_with("PASS"), "{stdout}");
    // The harness never saves a become of a collected object; a file that has one is damaged.
    let collected = good
        .lines()
        .filter(|l| l.starts_with("private "))
        .position(|l| l.starts_with("private - "))
        .unwrap();
    std::fs::write(path, format!("{good}become p{collected} b1\n")).unwrap();
    let out = run(&["--resume-deltas", dir.path()]);
    assert_refused(&out, &["collected"]);
    std::fs::write(path, good).unwrap();
    assert_eq!(run(&["--resume-deltas", dir.path()]).status.code(), Some(0));
}

/// A save killed between an image's two files (its new delta written, its old shadow still
/// in place) is not resumed, with a message naming the pair; the other images resume and
/// verify; no violation is reported. (Before pairs were checked, such a directory resumed
/// with hundreds of violations.) The next save removes the temporary files the killed one
/// left.
#[test]
fn a_save_killed_between_its_two_files_is_not_resumed_never_reported_as_violations() {
    let dir = saved("killed-save", "7");
    // The same base, another workload: other deltas.
    let other = TempDir::new("killed-save-other");
    let args = [
        "--images",
        "3",
        "--ops",
        "700",
        "--objects",
        "1500",
        "--seed",
        "7",
        "-q",
        "--save-deltas",
        other.path(),
    ];
    assert_eq!(stress(&args).status.code(), Some(0));
    let new_delta = std::fs::read(other.0.join("image-0.delta")).unwrap();
    assert_ne!(
        new_delta,
        std::fs::read(dir.0.join("image-0.delta")).unwrap()
    );
    // The kill: image 0's new delta renamed into place, its shadow not yet; image 2's first
    // save got as far as its delta; temporary files of both files left behind.
    std::fs::write(dir.0.join("image-0.delta"), &new_delta).unwrap();
    std::fs::remove_file(dir.0.join("image-2.shadow")).unwrap();
    let stale = [".image-0.shadow.tmp-Ab12Cd", ".image-1.delta.tmp-4242-0"];
    for name in stale {
        std::fs::write(dir.0.join(name), b"half a file").unwrap();
    }
    let out = resume(&dir, "7");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("image 0: not resumed")
            && stderr.contains("image-0.delta is not the delta")
            && stderr.contains("interrupted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("image 2: not resumed") && stderr.contains("image-2.shadow"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 3 images not resumed"), "{stderr}");
    assert!(stdout.contains("resumed 1 images"), "{stdout}");
    assert!(stdout.trim_end().ends_with("INCOMPLETE"), "{stdout}");
    assert!(!stdout.contains("expected"), "a violation: {stdout}");
    // The JSON form says the same.
    let mut args = saving_run("7");
    args.extend(["--resume-deltas", dir.path(), "--json"]);
    let out = stress(&args);
    assert_eq!(out.status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(report["verdict"], "INCOMPLETE");
    assert_eq!(report["violations"].as_array().unwrap().len(), 0);
    assert_eq!(report["incomplete"].as_array().unwrap().len(), 2);
    // The next save into the directory removes the temporary files and saves whole pairs.
    let mut args = saving_run("7");
    args.extend(["--save-deltas", dir.path()]);
    let out = stress(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("removed 2 temporary files"),
        "{}",
        text(&out.stderr)
    );
    for name in stale {
        assert!(!dir.0.join(name).exists(), "{name} is still there");
    }
    let out = resume(&dir, "7");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim_end().ends_with("PASS"));
}
