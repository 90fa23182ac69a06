//! Contexts made on demand (`contexts.rs`): `thisContext` as a MethodContext of its frame, a
//! block context that shares its home's temporaries, reuse of contexts that died with their
//! frame, and a block frame at the depth limit.

use crate::interp::contexts::*;
use crate::interp::limits::{Limits, RunError};
use crate::interp::tests::{int, Run};

#[test]
fn this_context_is_a_method_context_of_the_frame() {
    let mut r = Run::new();
    let (object, pair_class, nil) = (r.t.k.object, r.t.pair, r.nil());
    let bar = r.sym("bar");
    r.define(object, "instVarAt:", &[bar], 1, 1, 73, &[32, 124]);
    let iva = r.sym("instVarAt:");
    // answer  ^thisContext instVarAt: 1   (its sender, the caller's context)
    r.define(pair_class, "answer", &[iva], 0, 0, 0, &[137, 118, 224, 124]);
    let pair = r.instance(pair_class, &[int(1), int(2)], 1);
    let answer = r.sym("answer");
    let doit = r.method(&[answer], 0, 0, 0, &[112, 208, 124]);
    let sender = r.interp.run_method(&mut r.image, doit, pair).unwrap();
    assert_eq!(r.image.class_of(sender).unwrap(), r.t.method_context);
    assert_eq!(r.image.read(sender, METHOD).unwrap(), doit);
    assert_eq!(r.image.read(sender, RECEIVER).unwrap(), pair);
    // It returned since: a returned context has no sender and no pc.
    assert_eq!(r.image.read(sender, SENDER).unwrap(), nil);
    assert_eq!(r.image.read(sender, PC).unwrap(), nil);
}

#[test]
fn a_block_context_names_its_home_and_shares_its_temporaries() {
    let mut r = Run::new();
    r.install_blocks();
    let nil = r.nil();
    // ^[nil]
    let block = r
        .run(nil, &[], 0, &[137, 117, 200, 164, 2, 115, 125, 124])
        .unwrap();
    assert_eq!(r.image.class_of(block).unwrap(), r.t.block_context);
    assert_eq!(r.image.read(block, BLOCK_NARGS).unwrap(), int(0));
    let home = r.image.read(block, BLOCK_HOME).unwrap();
    assert_eq!(r.image.class_of(home).unwrap(), r.t.method_context);
    // | t | [:x | t := x] value: 5. ^t
    let code = [
        137, 118, 200, 164, 5, 105, 17, 129, 64, 125, 32, 202, 135, 16, 124,
    ];
    assert_eq!(r.run(nil, &[int(5)], 2, &code), Ok(int(5)));
}

#[test]
fn contexts_that_died_with_their_frame_are_reused() {
    let run = |reuse: bool| {
        let mut r = Run::new();
        r.install_blocks();
        r.interp.set_context_reuse(reuse);
        let pair_class = r.t.pair;
        // foo  ^[nil] value
        let code = [137, 117, 200, 164, 2, 115, 125, 201, 124];
        r.define(pair_class, "foo", &[], 0, 0, 0, &code);
        r.interp.set_context_reuse(reuse);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        let foo = r.sym("foo");
        // 50 timesRepeat: [self foo]
        let code = [
            117, 104, 16, 32, 178, 172, 9, 112, 209, 135, 16, 118, 176, 104, 163, 242, 16, 124,
        ];
        assert_eq!(r.run(pair, &[int(50), foo], 1, &code), Ok(int(50)));
        (r.interp.contexts_reused(), r.image.stats().private_bytes)
    };
    let (reused, small) = run(true);
    let (none, large) = run(false);
    // Each call's MethodContext and BlockContext, after the first call's.
    assert_eq!(reused, 2 * 49);
    assert_eq!(none, 0);
    assert!(small < large, "{small} < {large}");
}

#[test]
fn a_block_frame_meets_the_depth_limit() {
    let mut r = Run::new();
    r.install_blocks();
    let nil = r.nil();
    let code = [137, 117, 200, 164, 2, 118, 125, 201, 124];
    assert_eq!(r.run(nil, &[], 0, &code), Ok(int(1)));
    r.set_limits(Limits {
        depth: 1,
        ..Limits::default()
    });
    assert_eq!(
        r.run(nil, &[], 0, &code),
        Err(RunError::DepthLimit { limit: 1 })
    );
}

/// Two blocks entered in turn each keep a token in the method cache (`block_token` and the
/// one before); each runs its own code, and one entered again while it runs still fails, as
/// a V3 VM's `value` does, through the token kept as the one before.
#[test]
fn two_blocks_entered_in_turn_run_their_own_code_and_a_running_one_fails() {
    let mut r = Run::new();
    r.install_blocks();
    let turns = "| a b s | a := [:x | x + 1]. b := [:x | x * 2]. s := 0. \
                 1 to: 10 do: [:i | s := s + (a value: i) + (b value: i)]. s";
    assert_eq!(r.interp.evaluate(&mut r.image, turns), Ok(int(65 + 110)));
    let again = "| a b | a := [:x | x]. \
                 b := [:x | (a value: x) > 0 ifTrue: [b value: 0] ifFalse: [x]]. b value: 1";
    let bar = r.sym("bar");
    assert_eq!(r.interp.evaluate(&mut r.image, again), Ok(bar));
}

/// `thisContext blockCopy:` as the dispatch loop runs it where the pool has contexts to
/// reuse (`materialize_reused`, `block_copy_in_loop`): the temporary set before the block is
/// made is in the reused MethodContext, and the reused BlockContext starts at its code, with
/// its argument count and its home, at every call.
#[test]
fn reused_contexts_hold_what_new_ones_would() {
    let mut r = Run::new();
    r.install_blocks();
    let pair_class = r.t.pair;
    // foo  | t | t := 7. ^[t + 1] value
    let code = [32, 104, 137, 117, 200, 164, 4, 16, 118, 176, 125, 201, 124];
    r.define(pair_class, "foo", &[int(7)], 1, 0, 0, &code);
    let pair = r.instance(pair_class, &[int(1), int(2)], 1);
    let foo = r.sym("foo");
    // 50 timesRepeat: [self foo]. ^self foo
    let code = [
        117, 104, 16, 32, 178, 172, 9, 112, 209, 135, 16, 118, 176, 104, 163, 242, 112, 209, 124,
    ];
    assert_eq!(r.run(pair, &[int(50), foo], 1, &code), Ok(int(8)));
    // Each call's MethodContext and BlockContext, after the first call's.
    assert_eq!(r.interp.contexts_reused(), 2 * 50);
}

/// A block's `^` returns from its home's frame through a frame without a context between
/// them, as the dispatch loop does it (`return_in_loop`): the answer lands in the home's
/// caller, and the block and the home's context, marked returned on the way, are reused by
/// the next call, at every one of 50.
#[test]
fn a_return_from_a_block_leaves_its_home_through_the_frames_between() {
    let mut r = Run::new();
    r.install_blocks();
    let pair_class = r.t.pair;
    // bar: aBlock  ^aBlock value: 4
    r.define(pair_class, "bar:", &[int(4)], 1, 1, 0, &[16, 32, 202, 124]);
    let each = r.sym("bar:");
    // foo  self bar: [:x | ^x]. ^0
    let code = [112, 137, 118, 200, 164, 3, 104, 16, 124, 224, 135, 117, 124];
    r.define(pair_class, "foo", &[each], 1, 0, 0, &code);
    let pair = r.instance(pair_class, &[int(1), int(2)], 1);
    let find = r.sym("foo");
    // 50 timesRepeat: [self foo]. ^self foo + 1
    let code = [
        117, 104, 16, 32, 178, 172, 9, 112, 209, 135, 16, 118, 176, 104, 163, 242, 112, 209, 118,
        176, 124,
    ];
    assert_eq!(r.run(pair, &[int(50), find], 1, &code), Ok(int(5)));
    assert_eq!(r.interp.contexts_reused(), 2 * 50);
}
