//! The process's image threads stop at what its memory maps allow: a spawn past that is
//! refused with `Error::Spawn` rather than left to abort the process in the new thread.
//! Alone in its binary, because the budget is computed once per process, from the limit
//! `COWHEAP_MAX_MAP_COUNT` names here.

use std::sync::mpsc;

use cowheap::{Error, Kernel, MAPS_PER_THREAD, MAPS_SLACK, MAX_MAP_COUNT_VAR};

#[test]
fn image_threads_past_the_map_budget_are_refused_and_the_budget_comes_back() {
    let (heap, kernel) = Kernel::minimal_base().unwrap();
    let (release, wait) = mpsc::channel::<()>();
    let maps = std::fs::read_to_string("/proc/self/maps").map(|t| t.lines().count());
    let Ok(maps) = maps else {
        eprintln!("skipped: no /proc/self/maps here");
        return;
    };
    // Room for 6 image threads beyond what is mapped now, read again at the first spawn.
    let limit = maps + MAPS_SLACK + 6 * MAPS_PER_THREAD;
    std::env::set_var(MAX_MAP_COUNT_VAR, limit.to_string());
    let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
    let mut running = Vec::new();
    let refusal = loop {
        let wait = wait.clone();
        match heap.spawn_image(move |image| {
            let _ = wait.lock().unwrap().recv();
            image.class_of(kernel.nil).unwrap()
        }) {
            Ok(h) => running.push(h),
            Err(e) => break e,
        }
        assert!(running.len() <= 10, "the budget never ran out");
    };
    assert!(matches!(refusal, Error::Spawn(_)), "{refusal:?}");
    assert!(
        refusal.to_string().contains("vm.max_map_count"),
        "{refusal}"
    );
    assert!((4..=6).contains(&running.len()), "{}", running.len());
    for _ in 0..running.len() {
        release.send(()).unwrap();
    }
    for h in running {
        assert_eq!(h.join().unwrap(), kernel.undefined_object);
    }
    // Every place came back: a thread starts again, and a refused spawn made no image.
    assert_eq!(heap.live_images(), 0);
    let h = heap.spawn_image(move |image| image.class_of(kernel.nil).unwrap());
    assert_eq!(h.unwrap().join().unwrap(), kernel.undefined_object);
}

#[test]
fn a_thread_name_with_a_nul_byte_is_refused_without_a_panic() {
    let (heap, _kernel) = Kernel::minimal_base().unwrap();
    let refused = heap.image_thread().name("a\0b").spawn(|_| ());
    assert!(matches!(refused, Err(Error::Spawn(_))), "{refused:?}");
    assert_eq!(heap.live_images(), 0);
}
