//! The HTTP API against a host started in-process on a loopback port, over the mini image:
//! sessions, evaluation, tokens, limits and caps, bounded bodies, exactly-once request ids,
//! eviction and transparent resume, isolation, and the base left as it was.

mod common;

use std::time::Duration;

use common::{base, config, eventually, temp, Host, INCREMENT};
use cowheap_serve::Caps;
use serde_json::json;

#[test]
fn a_session_evaluates_and_keeps_its_state_between_evaluations() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(id.len(), 32);
    assert_eq!(token.len(), 64);
    let r = c.eval(&id, &token, &json!({"expression": "3 + 4"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["answer"], "7");
    assert_eq!(j["stopped"], serde_json::Value::Null);
    assert_eq!(j["replayed"], false);
    assert!(j["bytecodes"].as_u64().unwrap() > 0);
    assert!(j["seconds"].as_f64().unwrap() >= 0.0);
    assert!(j["private_bytes"].is_u64(), "{j}");
    assert_eq!(j["copies"], 0, "3 + 4 writes no base object");
    let first = c
        .eval(&id, &token, &json!({"expression": INCREMENT}))
        .json();
    assert_eq!(first["answer"], "1");
    // The global went into a copy of the base's Smalltalk dictionary, private to the session.
    assert!(first["copies"].as_u64().unwrap() > 0, "{first}");
    assert!(first["private_bytes"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(c.answer(&id, &token, INCREMENT), "2");
    let t = c.eval(
        &id,
        &token,
        &json!({"expression": "Transcript show: 'hi'; cr. 5"}),
    );
    assert_eq!(t.json()["transcript"], "hi\n");
    let info = c.get(&format!("/sessions/{id}"), Some(&token));
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.json();
    assert_eq!(info["evaluations"], 4);
    assert_eq!(info["live"], true);
    assert_eq!(info["host"], host.host_id.as_str());
    let del = c.request("DELETE", &format!("/sessions/{id}"), Some(&token), None);
    assert_eq!(del.status, 204, "{}", del.body);
    let after = c.eval(&id, &token, &json!({"expression": "3 + 4"}));
    assert_eq!(after.status, 404, "{}", after.body);
    assert_eq!(after.kind(), "not_found");
}

#[test]
fn a_wrong_missing_or_other_sessions_token_is_refused() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (a, token_a) = c.create();
    let (b, token_b) = c.create();
    let expr = json!({"expression": INCREMENT});
    for (id, token) in [
        (&a, token_b.as_str()),
        (&b, token_a.as_str()),
        (&a, "x"),
        (&a, ""),
    ] {
        let r = c.eval(id, token, &expr);
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.kind(), "unauthorized");
        assert_eq!(c.get(&format!("/sessions/{id}"), Some(token)).status, 401);
        let del = c.request("DELETE", &format!("/sessions/{id}"), Some(token), None);
        assert_eq!(del.status, 401);
    }
    let none = c.request(
        "POST",
        &format!("/sessions/{a}/eval"),
        None,
        Some(&expr.to_string()),
    );
    assert_eq!(none.status, 401);
    // Nothing ran: each session's counter starts at 1.
    assert_eq!(c.answer(&a, &token_a, INCREMENT), "1");
    assert_eq!(c.answer(&b, &token_b, INCREMENT), "1");
    // Refused while evicted too: the token is checked against the stored hash.
    host.stop();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    assert_eq!(c.eval(&a, &token_b, &expr).status, 401);
    assert_eq!(c.get(&format!("/sessions/{a}"), Some(&token_b)).status, 401);
    assert_eq!(c.answer(&a, &token_a, INCREMENT), "2");
}

#[test]
fn sessions_are_isolated_and_the_base_never_changes() {
    let Some(base) = base() else { return };
    let before = base.0.checksum();
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (a, ta) = c.create();
    let (b, tb) = c.create();
    // Writes to base objects (a global, a literal array in the base, a class variable) are
    // copies in the writing session only.
    c.answer(&a, &ta, "Smalltalk at: #Shared put: 42");
    assert_eq!(
        c.answer(&b, &tb, "Smalltalk at: #Shared ifAbsent: ['absent']"),
        "'absent'"
    );
    c.answer(&a, &ta, "Smalltalk at: #Transcript put: nil");
    assert_eq!(
        c.answer(&b, &tb, "(Smalltalk at: #Transcript) isNil"),
        "false"
    );
    for _ in 0..20 {
        c.answer(&a, &ta, INCREMENT);
    }
    let metrics = c.get("/metrics", None);
    let line = format!("cowheap_base_checksum_info{{checksum=\"{before:016x}\"}} 1");
    assert!(metrics.body.contains(&line), "{}", metrics.body);
    assert_eq!(base.0.checksum(), before);
}

#[test]
fn parse_errors_bad_bodies_and_huge_ids_get_typed_errors() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let config = cowheap_serve::Config {
        max_body: 1024,
        ..config()
    };
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let (id, token) = c.create();
    let path = format!("/sessions/{id}/eval");
    let r = c.eval(&id, &token, &json!({"expression": "3 +"}));
    assert_eq!((r.status, r.kind().as_str()), (400, "parse"));
    for body in [
        "{",
        "[]",
        "{\"expression\": 3}",
        "{\"expression\": \"3\", \"nonsense\": 1}",
        "{\"expression\": \"3\", \"request_id\": -1}",
        "{\"expression\": \"3\", \"request_id\": 18446744073709551616}",
        "{\"expression\": \"3\", \"request_id\": 9223372036854775808}",
        "{\"expression\": \"3\", \"limits\": {\"bytecodes\": \"many\"}}",
    ] {
        let r = c.request("POST", &path, Some(&token), Some(body));
        assert_eq!(
            (r.status, r.kind().as_str()),
            (400, "bad_request"),
            "{body}: {}",
            r.body
        );
    }
    let big = json!({"expression": format!("'{}' size", "x".repeat(2000))}).to_string();
    let r = c.request("POST", &path, Some(&token), Some(&big));
    assert_eq!(
        (r.status, r.kind().as_str()),
        (413, "payload_too_large"),
        "{}",
        r.body
    );
    for bad in ["/sessions/zz/eval", "/sessions/../eval"] {
        let r = c.request("POST", bad, Some(&token), Some("{\"expression\":\"3\"}"));
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
    }
    let long_id = "a".repeat(100_000);
    let r = c.get(&format!("/sessions/{long_id}"), Some(&token));
    assert!(
        r.status == 404 || r.status == 414 || r.status == 431,
        "{}",
        r.status
    );
    // Nothing of the above was evaluated.
    let info = c.get(&format!("/sessions/{id}"), Some(&token)).json();
    assert_eq!(info["evaluations"], 0);
}

#[test]
fn limits_stop_an_evaluation_and_the_servers_caps_bound_what_a_request_asks() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let config = cowheap_serve::Config {
        caps: Caps {
            bytecodes: 200_000,
            millis: 10_000,
            memory: 4 << 20,
        },
        ..config()
    };
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let (id, token) = c.create();
    let stopped = |r: common::Resp| {
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        assert_eq!(j["answer"], serde_json::Value::Null, "{}", r.body);
        (
            j["stopped"]["kind"].as_str().unwrap().to_owned(),
            j["stopped"]["message"].as_str().unwrap().to_owned(),
        )
    };
    // The request's own limit.
    let (kind, msg) = stopped(c.eval(
        &id,
        &token,
        &json!({"expression": "25 benchFib", "limits": {"bytecodes": 1000}}),
    ));
    assert_eq!(kind, "bytecode_limit");
    assert!(msg.contains("1000"), "{msg}");
    // More than the cap is the cap.
    let forever =
        |limits: serde_json::Value| json!({"expression": "[true] whileTrue", "limits": limits});
    let (kind, msg) = stopped(c.eval(
        &id,
        &token,
        &forever(json!({"bytecodes": 1_000_000_000u64})),
    ));
    assert_eq!(kind, "bytecode_limit");
    assert!(msg.contains("200000"), "{msg}");
    let (kind, _) = stopped(c.eval(&id, &token, &json!({"expression": "Array new: 10000000"})));
    assert_eq!(kind, "allocation_limit");
    let (kind, _) = stopped(c.eval(&id, &token, &json!({"expression": "3 zork"})));
    assert_eq!(kind, "does_not_understand");
    // The session goes on after its stops.
    assert_eq!(c.answer(&id, &token, "3 + 4"), "7");
    let metrics = c.get("/metrics", None).body;
    assert!(
        metrics.contains("cowheap_stops_total{kind=\"bytecode_limit\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cowheap_stops_total{kind=\"does_not_understand\"} 1"),
        "{metrics}"
    );
    host.stop();
    // The time cap, on a host whose bytecode cap is out of reach.
    let config = cowheap_serve::Config {
        caps: Caps {
            bytecodes: u64::MAX,
            millis: 20,
            memory: 4 << 20,
        },
        ..common::config()
    };
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let (kind, msg) = stopped(c.eval(&id, &token, &forever(json!({"millis": 1_000_000_000u64}))));
    assert_eq!(kind, "time_limit");
    assert!(msg.contains("0.02"), "{msg}");
}

#[test]
fn a_retried_request_id_is_answered_from_the_store_and_never_evaluated_twice() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    let inc = |rid: u64| json!({"expression": INCREMENT, "request_id": rid});
    let first = c.eval(&id, &token, &inc(1)).json();
    assert_eq!(
        (first["answer"].as_str(), first["replayed"].as_bool()),
        (Some("1"), Some(false))
    );
    let again = c.eval(&id, &token, &inc(1)).json();
    assert_eq!(
        (again["answer"].as_str(), again["replayed"].as_bool()),
        (Some("1"), Some(true))
    );
    assert_eq!(again["request_id"], 1);
    assert_eq!(c.eval(&id, &token, &inc(2)).json()["answer"], "2");
    let stale = c.eval(&id, &token, &inc(1));
    assert_eq!(
        (stale.status, stale.kind().as_str()),
        (409, "stale_request")
    );
    // Across a restart: the id, its answer and the state are in the store.
    host.stop();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let replay = c.eval(&id, &token, &inc(2)).json();
    assert_eq!(
        (replay["answer"].as_str(), replay["replayed"].as_bool()),
        (Some("2"), Some(true))
    );
    assert_eq!(c.eval(&id, &token, &inc(7)).json()["answer"], "3");
    // Without an id every request evaluates.
    assert_eq!(c.answer(&id, &token, INCREMENT), "4");
    assert_eq!(c.answer(&id, &token, INCREMENT), "5");
    let metrics = c.get("/metrics", None).body;
    assert!(metrics.contains("cowheap_replays_total 1\n"), "{metrics}");
}

#[test]
fn past_the_most_live_sessions_the_least_recently_used_leaves_memory_and_resumes_transparently() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let config = cowheap_serve::Config {
        max_sessions_live: 2,
        ..config()
    };
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let sessions: Vec<(String, String)> = (0..5).map(|_| c.create()).collect();
    for (n, (id, token)) in sessions.iter().enumerate() {
        for _ in 0..=n {
            c.answer(id, token, INCREMENT);
        }
    }
    let live = |c: &mut common::Client, (id, token): &(String, String)| {
        c.get(&format!("/sessions/{id}"), Some(token)).json()["live"] == true
    };
    assert!(!live(&mut c, &sessions[0]));
    assert!(live(&mut c, &sessions[4]));
    // Each resumes where it was, however often it was evicted.
    for round in 1..=3 {
        for (n, (id, token)) in sessions.iter().enumerate() {
            assert_eq!(c.answer(id, token, INCREMENT), (n + 1 + round).to_string());
        }
    }
    let info = c
        .get(
            &format!("/sessions/{}", sessions[0].0),
            Some(&sessions[0].1),
        )
        .json();
    assert_eq!(info["evaluations"], 4);
    let metrics = c.get("/metrics", None).body;
    assert!(
        metrics.contains("cowheap_sessions{state=\"live\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cowheap_sessions{state=\"stored\"} 5\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cowheap_sessions{state=\"idle\"} 3\n"),
        "{metrics}"
    );
    // Requests for a session that does not exist make no room: nobody is evicted for them.
    let evictions = |c: &mut common::Client| {
        let m = c.get("/metrics", None).body;
        m.lines()
            .find_map(|l| l.strip_prefix("cowheap_evictions_total "))
            .map(str::to_owned)
            .expect("an evictions counter")
    };
    let before = evictions(&mut c);
    for _ in 0..3 {
        let r = c.eval(&"f".repeat(32), &sessions[0].1, &json!({"expression": "1"}));
        assert_eq!(r.status, 404, "{}", r.body);
    }
    assert_eq!(evictions(&mut c), before);
}

#[test]
fn an_idle_session_is_dropped_from_memory_and_resumed_on_its_next_request() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let config = cowheap_serve::Config {
        idle: Duration::from_millis(100),
        ..config()
    };
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    let path = format!("/sessions/{id}");
    assert!(
        eventually(Duration::from_secs(20), || c
            .get(&path, Some(&token))
            .json()["live"]
            == false),
        "the idle session left memory"
    );
    assert_eq!(c.answer(&id, &token, INCREMENT), "2");
    let metrics = c.get("/metrics", None).body;
    assert!(metrics.contains("cowheap_resumes_total 1\n"), "{metrics}");
}

/// An idle live session drops its interpreter's caches (memory for the 10,000 idle ones a
/// host holds), stays in memory, and answers its next request as before, state and all.
#[test]
fn an_idle_live_session_releases_its_caches_and_answers_as_before() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    let released = |c: &mut common::Client| {
        let m = c.get("/metrics", None).body;
        m.lines()
            .find_map(|l| l.strip_prefix("cowheap_caches_released_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .expect("a caches-released counter")
    };
    assert!(
        eventually(Duration::from_secs(20), || released(&mut c) == 1),
        "the idle session released its caches"
    );
    let info = c.get(&format!("/sessions/{id}"), Some(&token)).json();
    assert_eq!(info["live"], true, "it stayed in memory");
    assert_eq!(c.answer(&id, &token, INCREMENT), "2");
    assert_eq!(c.answer(&id, &token, "3 + 4"), "7");
    // Released once per idle spell, not again while it stays idle with nothing cached.
    assert!(eventually(Duration::from_secs(20), || released(&mut c) == 2));
    std::thread::sleep(2 * cowheap_serve::session::RELEASE_AFTER);
    assert_eq!(released(&mut c), 2);
    let metrics = c.get("/metrics", None).body;
    assert!(metrics.contains("cowheap_resumes_total 0\n"), "{metrics}");
}

#[test]
fn a_session_saved_over_another_base_is_refused_and_said_so() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let store = cowheap_serve::store::open(&format!("sqlite:{}", db.display())).unwrap();
    let token = "t".repeat(64);
    let id = "0123456789abcdef0123456789abcdef";
    let host_info = cowheap_serve::store::Host {
        id: "someone".into(),
        url: "http://127.0.0.1:1".into(),
    };
    store
        .create(
            &cowheap_serve::store::NewSession {
                id,
                token_hash: cowheap_serve::token::hash(&token),
                base_hash: [0xab; 16],
                delta: b"not a delta",
            },
            &host_info,
            Duration::ZERO,
        )
        .unwrap();
    let host = Host::start_with(&base, store, config());
    let mut c = host.client();
    let r = c.eval(id, &token, &json!({"expression": "3 + 4"}));
    assert_eq!(
        (r.status, r.kind().as_str()),
        (409, "wrong_base"),
        "{}",
        r.body
    );
    assert!(r.body.contains("abababab"), "{}", r.body);
}

#[test]
fn many_sessions_evaluate_at_once_each_with_its_own_counter() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let addr = host.addr;
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(move || {
                let mut c = common::Client::new(addr);
                let mine: Vec<_> = (0..8).map(|_| c.create()).collect();
                for round in 1..=10 {
                    for (id, token) in &mine {
                        let r = c.eval(
                            id,
                            token,
                            &json!({"expression": INCREMENT, "request_id": round}),
                        );
                        assert_eq!(r.json()["answer"], round.to_string());
                    }
                }
            });
        }
    });
    let metrics = host.client().get("/metrics", None).body;
    assert!(
        metrics.contains("cowheap_evaluations_total 640\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cowheap_sessions{state=\"live\"} 64\n"),
        "{metrics}"
    );
}

/// Creating many sessions at once past the most live ones evicts one session per session
/// created, no more: the evictions counted are exactly the sessions that left memory (created
/// minus live at the end), however many creators raced for the same least recently used
/// victims; and the host is never over its most, at any moment (a creation that finds no
/// room in time is refused as `full`, and its client tries again).
#[test]
fn creating_past_the_most_live_sessions_evicts_one_per_creation() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    const MOST: usize = 8;
    const CREATORS: usize = 200;
    const EACH: usize = 3;
    let config = cowheap_serve::Config {
        max_sessions_live: MOST,
        ..config()
    };
    let host = Host::start(&base, &db, config);
    std::thread::scope(|s| {
        for _ in 0..CREATORS {
            let mut c = host.client();
            s.spawn(move || {
                for _ in 0..EACH {
                    loop {
                        let r = c.request("POST", "/sessions", None, Some("{}"));
                        if r.status == 201 {
                            break;
                        }
                        assert_eq!((r.status, r.kind().as_str()), (503, "full"), "{}", r.body);
                    }
                }
            });
        }
    });
    let mut c = host.client();
    let metrics = c.get("/metrics", None).body;
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    let live = value("cowheap_sessions{state=\"live\"}");
    let created = (CREATORS * EACH) as u64;
    assert!(
        live <= MOST as u64,
        "over the most live sessions: {metrics}"
    );
    assert!(
        value("cowheap_sessions_live_most") <= MOST as u64,
        "over the most live sessions at some moment: {metrics}"
    );
    assert_eq!(
        value("cowheap_sessions_created_total"),
        created,
        "{metrics}"
    );
    assert_eq!(
        value("cowheap_evictions_total"),
        created - live,
        "evictions counted against sessions that left memory: {metrics}"
    );
}
