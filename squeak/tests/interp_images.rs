//! Many images running Smalltalk at once over one base: same answers, no copies where nothing
//! is written, and isolation of what each image writes, through Smalltalk itself.

mod images_common;
mod interp_common;

use cowheap::Value;
use cowheap_squeak::interp::new_heap;
use cowheap_squeak::interp::{run_batch, BatchConfig, Limits, RunError};
use interp_common::mini;

#[test]
fn a_thousand_images_run_20_bench_fib_on_their_own_threads() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let config = BatchConfig {
        images: 1000,
        ..BatchConfig::default()
    };
    let report = run_batch(&loaded.heap, vm, "20 benchFib", &config).unwrap();
    assert_eq!(report.runs.len(), 1000);
    // At least: the other tests of this binary share the heap and may hold images too.
    assert!(
        report.live_at_start >= 1000,
        "all images were running at once: {} live",
        report.live_at_start
    );
    for r in &report.runs {
        assert_eq!(r.answer.as_deref(), Some("21891"), "image {}", r.image);
        assert_eq!(r.stopped, None);
        assert_eq!(r.copies, 0, "image {} copied", r.image);
        assert!(
            r.private_bytes <= 64 << 10,
            "image {}: {} private bytes",
            r.image,
            r.private_bytes
        );
    }
    assert_eq!(report.bytecodes, report.runs[0].bytecodes * 1000);
    assert!(report.base_unchanged());
}

/// On a pool of workers, every image is made before any runs (all live at once), each runs
/// once with its own number, the report lists them by number, and every image is gone after.
#[test]
fn images_on_a_pool_of_workers_are_all_live_and_each_runs_once() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    for workers in [3, 0] {
        let config = BatchConfig {
            images: 300,
            workers: Some(workers),
            ..BatchConfig::default()
        };
        let report = run_batch(&loaded.heap, vm, "20 benchFib + ($i * 2)", &config).unwrap();
        assert!(report.live_at_start >= 300, "{}", report.live_at_start);
        assert_eq!(report.runs.len(), 300);
        for (n, r) in report.runs.iter().enumerate() {
            assert_eq!(r.image, n);
            let answer = (21891 + 2 * n).to_string();
            assert_eq!(r.answer.as_deref(), Some(answer.as_str()), "image {n}");
            assert_eq!((r.stopped.as_ref(), r.copies), (None, 0), "image {n}");
        }
        assert_eq!(
            report.bytecodes,
            report.runs.iter().map(|r| r.bytecodes).sum::<u64>()
        );
        assert!(!report.interrupted && report.base_unchanged());
    }
    // Interrupted before it starts: no image is made, none runs.
    let config = BatchConfig {
        images: 50,
        workers: Some(2),
        interrupt: Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        ))),
        ..BatchConfig::default()
    };
    let report = run_batch(&loaded.heap, vm, "20 benchFib", &config).unwrap();
    assert!(report.interrupted && report.runs.is_empty(), "{report:?}");
}

/// The global Transcript's association lives in the base; each image stores its own number
/// there through `Smalltalk at:put:`, reads it back, and copies only that association.
// Counts copies on write: the shared heap's rule, which a plain heap has no use for.
#[cfg(not(feature = "plain-heap"))]
#[test]
fn each_image_sees_only_its_own_global() {
    if interp_common::skip() {
        return;
    }
    for which in 0..2 {
        let (loaded, vm) = mini(which);
        let heap = &loaded.heap;
        let before = heap.checksum();
        let mut handles = Vec::new();
        for i in 0..16u32 {
            let vm = vm.clone();
            handles.push(
                heap.spawn_image(move |image| {
                    let mut interp = vm.interpreter(Limits::default());
                    interp.set_image_number(i);
                    interp
                        .evaluate(image, "Smalltalk at: #Transcript put: $i * 1000")
                        .unwrap();
                    let copies = image.stats().copies;
                    // Other images are writing the same association meanwhile.
                    std::thread::yield_now();
                    let back = interp.evaluate(image, "Smalltalk at: #Transcript").unwrap();
                    let class = interp
                        .evaluate(image, "(Smalltalk at: #Transcript) class name")
                        .unwrap();
                    let class = interp.print_string(image, class).unwrap();
                    (back, copies, class)
                })
                .unwrap(),
            );
        }
        for (i, h) in handles.into_iter().enumerate() {
            let (back, copies, class) = h.join().unwrap();
            assert_eq!(back, Value::small_int(i as i64 * 1000).unwrap());
            assert_eq!(copies, 1, "only the Transcript association is copied");
            assert_eq!(class, "SmallInteger");
        }
        assert_eq!(heap.checksum(), before);
        // A fresh image still sees the original Transcript.
        let mut image = new_heap(heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        let t = interp
            .evaluate(&mut image, "Smalltalk at: #Transcript")
            .unwrap();
        assert_eq!(
            interp.print_string(&mut image, t).unwrap(),
            "a TranscriptStream"
        );
    }
}

/// Installing a method in one image drops that image's method cache (the next send runs the
/// new method) and changes nothing for another image.
#[test]
fn a_method_installed_in_one_image_runs_there_only() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let mut a = new_heap(heap).unwrap();
    let mut b = new_heap(heap).unwrap();
    let mut ia = vm.interpreter(Limits::default());
    let mut ib = vm.interpreter(Limits::default());
    let fib = Value::small_int(177).unwrap();
    assert_eq!(ia.evaluate(&mut a, "10 benchFib").unwrap(), fib);
    assert_eq!(ib.evaluate(&mut b, "10 benchFib").unwrap(), fib);
    ia.evaluate(
        &mut a,
        "Integer addSelector: #benchFib withMethod: (Integer compiledMethodAt: #factorial)",
    )
    .unwrap();
    assert!(ia.cache_flushes() > 0);
    assert_eq!(
        ia.evaluate(&mut a, "10 benchFib").unwrap(),
        Value::small_int(3_628_800).unwrap()
    );
    assert_eq!(ib.evaluate(&mut b, "10 benchFib").unwrap(), fib);
    // Copies on write, which a plain heap never makes.
    #[cfg(not(feature = "plain-heap"))]
    {
        assert!(a.stats().copies >= 1);
        assert_eq!(b.stats().copies, 0);
    }
}

/// Writing a method or a class drops the cache too: the next send sees the change, in that
/// image only.
#[test]
fn writing_a_method_or_a_class_drops_the_cache() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let fib = Value::small_int(177).unwrap();
    let mut other = new_heap(heap).unwrap();
    let mut io = vm.interpreter(Limits::default());
    // A method: benchFib's literal #benchFib becomes #factorial (9! + 8! + 1).
    let mut image = new_heap(heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    assert_eq!(interp.evaluate(&mut image, "10 benchFib").unwrap(), fib);
    let flushes = interp.cache_flushes();
    interp
        .evaluate(
            &mut image,
            "(Integer compiledMethodAt: #benchFib) literalAt: 1 put: #factorial",
        )
        .unwrap();
    assert!(interp.cache_flushes() > flushes);
    assert_eq!(
        interp.evaluate(&mut image, "10 benchFib").unwrap(),
        Value::small_int(403_201).unwrap()
    );
    // A class: SmallInteger's superclass becomes Object, so Integer's methods are gone.
    let mut image = new_heap(heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    assert_eq!(interp.evaluate(&mut image, "10 benchFib").unwrap(), fib);
    interp
        .evaluate(&mut image, "SmallInteger superclass: Object")
        .unwrap();
    assert_eq!(
        interp.evaluate(&mut image, "10 benchFib"),
        Err(RunError::DoesNotUnderstand {
            selector: "benchFib".into(),
            class: "SmallInteger".into()
        })
    );
    assert_eq!(io.evaluate(&mut other, "10 benchFib").unwrap(), fib);
}

/// A class variable this time: `Utilities setAuthorInitials:` stores into the class pool's
/// association; each image reads its own initials back and the base keeps the original.
// Counts copies on write: the shared heap's rule, which a plain heap has no use for.
#[cfg(not(feature = "plain-heap"))]
#[test]
fn each_image_sets_its_own_author_initials() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let before = heap.checksum();
    let handles: Vec<_> = (0..8u32)
        .map(|i| {
            let vm = vm.clone();
            heap.spawn_image(move |image| {
                let mut interp = vm.interpreter(Limits::default());
                interp.set_image_number(i);
                interp
                    .evaluate(image, "Utilities setAuthorInitials: 'img' , $i printString")
                    .unwrap();
                let copies = image.stats().copies;
                let v = interp.evaluate(image, "Utilities authorInitials").unwrap();
                (interp.print_string(image, v).unwrap(), copies)
            })
            .unwrap()
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (initials, copies) = h.join().unwrap();
        assert_eq!(initials, format!("'img{i}'"));
        assert_eq!(copies, 1, "image {i} copies only the initials association");
    }
    assert_eq!(heap.checksum(), before);
    let mut image = new_heap(heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let v = interp
        .evaluate(&mut image, "Utilities authorInitials")
        .unwrap();
    assert_eq!(interp.print_string(&mut image, v).unwrap(), "'tfel'");
}
