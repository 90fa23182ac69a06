//! What every image of one base shares before it runs anything: the special objects, the
//! special selectors, and the base's symbols by name. Built once per base and shared by `Arc`,
//! so that starting an interpreter in each of thousands of images costs no scan of the heap.

use std::collections::HashMap;

use super::limits::RunError;
use cowheap::{BaseHeap, Format, Value};

/// Indices into the V3 special-objects array (the Blue Book's and Squeak's numbering).
pub(crate) mod index {
    pub(crate) const NIL: usize = 0;
    pub(crate) const FALSE: usize = 1;
    pub(crate) const TRUE: usize = 2;
    pub(crate) const SMALL_INTEGER: usize = 5;
    pub(crate) const STRING: usize = 6;
    pub(crate) const ARRAY: usize = 7;
    pub(crate) const SMALLTALK: usize = 8;
    pub(crate) const FLOAT: usize = 9;
    pub(crate) const METHOD_CONTEXT: usize = 10;
    pub(crate) const BLOCK_CONTEXT: usize = 11;
    pub(crate) const POINT: usize = 12;
    pub(crate) const LARGE_POSITIVE_INTEGER: usize = 13;
    pub(crate) const MESSAGE: usize = 15;
    pub(crate) const COMPILED_METHOD: usize = 16;
    pub(crate) const CHARACTER: usize = 19;
    pub(crate) const SELECTOR_DOES_NOT_UNDERSTAND: usize = 20;
    pub(crate) const SPECIAL_SELECTORS: usize = 23;
    pub(crate) const CHARACTER_TABLE: usize = 24;
    pub(crate) const BLOCK_CLOSURE: usize = 36;
    pub(crate) const LARGE_NEGATIVE_INTEGER: usize = 42;
}

/// The base's Associations of a Symbol and the class of that name, by name.
fn class_bindings(heap: &BaseHeap, symbol: Value, name_slot: usize) -> HashMap<Vec<u8>, Value> {
    let mut bindings = HashMap::new();
    for obj in heap.objects() {
        let binding = || -> Option<Vec<u8>> {
            if heap.original_format(obj).ok()? != Format::Pointers
                || heap.original_size(obj).ok()? != 2
            {
                return None;
            }
            let key = heap.original_field(obj, 0).ok()?;
            let class = heap.original_field(obj, ASSOCIATION_VALUE).ok()?;
            if !key.is_object() || heap.original_class(key).ok()? != symbol || !class.is_object() {
                return None;
            }
            let name = heap.original_field(class, name_slot).ok()?;
            (name == key)
                .then(|| heap.original_bytes(key).ok())
                .flatten()
        };
        if let Some(name) = binding() {
            bindings.entry(name).or_insert(obj);
        }
    }
    bindings
}

/// True for a class whose instances have three fixed fields and indexable pointers, as
/// BlockClosure's (`outerContext`, `startpc`, `numArgs`, then the copied values).
fn is_closure_class(heap: &BaseHeap, c: Value) -> bool {
    c.is_object()
        && heap.original_format(c).ok() == Some(Format::Pointers)
        && heap
            .original_field(c, CLASS_FORMAT)
            .ok()
            .and_then(|f| f.as_small_int())
            .is_some_and(|f| (f >> 7) & 15 == 3 && ((f >> 10) & 0xC0) + ((f >> 1) & 0x3F) - 1 == 3)
}

/// Class slots (Behavior's first three instance variables).
pub(crate) const CLASS_SUPERCLASS: usize = 0;
pub(crate) const CLASS_METHOD_DICT: usize = 1;
pub(crate) const CLASS_FORMAT: usize = 2;
/// MethodDictionary: `tally`, `array` (the methods), then the selectors as indexable slots.
pub(crate) const METHOD_DICT_ARRAY: usize = 1;
pub(crate) const METHOD_DICT_SELECTORS: usize = 2;
/// Association: `key`, `value`.
pub(crate) const ASSOCIATION_VALUE: usize = 1;

/// The objects of one base that the interpreter names, found once.
pub(crate) struct Shared {
    pub(crate) nil: Value,
    pub(crate) true_object: Value,
    pub(crate) false_object: Value,
    pub(crate) small_integer: Value,
    pub(crate) string: Value,
    pub(crate) array: Value,
    pub(crate) smalltalk: Value,
    pub(crate) method_context: Value,
    pub(crate) block_context: Value,
    /// Class BlockClosure, where special object 36 is one (three fixed fields and the copied
    /// values as indexable ones): the closure bytecodes and primitives need it.
    pub(crate) block_closure: Option<Value>,
    /// A closure image whose BlockContext is gone (special object 11 nil, as in the
    /// bootstrapped 6505 kernel): the expression compiler makes its blocks as closures.
    pub(crate) closures: bool,
    pub(crate) large_positive: Value,
    pub(crate) large_negative: Option<Value>,
    /// Float (a 2-word words object, high word first in every loaded heap) and Point: `None`
    /// in a base without them, where the primitives that make them fail.
    pub(crate) float: Option<Value>,
    pub(crate) point: Option<Value>,
    pub(crate) compiled_method: Value,
    pub(crate) character: Value,
    pub(crate) character_table: Value,
    /// The 32 special selectors of bytecodes 176-207 with their argument counts.
    pub(crate) special_selectors: Vec<(Value, usize)>,
    /// Every Symbol of the base, by its characters.
    pub(crate) symbols: HashMap<Vec<u8>, Value>,
    /// Where special object 8 (`Smalltalk`) is nil, as in bootstrapped kernel images: the
    /// base's class bindings (`#Name -> the class of that name`, the Associations its
    /// methods name classes through), by name, for the expression compiler's globals.
    pub(crate) bindings: HashMap<Vec<u8>, Value>,
    /// The slot of a class that holds its name, and of a metaclass that holds its class.
    pub(crate) class_name_slot: usize,
    pub(crate) this_class_slot: usize,
    /// Methods whose activation stops the image instead of opening a debugger that does not
    /// exist here (`Object>>error:`, `halt`, `halt:`, `Debugger class>>openContext:label:
    /// contents:`), each with the argument that holds the message.
    pub(crate) stop_methods: Vec<(Value, Option<usize>)>,
    /// `Parser>>notify:at:`, one of the stop methods: the image's compiler found a syntax
    /// error (its message and position are the arguments), which stops the image as a parse
    /// error rather than opening a notifier.
    pub(crate) syntax_error: Option<Value>,
    /// Class Message and the selector `doesNotUnderstand:`: a send nobody understands is
    /// sent again as `doesNotUnderstand:` with a Message, as the real VM does (see
    /// `Exec::not_understood`). `None` in a base without them: such a miss stops the run.
    pub(crate) message: Option<Value>,
    pub(crate) does_not_understand: Option<Value>,
    /// `doesNotUnderstand:` of Object (and of ProtoObject, where there is one): the image's
    /// default, which would open a debugger here. Activating one stops the run with the
    /// typed doesNotUnderstand; a class's own override runs.
    pub(crate) default_dnu: Vec<Value>,
    /// `TranscriptStream>>endEntry`, where the interpreter takes what an image wrote to a
    /// Transcript (see `transcript.rs`), and class TranscriptStream.
    pub(crate) transcript_entry: Option<Value>,
    pub(crate) transcript_stream: Option<Value>,
    /// The global `Transcript`'s association, whose stream the end of a run looks at.
    pub(crate) transcript: Option<Value>,
    /// The global `Delay`'s association and the selectors `startUp` and `wait`, if Delay's
    /// metaclass has `startUp`: what an image runs before its first blocking wait (see
    /// `scheduler.rs`).
    pub(crate) delay_startup: Option<(Value, Value, Value)>,
    /// Whether the image's own compiler reads `true`, `false` and `nil` inside a literal
    /// array as Symbols, as Squeak 2.x's does, rather than as those objects, as later
    /// Squeaks do: told by whether its `Scanner>>scanLitVec` (or `scanLitWord`) names
    /// `#true` among its literals (the later ones compare each word with it). An image
    /// without that compiler gets the objects.
    pub(crate) literal_words_as_symbols: bool,
    /// Whether the image's compiler reads a quoted symbol (`#'a b'`) as the String, as
    /// Squeak 2.2's does: its `Scanner>>xLitQuote` sends no `asSymbol` (later ones make
    /// the Symbol there).
    pub(crate) quoted_symbols_are_strings: bool,
    /// Whether the image has a compiler the interpreter can hand source to: a global
    /// `Compiler` and `Parser>>notify:at:`, where its syntax errors stop.
    pub(crate) compiler: bool,
}

fn special(heap: &BaseHeap, specials: Value, i: usize) -> Result<Value, RunError> {
    heap.original_field(specials, i)
        .map_err(|e| RunError::Unsupported(format!("special object {i}: {e}")))
}

fn class(heap: &BaseHeap, specials: Value, i: usize, what: &str) -> Result<Value, RunError> {
    let v = special(heap, specials, i)?;
    if v.is_object() && heap.original_format(v).ok() == Some(Format::Pointers) {
        Ok(v)
    } else {
        Err(RunError::Unsupported(format!(
            "special object {i} ({what}) is not a class"
        )))
    }
}

impl Shared {
    /// Finds the interpreter's objects in a loaded Squeak V3 base.
    pub(crate) fn new(heap: &BaseHeap) -> Result<Shared, RunError> {
        let specials = heap
            .root("specialObjects")
            .map_err(|_| RunError::Unsupported("the base has no special-objects array".into()))?;
        let selectors = special(heap, specials, index::SPECIAL_SELECTORS)?;
        let mut special_selectors = Vec::with_capacity(32);
        for i in 0..32 {
            let sel = heap.original_field(selectors, 2 * i);
            let n = heap.original_field(selectors, 2 * i + 1);
            match (sel, n.map(|n| n.as_small_int())) {
                (Ok(sel), Ok(Some(n))) if sel.is_object() && (0..=2).contains(&n) => {
                    special_selectors.push((sel, n as usize))
                }
                _ => {
                    return Err(RunError::Unsupported(
                        "the special-selectors array is not 32 (selector, count) pairs".into(),
                    ))
                }
            }
        }
        let symbol = heap
            .original_class(special_selectors[0].0)
            .map_err(|e| RunError::Unsupported(format!("class Symbol: {e}")))?;
        let mut symbols = HashMap::new();
        for obj in heap.objects() {
            if heap.original_class(obj).ok() == Some(symbol) {
                if let Ok(bytes) = heap.original_bytes(obj) {
                    symbols.entry(bytes).or_insert(obj);
                }
            }
        }
        let slot = |root: &str| {
            heap.root(root)
                .ok()
                .and_then(|v| v.as_small_int())
                .map_or(6, |v| v as usize)
        };
        let mut shared = Shared {
            nil: special(heap, specials, index::NIL)?,
            true_object: special(heap, specials, index::TRUE)?,
            false_object: special(heap, specials, index::FALSE)?,
            small_integer: class(heap, specials, index::SMALL_INTEGER, "SmallInteger")?,
            string: class(heap, specials, index::STRING, "String")?,
            array: class(heap, specials, index::ARRAY, "Array")?,
            smalltalk: special(heap, specials, index::SMALLTALK)?,
            method_context: class(heap, specials, index::METHOD_CONTEXT, "MethodContext")?,
            block_context: class(heap, specials, index::BLOCK_CONTEXT, "BlockContext")?,
            large_positive: class(
                heap,
                specials,
                index::LARGE_POSITIVE_INTEGER,
                "LargePositiveInteger",
            )?,
            large_negative: None,
            block_closure: None,
            closures: false,
            float: None,
            point: None,
            compiled_method: class(heap, specials, index::COMPILED_METHOD, "CompiledMethod")?,
            character: class(heap, specials, index::CHARACTER, "Character")?,
            character_table: special(heap, specials, index::CHARACTER_TABLE)?,
            special_selectors,
            symbols,
            bindings: HashMap::new(),
            class_name_slot: slot("classNameSlot"),
            this_class_slot: slot("thisClassSlot"),
            stop_methods: Vec::new(),
            syntax_error: None,
            message: None,
            does_not_understand: None,
            default_dnu: Vec::new(),
            transcript_entry: None,
            transcript_stream: None,
            transcript: None,
            delay_startup: None,
            literal_words_as_symbols: false,
            quoted_symbols_are_strings: false,
            compiler: false,
        };
        if shared.smalltalk == shared.nil {
            shared.bindings = class_bindings(heap, symbol, shared.class_name_slot);
        }
        shared.large_negative = shared
            .global_in_base(heap, b"LargeNegativeInteger")
            .or_else(|| class(heap, specials, index::LARGE_NEGATIVE_INTEGER, "").ok());
        shared.block_closure = special(heap, specials, index::BLOCK_CLOSURE)
            .ok()
            .filter(|&c| is_closure_class(heap, c));
        // An image with BlockClosure and no BlockContext has only closures for blocks. (One
        // with both, as the first closure images, runs V3 blocks too: its do-its get those.)
        shared.closures = shared.block_closure.is_some()
            && special(heap, specials, index::BLOCK_CONTEXT)? == shared.nil;
        // Object: the global, or else (an image without `Smalltalk`) the root of
        // SmallInteger's superclass chain.
        let root = (|| {
            let mut c = shared.small_integer;
            for _ in 0..64 {
                match heap.original_field(c, CLASS_SUPERCLASS) {
                    Ok(sup) if sup == shared.nil => return Some(c),
                    Ok(sup) if sup.is_object() => c = sup,
                    _ => return None,
                }
            }
            None
        })();
        let object = shared.global_in_base(heap, b"Object").or(root);
        let optional = |i: usize, what: &str| {
            class(heap, specials, i, what)
                .ok()
                .filter(|&c| c != shared.nil)
        };
        shared.float = optional(index::FLOAT, "Float");
        shared.point = optional(index::POINT, "Point");
        shared.message = optional(index::MESSAGE, "Message");
        shared.does_not_understand = special(heap, specials, index::SELECTOR_DOES_NOT_UNDERSTAND)
            .ok()
            .filter(|&s| s.is_object() && heap.original_class(s).ok() == Some(symbol));
        for class in [object, root].into_iter().flatten() {
            if let Some(m) = shared.method_in_base(heap, class, b"doesNotUnderstand:") {
                if !shared.default_dnu.contains(&m) {
                    shared.default_dnu.push(m);
                }
            }
        }
        if let Some(object) = object {
            for (name, arg) in [
                (&b"error:"[..], Some(0)),
                (b"halt", None),
                (b"halt:", Some(0)),
            ] {
                if let Some(m) = shared.method_in_base(heap, object, name) {
                    shared.stop_methods.push((m, arg));
                }
            }
        }
        if let Some(parser) = shared.global_in_base(heap, b"Parser") {
            if let Some(m) = shared.method_in_base(heap, parser, b"notify:at:") {
                shared.stop_methods.push((m, Some(0)));
                shared.syntax_error = Some(m);
            }
        }
        if let Some(meta) = shared
            .global_in_base(heap, b"Debugger")
            .and_then(|d| heap.original_class(d).ok())
        {
            if let Some(m) = shared.method_in_base(heap, meta, b"openContext:label:contents:") {
                shared.stop_methods.push((m, Some(1)));
            }
        }
        if let Some(scanner) = shared.global_in_base(heap, b"Scanner") {
            // Whether the Scanner's method `selector` names the Symbol `name` among its
            // literals.
            let names = |selector: &[u8], name: &[u8]| {
                let Some(m) = shared.method_in_base(heap, scanner, selector) else {
                    return false;
                };
                let n = heap.original_literal_count(m).unwrap_or(0);
                let word = shared.symbols.get(name).copied();
                (0..n).any(|i| heap.original_field(m, i).ok() == word)
            };
            let has = |selector: &[u8]| shared.method_in_base(heap, scanner, selector).is_some();
            let words = has(b"scanLitVec")
                && !names(b"scanLitVec", b"true")
                && !names(b"scanLitWord", b"true");
            let quoted = has(b"xLitQuote") && !names(b"xLitQuote", b"asSymbol");
            shared.literal_words_as_symbols = words;
            shared.quoted_symbols_are_strings = quoted;
        }
        shared.compiler =
            shared.syntax_error.is_some() && shared.global_in_base(heap, b"Compiler").is_some();
        shared.transcript_stream = shared.global_in_base(heap, b"TranscriptStream");
        shared.transcript_entry = shared
            .transcript_stream
            .and_then(|c| shared.method_in_base(heap, c, b"endEntry"));
        shared.transcript = shared.association_in_base(heap, b"Transcript");
        if let Some(assoc) = shared.association_in_base(heap, b"Delay") {
            let meta = heap
                .original_field(assoc, ASSOCIATION_VALUE)
                .and_then(|d| heap.original_class(d));
            let startup = meta
                .ok()
                .and_then(|m| shared.method_in_base(heap, m, b"startUp"));
            if let (Some(_), Some(&up), Some(&wait)) = (
                startup,
                shared.symbols.get(&b"startUp"[..]),
                shared.symbols.get(&b"wait"[..]),
            ) {
                shared.delay_startup = Some((assoc, up, wait));
            }
        }
        Ok(shared)
    }

    /// A global's value as sealed in the base (`Smalltalk at: name`).
    fn global_in_base(&self, heap: &BaseHeap, name: &[u8]) -> Option<Value> {
        let assoc = self.association_in_base(heap, name)?;
        heap.original_field(assoc, ASSOCIATION_VALUE).ok()
    }

    /// A global's association in the base's `Smalltalk`.
    fn association_in_base(&self, heap: &BaseHeap, name: &[u8]) -> Option<Value> {
        let key = *self.symbols.get(name)?;
        let array = heap.original_field(self.smalltalk, 1).ok()?;
        let n = heap.original_size(array).ok()?;
        (0..n).find_map(|i| {
            let assoc = heap.original_field(array, i).ok()?;
            (assoc.is_object() && heap.original_field(assoc, 0).ok()? == key).then_some(assoc)
        })
    }

    /// The method a class itself defines for `selector`, as sealed.
    fn method_in_base(&self, heap: &BaseHeap, class: Value, selector: &[u8]) -> Option<Value> {
        let sel = *self.symbols.get(selector)?;
        let dict = heap.original_field(class, CLASS_METHOD_DICT).ok()?;
        let n = heap.original_size(dict).ok()?;
        let array = heap.original_field(dict, METHOD_DICT_ARRAY).ok()?;
        (METHOD_DICT_SELECTORS..n).find_map(|i| {
            if heap.original_field(dict, i).ok()? == sel {
                heap.original_field(array, i - METHOD_DICT_SELECTORS).ok()
            } else {
                None
            }
        })
    }

    /// The Boolean object for `b`.
    #[inline(always)]
    pub(crate) fn boolean(&self, b: bool) -> Value {
        if b {
            self.true_object
        } else {
            self.false_object
        }
    }

    /// The index of `selector` among the special selectors, if it is one with `nargs` args.
    pub(crate) fn special_selector(&self, selector: Value, nargs: usize) -> Option<usize> {
        self.special_selectors
            .iter()
            .position(|&(s, n)| s == selector && n == nargs)
    }
}
