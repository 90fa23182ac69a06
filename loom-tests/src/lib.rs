//! Loom models of cowheap's kernel live in `tests/`; run them with
//! `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release`.
