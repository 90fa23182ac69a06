//! What a session does as it leaves memory (an eviction, a shutdown) and what needs no memory
//! at all: answers acknowledged without a commit are committed as it leaves, and a session out
//! of memory is deleted without being resumed.

mod common;

use std::time::Duration;

use common::{base, config, temp, Host, INCREMENT};
use serde_json::json;

/// Evaluations that change nothing stored are acknowledged without a commit; their count and
/// last answer are committed when the session leaves memory, so neither an eviction nor a
/// restart forgets them, or evaluates again a request id already answered.
#[test]
fn answers_acknowledged_without_a_commit_survive_eviction_and_restart() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    // One live session at most: a second one's creation evicts the first, at a moment the
    // test chooses (an idle timer would under a loaded machine too, between evaluations).
    let config = cowheap_serve::Config {
        max_sessions_live: 1,
        ..config()
    };
    let host = Host::start(&base, &db, config.clone());
    let mut c = host.client();
    let (id, token) = c.create();
    let path = format!("/sessions/{id}");
    let eval = |c: &mut common::Client, expr: &str, rid: u64| {
        c.eval(&id, &token, &json!({"expression": expr, "request_id": rid}))
            .json()
    };
    let unstored = |c: &mut common::Client| {
        let m = c.get("/metrics", None).body;
        m.lines()
            .find_map(|l| l.strip_prefix("cowheap_evaluations_unstored_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap()
    };
    // Evaluations of `3 + n` from request id `rid` on, until one is answered without a
    // commit (one after a collection, or after the lease clock's doubt, commits): its id,
    // answer and the session's count of evaluations then.
    let mut evaluations = 0;
    let answered_unstored = |c: &mut common::Client, mut rid: u64, evaluations: &mut u64| {
        for _ in 0..20 {
            let before = unstored(c);
            let answer = eval(c, &format!("3 + {rid}"), rid)["answer"].clone();
            *evaluations += 1;
            if unstored(c) > before {
                return (rid, answer, *evaluations);
            }
            rid += 1;
        }
        panic!("no evaluation was answered without a commit");
    };
    assert_eq!(eval(&mut c, INCREMENT, 1)["answer"], "1");
    evaluations += 1;
    let (rid, answer, count) = answered_unstored(&mut c, 2, &mut evaluations);
    c.create();
    assert_eq!(c.get(&path, Some(&token)).json()["live"], false, "evicted");
    assert_eq!(c.get(&path, Some(&token)).json()["evaluations"], count);
    let replay = eval(&mut c, INCREMENT, rid);
    assert_eq!(
        (&replay["answer"], replay["replayed"].as_bool()),
        (&answer, Some(true))
    );
    let stale = c.eval(
        &id,
        &token,
        &json!({"expression": INCREMENT, "request_id": rid - 1}),
    );
    assert_eq!(
        (stale.status, stale.kind().as_str()),
        (409, "stale_request")
    );
    // And across a restart (SIGTERM's path: every session leaves memory).
    let (rid, answer, count) = answered_unstored(&mut c, rid + 1, &mut evaluations);
    host.stop();
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    assert_eq!(c.get(&path, Some(&token)).json()["evaluations"], count);
    let replay = eval(&mut c, INCREMENT, rid);
    assert_eq!(
        (&replay["answer"], replay["replayed"].as_bool()),
        (&answer, Some(true))
    );
    assert_eq!(eval(&mut c, INCREMENT, rid + 1)["answer"], "2");
    host.stop();
}

/// A session out of memory is deleted in the store without a resume: a host whose every
/// live session is busy (and so cannot make room) still deletes it, and a wrong token is
/// still refused.
#[test]
fn deleting_a_session_out_of_memory_needs_no_room() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let config = cowheap_serve::Config {
        max_sessions_live: 2,
        ..config()
    };
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let first = c.create();
    let second = c.create();
    // A third evicts one of the first two: the registry orders them by millisecond stamps
    // (two used in one millisecond tie) and starts each eviction at a rotating candidate.
    let (d, d_token) = c.create();
    let live = |c: &mut common::Client, (id, token): &(String, String)| {
        c.get(&format!("/sessions/{id}"), Some(token)).json()["live"] == true
    };
    let (first_live, second_live) = (live(&mut c, &first), live(&mut c, &second));
    assert_ne!(first_live, second_live, "one of the two is evicted");
    let ((a, a_token), (b, b_token)) = if first_live {
        (second, first)
    } else {
        (first, second)
    };
    let path = format!("/sessions/{a}");
    assert_eq!(c.get(&path, Some(&a_token)).json()["live"], false);
    std::thread::scope(|s| {
        for (id, token) in [(&b, &b_token), (&d, &d_token)] {
            let mut c = host.client();
            s.spawn(move || {
                let body = json!({"expression": "[true] whileTrue", "limits": {"millis": 2000}});
                c.eval(id, token, &body);
            });
        }
        // Both are busy: nothing can leave memory for `a`.
        std::thread::sleep(Duration::from_millis(300));
        let wrong = c.request("DELETE", &path, Some(&b_token), None);
        assert_eq!(
            (wrong.status, wrong.kind()),
            (401, "unauthorized".to_owned())
        );
        let r = c.request("DELETE", &path, Some(&a_token), None);
        assert_eq!(r.status, 204, "{}", r.body);
        let gone = c.get(&path, Some(&a_token));
        assert_eq!((gone.status, gone.kind()), (404, "not_found".to_owned()));
    });
    host.stop();
}
