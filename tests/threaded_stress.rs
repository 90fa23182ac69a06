//! 64 images on their own threads hammer the same hot base objects, then each checks
//! isolation and read-your-writes over its whole view.

mod common;

use std::sync::{Arc, Barrier};

use common::{fixture, int};

const IMAGES: usize = 64;
const HOT: usize = 8;
const ROUNDS: usize = 300;

#[test]
fn many_images_hammer_hot_objects() {
    let f = Arc::new(fixture(HOT + 8));
    let checksum = f.heap.checksum();
    let start = Arc::new(Barrier::new(IMAGES));
    let handles: Vec<_> = (0..IMAGES)
        .map(|n| {
            let (f, start) = (f.clone(), start.clone());
            f.heap
                .image_thread()
                .stack_size(256 * 1024)
                .spawn(move |img| {
                    start.wait();
                    let hot = &f.objects[..HOT];
                    // Each image writes values only it would write; every image writes a
                    // different subset, so forwarders fill up concurrently.
                    let mut expect = vec![[None; 4]; HOT];
                    let mut x = n as u64 * 0x9E37_79B9 + 1;
                    for round in 0..ROUNDS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let o = (x as usize) % HOT;
                        let k = 1 + (x as usize >> 8) % 3;
                        if !(x >> 20).is_multiple_of(4) || n % 2 == 0 {
                            let v = (n * 1_000_000 + round) as i64;
                            img.write(hot[o], k, int(v)).unwrap();
                            expect[o][k] = Some(v);
                        }
                        let got = img.read(hot[o], k).unwrap();
                        let want = expect[o][k]
                            .map_or(if k == 1 { int(o as i64) } else { f.kernel.nil }, int);
                        assert_eq!(got, want, "image {n} object {o} slot {k} mid-run");
                    }
                    for (o, slots) in expect.iter().enumerate() {
                        for (k, want) in slots.iter().enumerate().skip(1) {
                            let base = f.heap.original_field(f.objects[o], k).unwrap();
                            let want = want.map_or(base, int);
                            assert_eq!(
                                img.read(f.objects[o], k).unwrap(),
                                want,
                                "image {n} object {o} slot {k}"
                            );
                        }
                    }
                    // Objects nobody wrote are untouched in every view.
                    for &cold in &f.objects[HOT..] {
                        for k in 0..4 {
                            let got = img.read(cold, k).unwrap();
                            let base = f.heap.original_field(cold, k).unwrap();
                            assert!(img.identical(got, base).unwrap(), "image {n} cold slot {k}");
                        }
                    }
                    img.stats()
                })
                .unwrap()
        })
        .collect();
    let mut copies = 0;
    for h in handles {
        let stats = h.join().expect("image thread panicked");
        assert!(
            stats.copies <= HOT as u64,
            "at most one copy per object per image"
        );
        copies += stats.copies;
    }
    assert!(copies > IMAGES as u64, "the images really diverged");
    assert_eq!(f.heap.checksum(), checksum, "the base is unchanged");
    // Every forwarder went with its last entry.
    assert_eq!(f.heap.census(), cowheap::Census::default());
}
