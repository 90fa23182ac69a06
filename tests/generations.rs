//! Base generations under load: images start continuously while the host publishes new
//! generations; no image reads from two generations, publishing never waits for a running
//! image, every old generation is freed once its last image ends, and a delta resumes only
//! over the generation it was saved over.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cowheap::generations::Generations;
use cowheap::{BaseBuilder, BaseHeap, DeltaError, Format, Kernel, Value};

const OBJECTS: usize = 500;

/// A base whose every array holds its generation number in slot 0.
fn base(generation: i64) -> BaseHeap {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let tag = Value::small_int(generation).unwrap();
    let objects: Vec<Value> = (0..OBJECTS)
        .map(|_| {
            let o = b.new_object(k.array, Format::Pointers, 2).unwrap();
            b.set_field(o, 0, tag).unwrap();
            o
        })
        .collect();
    let all = b.new_pointers(k.array, &objects).unwrap();
    b.add_root("all", all).unwrap();
    b.add_root("generation", tag).unwrap();
    b.seal().unwrap()
}

#[test]
fn images_under_rollouts_see_one_generation_and_old_generations_are_freed() {
    let host = Arc::new(Generations::new(base(0)));
    let stop = AtomicBool::new(false);
    let mixed = AtomicU64::new(0);
    let images = AtomicU64::new(0);
    let mut watches = vec![host.watch()];
    // An image that outlives every rollout below: publishing must not wait for it.
    let mut long_lived = host.new_image().unwrap();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (host, stop, mixed, images) = (&host, &stop, &mixed, &images);
            s.spawn(move || {
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    let mut image = host.new_image().unwrap();
                    let g = image.root("generation").unwrap();
                    let all = image.root("all").unwrap();
                    for i in 0..200 {
                        n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let o = image.read(all, (n >> 33) as usize % OBJECTS).unwrap();
                        if image.read(o, 0).unwrap() != g {
                            mixed.fetch_add(1, Ordering::Relaxed);
                        }
                        image.write(o, 1, Value::small_int(i).unwrap()).unwrap();
                    }
                    images.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for g in 1..=4 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(host.publish(base(g)), g as u64);
            watches.push(host.watch());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(
        mixed.load(Ordering::Relaxed),
        0,
        "an image saw two generations"
    );
    assert!(images.load(Ordering::Relaxed) > 0);
    // The long-lived image still runs on generation 0, and so keeps it alive.
    let all = long_lived.root("all").unwrap();
    let o = long_lived.read(all, 3).unwrap();
    assert_eq!(long_lived.read(o, 0).unwrap(), Value::small_int(0).unwrap());
    long_lived
        .write(o, 1, Value::small_int(9).unwrap())
        .unwrap();
    assert!(!watches[0].is_freed());
    for w in &watches[1..4] {
        assert!(
            w.is_freed(),
            "generation {} outlived its images",
            w.number()
        );
    }
    assert!(
        !watches[4].is_freed(),
        "the current generation is held by the host"
    );

    // A delta saved over generation 0 resumes only over generation 0.
    let mut delta = Vec::new();
    long_lived.save_delta(&mut delta).unwrap();
    assert!(matches!(
        host.resume_delta(&delta[..]),
        Err(DeltaError::WrongBase { offset: 16, .. })
    ));
    let mut resumed = long_lived.heap().resume_delta(&delta[..]).unwrap();
    let o2 = resumed.read(resumed.root("all").unwrap(), 3).unwrap();
    assert_eq!(resumed.read(o2, 1).unwrap(), Value::small_int(9).unwrap());
    drop((long_lived, resumed));
    assert!(watches[0].is_freed(), "generation 0's last image ended");
}
