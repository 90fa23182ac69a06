//! The interpreter's two stacks, its frames and its operand stack (`Exec::frames`,
//! `Exec::stack`): the depth limit every push of a frame checks, and their growth, which is
//! fallible so that a machine that refuses the memory stops the run instead of the process.

use super::limits::RunError;
use super::state::{Exec, Frame};
use cowheap::Value;

/// The free slots [`Exec::make_room`] keeps on the operand stack: more than one bytecode of
/// the full path pushes (a method's temporaries and stack are at most 62 slots).
pub(crate) const STACK_ROOM: usize = 256;

impl Exec<'_> {
    /// The depth limit: the one check, which every push of a frame (a method's activation, a
    /// block's `value`) makes first, before it builds the frame; then [`make_room`] for it.
    ///
    /// [`make_room`]: Exec::make_room
    #[inline(always)]
    pub(crate) fn check_depth(&mut self) -> Result<(), RunError> {
        if self.frames.len() >= self.limits.depth {
            return Err(RunError::DepthLimit {
                limit: self.limits.depth,
            });
        }
        self.make_room()
    }

    /// Grows the frames (where they are full) and the operand stack (where it has less than
    /// [`STACK_ROOM`] free) by fallible allocations: where the machine refuses the memory (a
    /// host that allowed a deep recursion, under a memory limit of its own), the run stops
    /// with [`RunError::StacksOutOfMemory`], as for its private space, instead of the
    /// process aborting. The dispatch loop pushes a frame only where there is room, and the
    /// full path's bytecodes push within the room this leaves.
    pub(crate) fn make_room(&mut self) -> Result<(), RunError> {
        let refused = |bytes: usize| RunError::StacksOutOfMemory { bytes };
        if self.frames.len() == self.frames.capacity() {
            self.frames
                .try_reserve(1)
                .map_err(|_| refused((self.frames.len() + 1) * size_of::<Frame>()))?;
        }
        if self.stack.capacity() - self.stack.len() < STACK_ROOM {
            self.stack
                .try_reserve(STACK_ROOM)
                .map_err(|_| refused((self.stack.len() + STACK_ROOM) * size_of::<Value>()))?;
        }
        Ok(())
    }
}
