//! The deepest operand stack a doit's bytecodes reach, so that its header asks for a large
//! frame only where it needs one, as the image's own compiler decides (Squeak's
//! `CompiledMethod class>>newBytes:...nStack:...`: large where temporaries and stack exceed
//! `SmallFrame`). A context the VM makes has 16 slots for temporaries and stack with a small
//! frame and 56 with a large one; every context a doit materializes and every BlockContext
//! made in it (a V3 block's context is as large as its home's) is that size, so a doit that
//! always asked for a large frame allocated 40 words more per block made in its loops.
//!
//! The walk follows every path through the code from the start and from each block's first
//! bytecode, as an abstract interpreter of the stack's height. Where it meets something it
//! does not know (a bytecode the compiler never emits, a jump outside the code, two heights
//! at one place), it answers nothing and the caller keeps the large frame: a frame too large
//! costs words, one too small would be the real VM's overflow.

/// The height at which a V3 block's body starts (its arguments, pushed by `value:`, which
/// the body then pops into its home's temporaries), where the compiler placed it. Closure
/// bodies (bytecode 143) carry theirs in the bytecode.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockEntry {
    pub(super) start: usize,
    pub(super) args: usize,
}

/// The deepest the operand stack of any frame running `code` gets, `None` where the walk
/// cannot tell.
pub(super) fn max_depth(code: &[u8], blocks: &[BlockEntry]) -> Option<usize> {
    let mut height: Vec<Option<usize>> = vec![None; code.len()];
    let mut work = vec![(0, 0)];
    work.extend(blocks.iter().map(|b| (b.start, b.args)));
    let mut deepest = 0;
    while let Some((pc, depth)) = work.pop() {
        let seen = height.get_mut(pc)?;
        match *seen {
            Some(d) if d == depth => continue,
            Some(_) => return None,
            None => *seen = Some(depth),
        }
        deepest = deepest.max(depth);
        let step = effect(code, pc)?;
        let after = depth.checked_add(step.push)?.checked_sub(step.pop)?;
        deepest = deepest.max(after);
        if step.falls_through {
            work.push((pc + step.len, after));
        }
        if let Some(offset) = step.jump {
            let target = (pc + step.len).checked_add_signed(offset)?;
            work.push((target, after));
        }
        if let Some((start, entry)) = step.body {
            work.push((start, entry));
        }
    }
    Some(deepest)
}

/// What one bytecode does to the stack and where control goes next.
struct Effect {
    len: usize,
    pop: usize,
    push: usize,
    falls_through: bool,
    /// A jump's offset from the next bytecode.
    jump: Option<isize>,
    /// A closure's body: where it starts and the height it starts at.
    body: Option<(usize, usize)>,
}

/// The arguments of the special selectors 176-207, in order (`Smalltalk specialSelectors`).
const SPECIAL_ARGS: [u8; 32] = [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, // + - < > <= >= = ~= * / \\ @ bitShift: // bitAnd: bitOr:
    1, 2, 0, 0, 1, 0, 1, 0, // at: at:put: size next nextPut: atEnd == class
    1, 0, 1, 1, 0, 1, 0, 0, // blockCopy: value value: do: new new: x y
];

fn effect(code: &[u8], pc: usize) -> Option<Effect> {
    let b = *code.get(pc)?;
    let byte = |i: usize| code.get(pc + i).copied();
    let simple = |len, pop, push| Effect {
        len,
        pop,
        push,
        falls_through: true,
        jump: None,
        body: None,
    };
    let end = Effect {
        falls_through: false,
        ..simple(1, 1, 0)
    };
    let jump = |len, pop, offset: isize, falls_through| Effect {
        falls_through,
        jump: Some(offset),
        ..simple(len, pop, 0)
    };
    Some(match b {
        0..=95 | 112..=119 | 136 | 137 => simple(1, 0, 1),
        96..=111 | 135 => simple(1, 1, 0),
        120..=123 => Effect { pop: 0, ..end },
        124 | 125 => end,
        128 => simple(2, 0, 1),
        129 => simple(2, 0, 0),
        130 => simple(2, 1, 0),
        131 | 133 => simple(2, (byte(1)? >> 5) as usize + 1, 1),
        134 => simple(2, (byte(1)? >> 6) as usize + 1, 1),
        132 => match byte(1)? >> 5 {
            0 | 1 => simple(3, (byte(1)? & 31) as usize + 1, 1),
            2..=4 => simple(3, 0, 1),
            5 | 7 => simple(3, 0, 0),
            _ => simple(3, 1, 0),
        },
        138 => match byte(1)? {
            n @ 128.. => simple(2, (n & 127) as usize, 1),
            _ => simple(2, 0, 1),
        },
        140 => simple(3, 0, 1),
        141 => simple(3, 0, 0),
        142 => simple(3, 1, 0),
        143 => {
            let (counts, size) = (byte(1)?, u16::from_be_bytes([byte(2)?, byte(3)?]));
            let (copied, args) = ((counts >> 4) as usize, (counts & 15) as usize);
            Effect {
                jump: Some(size as isize),
                falls_through: false,
                body: Some((pc + 4, args + copied)),
                ..simple(4, copied, 1)
            }
        }
        144..=151 => jump(1, 0, (b & 7) as isize + 1, false),
        152..=159 => jump(1, 1, (b & 7) as isize + 1, true),
        160..=167 => jump(
            2,
            0,
            ((b & 7) as isize - 4) * 256 + byte(1)? as isize,
            false,
        ),
        168..=175 => jump(2, 1, (b & 3) as isize * 256 + byte(1)? as isize, true),
        176..=207 => simple(1, SPECIAL_ARGS[(b - 176) as usize] as usize + 1, 1),
        208.. => simple(1, ((b - 208) >> 4) as usize + 1, 1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{max_depth, BlockEntry};

    /// `3 + (4 * 5)`: three pushes before the first send; `^` ends it.
    #[test]
    fn the_deepest_point_of_straight_line_code() {
        assert_eq!(max_depth(&[34, 35, 36, 184, 176, 124], &[]), Some(3));
    }

    /// Both arms of a conditional, and a loop's back jump, meet at one height.
    #[test]
    fn paths_are_followed_through_jumps_and_loops() {
        // true ifTrue: [1. 1] ifFalse: [1]: a push, a jump on false over two pushes (a pop
        // between) and a jump, the other arm, then the return.
        let code = [113, 155, 118, 135, 118, 144, 118, 124];
        assert_eq!(max_depth(&code, &[]), Some(1));
        // [true] whileTrue: [a + b + c]: a back jump (163 0xF6: -10 from the next bytecode).
        let code = [113, 159, 32, 33, 176, 34, 176, 135, 163, 0xF6, 115, 124];
        assert_eq!(max_depth(&code, &[]), Some(2));
    }

    /// A V3 block's body starts at the height of its arguments, at the place the compiler
    /// says; a closure's in its bytecode.
    #[test]
    fn block_bodies_start_at_their_own_height() {
        // thisContext blockCopy: 2, a jump over the body, which pops two arguments and
        // pushes three.
        let code = [137, 119, 200, 164, 7, 104, 105, 32, 33, 34, 135, 125, 124];
        let blocks = [BlockEntry { start: 5, args: 2 }];
        assert_eq!(max_depth(&code, &blocks), Some(3));
        // A closure of one argument and two copied values, whose body pushes two more.
        let code = [32, 33, 143, 0x21, 0, 4, 34, 35, 135, 125, 124];
        assert_eq!(max_depth(&code, &[]), Some(5));
    }

    /// What the walk cannot follow answers nothing: a jump out of the code, a bytecode the
    /// compiler never emits, two heights at one place, a pop of an empty stack.
    #[test]
    fn what_the_walk_cannot_follow_answers_nothing() {
        assert_eq!(max_depth(&[144, 124], &[]), None);
        assert_eq!(max_depth(&[126, 124], &[]), None);
        assert_eq!(max_depth(&[113, 153, 118, 118, 124], &[]), None);
        assert_eq!(max_depth(&[135, 124], &[]), None);
        assert_eq!(max_depth(&[118], &[]), None);
    }
}
