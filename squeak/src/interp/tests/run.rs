//! One image of the tiny base with its interpreter, as the unit tests drive it: methods
//! defined in the image, hand-assembled bytecodes run, one primitive called from the table.

use super::*;

/// What one primitive did, as a test sees it.
#[derive(Debug, PartialEq)]
pub(crate) enum Out {
    Fail,
    Answer(Value),
    Switched,
    /// `perform:`: the method object and the argument count the send layer is to invoke.
    Perform(Value, usize),
}

/// One image of the tiny base and its interpreter.
pub(crate) struct Run {
    pub(crate) t: &'static Tiny,
    pub(crate) image: Heap,
    pub(crate) interp: Interpreter,
    limits: Limits,
}

impl Run {
    pub(crate) fn new() -> Run {
        let t = Tiny::get();
        let limits = Limits {
            bytecodes: 100_000,
            depth: 1_000,
            ..Limits::default()
        };
        Run {
            t,
            image: new_heap(&t.heap).unwrap(),
            interp: t.vm.interpreter(limits),
            limits,
        }
    }

    pub(crate) fn sym(&self, name: &str) -> Value {
        self.t.sym(name)
    }

    pub(crate) fn nil(&self) -> Value {
        self.t.k.nil
    }

    pub(crate) fn boolean(&self, b: bool) -> Value {
        if b {
            self.t.k.true_object
        } else {
            self.t.k.false_object
        }
    }

    /// Changes the limits (a new interpreter, so an empty method cache).
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.interp = self.t.vm.interpreter(limits);
    }

    /// A private CompiledMethod.
    pub(crate) fn method(
        &mut self,
        literals: &[Value],
        temps: usize,
        args: usize,
        prim: u16,
        code: &[u8],
    ) -> Value {
        let mut lits = vec![header(literals.len(), temps, args, prim)];
        lits.extend_from_slice(literals);
        let m = self
            .image
            .new_method(self.t.k.compiled_method, &lits, code)
            .unwrap();
        self.image
            .set_language_format(m, bytes_code(12, code.len()))
            .unwrap();
        m
    }

    /// Installs a method for `selector` in `class` (this image only), replacing one of the
    /// same selector, and starts a new interpreter so that no cached lookup hides it. Like an
    /// image's own `addSelector:withMethod:`, it stores into the class's method dictionary
    /// and its method array, never into the class object: an image that writes a class gets
    /// a copy whose reference no longer equals the base's (see the report on `class_of`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn define(
        &mut self,
        class: Value,
        selector: &str,
        literals: &[Value],
        temps: usize,
        args: usize,
        prim: u16,
        code: &[u8],
    ) -> Value {
        let m = self.method(literals, temps, args, prim, code);
        let sel = self.sym(selector);
        let dict = self.image.read(class, 1).unwrap();
        let methods = self.image.read(dict, 1).unwrap();
        let i = self.probe_slot(dict, sel);
        let image = &mut self.image;
        if image.read(dict, 2 + i).unwrap() != sel {
            let tally = image.read(dict, 0).unwrap().as_small_int().unwrap();
            image.write(dict, 0, int(tally + 1)).unwrap();
            image.write(dict, 2 + i, sel).unwrap();
        }
        image.write(methods, i, m).unwrap();
        self.interp = self.t.vm.interpreter(self.limits);
        m
    }

    /// Where the real VM looks for `sel` in the method dictionary `dict` (0-based among its
    /// selectors): from its hash masked by the room less one, forward to its slot or the
    /// first nil (see `lookup::selector_field`).
    pub(crate) fn probe_slot(&mut self, dict: Value, sel: Value) -> usize {
        let nil = self.t.k.nil;
        let room = self.image.size_of(dict).unwrap() - 2;
        let mut i = self.image.identity_hash(sel).unwrap() as usize & (room - 1);
        for _ in 0..room {
            let s = self.image.read(dict, 2 + i).unwrap();
            if s == sel || s == nil {
                return i;
            }
            i = (i + 1) % room;
        }
        panic!("a full dictionary")
    }

    /// Where `class`'s method dictionary holds `selector`: its method array and the index
    /// there (0-based).
    pub(crate) fn method_slot(&mut self, class: Value, selector: &str) -> (Value, usize) {
        let sel = self.sym(selector);
        let dict = self.image.read(class, 1).unwrap();
        let methods = self.image.read(dict, 1).unwrap();
        let n = self.image.size_of(dict).unwrap();
        let i = (2..n)
            .find(|&k| self.image.read(dict, k).unwrap() == sel)
            .expect("the selector is in the dictionary");
        (methods, i - 2)
    }

    /// Runs `code` (with `literals` and `temps` temporaries) with `receiver` as self.
    pub(crate) fn run(
        &mut self,
        receiver: Value,
        literals: &[Value],
        temps: usize,
        code: &[u8],
    ) -> Result<Value, RunError> {
        let m = self.method(literals, temps, 0, 0, code);
        self.interp.run_method(&mut self.image, m, receiver)
    }

    /// Sends `selector` from outside any frame.
    pub(crate) fn send(
        &mut self,
        receiver: Value,
        selector: &str,
        args: &[Value],
    ) -> Result<Value, RunError> {
        self.interp.send(&mut self.image, receiver, selector, args)
    }

    /// Runs primitive `p` straight from the table, for `receiver` and `args` on an otherwise
    /// empty stack, outside any frame. A primitive that fails must leave the stack as it
    /// found it; this checks that.
    pub(crate) fn prim(
        &mut self,
        p: u16,
        receiver: Value,
        args: &[Value],
    ) -> Result<Out, RunError> {
        let mut x = self.interp.exec_for_test(&mut self.image);
        x.stack.push(receiver);
        x.stack.extend_from_slice(args);
        let before = x.stack.clone();
        let out = match primitives::primitive(&mut x, p, 0, args.len()) {
            Ok(Prim::Fail) => {
                assert_eq!(
                    x.stack, before,
                    "primitive {p} failed and changed the stack"
                );
                Ok(Out::Fail)
            }
            Ok(Prim::Answer(v)) => Ok(Out::Answer(v)),
            Ok(Prim::Switched) => Ok(Out::Switched),
            Ok(Prim::Perform(m, n)) => Ok(Out::Perform(m.oop, n)),
            Err(e) => Err(e),
        };
        x.finish(out)
    }

    /// The answer of a primitive that must answer.
    pub(crate) fn answer(&mut self, p: u16, receiver: Value, args: &[Value]) -> Value {
        match self.prim(p, receiver, args) {
            Ok(Out::Answer(v)) => v,
            other => panic!("primitive {p} on {receiver:?} {args:?}: {other:?}"),
        }
    }

    /// Asserts that a primitive fails.
    pub(crate) fn fails(&mut self, p: u16, receiver: Value, args: &[Value]) {
        assert_eq!(
            self.prim(p, receiver, args),
            Ok(Out::Fail),
            "primitive {p} on {receiver:?} {args:?}"
        );
    }

    /// The block methods a V3 image has: `blockCopy:` (80) on both context classes, `value`,
    /// `value:`, `value:value:` (81) and `valueWithArguments:` (82) on BlockContext. Each
    /// falls back to answering `#bar`, so that a failed primitive shows.
    pub(crate) fn install_blocks(&mut self) {
        let bar = self.sym("bar");
        let fallback = [32, 124];
        for class in [self.t.method_context, self.t.block_context] {
            self.define(class, "blockCopy:", &[bar], 1, 1, 80, &fallback);
        }
        let block = self.t.block_context;
        self.define(block, "value", &[bar], 0, 0, 81, &fallback);
        self.define(block, "value:", &[bar], 1, 1, 81, &fallback);
        self.define(block, "value:value:", &[bar], 2, 2, 81, &fallback);
        self.define(block, "valueWithArguments:", &[bar], 1, 1, 82, &fallback);
    }

    /// A closure image's block methods on BlockClosure: `value` (201), `value:` (202),
    /// `value:value:` (203), `valueWithArguments:` (206), each falling back to `#bar`.
    pub(crate) fn install_closures(&mut self) {
        let bar = self.sym("bar");
        let fallback = [32, 124];
        let closure = self.t.block_closure;
        self.define(closure, "value", &[bar], 0, 0, 201, &fallback);
        self.define(closure, "value:", &[bar], 1, 1, 202, &fallback);
        self.define(closure, "value:value:", &[bar], 2, 2, 203, &fallback);
        self.define(closure, "valueWithArguments:", &[bar], 1, 1, 206, &fallback);
    }

    /// An Association `key -> value`, as a literal variable or a super send's class.
    pub(crate) fn association(&mut self, key: &str, value: Value) -> Value {
        let (class, key) = (self.t.association, self.sym(key));
        self.instance(class, &[key, value], 1)
    }

    /// A private Array of `values`.
    pub(crate) fn array(&mut self, values: &[Value]) -> Value {
        let a = self.image.new_pointers(self.t.k.array, values).unwrap();
        self.image.set_language_format(a, 2).unwrap();
        a
    }

    /// A private String.
    pub(crate) fn string(&mut self, s: &str) -> Value {
        let v = self.image.new_bytes(self.t.k.string, s.as_bytes()).unwrap();
        self.image
            .set_language_format(v, bytes_code(8, s.len()))
            .unwrap();
        v
    }

    /// A private instance of a pointers class with `fields` (V3 format `code`).
    pub(crate) fn instance(&mut self, class: Value, fields: &[Value], code: u8) -> Value {
        let v = self.image.new_pointers(class, fields).unwrap();
        self.image.set_language_format(v, code).unwrap();
        v
    }

    /// The Character of `code` in the character table.
    pub(crate) fn character(&mut self, code: u8) -> Value {
        self.image
            .read(self.t.character_table, code as usize)
            .unwrap()
    }
}
