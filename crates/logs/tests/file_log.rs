//! Logs on disk (SEC-09, OPS-06): written, rotated and kept by count and age with the
//! chain verifiable across files; a writer stopped between a record and its head recovers;
//! a log tampered with while the terminal was off is kept aside as evidence and logging
//! goes on; any tampering with a file is found and named.

use std::path::PathBuf;

use logs::{head_path, read_head, verify_file, Broken, FileLog, Head, LogError, Record, Retention};
use proptest::prelude::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotroute-logs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn time(i: u64) -> String {
    format!(
        "2026-12-{:02}T{:02}:{:02}:00+09:00",
        1 + i / 1440,
        (i / 60) % 24,
        i % 60
    )
}

fn write(log: &mut FileLog, from: u64, n: u64) {
    for i in from..from + n {
        log.append(
            &time(i),
            "association",
            serde_json::json!({ "client": 1, "n": i }),
        )
        .unwrap();
    }
}

fn small(files: usize) -> Retention {
    Retention {
        records_per_file: 10,
        files,
        max_age_s: None,
    }
}

#[test]
fn sec09_a_log_rotates_and_every_file_verifies_and_links_to_the_next() {
    let d = dir("rotate");
    let mut log = FileLog::open(&d, "access", small(10), &time(0)).unwrap();
    write(&mut log, 0, 35);
    let rotated = log.rotated().unwrap();
    assert_eq!(rotated.len(), 3, "{rotated:?}");
    let mut files = rotated.clone();
    files.push(log.path());
    let heads: Vec<Head> = files
        .iter()
        .map(|f| read_head(&head_path(f)).unwrap())
        .collect();
    for (f, h) in files.iter().zip(&heads) {
        let v = verify_file(f).unwrap();
        assert_eq!(
            (v.first_seq, v.last_seq),
            (h.first_seq, h.seq),
            "{}",
            f.display()
        );
    }
    for pair in heads.windows(2) {
        assert_eq!(pair[1].first_seq, pair[0].seq + 1);
        assert_eq!(
            pair[1].first_prev, pair[0].hash,
            "the chain goes on across files"
        );
    }
    assert_eq!(log.head().seq, 35);
    // Reopened, it goes on where it stopped.
    drop(log);
    let mut log = FileLog::open(&d, "access", small(10), &time(40)).unwrap();
    write(&mut log, 40, 1);
    assert_eq!(log.head().seq, 36);
    assert!(verify_file(&log.path()).is_ok());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn ops06_retention_keeps_so_many_files_and_drops_old_ones() {
    let d = dir("retention");
    let mut log = FileLog::open(&d, "event", small(2), &time(0)).unwrap();
    write(&mut log, 0, 55);
    let firsts: Vec<String> = log
        .rotated()
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(firsts, vec!["event-31.jsonl", "event-41.jsonl"]);
    // By age: a day's limit drops the files whose last record is older.
    let d2 = dir("age");
    let aged = Retention {
        records_per_file: 10,
        files: 100,
        max_age_s: Some(86_400),
    };
    let mut log = FileLog::open(&d2, "event", aged, &time(0)).unwrap();
    write(&mut log, 0, 20);
    // Two days later: at the next rotation the old files go.
    write(&mut log, 3 * 1440, 11);
    let left = log.rotated().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with("event-21.jsonl"), "{left:?}");
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&d2);
}

#[test]
fn sec09_a_writer_stopped_between_record_and_head_recovers_at_open() {
    let d = dir("crash");
    let mut log = FileLog::open(&d, "access", small(100), &time(0)).unwrap();
    write(&mut log, 0, 3);
    // The record written, the head not moved: as a kill between the two leaves it.
    let mut next = log.head().clone();
    let r = next.append(&time(3), "set", serde_json::json!({}));
    let path = log.path();
    drop(log);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&r.to_line());
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    assert!(matches!(
        verify_file(&path),
        Err(LogError::Broken {
            broken: Broken::BeyondHead { seq: 4, .. },
            ..
        })
    ));
    let log = FileLog::open(&d, "access", small(100), &time(5)).unwrap();
    assert_eq!(log.head().seq, 4);
    assert!(verify_file(&path).is_ok());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sec09_a_tampered_log_is_kept_aside_and_logging_goes_on() {
    let d = dir("tampered");
    let mut log = FileLog::open(&d, "access", small(100), &time(0)).unwrap();
    write(&mut log, 0, 5);
    let path = log.path();
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"n\":2", "\"n\":7")).unwrap();
    let err = verify_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: record 3 (line 3): its content does not match its hash (edited)",
            path.display()
        )
    );
    let mut log = FileLog::open(&d, "access", small(100), &time(10)).unwrap();
    let aside = d.join("access-1.broken.jsonl");
    assert!(matches!(
        verify_file(&aside),
        Err(LogError::Broken {
            broken: Broken::Edited { seq: 3, .. },
            ..
        })
    ));
    // The new file starts after the old head, with a record saying what happened.
    let first = Record::parse_line(
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!((first.seq, first.kind.as_str()), (6, "log_broken"));
    write(&mut log, 11, 2);
    assert_eq!(verify_file(&path).unwrap().last_seq, 8);
    // A head deleted: found too.
    drop(log);
    std::fs::remove_file(head_path(&path)).unwrap();
    assert!(matches!(verify_file(&path), Err(LogError::Io { .. })));
    let log = FileLog::open(&d, "access", small(100), &time(20)).unwrap();
    assert!(d.join("access-0.broken.jsonl").exists());
    assert_eq!(log.head().seq, 1, "no head to go on from: a new chain");
    let _ = std::fs::remove_dir_all(&d);
}

/// What someone with the file (not its head) might do to it.
#[derive(Debug, Clone)]
enum Tamper {
    Edit { at: usize, byte: usize },
    Delete { at: usize },
    Insert { at: usize, copy_of: usize },
    Swap { a: usize, b: usize },
    Truncate { keep: usize },
    EditAndRehash { at: usize },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(at, byte)| Tamper::Edit { at, byte }),
        any::<usize>().prop_map(|at| Tamper::Delete { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, copy_of)| Tamper::Insert { at, copy_of }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
        any::<usize>().prop_map(|keep| Tamper::Truncate { keep }),
        any::<usize>().prop_map(|at| Tamper::EditAndRehash { at }),
    ]
}

/// Apply `t` to `lines`; `None` when it changes nothing.
fn apply(t: &Tamper, lines: &[String]) -> Option<Vec<String>> {
    let n = lines.len();
    let mut out = lines.to_vec();
    match *t {
        Tamper::Edit { at, byte } => {
            let line = &mut out[at % n];
            let i = byte % line.len();
            let c = line.as_bytes()[i];
            let new = if c == b'0' { '1' } else { '0' };
            line.replace_range(i..=i, &new.to_string());
        }
        Tamper::Delete { at } => {
            out.remove(at % n);
        }
        Tamper::Insert { at, copy_of } => out.insert(at % (n + 1), lines[copy_of % n].clone()),
        Tamper::Swap { a, b } => out.swap(a % n, b % n),
        Tamper::Truncate { keep } => out.truncate(keep % n),
        Tamper::EditAndRehash { at } => {
            let mut r = Record::parse_line(&out[at % n]).unwrap();
            r.kind.push('x');
            r.hash = r.digest();
            out[at % n] = r.to_line();
        }
    }
    (out != lines).then_some(out)
}

fn chain(n: u64) -> (Vec<String>, Head) {
    let mut head = Head::empty(1, logs::Hash::ZERO);
    let lines = (0..n)
        .map(|i| {
            head.append(&time(i), "event", serde_json::json!({ "i": i }))
                .to_line()
        })
        .collect();
    (lines, head)
}

proptest! {
    #[test]
    fn sec09_any_tampering_with_a_log_file_is_found(n in 1u64..30, t in tamper()) {
        let (lines, head) = chain(n);
        prop_assert!(logs::verify(lines.iter().map(String::as_str), &head).is_ok());
        if let Some(bad) = apply(&t, &lines) {
            let r = logs::verify(bad.iter().map(String::as_str), &head);
            prop_assert!(r.is_err(), "{t:?} went unnoticed");
        }
    }
}
