//! The stretch: the image's own Compiler compiles Smalltalk source, and classes and methods it
//! makes exist in the image that made them only.

mod images_common;
mod interp_common;

use cowheap::Value;
use cowheap_squeak::interp::new_heap;
use cowheap_squeak::interp::{run_batch, BatchConfig, Limits};
use interp_common::{mini, IMAGES};

#[test]
fn compiler_evaluate_runs_in_both_byte_orders() {
    if interp_common::skip() {
        return;
    }
    for (which, file) in IMAGES.iter().enumerate() {
        let (loaded, vm) = mini(which);
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        let v = interp
            .evaluate_with_compiler(
                &mut image,
                "| s | s := 0. 1 to: 10 do: [:i | s := s + i]. s",
            )
            .unwrap();
        assert_eq!(v, Value::small_int(55).unwrap(), "{file}");
    }
}

#[test]
fn a_class_defined_in_one_image_exists_there_only() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let before = heap.checksum();
    let mut a = new_heap(heap).unwrap();
    let mut ia = vm.interpreter(Limits::default());
    let v = ia
        .evaluate_with_compiler(
            &mut a,
            "Object subclass: #Foo instanceVariableNames: 'a b' classVariableNames: '' \
             poolDictionaries: '' category: 'Test'. \
             Foo compile: 'bar ^a isNil ifTrue: [42] ifFalse: [a]' classified: 'x' notifying: nil. \
             Foo new bar",
        )
        .unwrap();
    assert_eq!(v, Value::small_int(42).unwrap());
    let t = ia.evaluate(&mut a, "Smalltalk includesKey: #Foo").unwrap();
    assert_eq!(ia.print_string(&mut a, t).unwrap(), "true");
    let mut b = new_heap(heap).unwrap();
    let mut ib = vm.interpreter(Limits::default());
    let f = ib.evaluate(&mut b, "Smalltalk includesKey: #Foo").unwrap();
    assert_eq!(ib.print_string(&mut b, f).unwrap(), "false");
    // Interning #Foo wrote b's own Symbol table, and nothing else of b's changed.
    assert!(b.stats().copies <= 2, "{:?}", b.stats());
    assert_eq!(heap.checksum(), before);
}

#[test]
fn images_compile_their_own_methods_in_parallel() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(1);
    let config = BatchConfig {
        images: 8,
        compiler: true,
        ..BatchConfig::default()
    };
    let report = run_batch(
        &loaded.heap,
        vm,
        "Utilities setAuthorInitials: 'img$i'. \
         Integer compile: 'imageNumber ^$i * 10' classified: 'x' notifying: nil. \
         0 imageNumber",
        &config,
    )
    .unwrap();
    for r in &report.runs {
        assert_eq!(r.stopped, None);
        assert_eq!(r.answer, Some((r.image * 10).to_string()));
    }
    assert!(report.base_unchanged());
}

/// A method the image replaces (and the method cache then drops) while it runs, and that then
/// lets the collector move what it made, runs its old code to its end: a frame holds its own
/// method, never a slot the cache or the method dictionary may reuse. The next send runs
/// the new one.
#[test]
fn a_method_replaced_while_it_runs_runs_its_old_code_to_its_end() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let mut a = new_heap(&loaded.heap).unwrap();
    let mut ia = vm.interpreter(Limits::default());
    let flushes = ia.cache_flushes();
    let v = ia
        .evaluate_with_compiler(
            &mut a,
            "Object subclass: #Foo instanceVariableNames: '' classVariableNames: '' \
             poolDictionaries: '' category: 'Test'. \
             Foo compile: 'bar: n | r | n = 0 ifTrue: [^#new]. \
                Foo compile: ''bar: n ^n = 0 ifTrue: [#new] ifFalse: [#replaced]'' \
                    classified: ''x'' notifying: nil. \
                r := OrderedCollection new. 1 to: 5 do: [:i | r add: i * n]. \
                Smalltalk garbageCollect. \
                ^(r inject: 0 into: [:s :e | s + e]) printString, '' '', (self bar: 0), \
                    '' '', (self bar: 1)' classified: 'x' notifying: nil. \
             Foo new bar: 2",
        )
        .unwrap();
    assert_eq!(ia.print_string(&mut a, v).unwrap(), "'30 new replaced'");
    assert!(ia.cache_flushes() > flushes);
}

/// The expression compiler emits what the image's own compiler emits where a value is
/// dropped (Squeak's `emitForEffect:`): an assignment statement's store pops, a one-armed
/// `ifTrue:` or `ifFalse:` and a loop push no nil, two arms and `and:` are popped. So each
/// turn of these loops runs the same bytecodes through either compiler.
#[test]
fn statements_for_effect_run_the_bytecodes_of_the_images_compiler() {
    if interp_common::skip() {
        return;
    }
    let bodies = [
        "",
        "t := t + i",
        "i even ifTrue: [t := t + 1]",
        "i even ifFalse: [t := t + 1]. t := t",
        "i even ifTrue: [t := t + 1] ifFalse: [t := t + 2]",
        "(i even and: [i > 5]) ifTrue: [t := t + 1]",
        "t := i even ifTrue: [t + 1] ifFalse: [t]",
        "[t < i] whileTrue: [t := t + 1]",
        "1 to: 3 do: [:k | t := t + k]. t := t - 6",
    ];
    let (loaded, vm) = mini(0);
    // Bytecodes per 100 turns of the body's loop, compiled once into a block and run for
    // 100 and 200 turns.
    let per_100 = |body: &str, compiler: bool| {
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        let text = format!("| t | [:n | t := 0. 1 to: n do: [:i | {body}]. t]");
        let block = if compiler {
            interp.evaluate_with_compiler(&mut image, &text)
        } else {
            interp.evaluate(&mut image, &text)
        }
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        // A run's statistics are its own.
        let mut run = |turns: i64| {
            let n = Value::small_int(turns).unwrap();
            interp.send(&mut image, block, "value:", &[n]).unwrap();
            interp.stats().bytecodes
        };
        run(200) - run(100)
    };
    for body in bodies {
        assert_eq!(per_100(body, false), per_100(body, true), "{body}");
    }
}
